"""The demo's catalogue: the pilot councils keep the signed record of ERES going live as an
evidence file, which downloads as a PDF."""

from __future__ import annotations

from sqlalchemy import select


def test_demo_pilot_councils_have_their_eres_record(app, db, client_for):
    from accounts.models import User
    from catalogue import evidence
    from catalogue.models import CouncilService, Service
    from core import demo

    demo.run()
    rows = list(db.session.scalars(select(CouncilService).join(Service).where(
        Service.code == "ERES", CouncilService.evidence_file.is_not(None))))
    assert rows and all(r.status == "live" and r.evidence_content_type == "application/pdf" for r in rows)
    assert all(evidence.path_of(r).read_bytes().startswith(b"%PDF-") for r in rows)
    manager = db.session.scalar(select(User).where(User.role == "manager").limit(1))
    row = rows[0]
    resp = client_for(manager).get(f"/catalogue/{row.service_id}/councils/{row.council_id}/evidence/download")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF-")
    assert "Acta posada en marxa ERES" in resp.headers["Content-Disposition"]

"""Evidence as a file, per council × service: uploaded on the subscription's page, checked like
ticket attachments (type from the bytes, a size cap, the name cleaned), kept under
DATA_DIR/catalogue-evidence under a random name, served only as a download and only to who may
see the council's record (a clerk of another council: 404). A refused file loses no typing."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from catalogue import evidence, services
from catalogue.models import CouncilService

pytestmark = pytest.mark.usefixtures("english")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def subscribed(world, make_service):
    service = make_service(ticket_category="e_administration")
    for council in (world.council_a, world.council_b):
        services.put_subscription(council, service, {"wave": "pilot", "status": "live"}, actor=None)
    return service


def _form(**extra) -> dict:
    return {"status": "live", "wave": "pilot", "technician_id": "0", "contact": "", "evidence_url": "",
            "notes": "", "reason": "", **extra}


def _url(service, council) -> str:
    return f"/catalogue/{service.id}/councils/{council.id}"


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_upload_download_replace_and_remove(app, db, world, client_for, subscribed):
    tech = client_for(world.technician)
    resp = tech.post(_url(subscribed, world.council_a), content_type="multipart/form-data", data=_form(
        notes="Acta signada", evidence_upload=(io.BytesIO(PDF), "../../Acta/de posada: en marxa.pdf")))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    db.session.expire_all()
    sub = services.get_subscription(world.council_a.id, subscribed.id)
    # The uploader's name without path parts or characters a file system or header reads.
    assert (sub.evidence_filename, sub.evidence_content_type, sub.evidence_size, sub.notes) == (
        "de posada_ en marxa.pdf", "application/pdf", len(PDF), "Acta signada")
    path = evidence.path_of(sub)
    assert path.read_bytes() == PDF and "posada" not in sub.evidence_file
    assert path.resolve().is_relative_to((Path(app.config["DATA_DIR"]) / "catalogue-evidence").resolve())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    page = tech.get(_url(subscribed, world.council_a)).get_data(as_text=True)
    assert "de posada_ en marxa.pdf" in page and "evidence-current" in page
    rollout = tech.get(f"/catalogue/{subscribed.id}").get_data(as_text=True)
    assert f'href="{_url(subscribed, world.council_a)}/evidence/download"' in rollout
    assert f'href="{_url(subscribed, world.council_b)}/evidence/download"' not in rollout

    download = tech.get(f"{_url(subscribed, world.council_a)}/evidence/download")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "de posada_ en marxa.pdf" in download.headers["Content-Disposition"]
    assert download.mimetype == "application/pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Cache-Control"] == "private, no-store"

    # A new file replaces the old one, on disk too (once the save took).
    resp = tech.post(_url(subscribed, world.council_a), content_type="multipart/form-data",
                     data=_form(notes="Acta signada", evidence_upload=(io.BytesIO(PNG), "captura.png")))
    assert resp.status_code == 302
    db.session.expire_all()
    sub = services.get_subscription(world.council_a.id, subscribed.id)
    assert (sub.evidence_filename, sub.evidence_content_type) == ("captura.png", "image/png")
    assert not path.exists() and evidence.path_of(sub).read_bytes() == PNG
    # Saving the other fields keeps the file.
    assert tech.post(_url(subscribed, world.council_a), data=_form(notes="Revisat")).status_code == 302
    db.session.expire_all()
    sub = services.get_subscription(world.council_a.id, subscribed.id)
    assert sub.evidence_filename == "captura.png" and sub.notes == "Revisat"
    # Removing it.
    kept = evidence.path_of(sub)
    assert tech.post(_url(subscribed, world.council_a), data=_form(notes="Revisat", evidence_remove="y")).status_code == 302
    db.session.expire_all()
    sub = services.get_subscription(world.council_a.id, subscribed.id)
    assert (sub.evidence_file, sub.evidence_filename, sub.evidence_size) == (None, "", None)
    assert not kept.exists()
    assert tech.get(f"{_url(subscribed, world.council_a)}/evidence/download").status_code == 404


def test_a_refused_file_keeps_what_was_typed_and_saves_nothing(app, db, world, client_for, subscribed):
    tech = client_for(world.technician)
    root = Path(app.config["DATA_DIR"]) / "catalogue-evidence"
    before = _files(root)
    cases = [
        (b"MZ\x90\x00" + b"\x00" * 64, "acta.pdf", "This kind of file cannot be evidence"),
        # Text, CSV and mail are ticket attachments, not evidence.
        (b"Acta: tot en marxa.\n", "acta.txt", "This kind of file cannot be evidence"),
        (b"<svg onload=alert(1)>", "acta.svg", "This kind of file cannot be evidence"),
        (b"", "buit.pdf", "The file is empty."),
        (PDF, "acta\u202efdp.exe", "Contains control or invisible characters"),
        (PDF + b"0" * (10 * 1024 * 1024), "gran.pdf", "Evidence files can be up to 10 MB."),
    ]
    for data, name, message in cases:
        resp = tech.post(_url(subscribed, world.council_a), content_type="multipart/form-data", data=_form(
            notes="Text que no es perd", contact="Anna Puig", evidence_upload=(io.BytesIO(data), name)))
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200, name
        assert message in html, name
        assert "Text que no es perd</textarea>" in html and 'value="Anna Puig"' in html, name
    # A body beyond the app-wide request limit is read too, to give the same answer.
    resp = tech.post(_url(subscribed, world.council_a), content_type="multipart/form-data", data=_form(
        notes="Text que no es perd", evidence_upload=(io.BytesIO(PDF + b"0" * (12 * 1024 * 1024)), "enorme.pdf")))
    assert resp.status_code == 200 and "Evidence files can be up to 10 MB." in resp.get_data(as_text=True)
    # The file's error and the other fields' errors come back together.
    resp = tech.post(_url(subscribed, world.council_a), content_type="multipart/form-data", data=_form(
        evidence_url="javascript:alert(1)", evidence_upload=(io.BytesIO(b"MZ"), "x.pdf")))
    html = resp.get_data(as_text=True)
    assert "http:// or https://" in html and "This kind of file cannot be evidence" in html
    db.session.expire_all()
    sub = services.get_subscription(world.council_a.id, subscribed.id)
    assert (sub.evidence_file, sub.notes, sub.contact) == (None, "", "")
    assert _files(root) == before


def test_a_failed_commit_leaves_no_file_and_keeps_the_old_one(app, db, world, subscribed, monkeypatch):
    council, actor = world.council_a, world.technician
    services.put_subscription(council, subscribed, {}, actor=actor, evidence=("acta.pdf", PDF))
    old = evidence.path_of(services.get_subscription(council.id, subscribed.id))
    root = Path(app.config["DATA_DIR"]) / "catalogue-evidence"
    before = _files(root)

    def fail():
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db.session, "commit", fail)
    with pytest.raises(RuntimeError):
        services.put_subscription(council, subscribed, {}, actor=actor, evidence=("nova.png", PNG))
    monkeypatch.undo()
    db.session.rollback()
    assert _files(root) == before and old.exists()
    assert services.get_subscription(council.id, subscribed.id).evidence_filename == "acta.pdf"


def test_downloads_only_for_who_may_see_the_council(app, db, world, client_for, api_for, subscribed):
    for council in (world.council_a, world.council_b):
        services.put_subscription(council, subscribed, {}, actor=world.technician,
                                  evidence=(f"acta-{council.code}.pdf", PDF))
    a, b = (f"{_url(subscribed, c)}/evidence/download" for c in (world.council_a, world.council_b))
    clerk = client_for(world.clerk_a)
    resp = clerk.get(a)
    assert resp.status_code == 200 and resp.data == PDF
    assert clerk.get(b).status_code == 404
    # The clerk's portal offers the council's own file, not the other council's.
    portal = clerk.get("/my-services").get_data(as_text=True)
    assert f"acta-{world.council_a.code}.pdf" in portal and f"acta-{world.council_b.code}.pdf" not in portal
    assert client_for(world.clerk_b).get(a).status_code == 404
    assert client_for(world.manager).get(b).status_code == 200
    # A service or council that does not exist, or a record without a file: 404 as well.
    assert clerk.get(f"/catalogue/999999/councils/{world.council_a.id}/evidence/download").status_code == 404
    assert clerk.get(f"/catalogue/{subscribed.id}/councils/999999/evidence/download").status_code == 404
    # The clerk still cannot open the office's edit page.
    assert clerk.get(_url(subscribed, world.council_a)).status_code == 403
    # The API lists the file with its download address (an extension of the contract's items).
    items = api_for(world.clerk_a).get(f"/api/v1/councils/{world.council_a.id}/services").get_json()["items"]
    item = next(i for i in items if i["service_id"] == subscribed.id)
    assert item["evidence_file"] == {"filename": f"acta-{world.council_a.code}.pdf", "size": len(PDF),
                                     "content_type": "application/pdf",
                                     "url": f"/catalogue/{subscribed.id}/councils/{world.council_a.id}/evidence/download"}


def test_a_file_record_without_its_file_is_a_404(app, db, world, client_for, subscribed):
    services.put_subscription(world.council_a, subscribed, {}, actor=None, evidence=("acta.pdf", PDF))
    sub = db.session.scalar(select(CouncilService).where(CouncilService.council_id == world.council_a.id))
    evidence.path_of(sub).unlink()
    assert client_for(world.technician).get(f"{_url(subscribed, world.council_a)}/evidence/download").status_code == 404

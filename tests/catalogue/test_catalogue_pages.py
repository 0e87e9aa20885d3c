"""The catalogue's pages: rollout, bulk moves with preview, the matrix (page, chart, CSV), the
clerk's services and a request started from one, and the stalled-rollout alerts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from catalogue import jobs, services
from core.models import Notification


@pytest.fixture
def rollout(world, make_service):
    service = make_service(ticket_category="e_administration")
    for council in (world.council_a, world.council_b):
        services.put_subscription(council, service, {"wave": "pilot"}, actor=None)
    return service


def test_wave_move_previews_then_moves(world, client_for, rollout, db):
    client = client_for(world.manager)
    page = client.get(f"/catalogue/{rollout.id}/waves/pilot/move")
    assert page.status_code == 200 and "wave-preview" in page.get_data(as_text=True)
    assert {s.status for s in services.subscriptions_of(world.council_a)} == {"planned"}  # preview wrote nothing
    resp = client.post(f"/catalogue/{rollout.id}/waves/pilot/move",
                       data={"council": [str(world.council_a.id), str(world.council_b.id)], "reason": "Formació"})
    assert resp.status_code == 302
    db.session.expire_all()
    for council in (world.council_a, world.council_b):
        sub = services.get_subscription(council.id, rollout.id)
        assert sub.status == "deploying"
        assert services.history(sub)[-1].reason == "Formació"
    # The clerk sees it, and a request started from it carries the service and its category.
    clerk = client_for(world.clerk_a)
    portal = clerk.get("/my-services").get_data(as_text=True)
    assert "e-TRAM" in portal and f"/tickets/new?service={rollout.id}" in portal
    new = clerk.get(f"/tickets/new?service={rollout.id}").get_data(as_text=True)
    assert "request-service" in new
    resp = clerk.post(f"/tickets/new?service={rollout.id}", data={"title": "No puc signar", "priority": "normal",
                                                                  "category": "e_administration", "asset_id": "0"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    from support.tickets.models import Ticket
    ticket = db.session.scalar(select(Ticket))
    assert (ticket.service_id, ticket.category) == (rollout.id, "e_administration")


def test_subscribe_preview_then_confirm(world, client_for, make_service, db):
    service = make_service(code="SEU", name="Seu electrònica")
    client = client_for(world.manager)
    form = {"councils": [str(world.council_a.id)], "wave": "extension", "technician_id": "0"}
    preview = client.post(f"/catalogue/{service.id}/subscribe", data=form)
    assert preview.status_code == 200 and services.find_subscription(world.council_a.id, service.id) is None
    assert client.post(f"/catalogue/{service.id}/subscribe", data=form | {"confirm": "1"}).status_code == 302
    assert services.get_subscription(world.council_a.id, service.id).wave == "extension"


def test_matrix_page_chart_and_csv(world, client_for, rollout):
    client = client_for(world.technician)
    assert "matrix" in client.get("/catalogue/matrix").get_data(as_text=True)
    png = client.get("/catalogue/matrix.png")
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/catalogue/matrix.svg").data.lstrip().startswith(b"<?xml")
    csv = client.get("/catalogue/matrix.csv").get_data(as_text=True)
    assert "ETRAM" in csv and world.council_a.code in csv
    assert client_for(world.clerk_a).get("/catalogue/matrix").status_code == 403


def test_matrix_import_checks_then_applies(world, client_for, rollout, db):
    import io

    client = client_for(world.manager)
    body = f"council,service,status,notes\n{world.council_a.code},ETRAM,deploying,=cmd()\n".encode()
    resp = client.post("/catalogue/matrix/import", data={"file": (io.BytesIO(body), "m.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 200 and services.get_subscription(world.council_a.id, rollout.id).status == "planned"
    client.post("/catalogue/matrix/import", data={"file": (io.BytesIO(body), "m.csv"), "apply": "y"},
                content_type="multipart/form-data")
    db.session.expire_all()
    assert services.get_subscription(world.council_a.id, rollout.id).status == "deploying"
    bad = f"council,service,status\n{world.council_a.code},ETRAM,planned\n".encode()
    page = client.post("/catalogue/matrix/import", data={"file": (io.BytesIO(bad), "m.csv"), "apply": "y"},
                       content_type="multipart/form-data")
    assert "alert-danger" in page.get_data(as_text=True)
    assert "'=cmd()" in client.get("/catalogue/matrix.csv").get_data(as_text=True)


def test_stalled_and_overdue_alerts_once(world, rollout, db):
    sub = services.get_subscription(world.council_a.id, rollout.id)
    services.put_subscription(world.council_a, rollout, {"technician_id": world.technician.id}, actor=None)
    services.set_wave_target(rollout, "pilot", dt.date(2030, 1, 10), actor=None)
    changed = sub.changed_at.date()
    assert jobs.send_rollout_alerts(changed + dt.timedelta(days=5)) == {"alerts": 0}
    later = max(changed + dt.timedelta(days=61), dt.date(2030, 1, 11))
    assert jobs.send_rollout_alerts(later) == {"alerts": 4}  # stalled and overdue, both councils
    assert jobs.send_rollout_alerts(later) == {"alerts": 0}
    kinds = {n.params["kind"] for n in db.session.scalars(
        select(Notification).where(Notification.user_id == world.technician.id))}
    assert kinds == {"stalled", "overdue"}
    assert db.session.scalar(select(Notification).where(Notification.user_id == world.manager.id)) is not None

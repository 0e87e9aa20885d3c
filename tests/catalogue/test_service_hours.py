"""Tickets and time entries name a service; hours per service per council equal a raw SQL sum."""

from __future__ import annotations

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.frozen("2026-06-17T10:00:00+00:00")


def test_tickets_take_a_service_and_its_category(world, api_for, make_service):
    service = make_service(ticket_category="e_administration")
    clerk = api_for(world.clerk_a)
    resp = clerk.post("/api/v1/tickets", json={"title": "No puc signar", "service_id": service.id})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["service_id"], body["category"]) == (service.id, "e_administration")
    # An explicit category wins over the service's.
    body = clerk.post("/api/v1/tickets", json={"title": "x", "service_id": service.id, "category": "hardware"}).get_json()
    assert body["category"] == "hardware"
    resp = clerk.post("/api/v1/tickets", json={"title": "x", "service_id": 999999})
    assert resp.status_code == 422 and "service_id" in resp.get_json()["error"]["fields"]
    assert clerk.post("/api/v1/tickets", json={"title": "x", "service_id": "1"}).status_code == 422
    # Staff may set or clear it later; a clerk may not.
    tech = api_for(world.technician)
    other = make_service(code="SEU", name="Seu electrònica")
    patched = tech.patch(f"/api/v1/tickets/{body['id']}", json={"service_id": other.id})
    assert patched.status_code == 200 and patched.get_json()["service_id"] == other.id
    assert tech.patch(f"/api/v1/tickets/{body['id']}", json={"service_id": None}).get_json()["service_id"] is None
    assert tech.patch(f"/api/v1/tickets/{body['id']}", json={"service_id": 999999}).status_code == 422
    assert clerk.patch(f"/api/v1/tickets/{body['id']}", json={"service_id": other.id}).status_code == 403
    assert tech.get(f"/api/v1/tickets/{body['id']}").get_json()["service_id"] is None


def _entry(api, council, service, day, minutes, mode="onsite"):
    body = {"council_id": council.id, "date": day, "minutes": minutes, "mode": mode}
    if service is not None:
        body["service_id"] = service.id
    resp = api.post("/api/v1/time-entries", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_time_entries_take_a_service(world, api_for, make_service, covered):
    service = make_service()
    tech = api_for(world.technician)
    entry = _entry(tech, world.council_a, service, "2026-03-04", 60)
    assert entry["service_id"] == service.id
    assert tech.patch(f"/api/v1/time-entries/{entry['id']}", json={"service_id": None}).get_json()["service_id"] is None
    resp = tech.post("/api/v1/time-entries", json={"council_id": world.council_a.id, "date": "2026-03-04",
                                                   "minutes": 5, "mode": "remote", "service_id": 999999})
    assert resp.status_code == 422 and "service_id" in resp.get_json()["error"]["fields"]


RAW_SUM = text("""
    SELECT service_id, council_id,
           SUM(CASE WHEN mode = 'onsite' THEN minutes ELSE 0 END),
           SUM(CASE WHEN mode = 'remote' THEN minutes ELSE 0 END)
    FROM time_entries
    WHERE service_id IS NOT NULL AND date >= :start AND date <= :end
    GROUP BY service_id, council_id ORDER BY service_id, council_id""")


def test_service_hours_equal_a_raw_sql_sum(world, api_for, make_service, covered, db):
    import datetime as dt

    etram, seu = make_service(), make_service(code="SEU", name="Seu electrònica")
    tech = api_for(world.technician)
    for council, service, day, minutes, mode in [
            (world.council_a, etram, "2026-01-05", 90, "onsite"), (world.council_a, etram, "2026-02-10", 30, "remote"),
            (world.council_a, seu, "2026-03-01", 45, "remote"), (world.council_b, etram, "2026-06-01", 120, "onsite"),
            (world.council_b, etram, "2026-06-02", 15, "remote"), (world.council_b, None, "2026-06-03", 500, "onsite"),
            (world.council_a, etram, "2026-12-31", 10, "onsite")]:
        _entry(tech, council, service, day, minutes, mode)
    raw = [{"service_id": s, "council_id": c, "onsite_minutes": int(o), "remote_minutes": int(r)}
           for s, c, o, r in db.session.execute(RAW_SUM, {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 12, 31)})]
    items = tech.get("/api/v1/reports/service-hours?year=2026").get_json()["items"]
    assert items == raw
    assert {(i["service_id"], i["council_id"]): (i["onsite_minutes"], i["remote_minutes"]) for i in items} == {
        (etram.id, world.council_a.id): (100, 30), (seu.id, world.council_a.id): (0, 45),
        (etram.id, world.council_b.id): (120, 15)}
    assert tech.get("/api/v1/reports/service-hours?year=2025").get_json()["items"] == []
    only_b = tech.get(f"/api/v1/reports/service-hours?year=2026&council_id={world.council_b.id}").get_json()["items"]
    assert [i["council_id"] for i in only_b] == [world.council_b.id]
    # A clerk: their own council only, whatever they ask.
    clerk = api_for(world.clerk_a)
    assert {i["council_id"] for i in clerk.get("/api/v1/reports/service-hours?year=2026").get_json()["items"]} == {
        world.council_a.id}
    assert clerk.get(f"/api/v1/reports/service-hours?year=2026&council_id={world.council_b.id}").status_code == 404

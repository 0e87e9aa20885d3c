"""Visit slots and bookings (docs/api-contract.md, "Visits: on-site appointments"): a weekly
series across the DST changes keeps 09:00 local, overlaps, a slot on a holiday or during an
absence is not offered, capacity under a burst of concurrent bookings, clerks' 24-hour rule."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import pytest

from support.teams import services as teams
from support.visits import services as visits

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")


@pytest.mark.frozen("2026-09-01T08:00:00+00:00")
def test_weekly_series_keeps_nine_local_across_both_dst_changes(app, db, world, api_for):
    api = api_for(world.manager)
    resp = api.post("/api/v1/visit-slots", json={
        "council_id": world.council_a.id, "technician_id": world.technician.id,
        "starts_at": "2026-10-13T09:00:00+02:00", "minutes": 240, "capacity": 2, "repeat_weeks": 2,
        "until": "2027-04-30"})
    assert resp.status_code == 201, resp.json
    items = resp.json["items"]
    starts = [dt.datetime.fromisoformat(s["starts_at"]) for s in items]
    assert all(s.astimezone(MADRID).hour == 9 and s.astimezone(MADRID).minute == 0 for s in starts)
    assert all(s.astimezone(MADRID).weekday() == 1 for s in starts)
    offsets = {s.astimezone(MADRID).utcoffset() for s in starts}
    assert offsets == {dt.timedelta(hours=2), dt.timedelta(hours=1)}  # both sides of October and March
    assert starts[-1].astimezone(MADRID).date() == dt.date(2027, 4, 27)
    assert {s["minutes"] for s in items} == {240} and {s["status"] for s in items} == {"open"}
    # UTC hours differ: 07:00 in summer time, 08:00 in winter time.
    assert {s.astimezone(dt.UTC).hour for s in starts} == {7, 8}
    # An overlapping slot of the same technician: 409 and nothing of the series is created.
    clash = api.post("/api/v1/visit-slots", json={
        "council_id": world.council_b.id, "technician_id": world.technician.id,
        "starts_at": "2026-10-06T12:00:00+02:00", "minutes": 60, "repeat_weeks": 1, "until": "2026-10-20"})
    assert clash.status_code == 409 and clash.json["error"]["code"] == "slot_overlap"
    listed = api.get(f"/api/v1/visit-slots?technician_id={world.technician.id}&limit=500").json["items"]
    assert len(listed) == len(items)
    past = api.post("/api/v1/visit-slots", json={"council_id": world.council_a.id,
                                                 "technician_id": world.technician.id,
                                                 "starts_at": "2026-08-01T09:00:00+02:00", "minutes": 60})
    assert past.status_code == 422
    # Office-local date filters, both inclusive.
    day = api.get("/api/v1/visit-slots?from=2026-10-27&to=2026-10-27").json["items"]
    assert len(day) == 1 and dt.datetime.fromisoformat(day[0]["starts_at"]).astimezone(dt.UTC).hour == 8


def _slot(world, start, capacity=1, technician=None, council=None):
    (slot,) = visits.create_slots({"council_id": (council or world.council_a).id,
                                   "technician_id": (technician or world.technician).id,
                                   "starts_at": start, "minutes": 120, "capacity": capacity}, actor=world.manager)
    return slot


@pytest.mark.frozen("2026-12-01T08:00:00+00:00")
def test_holidays_and_absences_are_not_offered(app, db, world, api_for):
    # 8 December (Immaculate Conception) and Easter Monday 2027 are holidays.
    holiday = _slot(world, dt.datetime(2026, 12, 8, 9, 0, tzinfo=MADRID))
    easter = _slot(world, dt.datetime(2027, 3, 29, 9, 0, tzinfo=MADRID))
    normal = _slot(world, dt.datetime(2026, 12, 9, 9, 0, tzinfo=MADRID))
    away = _slot(world, dt.datetime(2026, 12, 10, 9, 0, tzinfo=MADRID))
    teams.add_absence(world.technician, dt.date(2026, 12, 10), dt.date(2026, 12, 10), actor=world.manager)
    offered = [s.id for s in visits.free_slots(world.council_a.id)]
    assert offered == [normal.id]
    clerk = api_for(world.clerk_a)
    for slot in (holiday, easter, away):
        resp = clerk.post("/api/v1/visits", json={"slot_id": slot.id})
        assert resp.status_code == 409 and resp.json["error"]["code"] == "slot_unavailable"
    # Another council's slot does not exist for the clerk.
    other = _slot(world, dt.datetime(2026, 12, 11, 9, 0, tzinfo=MADRID), council=world.council_b)
    assert clerk.post("/api/v1/visits", json={"slot_id": other.id}).status_code == 404
    assert clerk.get(f"/api/v1/visit-slots/{other.id}").status_code == 404


@pytest.mark.frozen("2026-12-01T08:00:00+00:00")
def test_booking_and_the_clerks_24_hour_rule(app, db, world, api_for, open_ticket):
    soon = _slot(world, dt.datetime(2026, 12, 2, 8, 0, tzinfo=MADRID), capacity=2)  # 23 hours ahead
    later = _slot(world, dt.datetime(2026, 12, 3, 9, 0, tzinfo=MADRID), capacity=1)
    clerk = api_for(world.clerk_a)
    ticket = open_ticket()
    other_ticket = open_ticket(council=world.council_b)
    bad = clerk.post("/api/v1/visits", json={"slot_id": later.id, "ticket_id": other_ticket.id})
    assert bad.status_code in (404, 422)
    assert api_for(world.manager).post("/api/v1/visits", json={"slot_id": later.id,
                                                               "ticket_id": other_ticket.id}).status_code == 422
    booked = clerk.post("/api/v1/visits", json={"slot_id": later.id, "ticket_id": ticket.id, "notes": "Printer"})
    assert booked.status_code == 201, booked.json
    body = booked.json
    assert (body["status"], body["ticket_id"], body["booked_by_id"], body["council_id"]) == (
        "booked", ticket.id, world.clerk_a.id, world.council_a.id)
    full = api_for(world.technician).post("/api/v1/visits", json={"slot_id": later.id})
    assert full.status_code == 409 and full.json["error"]["code"] == "slot_full"
    first = clerk.post("/api/v1/visits", json={"slot_id": soon.id}).json
    late = clerk.post(f"/api/v1/visits/{first['id']}/cancel", json={"reason": "Closed"})
    assert late.status_code == 409 and late.json["error"]["code"] == "too_late_to_cancel"
    staff = api_for(world.manager).post(f"/api/v1/visits/{first['id']}/cancel", json={})
    assert staff.status_code == 200 and staff.json["status"] == "cancelled"
    ok = clerk.post(f"/api/v1/visits/{body['id']}/cancel", json={"reason": "Fixed already"})
    assert ok.status_code == 200 and ok.json["status"] == "cancelled"
    again = clerk.post(f"/api/v1/visits/{body['id']}/cancel", json={})
    assert again.status_code == 200
    assert api_for(world.manager).get(f"/api/v1/visit-slots/{later.id}").json["booked"] == 0
    # The freed place can be booked again; cancelling the slot cancels its visits.
    rebooked = clerk.post("/api/v1/visits", json={"slot_id": later.id}).json
    assert api_for(world.manager).post(f"/api/v1/visit-slots/{later.id}/cancel").json["status"] == "cancelled"
    assert clerk.get(f"/api/v1/visits/{rebooked['id']}").json["status"] == "cancelled"
    assert clerk.post("/api/v1/visits", json={"slot_id": later.id}).json["error"]["code"] == "slot_unavailable"


def _post(url: str, token: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_twenty_concurrent_bookings_of_a_capacity_three_slot(app, db, world, api_for, live_server):
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    # Not on a holiday: move to the next business day if needed.
    from core.calendar import office_calendar
    while start.astimezone(MADRID).date() in office_calendar().holidays:
        start += dt.timedelta(days=1)
    slot = _slot(world, start, capacity=3)
    tokens = [api_for(u).token for u in (world.clerk_a, world.technician, world.manager, world.admin)]
    slot_id, url = slot.id, f"{live_server.url}/api/v1/visits"
    results: list = [None] * 20
    barrier = threading.Barrier(20)

    def run(i):
        barrier.wait()
        results[i] = _post(url, tokens[i % len(tokens)], {"slot_id": slot_id})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == [201] * 3 + [409] * 17
    db.session.rollback()  # a new snapshot: SQLite keeps the read transaction's view
    fresh = visits.get_slot(slot_id)
    assert fresh.booked == 3
    from sqlalchemy import func, select

    from support.visits.models import Visit
    assert db.session.scalar(select(func.count()).select_from(Visit).where(Visit.slot_id == slot_id)) == 3


def test_dates_at_the_ends_of_the_calendar_are_not_a_5xx(app, db, world, api_for):
    api = api_for(world.manager)
    assert api.get("/api/v1/visit-slots?from=0001-01-01&to=9999-12-31").status_code == 200
    assert api.get("/api/v1/visits?from=9999-12-31").status_code == 200
    far = api.post("/api/v1/visit-slots", json={"council_id": world.council_a.id, "technician_id": world.technician.id,
                                                "starts_at": "9999-12-31T09:00:00+01:00", "minutes": 600})
    assert far.status_code == 422

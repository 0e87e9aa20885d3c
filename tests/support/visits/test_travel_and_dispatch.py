"""A council's travel time (API field, council form, the day plan's per-visit and daily travel,
the visit's time logged with its round trip), the clerk's move page, and the dispatcher's
week: technicians × days with visits, free places, absences and holidays, plus the on-site
requests without a visit."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from support.hours.models import TimeEntry
from support.teams import services as teams
from support.visits import dispatch
from support.visits import services as visits

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")


def _slot(world, start, council=None, capacity=1, technician=None, now=None):
    (slot,) = visits.create_slots({"council_id": (council or world.council_a).id,
                                   "technician_id": (technician or world.technician).id, "starts_at": start,
                                   "minutes": 90, "capacity": capacity}, actor=world.manager, now=now)
    return slot


def test_travel_minutes_in_the_api_and_the_form(app, db, world, api_for, client_for):
    api = api_for(world.manager)
    got = api.get(f"/api/v1/councils/{world.council_a.id}").json
    assert got["travel_minutes"] == 0
    assert api.patch(f"/api/v1/councils/{world.council_a.id}", json={"travel_minutes": 35}).json["travel_minutes"] == 35
    for bad in (-1, 601, 1.5, "35", True, None):
        resp = api.patch(f"/api/v1/councils/{world.council_a.id}", json={"travel_minutes": bad})
        assert resp.status_code == 422, (bad, resp.status_code)
    created = api.post("/api/v1/councils", json={"name": "Rajadell", "population": 500, "travel_minutes": 20})
    assert created.status_code == 201 and created.json["travel_minutes"] == 20
    assert api.post("/api/v1/councils", json={"name": "Marganell", "population": 300}).json["travel_minutes"] == 0
    # The clerk reads their council with the field; the technician may not change it.
    assert api_for(world.clerk_a).get(f"/api/v1/councils/{world.council_a.id}").json["travel_minutes"] == 35
    assert api_for(world.technician).patch(f"/api/v1/councils/{world.council_a.id}",
                                           json={"travel_minutes": 5}).status_code == 403
    # The edit form shows and saves it; a bad value comes back as a message, the rest kept.
    manager = client_for(world.manager)
    page = manager.get(f"/councils/{world.council_a.slug}/edit").get_data(as_text=True)
    assert 'name="travel_minutes"' in page and 'value="35"' in page
    form = {"name": "Mura", "population": "211", "population_year": "2014", "comarca": "Bages",
            "contact_email": "ajuntament@mura.example.cat", "language": "ca", "timezone": "Europe/Madrid",
            "active": "y", "travel_minutes": "700"}
    bad = manager.post(f"/councils/{world.council_a.slug}/edit", data=form)
    assert bad.status_code == 200 and "Bages" in bad.get_data(as_text=True)
    db.session.expire_all()
    assert world.council_a.travel_minutes == 35
    form["travel_minutes"] = "40"
    assert manager.post(f"/councils/{world.council_a.slug}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert world.council_a.travel_minutes == 40
    form["travel_minutes"] = ""
    assert manager.post(f"/councils/{world.council_a.slug}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert world.council_a.travel_minutes == 0


@pytest.mark.frozen("2027-01-14T16:00:00+00:00")
def test_day_plan_shows_travel_and_logs_it(app, db, world, client_for, open_ticket, make_agreement):
    make_agreement(first=(2027, 1), last=(2027, 12), onsite=240)
    world.council_a.travel_minutes = 35
    world.council_b.travel_minutes = 50
    db.session.commit()
    before = dt.datetime(2027, 1, 11, 8, 0, tzinfo=dt.UTC)  # booked days ahead, logged after the visit
    a = visits.book(_slot(world, dt.datetime(2027, 1, 14, 9, 0, tzinfo=MADRID), now=before).id, {},
                    actor=world.clerk_a, now=before)
    visits.book(_slot(world, dt.datetime(2027, 1, 14, 12, 0, tzinfo=MADRID), council=world.council_b, now=before).id,
                {}, actor=world.clerk_b, now=before)
    tech = client_for(world.technician)
    plan = tech.get("/day-plan?day=2027-01-14").get_data(as_text=True).replace("\xa0", " ")
    assert "35 min from the office" in plan and "50 min from the office" in plan
    # Round trips: 2 × 35 + 2 × 50 = 170 minutes.
    assert re.search(r"Travel today: 2 h 50 min", plan), re.search(r"Travel today:[^<]*", plan)
    assert f'name="v{a.id}-travel"' in plan and 'value="1:10"' in plan
    resp = tech.post(f"/day-plan/{a.id}/log", data={f"v{a.id}-duration": "1:30", f"v{a.id}-travel": "1:10",
                                                    f"v{a.id}-description": "Router"})
    assert resp.status_code == 302
    (entry,) = db.session.scalars(select(TimeEntry))
    assert (entry.minutes, entry.travel_minutes, entry.mode, entry.council_id) == (90, 70, "onsite", world.council_a.id)


@pytest.mark.frozen("2027-01-11T08:00:00+00:00")
def test_the_clerk_moves_a_visit_from_the_list(app, db, world, client_for):
    first = _slot(world, dt.datetime(2027, 1, 14, 9, 0, tzinfo=MADRID))
    second = _slot(world, dt.datetime(2027, 1, 21, 9, 0, tzinfo=MADRID))
    other = _slot(world, dt.datetime(2027, 1, 22, 9, 0, tzinfo=MADRID), council=world.council_b)
    visit = visits.book(first.id, {}, actor=world.clerk_a)
    clerk = client_for(world.clerk_a)
    assert f"/visit-list/{visit.id}/move" in clerk.get("/visit-list").get_data(as_text=True)
    page = clerk.get(f"/visit-list/{visit.id}/move").get_data(as_text=True)
    assert f'value="{second.id}"' in page and f'value="{first.id}"' not in page and f'value="{other.id}"' not in page
    bad = clerk.post(f"/visit-list/{visit.id}/move", data={"slot_id": str(other.id)})
    assert bad.status_code == 422
    resp = clerk.post(f"/visit-list/{visit.id}/move", data={"slot_id": str(second.id)})
    assert resp.status_code == 302
    db.session.expire_all()
    assert (visit.slot_id, visit.sequence) == (second.id, 1)
    assert client_for(world.clerk_b).get(f"/visit-list/{visit.id}/move").status_code == 404


@pytest.mark.frozen("2027-03-15T08:00:00+00:00")
def test_dispatcher_week(app, db, world, client_for, open_ticket, english):
    from accounts import services as accounts

    second = accounts.create_user(email="marta@test.example.org", name="Marta", role="technician",
                                  password=world.password, actor=None)
    # Monday 22 March 2027; Friday 26 is Good Friday, Easter Monday is 29 March.
    booked = _slot(world, dt.datetime(2027, 3, 23, 9, 0, tzinfo=MADRID), capacity=3)
    visits.book(booked.id, {}, actor=world.clerk_a)
    _slot(world, dt.datetime(2027, 3, 24, 9, 0, tzinfo=MADRID), technician=second, council=world.council_b,
          capacity=2)
    teams.add_absence(second, dt.date(2027, 3, 25), dt.date(2027, 3, 26), actor=world.manager)
    days, holidays, rows = dispatch.week_board(dt.date(2027, 3, 22), dt.datetime(2027, 3, 15, 8, 0, tzinfo=dt.UTC))
    assert days[0] == dt.date(2027, 3, 22) and len(days) == 7 and holidays == {dt.date(2027, 3, 26)}
    by_name = {r.user.name: r for r in rows}
    tech = by_name[world.technician.name]
    assert [len(c.visits) for c in tech.cells] == [0, 1, 0, 0, 0, 0, 0] and tech.cells[1].free == 2
    marta = by_name["Marta"]
    assert marta.cells[2].free == 2 and [c.absent for c in marta.cells][3:5] == [True, True]
    # Next week holds Easter Monday.
    _days, holidays, _rows = dispatch.week_board(dt.date(2027, 3, 29), dt.datetime(2027, 3, 15, 8, 0, tzinfo=dt.UTC))
    assert holidays == {dt.date(2027, 3, 29)}

    hardware = open_ticket(title="Printer jammed", category="hardware")
    linked = open_ticket(title="Network cabinet", category="hardware")
    remote = open_ticket(title="Password reset", category="accounts")
    visits.book(_slot(world, dt.datetime(2027, 3, 30, 9, 0, tzinfo=MADRID)).id, {"ticket_id": linked.id},
                actor=world.clerk_a)
    unbooked = [t.id for t in dispatch.unbooked_onsite_tickets(dt.datetime(2027, 3, 15, 8, 0, tzinfo=dt.UTC))]
    assert hardware.id in unbooked and linked.id not in unbooked and remote.id not in unbooked

    manager = client_for(world.manager)
    page = manager.get("/dispatch?week=2027-03-24").get_data(as_text=True).replace("\xa0", " ")
    assert "Week of March 22, 2027" in page and "Marta" in page and "Absent" in page
    assert "Mura" in page and "2 free places" in page and "Printer jammed" in page
    assert f"/book-visit?council={world.council_a.id}&amp;ticket={hardware.id}" in page
    assert manager.get("/dispatch?week=garbage").status_code == 200
    assert manager.get("/dispatch?week=9999-12-31").status_code == 200
    assert client_for(world.technician).get("/dispatch").status_code == 403

"""The visit pages: a clerk books one of the next free slots (seeing the on-site hours left
this month), sees it in the list and cancels it; the technician's day plan shows it with its
ticket and logs its time in the hours ledger."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from support.hours.models import TimeEntry
from support.visits import services as visits
from support.visits.models import Visit

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")


@pytest.mark.frozen("2027-01-11T08:00:00+00:00")
def test_clerk_books_and_technician_logs_from_the_day_plan(app, db, world, client_for, open_ticket, make_agreement):
    make_agreement(first=(2027, 1), last=(2027, 12), onsite=240)
    (slot,) = visits.create_slots({"council_id": world.council_a.id, "technician_id": world.technician.id,
                                   "starts_at": dt.datetime(2027, 1, 14, 9, 0, tzinfo=MADRID), "minutes": 90,
                                   "capacity": 2}, actor=world.manager)
    ticket = open_ticket(title="Scanner broken")
    clerk = client_for(world.clerk_a)
    page = clerk.get("/book-visit").get_data(as_text=True)
    assert f"/book-visit/{slot.id}" in page and "2 places left" in page
    confirm = clerk.get(f"/book-visit/{slot.id}").get_data(as_text=True)
    assert "On-site hours left this month: 4 h of 4 h" in confirm or "On-site hours left this month" in confirm
    assert "Scanner broken" in confirm
    resp = clerk.post(f"/book-visit/{slot.id}", data={"ticket_id": str(ticket.id), "notes": "Bring a cable"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    (visit,) = db.session.scalars(select(Visit))
    assert (visit.ticket_id, visit.booked_by_id, visit.notes) == (ticket.id, world.clerk_a.id, "Bring a cable")
    listing = clerk.get("/visit-list").get_data(as_text=True)
    assert "Bring a cable" in listing
    # Another council's slot does not exist for this clerk.
    (other,) = visits.create_slots({"council_id": world.council_b.id, "technician_id": world.technician.id,
                                    "starts_at": dt.datetime(2027, 1, 15, 9, 0, tzinfo=MADRID), "minutes": 60},
                                   actor=world.manager)
    assert clerk.get(f"/book-visit/{other.id}").status_code == 404

    tech = client_for(world.technician)
    plan = tech.get("/day-plan?day=2027-01-14").get_data(as_text=True)
    assert "Mura" in plan and "Scanner broken" in plan and "Bring a cable" in plan
    resp = tech.post(f"/day-plan/{visit.id}/log", data={f"v{visit.id}-duration": "1:15", f"v{visit.id}-travel": "30 min",
                                                        f"v{visit.id}-description": "Scanner replaced"})
    assert resp.status_code == 302
    (entry,) = db.session.scalars(select(TimeEntry))
    assert (entry.minutes, entry.travel_minutes, entry.mode, entry.ticket_id, entry.date) == (
        75, 30, "onsite", ticket.id, dt.date(2027, 1, 14))

    # Cancelling from the list (more than 24 h ahead).
    resp = clerk.post(f"/visit-list/{visit.id}/cancel", data={"reason": "Solved"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert visits.get_visit(visit.id).status == "cancelled"

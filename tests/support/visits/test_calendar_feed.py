"""The personal iCalendar feed, parsed back with the icalendar package: stable UIDs, the
council's name in SUMMARY, cancelled visits marked with SEQUENCE raised, a new secret that
retires the old URL, and a clerk's feed that holds only their council's visits."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from support.visits import services as visits

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")


def _events(client, url):
    resp = client.get(urlsplit(url).path)
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    return list(Calendar.from_ical(resp.data).walk("VEVENT"))


@pytest.mark.frozen("2027-01-11T08:00:00+00:00")
def test_feeds_of_staff_and_clerks(app, db, world, api_for):
    def slot(council, day):
        (s,) = visits.create_slots({"council_id": council.id, "technician_id": world.technician.id,
                                    "starts_at": dt.datetime(2027, 1, day, 9, 0, tzinfo=MADRID), "minutes": 120,
                                    "capacity": 2}, actor=world.manager)
        return s
    mine = visits.book(slot(world.council_a, 14).id, {"notes": "Router"}, actor=world.clerk_a)
    theirs = visits.book(slot(world.council_b, 15).id, {}, actor=world.clerk_b)
    cancelled = visits.book(slot(world.council_a, 18).id, {}, actor=world.clerk_a)
    visits.cancel_visit(cancelled, "", actor=world.manager)

    tech_url = api_for(world.technician).post("/api/v1/calendar-feed").json["url"]
    assert tech_url.endswith(".ics")
    anonymous = app.test_client()
    events = {str(e["UID"]): e for e in _events(anonymous, tech_url)}
    assert len(events) == 3
    first = events[f"visit-{mine.id}@councildesk"]
    assert str(first["SUMMARY"]) == "Mura"
    assert first.decoded("DTSTART") == dt.datetime(2027, 1, 14, 8, 0, tzinfo=dt.UTC)
    assert first.decoded("DTEND") == dt.datetime(2027, 1, 14, 10, 0, tzinfo=dt.UTC)
    gone = events[f"visit-{cancelled.id}@councildesk"]
    assert str(gone["STATUS"]) == "CANCELLED" and int(gone["SEQUENCE"]) == 1

    clerk_url = api_for(world.clerk_a).post("/api/v1/calendar-feed").json["url"]
    clerk_events = _events(anonymous, clerk_url)
    assert {str(e["UID"]) for e in clerk_events} == {f"visit-{mine.id}@councildesk",
                                                     f"visit-{cancelled.id}@councildesk"}
    assert f"visit-{theirs.id}" not in anonymous.get(urlsplit(clerk_url).path).get_data(as_text=True)

    # A new secret: the previous URL stops working.
    newer = api_for(world.technician).post("/api/v1/calendar-feed").json["url"]
    assert newer != tech_url
    assert anonymous.get(urlsplit(tech_url).path).status_code == 404
    assert anonymous.get("/calendar/not-a-secret.ics").status_code == 404

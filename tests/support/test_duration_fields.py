"""Durations people mean: a bare number is refused with a message asking for the unit, on the hours
form and the ticket's time panel; the field shows what it reads as, its quick buttons sit with it,
and a council the form chose is said beside the select."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from support.hours.models import TimeEntry

pytestmark = pytest.mark.usefixtures("english")

ASK_FOR_UNIT = "Say the unit: write 1 h, 60 min or 1:00."


def _form(council, day, **overrides):
    data = {"council_id": str(council.id), "date": day.isoformat(), "duration": "1 h", "mode": "onsite",
            "travel": "0:40", "description": "Printer driver"}
    data.update(overrides)
    return data


def _entries(db) -> int:
    return db.session.scalar(select(func.count()).select_from(TimeEntry))


@pytest.mark.parametrize("typed", ["1", "60", "1,5", "2.5"])
def test_a_bare_number_is_refused_and_what_was_typed_stays(make_agreement, world, client_for, db, year, typed):
    make_agreement(onsite=240, remote=90)
    resp = client_for(world.technician).post("/log-hours", data=_form(world.council_a, dt.date(year, 3, 4),
                                                                       duration=typed))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and ASK_FOR_UNIT in page
    assert f'value="{typed}"' in page and "Printer driver" in page
    assert _entries(db) == 0


@pytest.mark.parametrize(("typed", "minutes"), [("1 h", 60), ("1:30", 90), ("60 min", 60), ("1:00", 60)])
def test_a_duration_with_its_unit_is_saved(make_agreement, world, client_for, db, year, typed, minutes):
    make_agreement(onsite=240, remote=90)
    resp = client_for(world.technician).post("/log-hours", data=_form(world.council_a, dt.date(year, 3, 4),
                                                                       duration=typed))
    assert resp.status_code == 302
    assert db.session.scalar(select(TimeEntry.minutes)) == minutes


def test_travel_still_takes_a_bare_zero(make_agreement, world, client_for, db, year):
    make_agreement(onsite=240, remote=90)
    resp = client_for(world.technician).post("/log-hours", data=_form(world.council_a, dt.date(year, 3, 4),
                                                                       travel="0"))
    assert resp.status_code == 302
    assert db.session.scalar(select(TimeEntry.travel_minutes)) == 0
    resp = client_for(world.technician).post("/log-hours", data=_form(world.council_a, dt.date(year, 3, 4),
                                                                       travel="40"))
    assert ASK_FOR_UNIT in resp.get_data(as_text=True)


def test_the_ticket_time_panel_refuses_a_bare_number(make_agreement, world, client_for, db, open_ticket, today):
    make_agreement(onsite=240, remote=90)
    ticket = open_ticket()
    client = client_for(world.technician)
    data = {"duration": "2", "mode": "remote", "travel": "", "date": today.isoformat(), "description": "Remote fix"}
    page = client.post(f"/tickets/{ticket.id}/time", data=data).get_data(as_text=True)
    assert ASK_FOR_UNIT in page and 'value="2"' in page and _entries(db) == 0
    data["duration"] = "1:30"
    assert client.post(f"/tickets/{ticket.id}/time", data=data).status_code == 302
    assert db.session.scalar(select(TimeEntry.minutes)) == 90


def test_the_field_reads_back_live_with_its_quick_buttons(make_agreement, world, client_for, open_ticket):
    make_agreement(onsite=240, remote=90)
    for page in (client_for(world.technician).get("/log-hours").get_data(as_text=True),
                 client_for(world.technician).get(f"/tickets/{open_ticket().id}").get_data(as_text=True)):
        assert "js/durations.js" in page
        # The reading sits beside the input, and the quick buttons inside the same field (not under
        # the date next to it).
        field = re.search(r'<div class="mb-3 cd-duration[^"]*" data-duration-field>(.*?)</div>\s*(?=<div class="col|'
                          r'<div class="cd-travel)', page, re.S)
        assert field, page
        body = field.group(1)
        assert 'id="duration"' in body and '<output class="cd-duration-preview' in body
        assert 'data-duration="1 h"' in body and 'data-msg-no-unit="Say the unit: 1 h, 60 min or 1:00"' in body
        assert 'aria-describedby="duration-preview' in body


def test_a_preselected_council_is_said(make_agreement, world, client_for, log_time, today):
    make_agreement(onsite=240, remote=90)
    page = client_for(world.technician).get("/log-hours").get_data(as_text=True)
    assert "Preselected:" not in page  # nothing logged yet: nothing chosen for the user
    log_time(today, 30)
    page = client_for(world.technician).get("/log-hours").get_data(as_text=True)
    assert f"Preselected: {world.council_a.name}." in page and "cd-preselected" in page
    page = client_for(world.technician).get(f"/log-hours?council={world.council_b.slug}").get_data(as_text=True)
    assert f"Preselected: {world.council_b.name}." in page


def test_travel_logged_from_a_ticket_shows_on_its_time_panel(make_agreement, world, client_for, db, open_ticket,
                                                             today):
    make_agreement(onsite=240, remote=90)
    ticket = open_ticket()
    client = client_for(world.technician)
    resp = client.post(f"/tickets/{ticket.id}/time", data={
        "duration": "1 h", "mode": "onsite", "travel": "0:40", "date": today.isoformat(), "description": "Visit"})
    assert resp.status_code == 302
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    panel = page[page.index('id="time"'):page.index("Log time</summary>")]
    assert "travel 40\u00a0min" in panel and "Travel (recorded, not counted): 40\u00a0min" in panel

"""The hours pages: the office dashboard (home of managers and technicians), the log form made
for phones, entries, corrections, the council's month and its close."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re

import pytest
from sqlalchemy import event, func, select

from agreements.models import MonthClose
from support.hours.models import TimeEntry

# These tests read English texts; the project's default language is Catalan.
pytestmark = pytest.mark.usefixtures("english")


def text(resp) -> str:
    assert resp.status_code == 200, (resp.status_code, resp.headers.get("Location"))
    return resp.get_data(as_text=True)


def field_errors(page: str, field_id: str) -> list[str]:
    # A duration field has its live reading (<output>) beside the input, inside a row.
    match = re.search(rf'<(input|select|textarea)[^>]*\bid="{re.escape(field_id)}"[^>]*>(.*?</\1>)?\s*'
                      r'(?:<output[^>]*>.*?</output>\s*</div>\s*)?'
                      r'((?:<div class="invalid-feedback[^"]*">.*?</div>\s*)+)', page, re.S)
    if not match:
        return []
    return [htmllib.unescape(m) for m in re.findall(r'<div class="invalid-feedback[^"]*">(.*?)</div>', match.group(3))]


@pytest.fixture
def agreement(make_agreement):
    return make_agreement(onsite=240, remote=90)


def log_form(council, day, **overrides):
    data = {"council_id": str(council.id), "date": day.isoformat(), "duration": "1:30", "mode": "onsite",
            "travel": "0:40", "description": "Printer driver"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- home and dashboard -------------------------------------------------------------------------

def test_home_leads_managers_to_the_dashboard_technicians_to_the_queue_and_clerks_to_their_council(
        world, client_for):
    resp = client_for(world.manager).get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/hours")
    resp = client_for(world.technician).get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/tickets")
    resp = client_for(world.clerk_a).get("/", follow_redirects=True)
    assert resp.request.path == f"/councils/{world.council_a.slug}"
    assert client_for(world.clerk_a).get("/hours").status_code == 403


def test_dashboard_lists_every_council_with_bars_and_forecast(agreement, world, client_for, log_time, today):
    log_time(today, 200)
    page = text(client_for(world.manager).get("/hours"))
    assert "Mura" in page and "Talamanca" in page
    assert re.search(r'<progress class="cd-progress cd-warn"[^>]*max="240" value="200"', page)
    assert "Forecast" in page and "business days" in page
    assert "No agreement covers this month." in page  # Talamanca has none
    past = text(client_for(world.technician).get(f"/hours?month={today.year - 1}-03"))
    assert "The month is over" in past


def test_pages_cost_the_same_queries_with_many_councils(agreement, world, client_for, db, make_agreement, today):
    """The dashboard and the council page run a fixed number of queries, not one per council or month."""
    from agreements import councils

    # Signed in before counting: signing a client in opens a server-side session (a write).
    client = client_for(world.manager)

    def count(url):
        statements = []

        def before(*_args):
            statements.append(1)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", before)
        return len(statements)

    few = count("/hours"), count(f"/councils/{world.council_a.slug}")
    for i in range(8):
        council = councils.create_council({"name": f"Poble {i}", "population": 300 + i}, actor=None)
        make_agreement(council=council)
    assert (count("/hours"), count(f"/councils/{world.council_a.slug}")) == few
    assert few[0] <= 12 and few[1] <= 16, few


# --- the log form -------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "minutes"), [("1:30", 90), ("1,5 h", 90), ("1.5 h", 90), ("90 min", 90),
                                                ("1 h 30 min", 90), ("45 min", 45), ("2h", 120), ("1 h", 60)])
def test_durations_as_technicians_type_them(agreement, world, client_for, db, year, typed, minutes):
    client = client_for(world.technician)
    resp = client.post("/log-hours", data=log_form(world.council_a, dt.date(year, 3, 4), duration=typed))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    entry = db.session.scalar(select(TimeEntry))
    assert (entry.minutes, entry.travel_minutes, entry.mode, entry.technician_id) == (
        minutes, 40, "onsite", world.technician.id)
    assert f"council={world.council_a.slug}" in resp.headers["Location"]


def test_remote_work_drops_the_travel(agreement, world, client_for, db, year):
    # Whatever the (hidden) travel box holds does not matter for remote work.
    client_for(world.technician).post("/log-hours", data=log_form(world.council_a, dt.date(year, 3, 4),
                                                                   mode="remote", duration="20 min", travel="?"))
    entry = db.session.scalar(select(TimeEntry))
    assert (entry.mode, entry.minutes, entry.travel_minutes) == ("remote", 20, 0)


def test_the_form_starts_today_with_recent_councils_first(agreement, world, client_for, log_time, today,
                                                          make_agreement):
    make_agreement(council=world.council_b)
    log_time(today, 30, council=world.council_b)
    page = text(client_for(world.technician).get("/log-hours"))
    assert f'value="{today.isoformat()}"' in page
    recent = re.search(r'<optgroup label="Recent">(.*?)</optgroup>', page, re.S).group(1)
    assert "Talamanca" in recent and "Mura" not in recent
    assert re.search(rf'<option selected value="{world.council_b.id}">', page) or re.search(
        rf'<option value="{world.council_b.id}" selected>', page)
    assert 'name="technician_id"' not in page  # technicians log for themselves
    assert 'name="technician_id"' in text(client_for(world.manager).get("/log-hours"))


def test_errors_next_to_the_fields_in_the_users_language(agreement, world, db, year, close, translated_app,
                                                         login_to):
    world.technician.preferred_language = "ca"
    db.session.commit()
    client = login_to(translated_app, world.technician)
    day = dt.date(year, 3, 4)

    def errors(field, **overrides):
        resp = client.post("/log-hours", data=log_form(world.council_a, day, **overrides))
        return field_errors(text(resp), field)

    assert errors("duration", duration="") == ["Introduïu el temps, p. ex. 1:30, 1,5 h o 90 min."]
    assert errors("duration", duration="una hora") == ["Escriviu el temps com a 1:30, 1,5 h, 1.5 h o 90 min."]
    assert errors("duration", duration="0") == ["El temps ha de ser més que zero."]
    assert errors("duration", duration="25 h") == ["Com a màxim 24\u00a0h."]
    assert errors("travel", travel="molt") == ["Escriviu el temps com a 1:30, 1,5 h, 1.5 h o 90 min."]
    assert errors("description", description="") == ["Expliqueu breument què s'ha fet."]
    assert errors("date", date=f"{year - 1}-12-31") == [f"Cap conveni d'aquest ajuntament no cobreix el {year - 1}-12-31."]
    close(dt.date(year, 3, 1))
    assert errors("date") == [f"{year}-03 està tancat: les seves hores ja no es poden canviar."]
    world.technician.preferred_language = "es"
    db.session.commit()
    assert errors("duration", duration="x") == ["Escriba el tiempo como 1:30, 1,5 h, 1.5 h o 90 min."]
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 0


# --- entries, edits and corrections ----------------------------------------------------------------

def test_technicians_see_their_own_entries_and_managers_everyones(agreement, world, client_for, log_time, year):
    from accounts import services as accounts

    other = accounts.create_user(email="other.tech@test.example.org", name="Other Tech", role="technician",
                                 password=world.password, actor=None)
    log_time(dt.date(year, 3, 4), 30, description="Mine")
    theirs = log_time(dt.date(year, 3, 5), 30, technician=other, description="Theirs")
    page = text(client_for(world.technician).get("/hours/entries"))
    assert "Mine" in page and "Theirs" not in page
    # Even asking for someone else's: a technician's list is their own.
    assert "Theirs" not in text(client_for(world.technician).get(f"/hours/entries?technician={other.id}"))
    page = text(client_for(world.manager).get("/hours/entries"))
    assert "Mine" in page and "Theirs" in page
    assert "Mine" not in text(client_for(world.manager).get(f"/hours/entries?technician={other.id}"))
    assert client_for(world.technician).get(f"/hours/entries/{theirs.id}/edit").status_code == 403
    assert client_for(world.manager).get(f"/hours/entries/{theirs.id}/edit").status_code == 200


def test_edit_and_delete_in_an_open_month(agreement, world, client_for, log_time, db, year):
    entry = log_time(dt.date(year, 3, 4), 30, travel=20)
    client = client_for(world.technician)
    page = text(client.get(f"/hours/entries/{entry.id}/edit"))
    assert 'value="30\u00a0min"' in page
    resp = client.post(f"/hours/entries/{entry.id}/edit",
                       data=log_form(world.council_a, dt.date(year, 3, 6), duration="2 h", travel="0:30"))
    assert resp.status_code == 302
    db.session.expire_all()
    assert (entry.minutes, entry.travel_minutes, entry.date) == (120, 30, dt.date(year, 3, 6))
    entry_id = entry.id
    assert client.post(f"/hours/entries/{entry_id}/delete").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 0


def test_closed_months_are_corrected_not_edited(agreement, world, client_for, log_time, close, db, year, today):
    entry = log_time(dt.date(year, 3, 4), 120, travel=40, description="Server visit")
    close(dt.date(year, 3, 1))
    client = client_for(world.technician)
    resp = client.get(f"/hours/entries/{entry.id}/edit")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/hours/entries/{entry.id}/correct")
    assert client.post(f"/hours/entries/{entry.id}/delete").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 1  # refused, with a message
    page = text(client.get(f"/hours/entries/{entry.id}/correct"))
    assert "Server visit" in page
    resp = client.post(f"/hours/entries/{entry.id}/correct", data={
        "direction": "remove", "duration": "30 min", "travel": "", "date": today.isoformat(),
        "description": "Half an hour less"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    correction = db.session.scalar(select(TimeEntry).where(TimeEntry.corrects_entry_id == entry.id))
    assert (correction.minutes, correction.travel_minutes, correction.date) == (-30, 0, today)
    # Shown next to the original, in the closed month, and as a correction in its own month.
    march = text(client.get(f"/councils/{world.council_a.slug}/months/{year}-03"))
    assert "Half an hour less" in march and "Month closed" in march
    now = text(client.get(f"/councils/{world.council_a.slug}/months/{today:%Y-%m}"))
    assert "Correction" in now and "Half an hour less" in now
    # Over-correcting is refused next to the field.
    page = text(client.post(f"/hours/entries/{entry.id}/correct", data={
        "direction": "remove", "duration": "2 h", "date": today.isoformat(), "description": "Too much"}))
    assert field_errors(page, "duration") == ["A correction cannot take away more than the 90 minutes logged."]


# --- the council's month and its close ---------------------------------------------------------------

def test_council_month_per_role(agreement, make_agreement, world, client_for, log_time, year):
    make_agreement(council=world.council_b)
    log_time(dt.date(year, 3, 4), 60, description="Router")
    log_time(dt.date(year, 3, 4), 60, council=world.council_b, description="Other village")
    clerk = client_for(world.clerk_a)
    page = text(clerk.get(f"/councils/{world.council_a.slug}/months/{year}-03"))
    assert "Router" in page and "Other village" not in page
    assert "/edit" not in page and "Close the month" not in page  # clerks read
    assert clerk.get(f"/councils/{world.council_b.slug}/months/{year}-03").status_code == 404
    assert clerk.get(f"/councils/{world.council_a.slug}/months/{year - 3}-03").status_code == 404  # no agreement
    assert clerk.get(f"/councils/{world.council_a.slug}/months/march").status_code == 404
    manager = text(client_for(world.manager).get(f"/councils/{world.council_a.slug}/months/{year}-03"))
    assert "Close the month" in manager and "/edit" in manager


def test_closing_from_the_pages(agreement, make_agreement, world, client_for, db, year):
    make_agreement(council=world.council_b)
    manager = client_for(world.manager)
    overview = text(manager.get("/months"))
    assert f"/months/{year}-03" in overview
    resp = manager.post(f"/councils/{world.council_a.slug}/months/{year}-03/close",
                        data={"next": f"/months/{year}-03"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/months/{year}-03")
    page = text(manager.get(f"/months/{year}-03"))
    assert "Closed on" in page and "bi-lock-fill" in page
    assert manager.post(f"/months/{year}-03/close").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(MonthClose)) == 2
    # The lock shows wherever the month's usage does.
    council = text(manager.get(f"/councils/{world.council_a.slug}?year={year}"))
    assert council.count("bi-lock-fill") == 1
    assert client_for(world.technician).post(f"/months/{year}-04/close").status_code == 403
    # An open redirect is not an option.
    resp = manager.post(f"/councils/{world.council_a.slug}/months/{year}-04/close", data={"next": "https://evil.example"})
    assert resp.headers["Location"].endswith(f"/councils/{world.council_a.slug}/months/{year}-04")

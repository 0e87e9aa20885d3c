"""A visit on the phone, in headless Chromium at 390×844: the clerk of Mura books one of the
next free times for an open request, the technician finds it on the day plan with its
request, its notes and the travel from the office, and logs the visit's time from there (an
on-site entry of the hours ledger with the round trip as travel). Nothing on those pages is
wider than the phone. Then the dispatcher's week for the manager, and every page at 1366 px.

Debian's Chromium through Playwright (`executable_path`); nothing is downloaded. The dates
are computed from today (a working day a few days ahead), never fixed.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("english")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
LAPTOP = {"viewport": {"width": 1366, "height": 768}}
MADRID = ZoneInfo("Europe/Madrid")


def _sign_in(browser, base: str, email: str, password: str, device: dict):
    context = browser.new_context(locale="en-GB", **device)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/login" not in page.url, f"{email} could not sign in"
    return context, page


def _flash(page) -> str:
    # The scheduler's banner is an .alert too; the flash is the other one.
    return page.locator(".alert:not(.cd-scheduler-banner)").first.inner_text()


def _fits(page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url}: {width[0]} px wide in a {width[1]} px window"


def _visit_day() -> dt.date:
    from core.calendar import office_calendar

    day = dt.datetime.now(MADRID).date() + dt.timedelta(days=3)
    while day.weekday() >= 5 or day in office_calendar().holidays:
        day += dt.timedelta(days=1)
    return day


def test_clerk_books_on_the_phone_and_the_technician_logs_it_from_the_day_plan(app, db, world, live_server):
    from playwright.sync_api import expect, sync_playwright

    from agreements import services as agreements
    from support.hours.models import TimeEntry
    from support.tickets import services as tickets
    from support.visits import services as visits
    from support.visits.models import Visit

    day = _visit_day()
    agreements.create_agreement(world.council_a, {
        "starts_on": dt.date(day.year - 1, 1, 1), "ends_on": dt.date(day.year + 1, 12, 31),
        "onsite_minutes_month": 480, "remote_minutes_month": None, "rollover": "none",
        "signed_on": dt.date(day.year - 2, 12, 1)}, actor=None)
    world.council_a.travel_minutes = 25
    world.technician.name = "Jordi Vila"
    db.session.commit()
    (slot,) = visits.create_slots({"council_id": world.council_a.id, "technician_id": world.technician.id,
                                   "starts_at": dt.datetime.combine(day, dt.time(9, 0), MADRID), "minutes": 90,
                                   "capacity": 2}, actor=world.manager)
    ticket = tickets.create_ticket(world.council_a, {"title": "The scanner in the Registry is broken",
                                                     "description": "It does not switch on.", "category": "hardware"},
                                   actor=world.clerk_a)
    base = live_server.url

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # --- the clerk books, on the phone ------------------------------------------------------
            context, clerk = _sign_in(browser, base, world.clerk_a.email, world.password, PHONE)
            clerk.goto(f"{base}/book-visit")
            expect(clerk.locator("h1")).to_have_text("Book a visit")
            _fits(clerk)
            free = clerk.locator("#free-slots li")
            expect(free).to_have_count(1)
            expect(free.first).to_contain_text("2 places left")
            free.first.get_by_role("link", name="Book").tap()
            expect(clerk.locator("#onsite-left")).to_contain_text("On-site hours left this month")
            _fits(clerk)
            clerk.get_by_label("About which request? (optional)").select_option(str(ticket.id))
            clerk.get_by_label("Anything the technician should know").fill("The scanner is in the back office.")
            with clerk.expect_navigation():
                clerk.get_by_role("button", name="Confirm the visit").tap()
            assert _flash(clerk).strip().endswith("The visit is booked.") or "The visit is booked." in _flash(clerk)
            expect(clerk.locator("#visits")).to_contain_text("The scanner is in the back office.")
            _fits(clerk)
            context.close()

            db.session.rollback()
            (visit,) = db.session.scalars(select(Visit))
            assert (visit.slot_id, visit.ticket_id, visit.booked_by_id) == (slot.id, ticket.id, world.clerk_a.id)

            # --- the technician sees it on the day plan and logs its time ---------------------------
            context, tech = _sign_in(browser, base, world.technician.email, world.password, PHONE)
            tech.goto(f"{base}/day-plan?day={day.isoformat()}")
            card = tech.locator("#day-visits li").first
            expect(card).to_contain_text("Mura")
            expect(card).to_contain_text("The scanner in the Registry is broken")
            expect(card).to_contain_text("The scanner is in the back office.")
            expect(card).to_contain_text("from the office")
            expect(tech.locator("#day-travel")).to_contain_text("Travel today")
            _fits(tech)
            expect(card.get_by_label("Time worked")).to_have_value("1:30")
            expect(card.get_by_label("Travel (round trip)")).to_have_value("0:50")
            card.get_by_label("Time worked").fill("1:15")
            card.get_by_label("What was done").fill("Scanner replaced")
            with tech.expect_navigation():
                card.get_by_role("button", name="Log time").tap()
            assert "Logged the visit's time." in _flash(tech)
            _fits(tech)
            context.close()

            db.session.rollback()
            (entry,) = db.session.scalars(select(TimeEntry))
            assert (entry.minutes, entry.travel_minutes, entry.mode, entry.ticket_id, entry.date,
                    entry.technician_id) == (75, 50, "onsite", ticket.id, day, world.technician.id)

            # --- the dispatcher's week, on the phone and on a laptop --------------------------------
            for device in (PHONE, LAPTOP):
                context, manager = _sign_in(browser, base, world.manager.email, world.password, device)
                manager.goto(f"{base}/dispatch?week={day.isoformat()}")
                expect(manager.locator("h1")).to_have_text("Dispatch")
                expect(manager.locator("#dispatch")).to_contain_text("Jordi Vila")
                expect(manager.locator("#dispatch")).to_contain_text("Mura")
                _fits(manager)
                for path in (f"/day-plan?day={day.isoformat()}&technician={world.technician.id}", "/visit-list",
                             f"/visit-list/{visit.id}/move", f"/councils/{world.council_a.slug}/edit"):
                    manager.goto(f"{base}{path}")
                    _fits(manager)
                context.close()
        finally:
            browser.close()

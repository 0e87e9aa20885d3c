"""An agreement against its predecessor, and the renewal suggestion, with figures worked out by
hand."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from agreements.months import add_months, month_end, month_start, months_between

ONSITE = [200, 250, 300, 180, 240, 260, 220, 230, 310, 190, 205, 245]


@pytest.fixture
def history(app, db, world):
    # The figures below are worked out from "today"; a fixed day keeps every string the pages
    # show (used hours included) the same whatever day the suite runs.
    with time_machine.travel(dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC), tick=False):
        yield _history(db, world)


def _history(db, world):
    """Mura: 2 years ago 180 min/month on site (used 150 each month); since January last year
    240 min/month (no carry-over), with the last 12 complete months using ONSITE on site and
    60 min remote each."""
    from agreements import services
    from agreements.months import office_today
    from support.hours.models import TimeEntry

    today = office_today()
    year = today.year - 1
    council = world.council_a
    previous = services.create_agreement(council, {
        "starts_on": dt.date(year - 1, 1, 1), "ends_on": dt.date(year - 1, 12, 31), "onsite_minutes_month": 180,
        "rollover": "none", "signed_on": dt.date(year - 2, 12, 1)}, actor=None)
    current = services.create_agreement(council, {
        "starts_on": dt.date(year, 1, 1), "ends_on": month_end(dt.date(year + 1, 12, 1)), "onsite_minutes_month": 240,
        "rollover": "none", "signed_on": dt.date(year - 1, 12, 1)}, actor=None)
    entries = []

    def add(month, minutes, mode):
        entries.append(TimeEntry(council_id=council.id, technician_id=world.technician.id, date=month.replace(day=3),
                                 month=month, minutes=minutes, mode=mode, description="", travel_minutes=0))

    for month in months_between(dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 1)):
        add(month, 150, "onsite")
    last = add_months(month_start(today), -1)
    window = months_between(add_months(last, -11), last)
    for month, minutes in zip(window, ONSITE, strict=True):
        add(month, minutes, "onsite")
        add(month, 60, "remote")
    db.session.add_all(entries)
    db.session.commit()
    return {"today": today, "previous": previous, "current": current, "window": window}


def test_comparison_with_the_previous_agreement(history):
    from reports import renewal

    comparison = renewal.compare_with_previous(history["current"], history["today"])
    cur, prev = comparison.current, comparison.previous
    assert prev.agreement.id == history["previous"].id
    assert (prev.months_total, prev.months_done) == (12, 12)
    assert prev.totals.onsite.used == 150 * 12 and prev.average_used("onsite") == 150
    assert comparison.agreed_change("onsite") == pytest.approx(60 / 180)
    assert comparison.agreed_change("remote") == 0  # the band's 90 minutes, both times
    assert cur.months_total == 24
    months_done = len(months_between(history["current"].first_month, add_months(month_start(history["today"]), -1)))
    assert cur.months_done == months_done
    assert cur.totals.onsite.used == sum(ONSITE)
    # Only the months with time recorded count towards the average (the first two have none).
    assert months_done == 14 and cur.months_with_data == 12 and prev.months_with_data == 12
    assert cur.average_used("onsite") == pytest.approx(sum(ONSITE) / 12)
    assert comparison.used_change("onsite") == pytest.approx((sum(ONSITE) / 12 - 150) / 150)
    assert cur.agreed_total("onsite") == 240 * 24


def test_renewal_suggestion_shows_its_reasoning(history, world):
    from reports import renewal

    s = renewal.renewal_suggestion(world.council_a, history["today"])
    assert (s.first, s.last, s.months) == (history["window"][0], history["window"][-1], 12)
    onsite = s.onsite
    assert onsite.mean == pytest.approx(2830 / 12)
    assert onsite.p75 == 250  # the 9th of 12, sorted
    assert onsite.peak == 310
    assert onsite.months_over == 5  # 250, 300, 260, 310 and 245 went beyond 240
    assert onsite.with_headroom == pytest.approx(2830 / 12 * 1.1)
    assert onsite.suggested == 270  # 259.4 rounded up to the half hour
    assert onsite.current == 240 and onsite.change == pytest.approx(0.125)
    remote = s.remote
    assert remote.mean == 60 and remote.suggested == 90 and remote.floor is None  # 66 -> 90, the band's value
    assert remote.change == 0


def test_renewal_suggestion_needs_history(app, world):
    from agreements.months import office_today
    from reports import renewal

    assert renewal.renewal_suggestion(world.council_a, office_today()) is None


def test_the_onsite_suggestion_stays_within_what_a_council_may_request(app):
    from reports.renewal import ONSITE_MAX, ONSITE_MIN, _round_up_half_hour

    assert _round_up_half_hour(259.42) == 270
    assert _round_up_half_hour(270) == 270
    assert _round_up_half_hour(0.1) == 30
    assert (ONSITE_MIN, ONSITE_MAX) == (90, 1680)


def test_agreement_and_council_pages(history, world, client_for):
    staff = client_for(world.manager)
    page = staff.get(f"/reports/agreements/{history['current'].id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "33" in html and "4 h 30 min" in html.replace("\xa0", " ")  # +33 %; 270 minutes suggested
    council = staff.get(f"/reports/councils/{world.council_a.slug}?year={history['today'].year - 1}")
    assert council.status_code == 200
    # The clerk reads the comparison, not the office's negotiating figures.
    clerk = client_for(world.clerk_a).get(f"/reports/agreements/{history['current'].id}").get_data(as_text=True)
    assert "4 h 30 min" not in clerk.replace("\xa0", " ")


def test_the_council_and_agreement_pages_lead_to_their_reports(history, world, client_for):
    """A manager reviewing an agreement, or a clerk on their council's page, reaches the report
    from where they are."""
    agreement = history["current"]
    for user in (world.manager, world.clerk_a):
        client = client_for(user)
        council_page = client.get(f"/councils/{world.council_a.slug}").get_data(as_text=True)
        assert f'href="/reports/councils/{world.council_a.slug}"' in council_page
        agreement_page = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
        assert f'href="/reports/agreements/{agreement.id}"' in agreement_page
        assert client.get(f"/reports/agreements/{agreement.id}").status_code == 200


def test_the_comparison_skips_months_without_data_and_says_how_many(history, db, world, client_for, english):
    """A previous agreement with time recorded in 3 of its 12 months: its average is over those
    3 (not a 12-month average that makes the change look like +300 %), and the page says so."""
    from sqlalchemy import delete

    from reports import renewal
    from support.hours.models import TimeEntry

    year = history["today"].year - 2
    db.session.execute(delete(TimeEntry).where(TimeEntry.month >= dt.date(year, 4, 1),
                                               TimeEntry.month <= dt.date(year, 12, 1)))
    db.session.commit()
    comparison = renewal.compare_with_previous(history["current"], history["today"])
    prev = comparison.previous
    assert (prev.months_done, prev.months_with_data) == (12, 3)
    assert prev.average_used("onsite") == 150
    assert comparison.used_change("onsite") == pytest.approx((sum(ONSITE) / 12 - 150) / 150)
    with time_machine.travel(dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC), tick=False):
        page = client_for(world.manager).get(f"/reports/agreements/{history['current'].id}").get_data(as_text=True)
    assert "based on 3 months with data" in page and "based on 12 months with data" in page

"""Agreement pages: a council's agreements, new and renewal forms (the change in agreed hours),
the detail with its months, and the council page's usage (bars, forecast, year table)."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re

import pytest
from sqlalchemy import func, select

from agreements import services
from agreements.models import Agreement

# These tests read English texts; the project's default language is Catalan.
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def year(app):
    from agreements.months import office_today

    return office_today().year - 1


def text(resp) -> str:
    assert resp.status_code == 200, (resp.status_code, resp.headers.get("Location"))
    return resp.get_data(as_text=True)


def field_errors(page: str, field_id: str) -> list[str]:
    match = re.search(rf'<(input|select|textarea)[^>]*\bid="{re.escape(field_id)}"[^>]*>(.*?</\1>)?\s*'
                      r'((?:<div class="invalid-feedback">.*?</div>\s*)+)', page, re.S)
    if not match:
        return []
    return [htmllib.unescape(m) for m in re.findall(r'<div class="invalid-feedback">(.*?)</div>', match.group(3))]


def form(first, last, **overrides):
    data = {"first_month": first, "last_month": last, "onsite": "4 h", "remote": "", "rollover": "none",
            "status": "active", "signed_on": "", "document_ref": "CONV-1", "notes": ""}
    data.update(overrides)
    return data


def make(council, year, first=1, last=12, onsite=240, **extra):
    return services.create_agreement(council, {
        "starts_on": dt.date(year, first, 1), "ends_on": services.month_end(dt.date(year, last, 1)),
        "onsite_minutes_month": onsite, "signed_on": dt.date(year - 1, 12, 1), **extra}, actor=None)


def test_new_agreement_from_the_form(world, client_for, db, year):
    manager = client_for(world.manager)
    page = text(manager.get(f"/councils/{world.council_a.slug}/agreements/new"))
    assert 'type="month"' in page and "211" in page  # the population and its band are shown
    resp = manager.post(f"/councils/{world.council_a.slug}/agreements/new",
                        data=form(f"{year}-01", f"{year + 3}-12", onsite="7:30", rollover="next_month"))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    agreement = db.session.scalar(select(Agreement))
    assert (agreement.starts_on, agreement.ends_on) == (dt.date(year, 1, 1), dt.date(year + 3, 12, 31))
    assert (agreement.onsite_minutes_month, agreement.remote_minutes_month) == (450, 90)  # remote from the band
    assert (agreement.rollover, agreement.document_ref, agreement.signed_on is not None) == ("next_month", "CONV-1", True)
    detail = text(manager.get(resp.headers["Location"]))
    assert "7\u00a0h 30\u00a0min" in detail and "Month by month" in detail


def test_renewal_prefills_the_next_period_and_shows_the_change(world, client_for, db, year):
    previous = make(world.council_a, year - 3, 1, 12, onsite=480)
    services.update_agreement(previous, {"ends_on": dt.date(year, 12, 31)}, actor=None)  # four years
    manager = client_for(world.manager)
    page = text(manager.get(f"/agreements/{previous.id}/renew"))
    assert f'value="{year + 1}-01"' in page and f'value="{year + 4}-12"' in page  # same length, right after
    assert 'value="8\u00a0h"' in page and 'data-previous="480"' in page
    assert re.search(r'value="draft"[^>]*checked|checked[^>]*value="draft"', page)
    resp = manager.post(f"/agreements/{previous.id}/renew",
                        data=form(f"{year + 1}-01", f"{year + 4}-12", onsite="9 h 36 min", remote="1:30"))
    assert resp.status_code == 302
    renewal = db.session.scalar(select(Agreement).where(Agreement.id != previous.id))
    assert (renewal.previous_agreement_id, renewal.onsite_minutes_month) == (previous.id, 576)
    detail = text(manager.get(f"/agreements/{renewal.id}"))
    assert "+20" in detail  # +20 % on site
    listing = text(client_for(world.clerk_a).get(f"/councils/{world.council_a.slug}/agreements"))
    assert "+20" in listing and "unchanged" in listing  # remote stayed at 1 h 30 min


def test_form_errors_next_to_the_fields_in_the_users_language(world, db, year, translated_app, login_to):
    make(world.council_a, year)
    world.manager.preferred_language = "ca"
    db.session.commit()
    client = login_to(translated_app, world.manager)
    url = f"/councils/{world.council_a.slug}/agreements/new"

    def page(**overrides):
        return text(client.post(url, data=form(f"{year + 1}-01", f"{year + 1}-12", **overrides)))

    assert field_errors(page(onsite="30 h"), "onsite") == ["Com a màxim 28\u00a0h."]
    assert field_errors(page(onsite="1 h"), "onsite") == [
        "El temps presencial ha de ser entre 90 i 1.680 minuts al mes (d'1,5 a 28 h)."]
    assert field_errors(page(first_month="gener"), "first_month") == ["Introduïu un mes com a AAAA-MM, p. ex. 2026-01."]
    overlap = field_errors(page(first_month=f"{year}-06"), "first_month")
    assert overlap == [f"Aquest període se superposa amb el conveni del {year}-01-01 al {year}-12-31."]
    assert field_errors(page(last_month=f"{year}-12", first_month=f"{year + 1}-03"), "last_month") == [
        "El conveni ha d'acabar després de començar."]
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == 1


def test_editing_once_a_month_is_closed_keeps_the_terms(world, client_for, db, year):
    agreement = make(world.council_a, year, onsite=240)
    services.close_month(world.council_a, dt.date(year, 2, 1), actor=world.manager)
    manager = client_for(world.manager)
    page = text(manager.get(f"/agreements/{agreement.id}/edit"))
    assert "can no longer change" in page and 'type="hidden"' in page
    resp = manager.post(f"/agreements/{agreement.id}/edit",
                        data=form(f"{year}-01", f"{year}-12", onsite="4 h", remote="1 h 30 min",
                                  document_ref="CONV-2", notes="Filed"))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert (agreement.document_ref, agreement.notes, agreement.onsite_minutes_month) == ("CONV-2", "Filed", 240)
    # A crafted change of the hours is refused, said above the form (the terms are not inputs).
    page = text(manager.post(f"/agreements/{agreement.id}/edit", data=form(f"{year}-01", f"{year}-12", onsite="5 h",
                                                                            remote="1 h 30 min")))
    assert re.search(r'<div class="alert alert-danger" role="alert">\s*<div>Months of this agreement are closed', page)


@pytest.mark.frozen("2026-06-17T10:00:00+00:00")  # mid-month: a forecast is due
def test_council_page_shows_the_month_and_the_year(world, client_for, year):
    from agreements.months import office_today
    from support.hours import services as hours

    today = office_today()
    make(world.council_a, year, 1, 12)
    services.create_agreement(world.council_a, {
        "starts_on": dt.date(today.year, 1, 1), "ends_on": dt.date(today.year, 12, 31), "onsite_minutes_month": 300,
        "remote_minutes_month": 60, "signed_on": dt.date(year, 12, 1)}, actor=None)
    hours.create_entry(world.council_a, {"date": today, "minutes": 330, "mode": "onsite", "travel_minutes": 25},
                       actor=world.technician)
    page = text(client_for(world.clerk_a).get(f"/councils/{world.council_a.slug}"))
    assert re.search(r'<progress class="cd-progress cd-over"[^>]*max="300" value="330"', page)
    assert re.search(r'<progress class="cd-progress "[^>]*max="60" value="0"', page)
    assert "Excess: 30\u00a0min" in page and "Forecast" in page and "business days" in page
    assert page.count("<tr") >= 13  # the twelve months of the year
    last_year = text(client_for(world.clerk_a).get(f"/councils/{world.council_a.slug}?year={year}"))
    assert f"Hours in {year}" in last_year
    assert client_for(world.clerk_a).get(f"/councils/{world.council_b.slug}/agreements").status_code == 404


def test_agreement_pages_per_role(world, client_for, year):
    mine, theirs = make(world.council_a, year), make(world.council_b, year)
    clerk = client_for(world.clerk_a)
    assert clerk.get(f"/agreements/{mine.id}").status_code == 200
    assert clerk.get(f"/agreements/{theirs.id}").status_code == 404
    assert clerk.get(f"/agreements/{mine.id}/edit").status_code == 403
    assert clerk.get(f"/agreements/{theirs.id}/edit").status_code == 404
    assert clerk.get(f"/agreements/{theirs.id}/renew").status_code == 404
    assert client_for(world.technician).get(f"/agreements/{mine.id}/renew").status_code == 403
    page = text(client_for(world.technician).get(f"/agreements/{theirs.id}"))
    assert "Renew" not in page

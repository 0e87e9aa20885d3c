"""The office calendar: public holidays from the `holidays` package for the office's country
and region, local holidays admins add in the app, and both read by the SLA clocks."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core import holiday_pages
from core.calendar import business_days, is_business_day, office_calendar, public_holidays

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MADRID).astimezone(dt.UTC)


@pytest.mark.frozen("2026-06-17T10:00:00+00:00")
def test_easter_monday_is_known_without_configuration(app, db):
    calendar = office_calendar()
    assert not is_business_day(calendar, dt.date(2027, 3, 29))   # Easter Monday 2027
    assert not is_business_day(calendar, dt.date(2028, 4, 17))   # Easter Monday 2028
    assert not is_business_day(calendar, dt.date(2026, 9, 11))   # National Day of Catalonia, a Friday
    assert is_business_day(calendar, dt.date(2027, 3, 30))
    assert dt.date(2027, 3, 29) not in business_days(dt.date(2027, 3, 1))


@pytest.mark.frozen("2026-06-17T10:00:00+00:00")
def test_argentine_office_gets_argentine_holidays(app, db):
    app.config.update(OFFICE_COUNTRY="AR", OFFICE_SUBDIVISION="B", OFFICE_TIMEZONE="America/Argentina/Buenos_Aires")
    try:
        calendar = office_calendar()
        assert not is_business_day(calendar, dt.date(2027, 7, 9))    # Independence Day, a Friday
        assert is_business_day(calendar, dt.date(2027, 9, 10))        # no Catalan holidays there
        assert not is_business_day(calendar, dt.date(2027, 3, 24))   # Day of Remembrance
    finally:
        app.config.update(OFFICE_COUNTRY="ES", OFFICE_SUBDIVISION="CT", OFFICE_TIMEZONE="Europe/Madrid")


def test_public_holidays_have_names_in_the_language(app, db):
    names = dict(public_holidays([2027], language="ca"))
    assert names[dt.date(2027, 3, 29)] == "Dilluns de Pasqua"
    assert dt.date(2027, 3, 29) in dict(public_holidays([2027], language="en"))


@pytest.mark.frozen("2026-06-17T10:00:00+00:00")
def test_a_local_holiday_added_in_the_app_moves_the_sla(app, db, world, open_ticket):
    before = open_ticket(now=local(2026, 3, 6, 14, 45), priority="normal")
    assert before.first_response_due_at == local(2026, 3, 9, 11, 45)
    holiday_pages.add_local_holiday(dt.date(2026, 3, 9), "Festa major", actor=world.admin)
    assert not is_business_day(office_calendar(), dt.date(2026, 3, 9))
    after = open_ticket(now=local(2026, 3, 6, 14, 45), priority="normal")
    assert after.first_response_due_at == local(2026, 3, 10, 11, 45)


def test_the_admin_page_adds_and_removes_local_holidays(app, db, world, client_for):
    client = client_for(world.admin)
    page = client.get("/office-calendar?year=2027")
    assert page.status_code == 200 and "Easter Monday" in page.get_data(as_text=True)
    bad = client.post("/office-calendar", data={"day": "2027-02-30", "name": "Festa"})
    assert bad.status_code == 422 and "Festa" in bad.get_data(as_text=True)
    resp = client.post("/office-calendar", data={"day": "2027-08-16", "name": "Festa major de Mura"})
    assert resp.status_code == 302
    page = client.get("/office-calendar?year=2027").get_data(as_text=True)
    assert "Festa major de Mura" in page
    assert not is_business_day(office_calendar(), dt.date(2027, 8, 16))
    again = client.post("/office-calendar", data={"day": "2027-08-16", "name": "Twice"})
    assert again.status_code == 422 and "already a local holiday" in again.get_data(as_text=True)
    (holiday,) = holiday_pages.local_holidays()
    assert client.post(f"/office-calendar/{holiday.id}/delete").status_code == 302
    assert holiday_pages.local_holidays() == []
    assert client_for(world.technician).get("/office-calendar").status_code == 403

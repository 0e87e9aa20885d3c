"""The office calendar: the one definition of the days the office works, read by the SLA
clocks, the hours forecast, visit slots and absences.

A day is a holiday when it is a public holiday of the office's country and region (from the
`holidays` package: Spain/Catalonia by default, Argentina/Buenos Aires for an Argentine
office, set by OFFICE_COUNTRY and OFFICE_SUBDIVISION), a local holiday or festivity that admins
added in the app (core.models.OfficeHoliday), or a date the configuration names
(OFFICE_HOLIDAYS, OFFICE_RECURRING_HOLIDAYS). Movable feasts (Easter Monday, Whit Monday) are
therefore known every year without anyone typing them in. Business time itself is computed
by core.business_time.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import holidays as holidays_lib
from flask import current_app
from sqlalchemy import select

from core.business_time import BusinessCalendar
from core.calendar_config import holidays_from_config, parse_intervals
from core.models import OfficeHoliday
from extensions import db

__all__ = [
    "BusinessCalendar",
    "business_days",
    "holidays_from_config",
    "is_business_day",
    "office_calendar",
    "office_holiday_dates",
    "parse_intervals",
    "public_holidays",
]

# Years around today for which the office calendar knows its holidays: tickets and reports
# reach a decade back; slots and forecasts a year or two ahead.
_YEARS_BACK = 10
_YEARS_AHEAD = 11


@functools.lru_cache(maxsize=64)
def _public(country: str, subdivision: str | None, years: tuple[int, ...], language: str | None) -> tuple:
    found = holidays_lib.country_holidays(country, subdiv=subdivision or None, years=years, language=language)
    return tuple(sorted(found.items()))


def public_holidays(years, *, language: str | None = None, country: str | None = None,
                    subdivision: str | None = None) -> list[tuple[date, str]]:
    """The public holidays of the office's country and region in `years`, with their names
    (in `language` when the package has it, else its default)."""
    cfg = current_app.config
    country = country or cfg.get("OFFICE_COUNTRY") or "ES"
    if subdivision is None:
        subdivision = cfg.get("OFFICE_SUBDIVISION")
    supported = holidays_lib.country_holidays(country).supported_languages
    if language not in supported:
        language = "en_US" if language == "en" and "en_US" in supported else None
    return list(_public(country, subdivision, tuple(sorted(set(years))), language))


def local_holidays() -> list[OfficeHoliday]:
    """The local holidays and festivities admins added, by date."""
    return list(db.session.scalars(select(OfficeHoliday).order_by(OfficeHoliday.day)))


def office_holiday_dates(years) -> frozenset[date]:
    """Every day of `years` the office does not work although it is a working weekday's date:
    public, local and configured holidays together."""
    years = tuple(years)
    cfg = current_app.config
    public = {day for day, _name in public_holidays(years)}
    local = set(db.session.scalars(select(OfficeHoliday.day)))
    configured = holidays_from_config(cfg["OFFICE_HOLIDAYS"], cfg["OFFICE_RECURRING_HOLIDAYS"] or (), years)
    return frozenset(public | local | configured)


def office_calendar() -> BusinessCalendar:
    """The office's working calendar (built once per configuration and set of local holidays).

    OFFICE_TIMEZONE, OFFICE_WORKDAYS (0 = Monday; default Monday to Friday), OFFICE_HOURS
    ("08:00-15:00"), OFFICE_COUNTRY and OFFICE_SUBDIVISION (public holidays), plus the local
    holidays stored in the app. The local ones are read on every call (a small table): a
    holiday an admin adds counts at once in every process, web and scheduler alike.
    """
    cfg = current_app.config
    local = tuple(db.session.scalars(select(OfficeHoliday.day).order_by(OfficeHoliday.day)))
    this_year = date.today().year
    key = (cfg["OFFICE_TIMEZONE"], tuple(cfg["OFFICE_WORKDAYS"]), str(cfg["OFFICE_HOURS"]),
           cfg.get("OFFICE_COUNTRY"), cfg.get("OFFICE_SUBDIVISION"), tuple(cfg["OFFICE_HOLIDAYS"]),
           tuple(cfg["OFFICE_RECURRING_HOLIDAYS"] or ()), local, this_year)
    cache = current_app.extensions.setdefault("councildesk_office_calendar", {})
    calendar = cache.get(key)
    if calendar is None:
        years = range(this_year - _YEARS_BACK, this_year + _YEARS_AHEAD)
        base = BusinessCalendar.from_config(timezone=key[0], workdays=key[1], hours=key[2])
        calendar = BusinessCalendar(timezone=base.timezone, weekly_hours=base.weekly_hours,
                                    holidays=office_holiday_dates(years))
        if len(cache) > 32:  # old sets of local holidays: drop them rather than grow for ever
            cache.clear()
        cache[key] = calendar
    return calendar


def is_business_day(calendar: BusinessCalendar, day: date) -> bool:
    return bool(calendar.weekly_hours[day.weekday()]) and day not in calendar.holidays


def business_days(month: date, calendar: BusinessCalendar | None = None) -> list[date]:
    """The business days of the month `month` falls in, in order (the office's by default)."""
    calendar = calendar or office_calendar()
    first = month.replace(day=1)
    following = (first + timedelta(days=31)).replace(day=1)
    return [first + timedelta(days=i) for i in range((following - first).days)
            if is_business_day(calendar, first + timedelta(days=i))]

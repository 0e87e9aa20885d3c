"""The hours ledger's figures: monthly usage per council, and the month's forecast.

Usage is never stored: it is computed from the entries with one GROUP BY over a covering
index and the arithmetic of support.hours.usage, so no figure can drift from the entries.
The forecast projects the month's run rate over the office's business days (core.calendar).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from agreements.models import Agreement, Council
from agreements.months import add_months, month_start, months_between
from agreements.services import closed_months
from core.calendar import BusinessCalendar, business_days, office_calendar
from core.errors import NotFound
from extensions import db
from support.hours.models import MODES, TimeEntry
from support.hours.usage import Forecast, MonthUsage, Terms, forecast, usage_rows

# --- usage ----------------------------------------------------------------------------

def _terms(agreement_rows: Iterable) -> list[Terms]:
    return [Terms(a.id, a.council_id, month_start(a.starts_on), month_start(a.ends_on),
                  a.onsite_minutes_month, a.remote_minutes_month, a.rollover) for a in agreement_rows]


def usage_between(first: dt.date, last: dt.date, council_id: int | None = None) -> list[MonthUsage]:
    """Usage of every council-month from `first` to `last` that an agreement covers (all
    councils, or one), ordered by council and month.

    Three queries whatever the range: the agreements, one GROUP BY of the entries (from the
    month before `first`, which the carry needs) and the closed months. The clerk's scope
    narrows all three like any other query.
    """
    first, last = month_start(first), month_start(last)
    agreements = select(Agreement.id, Agreement.council_id, Agreement.starts_on, Agreement.ends_on,
                        Agreement.onsite_minutes_month, Agreement.remote_minutes_month, Agreement.rollover
                        ).where(Agreement.starts_on <= last, Agreement.ends_on >= first)
    sums = (select(TimeEntry.month, TimeEntry.council_id, TimeEntry.mode, func.sum(TimeEntry.minutes),
                   func.sum(TimeEntry.travel_minutes))
            .where(TimeEntry.month >= add_months(first, -1), TimeEntry.month <= last)
            .group_by(TimeEntry.month, TimeEntry.council_id, TimeEntry.mode))
    if council_id is not None:
        agreements = agreements.where(Agreement.council_id == council_id)
        sums = sums.where(TimeEntry.council_id == council_id)
    terms = _terms(db.session.execute(agreements))
    if not terms:
        return []
    used: dict[tuple[int, dt.date, str], int] = {}
    travel: dict[tuple[int, dt.date], int] = {}
    for month, council, mode, minutes, travel_minutes in db.session.execute(sums):
        used[(council, month, mode)] = int(minutes or 0)
        travel[(council, month)] = travel.get((council, month), 0) + int(travel_minutes or 0)
    closed = closed_months(council_id, first, last)
    return usage_rows(terms, months_between(first, last), used, travel, closed)


def council_month_usage(council_id: int, month: dt.date) -> MonthUsage | None:
    """Usage of one council in one month; None when no agreement covers the month."""
    rows = usage_between(month, month, council_id)
    return rows[0] if rows else None


def usage_for_year(year: int, council_id: int | None = None) -> list[MonthUsage]:
    """Every council-month of `year` that an agreement covers (what the yearly report lists)."""
    return usage_between(dt.date(year, 1, 1), dt.date(year, 12, 1), council_id)


def month_usage_or_404(council: Council, month: dt.date) -> MonthUsage:
    usage = council_month_usage(council.id, month)
    if usage is None:
        raise NotFound(_l("No agreement covers this month."), code="no_agreement")
    return usage


# --- forecast -------------------------------------------------------------------------

@dataclass(frozen=True)
class MonthForecast:
    """The run-rate projection of a month: which business days count, and the result per mode."""

    month: dt.date
    elapsed_days: int
    total_days: int
    onsite: Forecast | None
    remote: Forecast | None

    def mode(self, mode: str) -> Forecast | None:
        return self.onsite if mode == "onsite" else self.remote


def month_forecast(usage: MonthUsage, today: dt.date, calendar: BusinessCalendar | None = None) -> MonthForecast | None:
    """Projected month-end use: used so far ÷ business days elapsed (today included) × business
    days in the month, on the office calendar. None for a month that has not begun."""
    this_month = month_start(today)
    if usage.month > this_month:
        return None
    days = business_days(usage.month, calendar or office_calendar())
    elapsed = len(days) if usage.month < this_month else sum(1 for d in days if d <= today)
    modes = {m: forecast(usage.mode(m).used_minutes, usage.mode(m).allowance_minutes, elapsed, len(days))
             for m in MODES}
    return MonthForecast(usage.month, elapsed, len(days), modes["onsite"], modes["remote"])


# --- the office's month (the dashboard) -----------------------------------------------

@dataclass(frozen=True)
class OfficeMonth:
    """One month across the office (the dashboard): every active council, those an agreement
    covers first, with its usage and forecast, and the totals per mode."""

    councils: list[Council]
    usage: dict[int, MonthUsage]
    forecasts: dict[int, MonthForecast | None]
    elapsed_days: int
    total_days: int
    totals: dict[str, dict[str, int]]


def office_month(month: dt.date, today: dt.date) -> OfficeMonth:
    this_month = month_start(today)
    usage = {u.council_id: u for u in usage_between(month, month)}
    active = db.session.scalars(select(Council).where(Council.active.is_(True)).order_by(Council.name)).all()
    shown = [c for c in active if c.id in usage] + [c for c in active if c.id not in usage]
    calendar = office_calendar()
    forecasts = {cid: month_forecast(u, today, calendar) for cid, u in usage.items()}
    days = business_days(month, calendar)
    elapsed = len([d for d in days if d <= today]) if month == this_month else (len(days) if month < this_month else 0)
    totals = {mode: {"allowance": sum(u.mode(mode).allowance_minutes for u in usage.values()),
                     "used": sum(u.mode(mode).used_minutes for u in usage.values()),
                     "excess": sum(u.mode(mode).excess_minutes for u in usage.values())}
              for mode in MODES}
    return OfficeMonth(shown, usage, forecasts, elapsed, len(days), totals)

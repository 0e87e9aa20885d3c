"""The management dashboard: every council at a glance for a month, with a traffic light per
allowance, the excess to invoice, and the current state of the service (open and overdue
tickets, critical checks).

Hours come from support's usage functions, as in every report (see `reports.consumption`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from agreements.models import Council
from agreements.months import month_start
from core.calendar import business_days, office_calendar
from extensions import db
from reports.consumption import Totals, name_key, totals_of
from support.hours import figures as hours
from support.hours.usage import MODES, MonthUsage
from support.hours.usage import forecast as mode_forecast

LIGHTS = ("ok", "warning", "over", "none")


def traffic_light(used: int, allowance: int, projected: int | None) -> str:
    """"over": beyond the allowance; "warning": at 80 % of it, or heading beyond it by the
    forecast; "ok" otherwise; "none" when there is neither allowance nor use."""
    if allowance <= 0:
        return "over" if used > 0 else "none"
    if used > allowance:
        return "over"
    if used * 100 >= allowance * 80 or (projected is not None and projected > allowance):
        return "warning"
    return "ok"


@dataclass
class DashboardRow:
    council: Council
    usage: MonthUsage | None
    forecast: object | None
    lights: dict[str, str]
    excess_month: int
    excess_year: int
    open_tickets: int
    overdue_tickets: int
    critical_checks: int


@dataclass
class Dashboard:
    month: dt.date
    this_month: dt.date
    rows: list[DashboardRow]
    month_totals: Totals
    year_excess: int  # January to the month, every council
    elapsed_days: int
    total_days: int

    @property
    def lights(self) -> dict[str, dict[str, int]]:
        counts = {mode: dict.fromkeys(LIGHTS, 0) for mode in MODES}
        for row in self.rows:
            for mode in MODES:
                counts[mode][row.lights[mode]] += 1
        return counts


def dashboard(month: dt.date, today: dt.date, *, with_service: bool = True) -> Dashboard:
    """Every council at a glance for `month`: the usage of each allowance with its traffic
    light and forecast, the excess to invoice (the month's and the year's so far), and, for
    the current state of the service, open and overdue tickets and critical checks.

    One usage computation for January to `month` (the month and the year to date at once),
    one GROUP BY of open tickets, one of critical checks.
    """
    from reports import quality

    this_month = month_start(today)
    month = month_start(month)
    rows = hours.usage_between(dt.date(month.year, 1, 1), month)
    calendar = office_calendar()
    month_rows = {r.council_id: r for r in rows if r.month == month}
    year_excess: dict[int, int] = {}
    for row in rows:
        year_excess[row.council_id] = year_excess.get(row.council_id, 0) + row.onsite.excess_minutes \
            + row.remote.excess_minutes
    tickets = quality.open_ticket_counts() if with_service else {}
    checks = quality.critical_check_counts() if with_service else {}
    councils = db.session.scalars(select(Council).where(Council.active.is_(True))).all()
    # The month's business days once for every council (support.hours.figures.month_forecast's
    # rule: today counts; a past month is over, a future one has not begun).
    days = business_days(month, calendar)
    elapsed = len(days) if month < this_month else (sum(1 for d in days if d <= today) if month == this_month else 0)
    out = []
    for council in councils:
        usage = month_rows.get(council.id)
        forecast = None
        if usage is not None and month == this_month:
            forecast = hours.MonthForecast(month, elapsed, len(days), *(
                mode_forecast(usage.mode(mode).used_minutes, usage.mode(mode).allowance_minutes, elapsed, len(days))
                for mode in MODES))
        lights = {}
        for mode in MODES:
            if usage is None:
                lights[mode] = "none"
                continue
            m = usage.mode(mode)
            fc = forecast.mode(mode) if forecast is not None else None
            lights[mode] = traffic_light(m.used_minutes, m.allowance_minutes,
                                         fc.projected_minutes if fc is not None else None)
        excess = (usage.onsite.excess_minutes + usage.remote.excess_minutes) if usage is not None else 0
        open_n, overdue = tickets.get(council.id, (0, 0))
        out.append(DashboardRow(council, usage, forecast, lights, excess, year_excess.get(council.id, 0),
                                open_n, overdue, checks.get(council.id, 0)))
    # Councils with an agreement in the month first (most excess this year first), then the rest.
    out.sort(key=lambda r: (r.usage is None, -r.excess_year, name_key(r.council.name)))
    return Dashboard(month, this_month, out, totals_of(month_rows.values()), sum(year_excess.values()), elapsed,
                     len(days))

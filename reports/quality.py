"""The service report: tickets opened and resolved, SLA compliance, resolution times,
satisfaction and availability, per council and month.

Definitions (shown on the pages and in the PDFs, so that a figure can be checked):

* **opened** in a month: tickets created in it (office time); by category and by channel.
* **resolved** in a month: tickets whose resolution falls in it and that are still resolved
  or closed (a reopened ticket counts when it is resolved again); by category and channel.
* **first-response compliance**: of the tickets opened in the month whose first-response
  clock has ended (answered) or run out (breached), the share answered within the SLA.
* **resolution compliance**: of the tickets resolved in the month, the share resolved within
  the SLA (business time on the office calendar, paused while waiting for the council:
  the stored outcome of support.tickets.sla).
* **resolution time**: from creation to resolution, in business minutes on the office
  calendar (what the SLA counts) and in calendar minutes (what the council lived); medians.
* **satisfaction**: the ratings given in the month, 1 to 5.
* **availability**: of the minutes the council's health checks were watched in the month
  (daily roll-ups; unknown time left out), the share they were not critical.

Every query goes through the ORM on the models, so the council scope narrows all of them for
a clerk. Months are cut at the office's midnight: the month boundaries are computed in the
office's time zone and compared with the UTC timestamps as a CASE over the bounds, so one
scan of each table serves a whole year, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, bindparam, case, func, or_, select

from agreements.months import add_months, month_end, month_start, months_between
from extensions import db

SCORES = (1, 2, 3, 4, 5)


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class ServiceStats:
    """The service figures of one council-month, or of any sum of them (`merge`)."""

    opened: int = 0
    resolved: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    resolved_by_category: dict[str, int] = field(default_factory=dict)
    resolved_by_channel: dict[str, int] = field(default_factory=dict)
    first_response_met: int = 0
    first_response_measured: int = 0
    resolution_met: int = 0
    resolution_measured: int = 0
    resolution_business: list[int] = field(default_factory=list)
    resolution_calendar: list[int] = field(default_factory=list)
    ratings: dict[int, int] = field(default_factory=dict)
    watched_minutes: int = 0
    critical_minutes: int = 0

    def merge(self, other: ServiceStats) -> ServiceStats:
        self.opened += other.opened
        self.resolved += other.resolved
        for mine, theirs in ((self.by_category, other.by_category), (self.by_channel, other.by_channel),
                             (self.resolved_by_category, other.resolved_by_category),
                             (self.resolved_by_channel, other.resolved_by_channel), (self.ratings, other.ratings)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.first_response_met += other.first_response_met
        self.first_response_measured += other.first_response_measured
        self.resolution_met += other.resolution_met
        self.resolution_measured += other.resolution_measured
        self.resolution_business.extend(other.resolution_business)
        self.resolution_calendar.extend(other.resolution_calendar)
        self.watched_minutes += other.watched_minutes
        self.critical_minutes += other.critical_minutes
        return self

    @property
    def first_response_ratio(self) -> float | None:
        return self.first_response_met / self.first_response_measured if self.first_response_measured else None

    @property
    def resolution_ratio(self) -> float | None:
        return self.resolution_met / self.resolution_measured if self.resolution_measured else None

    @property
    def median_business_minutes(self) -> float | None:
        return _median(self.resolution_business)

    @property
    def median_calendar_minutes(self) -> float | None:
        return _median(self.resolution_calendar)

    @property
    def ratings_count(self) -> int:
        return sum(self.ratings.values())

    @property
    def satisfaction(self) -> float | None:
        count = self.ratings_count
        return sum(score * n for score, n in self.ratings.items()) / count if count else None

    @property
    def availability(self) -> float | None:
        return 1 - self.critical_minutes / self.watched_minutes if self.watched_minutes else None

    def as_dict(self) -> dict:
        """Plain numbers for the API, the exports and the public page."""
        return {
            "tickets_opened": self.opened,
            "tickets_resolved": self.resolved,
            "opened_by_category": dict(sorted(self.by_category.items())),
            "opened_by_channel": dict(sorted(self.by_channel.items())),
            "resolved_by_category": dict(sorted(self.resolved_by_category.items())),
            "resolved_by_channel": dict(sorted(self.resolved_by_channel.items())),
            "first_response_met": self.first_response_met,
            "first_response_measured": self.first_response_measured,
            "first_response_compliance": _round(self.first_response_ratio),
            "resolution_met": self.resolution_met,
            "resolution_measured": self.resolution_measured,
            "resolution_compliance": _round(self.resolution_ratio),
            "median_resolution_business_minutes": _whole(self.median_business_minutes),
            "median_resolution_calendar_minutes": _whole(self.median_calendar_minutes),
            "ratings": {str(s): self.ratings.get(s, 0) for s in SCORES},
            "ratings_count": self.ratings_count,
            "satisfaction_average": _round(self.satisfaction, 2),
            "availability": _round(self.availability, 5),
            "monitored_minutes": self.watched_minutes,
            "critical_minutes": self.critical_minutes,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _whole(value: float | None) -> int | None:
    """Medians in whole minutes (halves up), as every other duration in the API."""
    return None if value is None else int(math.floor(value + 0.5))


# --- the period and its months ---------------------------------------------------------------

def office_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["OFFICE_TIMEZONE"])


def month_bounds(months: list[dt.date]) -> list[dt.datetime]:
    """The UTC instants at which each month begins, and the one at which the last one ends."""
    zone = office_zone()
    edges = [*months, add_months(months[-1], 1)]
    return [dt.datetime.combine(m, dt.time(0), tzinfo=zone).astimezone(dt.UTC) for m in edges]


def _bucket(column, bounds: list, months: list[dt.date]):
    """The month (its first day, as an index) a timestamp or date falls in, in SQL."""
    if len(months) == 1:
        return None
    return case(*[(column < bound, i) for i, bound in enumerate(bounds[1:-1])], else_=len(months) - 1)


Key = tuple[int, dt.date]  # (council_id, month)


def service_by_council_month(first: dt.date, last: dt.date, council_id: int | None = None,
                             *, with_durations: bool = True) -> dict[Key, ServiceStats]:
    """Service figures per (council, month) from `first` to `last` (months, inclusive).

    Five grouped queries whatever the range (tickets opened, resolved, their durations,
    ratings, health roll-ups); the council scope applies to each of them.
    """
    from remote.models import Rollup
    from support.tickets.models import Ticket, TicketRating

    months = months_between(month_start(first), month_start(last))
    if not months:
        return {}
    bounds = month_bounds(months)
    start, end = bounds[0], bounds[-1]
    out: dict[Key, ServiceStats] = {}

    def stats(council: int, index: int) -> ServiceStats:
        key = (council, months[index])
        if key not in out:
            out[key] = ServiceStats()
        return out[key]

    def scoped(stmt, column):
        return stmt.where(column == council_id) if council_id is not None else stmt

    # Opened, by category and channel, with the first-response outcome.
    bucket = _bucket(Ticket.created_at, bounds, months)
    answered = Ticket.first_response_at.is_not(None)
    measured = or_(answered, Ticket.first_response_breached.is_(True))
    met = and_(answered, Ticket.first_response_breached.is_(False))
    cols = [Ticket.council_id, Ticket.category, Ticket.channel]
    stmt = select(*([bucket] if bucket is not None else []), *cols, func.count(),
                  func.sum(case((measured, 1), else_=0)), func.sum(case((met, 1), else_=0))
                  ).where(Ticket.created_at >= start, Ticket.created_at < end)
    stmt = scoped(stmt, Ticket.council_id).group_by(*([bucket] if bucket is not None else []), *cols)
    for row in db.session.execute(stmt):
        index, rest = (row[0], row[1:]) if bucket is not None else (0, row)
        council, category, channel, count, fr_measured, fr_met = rest
        s = stats(council, index)
        s.opened += count
        s.by_category[category] = s.by_category.get(category, 0) + count
        s.by_channel[channel] = s.by_channel.get(channel, 0) + count
        s.first_response_measured += int(fr_measured or 0)
        s.first_response_met += int(fr_met or 0)

    # Resolved (still resolved or closed), by category and channel, with the resolution outcome.
    done = and_(Ticket.resolved_at >= start, Ticket.resolved_at < end, Ticket.status.in_(("resolved", "closed")))
    bucket = _bucket(Ticket.resolved_at, bounds, months)
    stmt = select(*([bucket] if bucket is not None else []), *cols, func.count(),
                  func.sum(case((Ticket.resolution_breached.is_(False), 1), else_=0))).where(done)
    stmt = scoped(stmt, Ticket.council_id).group_by(*([bucket] if bucket is not None else []), *cols)
    for row in db.session.execute(stmt):
        index, rest = (row[0], row[1:]) if bucket is not None else (0, row)
        council, category, channel, count, in_time = rest
        s = stats(council, index)
        s.resolved += count
        s.resolved_by_category[category] = s.resolved_by_category.get(category, 0) + count
        s.resolved_by_channel[channel] = s.resolved_by_channel.get(channel, 0) + count
        s.resolution_measured += count
        s.resolution_met += int(in_time or 0)

    if with_durations:
        from core.calendar import office_calendar

        calendar = office_calendar()
        stmt = scoped(select(*([bucket] if bucket is not None else []), Ticket.council_id, Ticket.created_at,
                             Ticket.resolved_at).where(done), Ticket.council_id)
        for row in db.session.execute(stmt):
            index, rest = (row[0], row[1:]) if bucket is not None else (0, row)
            council, created, resolved = rest
            s = stats(council, index)
            s.resolution_business.append(calendar.business_minutes_between(created, resolved))
            s.resolution_calendar.append(max(0, int((resolved - created).total_seconds() // 60)))

    # Ratings given in the month.
    bucket = _bucket(TicketRating.created_at, bounds, months)
    stmt = select(*([bucket] if bucket is not None else []), TicketRating.council_id, TicketRating.score,
                  func.count()).where(TicketRating.created_at >= start, TicketRating.created_at < end)
    stmt = scoped(stmt, TicketRating.council_id).group_by(*([bucket] if bucket is not None else []),
                                                          TicketRating.council_id, TicketRating.score)
    for row in db.session.execute(stmt):
        index, rest = (row[0], row[1:]) if bucket is not None else (0, row)
        council, score, count = rest
        s = stats(council, index)
        s.ratings[int(score)] = s.ratings.get(int(score), 0) + count

    # Availability from the health checks' daily roll-ups (days are office days already).
    day_bounds = [*months[1:], add_months(months[-1], 1)]
    bucket = case(*[(Rollup.day < b, i) for i, b in enumerate(day_bounds[:-1])], else_=len(months) - 1) \
        if len(months) > 1 else None
    watched = Rollup.minutes_ok + Rollup.minutes_warning + Rollup.minutes_critical
    stmt = select(*([bucket] if bucket is not None else []), Rollup.council_id, func.sum(watched),
                  func.sum(Rollup.minutes_critical)).where(Rollup.day >= months[0],
                                                           Rollup.day <= month_end(months[-1]))
    stmt = scoped(stmt, Rollup.council_id).group_by(*([bucket] if bucket is not None else []), Rollup.council_id)
    for row in db.session.execute(stmt):
        index, rest = (row[0], row[1:]) if bucket is not None else (0, row)
        council, watched_minutes, critical = rest
        s = stats(council, index)
        s.watched_minutes += int(watched_minutes or 0)
        s.critical_minutes += int(critical or 0)
    return out


def merged(items: Iterable[ServiceStats]) -> ServiceStats:
    total = ServiceStats()
    for item in items:
        total.merge(item)
    return total


def by_council(data: dict[Key, ServiceStats]) -> dict[int, ServiceStats]:
    out: dict[int, ServiceStats] = {}
    for (council, _month), stats in data.items():
        out.setdefault(council, ServiceStats()).merge(stats)
    return out


def by_month(data: dict[Key, ServiceStats], months: Iterable[dt.date]) -> dict[dt.date, ServiceStats]:
    out = {m: ServiceStats() for m in months}
    for (_council, month), stats in data.items():
        if month in out:
            out[month].merge(stats)
    return out


@functools.cache
def _open_ticket_statements():
    """Built once: the statements are constant (the council scope is added at execution)."""
    from support.tickets.models import OPEN_STATUSES, Ticket

    late = case((or_(Ticket.sla_state == "breached", Ticket.first_response_breached.is_(True),
                     Ticket.resolution_breached.is_(True)), 1), else_=0)
    grouped = (select(Ticket.council_id, func.count(), func.sum(late)).where(Ticket.status.in_(OPEN_STATUSES))
               .group_by(Ticket.council_id))
    per_status = select(Ticket.council_id, late).where(Ticket.status == bindparam("status"))
    return grouped, per_status, OPEN_STATUSES


def open_ticket_counts() -> dict[int, tuple[int, int]]:
    """Per council: tickets open now, and of those, past an SLA due time.

    Open tickets are a sliver of the table, and each database needs its own way to be told:
    PostgreSQL's statistics know how rare the open statuses are and answer one
    `status IN (...) GROUP BY` from the status index; SQLite's only know there are five
    statuses, and for that query (or a GROUP BY of one status) walk the whole table in council
    order (200 ms against 10 over 200,000 tickets, bench/reports.py), so there each open status
    is read as its own index range and counted here.
    """
    grouped, per_status, statuses = _open_ticket_statements()
    if db.session.get_bind().dialect.name == "postgresql":
        return {council: (int(n), int(overdue or 0)) for council, n, overdue in db.session.execute(grouped)}
    out: dict[int, list[int]] = {}
    for status in statuses:
        for council, overdue in db.session.execute(per_status, {"status": status}):
            counts = out.setdefault(council, [0, 0])
            counts[0] += 1
            counts[1] += overdue
    return {council: (n, overdue) for council, (n, overdue) in out.items()}


def critical_check_counts() -> dict[int, int]:
    """Per council: enabled health checks critical right now."""
    from remote.models import Check

    rows = db.session.execute(select(Check.council_id, func.count())
                              .where(Check.state == "critical", Check.enabled.is_(True))
                              .group_by(Check.council_id))
    return {council: int(n) for council, n in rows}

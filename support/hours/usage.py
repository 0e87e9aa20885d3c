"""The arithmetic of monthly usage, free of the database, so it can be tested on its own.

For a council and a month m covered by agreement A (docs/api-contract.md, "Usage"):

* base(m) = A's monthly minutes for the mode (fixed for the whole agreement);
* carried(m) = 0 when A has rollover `none`, in A's first month, and whenever m−1 belongs to
  another agreement or to none; otherwise max(0, base − used(m−1)). Work consumes the base
  first and only base is carried, one month forward, so nothing is carried twice. It is also
  capped at the base, which only matters when corrections made a month's total negative
  (a month that refunded time cannot pass on more than a month's base);
* allowance = base + carried; used = the sum of the month's entries (corrections included);
* remaining = max(0, allowance − used); excess = max(0, used − allowance).

The database side (support.hours.figures) reads the sums with one GROUP BY and hands them here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agreements.months import add_months, format_month

MODES = ("onsite", "remote")


@dataclass(frozen=True, slots=True)
class Terms:
    """What usage needs to know of an agreement."""

    id: int
    council_id: int
    first_month: dt.date
    last_month: dt.date
    onsite: int
    remote: int
    rollover: str

    def covers(self, month: dt.date) -> bool:
        return self.first_month <= month <= self.last_month

    def base(self, mode: str) -> int:
        return self.onsite if mode == "onsite" else self.remote


@dataclass(frozen=True, slots=True)
class ModeUsage:
    base_minutes: int
    carried_minutes: int
    allowance_minutes: int
    used_minutes: int
    remaining_minutes: int
    excess_minutes: int

    @property
    def ratio(self) -> float | None:
        """used / allowance (None without an allowance): what the progress bars show."""
        if self.allowance_minutes <= 0:
            return None
        return self.used_minutes / self.allowance_minutes

    def as_dict(self) -> dict:
        return {
            "base_minutes": self.base_minutes, "carried_minutes": self.carried_minutes,
            "allowance_minutes": self.allowance_minutes, "used_minutes": self.used_minutes,
            "remaining_minutes": self.remaining_minutes, "excess_minutes": self.excess_minutes,
        }


@dataclass(frozen=True, slots=True)
class MonthUsage:
    council_id: int
    month: dt.date
    agreement_id: int
    onsite: ModeUsage
    remote: ModeUsage
    travel_minutes: int
    closed: bool

    def mode(self, mode: str) -> ModeUsage:
        return self.onsite if mode == "onsite" else self.remote

    @property
    def month_text(self) -> str:
        return format_month(self.month)

    def as_contract(self) -> dict:
        """The body of GET /councils/{id}/usage."""
        return {
            "council_id": self.council_id, "month": self.month_text, "agreement_id": self.agreement_id,
            "onsite": self.onsite.as_dict(), "remote": self.remote.as_dict(),
            "travel_minutes": self.travel_minutes, "closed": self.closed,
        }


def mode_usage(base: int, carried: int, used: int) -> ModeUsage:
    allowance = base + carried
    return ModeUsage(base, carried, allowance, used, max(0, allowance - used), max(0, used - allowance))


def carried_into(terms: Terms, mode: str, month: dt.date, used_previous: int) -> int:
    """Minutes of `mode` carried into `month` (which `terms` covers) from the month before."""
    if terms.rollover != "next_month" or month <= terms.first_month:
        return 0
    base = terms.base(mode)
    return min(base, max(0, base - used_previous))


# (council_id, month, mode) → minutes; (council_id, month) → travel minutes.
UsedMap = Mapping[tuple[int, dt.date, str], int]
TravelMap = Mapping[tuple[int, dt.date], int]


def month_usage(terms: Terms, month: dt.date, used: UsedMap, travel: TravelMap, closed: bool) -> MonthUsage:
    """Usage of one month of `terms`; `used` must hold the month before too when it rolls over."""
    previous = add_months(month, -1)
    modes = {}
    for mode in MODES:
        spent = used.get((terms.council_id, month, mode), 0)
        carried = carried_into(terms, mode, month, used.get((terms.council_id, previous, mode), 0))
        modes[mode] = mode_usage(terms.base(mode), carried, spent)
    return MonthUsage(terms.council_id, month, terms.id, modes["onsite"], modes["remote"],
                      travel.get((terms.council_id, month), 0), closed)


def usage_rows(agreements: Iterable[Terms], months: Iterable[dt.date], used: UsedMap, travel: TravelMap,
               closed: set[tuple[int, dt.date]]) -> list[MonthUsage]:
    """Usage of every council-month in `months` that an agreement covers, ordered by council
    and month. `used` must also hold the month before the first one, for the carry."""
    months = sorted(set(months))
    by_council: dict[int, list[Terms]] = {}
    for terms in agreements:
        by_council.setdefault(terms.council_id, []).append(terms)
    rows = []
    for council_id in sorted(by_council):
        terms_list = sorted(by_council[council_id], key=lambda t: t.first_month)
        for month in months:
            for terms in terms_list:
                if terms.covers(month):
                    rows.append(month_usage(terms, month, used, travel, (council_id, month) in closed))
                    break
    return rows


# Business days of the month (office calendar) before a forecast is shown: after four days a
# clerk saw a red "554 %" from one long visit. Before this, pages say it is too early.
MIN_FORECAST_DAYS = 5


@dataclass(frozen=True, slots=True)
class Forecast:
    """Projected month-end use of one mode from the run rate so far."""

    projected_minutes: int
    allowance_minutes: int
    elapsed_days: int
    total_days: int

    @property
    def ratio(self) -> float | None:
        if self.allowance_minutes <= 0:
            return None
        return self.projected_minutes / self.allowance_minutes

    @property
    def min_days(self) -> int:
        return MIN_FORECAST_DAYS

    @property
    def too_early(self) -> bool:
        """Fewer than MIN_FORECAST_DAYS business days of a month still running: no forecast."""
        return self.elapsed_days < min(MIN_FORECAST_DAYS, self.total_days)

    @property
    def over(self) -> bool:
        return not self.too_early and self.projected_minutes > self.allowance_minutes


def forecast(used: int, allowance: int, elapsed_days: int, total_days: int) -> Forecast | None:
    """used × total / elapsed business days, rounded; None before the first business day.

    Once the month is over (elapsed == total) the projection is the actual figure. Negative
    totals (refunds by correction) project as themselves: a refund is not a rate.
    """
    if elapsed_days <= 0 or total_days <= 0:
        return None
    elapsed_days = min(elapsed_days, total_days)
    projected = used if used <= 0 else (used * total_days + elapsed_days // 2) // elapsed_days
    return Forecast(projected, allowance, elapsed_days, total_days)

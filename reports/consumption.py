"""Hour consumption for the reports: per council, month, agreement year and comarca, and the
rows of `GET /reports/usage`; with the small helpers every report shares (years, months,
sorting names as people do).

Every hour figure comes from `support.hours.figures.usage_between` (through `usage_for_year` and
friends): the very function behind `GET /councils/{id}/usage`. The reports add sums and
ratios on top, never a second way of counting, so a report cannot disagree with the usage
endpoint. Queries go through the ORM session, so the council scope narrows them for clerks
like every other query (another council's figures simply are not there).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from agreements.models import Agreement, Council
from agreements.months import add_months, month_start, months_between, parse_month
from core.errors import ValidationFailed
from extensions import db
from support.hours import figures as hours
from support.hours.usage import MODES, MonthUsage

MIN_YEAR, MAX_YEAR = 1990, 2200

# The row of `GET /reports/usage`, in the contract's order.
USAGE_FIELDS = (
    "council_id", "council", "month",
    "onsite_base_minutes", "onsite_carried_minutes", "onsite_allowance_minutes", "onsite_used_minutes",
    "onsite_remaining_minutes", "onsite_excess_minutes",
    "remote_base_minutes", "remote_carried_minutes", "remote_allowance_minutes", "remote_used_minutes",
    "remote_remaining_minutes", "remote_excess_minutes",
    "travel_minutes",
)
MODE_KEYS = ("base", "carried", "allowance", "used", "remaining", "excess")


def name_key(name: str) -> str:
    """Sort names as people do: "Àger" next to "Avinyó", not after "Z"."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def parse_year(value, default: int) -> int:
    """A year from a query string; the default for anything missing or out of range."""
    try:
        year = int(value)
    except (TypeError, ValueError):
        return default
    return year if MIN_YEAR <= year <= MAX_YEAR else default


def year_months(year: int) -> list[dt.date]:
    return months_between(dt.date(year, 1, 1), dt.date(year, 12, 1))


def parse_report_month(value) -> dt.date:
    month = parse_month(value)
    if month is None:
        raise ValidationFailed(_l("Give a month as YYYY-MM."), fields={"month": _l("Wrong format.")})
    return month


# --- usage ------------------------------------------------------------------------------------

@dataclass
class ModeTotals:
    base: int = 0
    carried: int = 0
    allowance: int = 0
    used: int = 0
    remaining: int = 0
    excess: int = 0

    @property
    def ratio(self) -> float | None:
        return self.used / self.allowance if self.allowance > 0 else None


@dataclass
class Totals:
    """Sums of council-months: per mode the six usage figures, travel, and how many months."""

    onsite: ModeTotals = field(default_factory=ModeTotals)
    remote: ModeTotals = field(default_factory=ModeTotals)
    travel: int = 0
    months: int = 0
    councils: set[int] = field(default_factory=set)

    def mode(self, mode: str) -> ModeTotals:
        return self.onsite if mode == "onsite" else self.remote

    def add(self, row: MonthUsage) -> Totals:
        for mode in MODES:
            mine, theirs = self.mode(mode), row.mode(mode)
            mine.base += theirs.base_minutes
            mine.carried += theirs.carried_minutes
            mine.allowance += theirs.allowance_minutes
            mine.used += theirs.used_minutes
            mine.remaining += theirs.remaining_minutes
            mine.excess += theirs.excess_minutes
        self.travel += row.travel_minutes
        self.months += 1
        self.councils.add(row.council_id)
        return self

    @property
    def allowance(self) -> int:
        return self.onsite.allowance + self.remote.allowance

    @property
    def used(self) -> int:
        return self.onsite.used + self.remote.used

    @property
    def excess(self) -> int:
        return self.onsite.excess + self.remote.excess

    @property
    def ratio(self) -> float | None:
        return self.used / self.allowance if self.allowance > 0 else None


def totals_of(rows: Iterable[MonthUsage]) -> Totals:
    totals = Totals()
    for row in rows:
        totals.add(row)
    return totals


def usage_item(row: MonthUsage, council_name: str) -> dict:
    """One row of `GET /reports/usage`: the usage endpoint's figures, flattened."""
    item = {"council_id": row.council_id, "council": council_name, "month": row.month_text}
    for mode in MODES:
        usage = row.mode(mode).as_dict()
        for key in MODE_KEYS:
            item[f"{mode}_{key}_minutes"] = usage[f"{key}_minutes"]
    item["travel_minutes"] = row.travel_minutes
    return item


def councils_by_id(ids: Iterable[int] | None = None) -> dict[int, Council]:
    """Councils visible in the current scope (all of them, or those named)."""
    stmt = select(Council)
    if ids is not None:
        ids = list(set(ids))
        if not ids:
            return {}
        stmt = stmt.where(Council.id.in_(ids))
    return {c.id: c for c in db.session.scalars(stmt)}


def usage_report(year: int, council_id: int | None = None) -> tuple[list[MonthUsage], dict[int, Council]]:
    """The council-months of a year (one council, or every council the reader sees)."""
    rows = hours.usage_for_year(year, council_id)
    return rows, councils_by_id({r.council_id for r in rows})


def council_names(ids: Iterable[int]) -> dict[int, str]:
    """Names of the councils visible in the current scope (columns only: no objects to build)."""
    ids = list(set(ids))
    if not ids:
        return {}
    return dict(db.session.execute(select(Council.id, Council.name).where(Council.id.in_(ids))).all())


def usage_items(year: int, council_id: int | None = None) -> list[dict]:
    """The rows of `GET /reports/usage`."""
    rows = hours.usage_for_year(year, council_id)
    names = council_names(r.council_id for r in rows)
    return [usage_item(r, names[r.council_id]) for r in rows if r.council_id in names]


@dataclass
class AgreementYear:
    """One year of an agreement (its months 1–12, 13–24...), summed."""

    agreement: Agreement
    index: int  # 1-based
    first: dt.date
    last: dt.date
    totals: Totals
    complete: bool  # every month of it has ended


def agreement_years(agreements: list[Agreement], today: dt.date) -> list[AgreementYear]:
    """The agreement years of some agreements (of one council) up to this month, newest first."""
    this_month = month_start(today)
    out = []
    for agreement in agreements:
        last_shown = min(agreement.last_month, this_month)
        if last_shown < agreement.first_month:
            continue
        rows = hours.usage_between(agreement.first_month, last_shown, agreement.council_id)
        by_month = {r.month: r for r in rows}
        index, first = 1, agreement.first_month
        while first <= last_shown:
            last = min(add_months(first, 11), agreement.last_month)
            months = months_between(first, min(last, last_shown))
            totals = totals_of(by_month[m] for m in months if m in by_month)
            out.append(AgreementYear(agreement, index, first, last, totals, last < this_month))
            index += 1
            first = add_months(first, 12)
    return sorted(out, key=lambda y: y.first, reverse=True)


@dataclass
class CouncilYear:
    council: Council
    year: int
    months: list[dt.date]
    rows: dict[dt.date, MonthUsage]
    totals: Totals
    forecast: object | None  # support.hours.figures.MonthForecast of this month, when in the year


def council_year(council: Council, year: int, today: dt.date) -> CouncilYear:
    rows = {r.month: r for r in hours.usage_for_year(year, council.id)}
    this_month = month_start(today)
    current = rows.get(this_month)
    forecast = hours.month_forecast(current, today) if current is not None else None
    return CouncilYear(council, year, year_months(year), rows, totals_of(rows.values()), forecast)


@dataclass
class OfficeYear:
    year: int
    months: list[dt.date]
    councils: list[Council]
    cells: dict[tuple[int, dt.date], MonthUsage]
    by_council: dict[int, Totals]
    by_month: dict[dt.date, Totals]
    by_comarca: dict[str, Totals]
    totals: Totals


def office_year(year: int, council_id: int | None = None) -> OfficeYear:
    """Every council-month of a year (or one council's) with the sums a manager reads: per
    council, per month, per comarca and overall."""
    rows, councils = usage_report(year, council_id)
    months = year_months(year)
    cells = {(r.council_id, r.month): r for r in rows}
    by_council: dict[int, Totals] = {}
    by_month = {m: Totals() for m in months}
    by_comarca: dict[str, Totals] = {}
    total = Totals()
    for row in rows:
        council = councils.get(row.council_id)
        if council is None:
            continue
        by_council.setdefault(row.council_id, Totals()).add(row)
        by_month[row.month].add(row)
        by_comarca.setdefault(council.comarca or "", Totals()).add(row)
        total.add(row)
    ordered = sorted(councils.values(), key=lambda c: (name_key(c.name), c.id))
    return OfficeYear(year, months, ordered, cells, by_council, by_month,
                      dict(sorted(by_comarca.items())), total)

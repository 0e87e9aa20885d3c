"""The reports' rules: hour consumption per council, month, agreement year and comarca; the
management dashboard; an agreement against its predecessor; the renewal suggestion; and the
councils' choice to publish. No HTTP here.

Every hour figure comes from `support.services.usage_between` (through `usage_for_year` and
friends): the very function behind `GET /councils/{id}/usage`. The reports add sums and
ratios on top, never a second way of counting, so a report cannot disagree with the usage
endpoint. Queries go through the ORM session, so the council scope narrows them for clerks
like every other query (another council's figures simply are not there).
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from accounts.models import User
from agreements.models import Agreement, Council
from agreements.months import add_months, format_month, month_start, months_between, parse_month
from agreements.services import band_for, change_ratio
from core.db import utcnow
from core.errors import NotFound, ValidationFailed
from extensions import db
from reports.models import ReportPublication
from support.hours import figures as hours
from support.hours.usage import MODES, MonthUsage
from support.hours.usage import forecast as mode_forecast

MIN_YEAR, MAX_YEAR = 1990, 2200
ONSITE_MIN, ONSITE_MAX = 90, 1680
HALF_HOUR = 30

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
    forecast: object | None  # support.services.MonthForecast of this month, when in the year


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


# --- the management dashboard -----------------------------------------------------------------

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
    calendar = hours.office_calendar()
    month_rows = {r.council_id: r for r in rows if r.month == month}
    year_excess: dict[int, int] = {}
    for row in rows:
        year_excess[row.council_id] = year_excess.get(row.council_id, 0) + row.onsite.excess_minutes \
            + row.remote.excess_minutes
    tickets = quality.open_ticket_counts() if with_service else {}
    checks = quality.critical_check_counts() if with_service else {}
    councils = db.session.scalars(select(Council).where(Council.active.is_(True))).all()
    # The month's business days once for every council (support.services.month_forecast's
    # rule: today counts; a past month is over, a future one has not begun).
    days = hours.business_days(month, calendar)
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


# --- an agreement against its predecessor ---------------------------------------------------

@dataclass
class AgreementSummary:
    agreement: Agreement
    months_total: int
    months_done: int  # months of the agreement that have ended
    totals: Totals  # over the months that have ended

    def agreed(self, mode: str) -> int:
        return self.agreement.onsite_minutes_month if mode == "onsite" else self.agreement.remote_minutes_month

    def agreed_total(self, mode: str) -> int:
        return self.agreed(mode) * self.months_total

    def average_used(self, mode: str) -> float | None:
        return self.totals.mode(mode).used / self.months_done if self.months_done else None


def agreement_summary(agreement: Agreement, today: dt.date) -> AgreementSummary:
    last_done = min(agreement.last_month, add_months(month_start(today), -1))
    rows = hours.usage_between(agreement.first_month, last_done, agreement.council_id) \
        if last_done >= agreement.first_month else []
    done = len(months_between(agreement.first_month, last_done))
    return AgreementSummary(agreement, agreement.months, done, totals_of(rows))


@dataclass
class Comparison:
    current: AgreementSummary
    previous: AgreementSummary | None

    def agreed_change(self, mode: str) -> float | None:
        if self.previous is None:
            return None
        return change_ratio(self.current.agreed(mode), self.previous.agreed(mode))

    def used_change(self, mode: str) -> float | None:
        if self.previous is None:
            return None
        now, before = self.current.average_used(mode), self.previous.average_used(mode)
        if now is None or not before:
            return None
        return (now - before) / before


def compare_with_previous(agreement: Agreement, today: dt.date) -> Comparison:
    previous = agreement.previous
    return Comparison(agreement_summary(agreement, today),
                      agreement_summary(previous, today) if previous is not None else None)


# --- the renewal suggestion -----------------------------------------------------------------

@dataclass
class ModeSuggestion:
    mode: str
    months: int
    mean: float
    p75: int
    peak: int
    months_over: int
    with_headroom: float
    suggested: int
    floor: int | None  # the band's remote minutes, or the on-site minimum, when it applied
    ceiling: int | None  # the on-site maximum, when it applied
    current: int | None

    @property
    def change(self) -> float | None:
        return change_ratio(self.suggested, self.current)


@dataclass
class RenewalSuggestion:
    council: Council
    first: dt.date
    last: dt.date
    months: int
    headroom_percent: int
    onsite: ModeSuggestion
    remote: ModeSuggestion
    current_agreement: Agreement | None
    band_remote: int | None

    def mode(self, mode: str) -> ModeSuggestion:
        return self.onsite if mode == "onsite" else self.remote


MIN_HISTORY_MONTHS = 3


def _round_up_half_hour(minutes: float) -> int:
    return int(math.ceil(round(minutes, 6) / HALF_HOUR)) * HALF_HOUR


def _nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def renewal_suggestion(council: Council, today: dt.date) -> RenewalSuggestion | None:
    """Hours to ask for at the next renewal, from the last 12 complete months.

    Per mode: the larger of the monthly average plus REPORTS_RENEWAL_HEADROOM_PERCENT (10 %)
    and the level that three months in four stayed within (75th percentile, nearest rank),
    rounded up to the half hour. On-site time stays within the 1.5–28 h a council may
    request; remote time never goes below what the council's population band gives. None
    with fewer than three months of history under an agreement.
    """
    last = add_months(month_start(today), -1)
    first = add_months(last, -11)
    rows = hours.usage_between(first, last, council.id)
    if len(rows) < MIN_HISTORY_MONTHS:
        return None
    headroom = int(current_app.config.get("REPORTS_RENEWAL_HEADROOM_PERCENT", 10))
    current = db.session.scalar(select(Agreement).where(Agreement.council_id == council.id,
                                                        Agreement.starts_on <= today, Agreement.ends_on >= today)) \
        or db.session.scalar(select(Agreement).where(Agreement.council_id == council.id)
                             .order_by(Agreement.starts_on.desc()).limit(1))
    band = band_for(council.population)
    band_remote = band.remote_minutes_month if band is not None else None
    modes = {}
    for mode in MODES:
        used = [max(0, r.mode(mode).used_minutes) for r in rows]
        mean = sum(used) / len(used)
        p75 = _nearest_rank(used, 75)
        with_headroom = mean * (100 + headroom) / 100
        suggested = _round_up_half_hour(max(with_headroom, p75))
        floor = ceiling = None
        if mode == "onsite":
            if suggested < ONSITE_MIN:
                suggested, floor = ONSITE_MIN, ONSITE_MIN
            elif suggested > ONSITE_MAX:
                suggested, ceiling = ONSITE_MAX, ONSITE_MAX
        elif band_remote is not None and suggested < band_remote:
            suggested, floor = band_remote, band_remote
        current_base = None
        if current is not None:
            current_base = current.onsite_minutes_month if mode == "onsite" else current.remote_minutes_month
        modes[mode] = ModeSuggestion(mode, len(used), mean, p75, max(used),
                                     sum(1 for r in rows if r.mode(mode).used_minutes > r.mode(mode).allowance_minutes),
                                     with_headroom, suggested, floor, ceiling, current_base)
    return RenewalSuggestion(council, rows[0].month, rows[-1].month, len(rows), headroom, modes["onsite"],
                             modes["remote"], current, band_remote)


# --- publication (the transparency page) -----------------------------------------------------

def publication_of(council_id: int) -> ReportPublication | None:
    return db.session.scalar(select(ReportPublication).where(ReportPublication.council_id == council_id))


def is_published(council_id: int) -> bool:
    row = publication_of(council_id)
    return bool(row is not None and row.enabled)


def published_ids() -> set[int]:
    return set(db.session.scalars(select(ReportPublication.council_id).where(ReportPublication.enabled.is_(True))))


def set_publication(council: Council, enabled: bool, *, actor: User | None) -> ReportPublication:
    """Switch a council's transparency page on or off (audited)."""
    if not isinstance(enabled, bool):
        raise ValidationFailed(_l("Some fields are not valid."), fields={"enabled": _l("Must be true or false.")})
    row = publication_of(council.id)
    before = bool(row is not None and row.enabled)
    if row is None:
        row = ReportPublication(council_id=council.id, enabled=enabled, changed_at=utcnow(),
                                changed_by_id=actor.id if actor is not None else None)
        db.session.add(row)
    elif before != enabled:
        row.enabled = enabled
        row.changed_at = utcnow()
        row.changed_by_id = actor.id if actor is not None else None
    if before != enabled:
        audit.record("publish" if enabled else "unpublish", object_type="transparency_page", object_id=council.id,
                     actor=actor, label=council.name, council_id=council.id,
                     changes={"enabled": [before, enabled]})
    db.session.commit()
    return row


def published_council(slug: str) -> Council:
    """The council behind /public/<slug>, only while it publishes (otherwise not found, the
    same answer as for a slug that does not exist)."""
    council = db.session.scalar(select(Council).where(Council.slug == slug, Council.active.is_(True)))
    if council is None or not is_published(council.id):
        raise NotFound()
    return council


PUBLIC_FIELDS = ("month", "onsite_allowance_minutes", "onsite_used_minutes", "remote_allowance_minutes",
                 "remote_used_minutes", "tickets_opened", "tickets_resolved", "first_response_met",
                 "first_response_measured", "resolution_met", "resolution_measured")


def public_figures(council: Council, year: int, today: dt.date) -> dict:
    """What a council publishes: its agreement, the hours it had and used each month, the
    tickets opened and resolved and how many met the SLA. Counts and minutes only: no names,
    no ticket titles, nothing a person could be recognised by."""
    from reports import quality

    this_month = month_start(today)
    months = [m for m in year_months(year) if m <= this_month]
    usage = {r.month: r for r in hours.usage_for_year(year, council.id)}
    service = quality.by_month(quality.service_by_council_month(months[0], months[-1], council.id,
                                                                with_durations=False), months) if months else {}
    items = []
    for month in months:
        row, stats = usage.get(month), service.get(month)
        if row is None and (stats is None or not (stats.opened or stats.resolved)):
            continue
        items.append({
            "month": format_month(month),
            "onsite_allowance_minutes": row.onsite.allowance_minutes if row else None,
            "onsite_used_minutes": row.onsite.used_minutes if row else None,
            "remote_allowance_minutes": row.remote.allowance_minutes if row else None,
            "remote_used_minutes": row.remote.used_minutes if row else None,
            "tickets_opened": stats.opened if stats else 0,
            "tickets_resolved": stats.resolved if stats else 0,
            "first_response_met": stats.first_response_met if stats else 0,
            "first_response_measured": stats.first_response_measured if stats else 0,
            "resolution_met": stats.resolution_met if stats else 0,
            "resolution_measured": stats.resolution_measured if stats else 0,
        })
    year_service = quality.merged(service.values())
    # The signed agreement in force at the end of the year shown (today, for this year).
    as_of = min(today, dt.date(year, 12, 31))
    agreement = db.session.scalar(select(Agreement).where(
        Agreement.council_id == council.id, Agreement.starts_on <= as_of, Agreement.ends_on >= dt.date(year, 1, 1),
        Agreement.signed_on.is_not(None)).order_by(Agreement.starts_on.desc()).limit(1))
    totals = totals_of(usage[m] for m in months if m in usage)
    return {
        "council": {"name": council.name, "slug": council.slug, "comarca": council.comarca,
                    "population": council.population, "population_year": council.population_year},
        "year": year,
        "agreement": None if agreement is None else {
            "starts_on": agreement.starts_on.isoformat(), "ends_on": agreement.ends_on.isoformat(),
            "onsite_minutes_month": agreement.onsite_minutes_month,
            "remote_minutes_month": agreement.remote_minutes_month, "rollover": agreement.rollover},
        "totals": {
            "onsite_allowance_minutes": totals.onsite.allowance, "onsite_used_minutes": totals.onsite.used,
            "remote_allowance_minutes": totals.remote.allowance, "remote_used_minutes": totals.remote.used,
            "tickets_opened": year_service.opened, "tickets_resolved": year_service.resolved,
            "first_response_compliance": None if year_service.first_response_ratio is None
            else round(year_service.first_response_ratio, 4),
            "resolution_compliance": None if year_service.resolution_ratio is None
            else round(year_service.resolution_ratio, 4),
        },
        "months": items,
        "generated_at": utcnow().replace(microsecond=0).isoformat(),
    }

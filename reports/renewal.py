"""An agreement against its predecessor (hours agreed and used, before and now), and the
hours to suggest at the next renewal from the last twelve months of use.

Hours come from support's usage functions, as in every report (see `reports.consumption`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from agreements.bands import ONSITE_MAX, ONSITE_MIN, band_for
from agreements.models import Agreement, Council
from agreements.months import add_months, month_start, months_between
from agreements.services import change_ratio
from extensions import db
from reports.consumption import Totals, totals_of
from support.hours import figures as hours
from support.hours.usage import MODES

HALF_HOUR = 30


# --- an agreement against its predecessor ---------------------------------------------------

@dataclass
class AgreementSummary:
    agreement: Agreement
    months_total: int
    months_done: int  # months of the agreement that have ended
    totals: Totals  # over the months that have ended
    # Ended months with any time recorded. Averages divide by these, not by months_done: an
    # agreement whose first 42 months were never entered here (a migration, another tool)
    # showed "+744 %" when those months counted as zero use.
    months_with_data: int = 0

    def agreed(self, mode: str) -> int:
        return self.agreement.onsite_minutes_month if mode == "onsite" else self.agreement.remote_minutes_month

    def agreed_total(self, mode: str) -> int:
        return self.agreed(mode) * self.months_total

    def average_used(self, mode: str) -> float | None:
        return self.totals.mode(mode).used / self.months_with_data if self.months_with_data else None


def agreement_summary(agreement: Agreement, today: dt.date) -> AgreementSummary:
    last_done = min(agreement.last_month, add_months(month_start(today), -1))
    rows = hours.usage_between(agreement.first_month, last_done, agreement.council_id) \
        if last_done >= agreement.first_month else []
    done = len(months_between(agreement.first_month, last_done))
    with_data = sum(1 for row in rows if row.onsite.used_minutes or row.remote.used_minutes or row.travel_minutes)
    return AgreementSummary(agreement, agreement.months, done, totals_of(rows), with_data)


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

"""The agreements and their months, and the lookups the other domains start from.

A council looked up by id or slug (not found for a clerk of another council), the agreement
covering a month, creating, changing and renewing agreements (their terms are fixed once a
month of them is closed), the per-council lock that serialises hours writes against closes,
and closing months. The rules, free of HTTP.

A council's own record is in `agreements.councils`, the allowance bands in `agreements.bands`.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from accounts import audit
from accounts.models import User
from agreements.bands import ONSITE_MAX, ONSITE_MIN, band_for
from agreements.models import ROLLOVERS, Agreement, Council, MonthClose
from agreements.months import add_months, format_month, month_end, month_start, months_between, office_today
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db

_INVALID = _l("Some fields are not valid.")


# --- looking councils up ----------------------------------------------------------------

def get_council_by_slug(slug: str) -> Council:
    council = db.session.scalar(select(Council).where(Council.slug == slug))
    if council is None:
        raise NotFound()
    return council


def get_council(council_id: int) -> Council:
    council = db.session.scalar(select(Council).where(Council.id == council_id))
    if council is None:
        raise NotFound()
    return council


# --- agreements -----------------------------------------------------------------------

AGREEMENT_FIELDS = ("starts_on", "ends_on", "onsite_minutes_month", "remote_minutes_month", "rollover",
                    "signed_on", "document_ref", "notes")
# What usage is computed from: fixed once a month of the agreement has been closed.
TERMS_FIELDS = ("starts_on", "ends_on", "onsite_minutes_month", "remote_minutes_month", "rollover")
MAX_REMOTE_MINUTES = 44640  # a 31-day month, around the clock: any larger number is a typo
MAX_DOCUMENT_REF = 120
MAX_NOTES = 5000
MIN_AGREEMENT_DATE = dt.date(1990, 1, 1)
MAX_AGREEMENT_DATE = dt.date(2200, 12, 31)


def insert_ignoring_duplicates(model, values: dict, keys: list[str]):
    """INSERT ... ON CONFLICT (keys) DO NOTHING RETURNING id: the id, or None when the row existed.

    The database decides, atomically, who inserted: no window between a check and an insert
    in which a concurrent request could insert the same row (docs/lessons.md, lost updates).
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=keys).returning(model.id)
    return db.session.execute(stmt).scalar()


def lock_council(council_id: int, *, exclusive: bool) -> None:
    """Serialise hours writes against closes and overlapping agreements of one council.

    PostgreSQL: entry writes take the council row FOR SHARE (they do not block each other),
    closes and agreement changes FOR UPDATE (they wait for running entry writes and block new
    ones until they commit). So an entry never slips into a month that a close running at the
    same moment believes empty, and two agreements of one council are never checked for
    overlap side by side. SQLite has no row locks and needs none: a write request begins
    IMMEDIATE, so writers already run one at a time (core.db).
    """
    db.session.execute(select(Council.id).where(Council.id == council_id)
                       .with_for_update(read=not exclusive))


def agreement_query(*, council_id: int | None = None):
    stmt = select(Agreement)
    if council_id is not None:
        stmt = stmt.where(Agreement.council_id == council_id)
    return stmt


def council_agreements(council_id: int) -> list[Agreement]:
    return list(db.session.scalars(agreement_query(council_id=council_id).order_by(Agreement.starts_on.desc())))


def get_agreement(agreement_id: int) -> Agreement:
    agreement = db.session.scalar(select(Agreement).where(Agreement.id == agreement_id))
    if agreement is None:
        raise NotFound()
    return agreement


def agreement_for_month(council_id: int, month: dt.date) -> Agreement | None:
    """The agreement covering `month` (a first day) for the council, if any."""
    return db.session.scalar(select(Agreement).where(
        Agreement.council_id == council_id, Agreement.starts_on <= month, Agreement.ends_on >= month))


def current_agreement(council_id: int, today: dt.date) -> Agreement | None:
    return agreement_for_month(council_id, month_start(today))


def _minutes_value(value, errors: dict, field: str, message) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = message
        return None
    return value


def _date_value(value, errors: dict, field: str) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        errors[field] = _l("Must be a date (YYYY-MM-DD).")
        return None
    if not MIN_AGREEMENT_DATE <= value <= MAX_AGREEMENT_DATE:
        errors[field] = _l("Enter a date between 1990 and 2200.")
        return None
    return value


def _clean_agreement(values: dict, council: Council, *, current: Agreement | None, today: dt.date) -> dict:
    """The values of a new or changed agreement, checked; raises ValidationFailed per field."""
    errors: dict[str, object] = {}
    out = {k: values[k] for k in AGREEMENT_FIELDS if k in values}
    for key in ("document_ref", "notes"):
        if key in out:
            out[key] = (out[key] or "").strip()
    merged = {k: getattr(current, k) for k in AGREEMENT_FIELDS} if current is not None else {}
    merged.update(out)

    starts = _date_value(merged.get("starts_on"), errors, "starts_on")
    ends = _date_value(merged.get("ends_on"), errors, "ends_on")
    if "starts_on" not in errors and starts is None:
        errors["starts_on"] = _l("This field is required.")
    if "ends_on" not in errors and ends is None:
        errors["ends_on"] = _l("This field is required.")
    if starts is not None and starts.day != 1:
        errors["starts_on"] = _l("An agreement starts on the first day of a month.")
    if ends is not None and ends != month_end(ends):
        errors["ends_on"] = _l("An agreement ends on the last day of a month.")
    if starts is not None and ends is not None and ends < starts and "ends_on" not in errors:
        errors["ends_on"] = _l("The agreement must end after it starts.")

    band = None
    onsite = _minutes_value(merged.get("onsite_minutes_month"), errors, "onsite_minutes_month",
                            _l("Must be an integer."))
    if onsite is None and "onsite_minutes_month" not in errors:
        band = band_for(council.population)
        if band is None:
            errors["onsite_minutes_month"] = _l("No allowance band covers this population; give the minutes.")
        else:
            onsite = band.onsite_default_minutes_month
    if onsite is not None and not ONSITE_MIN <= onsite <= ONSITE_MAX:
        errors["onsite_minutes_month"] = _l(
            "On-site time must be between 90 and 1680 minutes a month (1.5 to 28 h).")
    remote = _minutes_value(merged.get("remote_minutes_month"), errors, "remote_minutes_month",
                            _l("Must be an integer."))
    if remote is None and "remote_minutes_month" not in errors:
        # Taken from the band now and stored: a later population change does not alter it.
        band = band or band_for(council.population)
        if band is None:
            errors["remote_minutes_month"] = _l("No allowance band covers this population; give the minutes.")
        else:
            remote = band.remote_minutes_month
    if remote is not None and not 0 <= remote <= MAX_REMOTE_MINUTES:
        errors["remote_minutes_month"] = _l("Enter a whole number of minutes a month, from 0 to 44640.")

    rollover = merged.get("rollover") or "none"
    if rollover not in ROLLOVERS:
        errors["rollover"] = _l("Not one of the allowed values.")
    signed_on = _date_value(merged.get("signed_on"), errors, "signed_on")
    if signed_on is not None and signed_on > today:
        errors["signed_on"] = _l("The signing date cannot be in the future.")
    if len(merged.get("document_ref") or "") > MAX_DOCUMENT_REF:
        errors["document_ref"] = _l("Too long.")
    if len(merged.get("notes") or "") > MAX_NOTES:
        errors["notes"] = _l("Too long.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    return {"starts_on": starts, "ends_on": ends, "onsite_minutes_month": onsite,
            "remote_minutes_month": remote, "rollover": rollover, "signed_on": signed_on,
            "document_ref": merged.get("document_ref") or "", "notes": merged.get("notes") or ""}


def _check_overlap(council_id: int, starts: dt.date, ends: dt.date, exclude_id: int | None = None) -> None:
    stmt = select(Agreement).where(Agreement.council_id == council_id, Agreement.starts_on <= ends,
                                   Agreement.ends_on >= starts).order_by(Agreement.starts_on).limit(1)
    if exclude_id is not None:
        stmt = stmt.where(Agreement.id != exclude_id)
    other = db.session.scalar(stmt)
    if other is not None:
        message = _l("This period overlaps the agreement of %(start)s to %(end)s.",
                     start=other.starts_on.isoformat(), end=other.ends_on.isoformat())
        raise Conflict(message, code="agreement_overlap", fields={"starts_on": message})


def previous_agreement(council_id: int, starts_on: dt.date, exclude_id: int | None = None) -> Agreement | None:
    """The council's agreement that ended most recently before `starts_on`."""
    stmt = (select(Agreement).where(Agreement.council_id == council_id, Agreement.ends_on < starts_on)
            .order_by(Agreement.ends_on.desc(), Agreement.id.desc()).limit(1))
    if exclude_id is not None:
        stmt = stmt.where(Agreement.id != exclude_id)
    return db.session.scalar(stmt)


def create_agreement(council: Council, values: dict, *, actor: User | None,
                     today: dt.date | None = None) -> Agreement:
    """A new agreement of `council`. `signed_on` None makes a draft; the allowances omitted (None)
    come from the population band, and are stored."""
    today = today or office_today()
    lock_council(council.id, exclusive=True)
    data = _clean_agreement(values, council, current=None, today=today)
    _check_overlap(council.id, data["starts_on"], data["ends_on"])
    previous = previous_agreement(council.id, data["starts_on"])
    agreement = Agreement(council_id=council.id, previous_agreement_id=previous.id if previous else None, **data)
    db.session.add(agreement)
    db.session.flush()
    audit.record("create", object_type="agreement", object_id=agreement.id, actor=actor,
                 label=f"{council.name} {data['starts_on']:%Y-%m}–{data['ends_on']:%Y-%m}", council_id=council.id,
                 changes=audit.diff({}, audit.snapshot(agreement, AGREEMENT_FIELDS)))
    db.session.commit()
    return agreement


def agreement_has_closed_month(agreement: Agreement) -> bool:
    return db.session.scalar(select(MonthClose.id).where(
        MonthClose.council_id == agreement.council_id, MonthClose.month >= agreement.starts_on,
        MonthClose.month <= agreement.ends_on).limit(1)) is not None


def update_agreement(agreement: Agreement, values: dict, *, actor: User | None,
                     today: dt.date | None = None) -> Agreement:
    """Change an agreement. Its terms (period, allowances, rollover) can change only while none of
    its months is closed: a closed month's figures must never move."""
    from support.hours.models import TimeEntry

    today = today or office_today()
    council = agreement.council
    lock_council(council.id, exclusive=True)
    data = _clean_agreement(values, council, current=agreement, today=today)
    changed_terms = [k for k in TERMS_FIELDS if data[k] != getattr(agreement, k)]
    if changed_terms:
        if agreement_has_closed_month(agreement):
            message = _l("Months of this agreement are closed, so its period and hours can no longer "
                         "change. Renew it instead.")
            raise Conflict(message, code="month_closed", fields=dict.fromkeys(changed_terms, message))
        _check_overlap(council.id, data["starts_on"], data["ends_on"], exclude_id=agreement.id)
        # Entries the old period covered must stay covered.
        stray = db.session.scalar(
            select(TimeEntry.date).where(
                TimeEntry.council_id == council.id, TimeEntry.date >= agreement.starts_on,
                TimeEntry.date <= agreement.ends_on,
                or_(TimeEntry.date < data["starts_on"], TimeEntry.date > data["ends_on"]))
            .order_by(TimeEntry.date).limit(1))
        if stray is not None:
            message = _l("Hours are logged on %(date)s, outside the new period.", date=stray.isoformat())
            raise ValidationFailed(_INVALID, fields={"starts_on" if stray < data["starts_on"] else "ends_on": message})
    before = audit.snapshot(agreement, AGREEMENT_FIELDS)
    for key, value in data.items():
        setattr(agreement, key, value)
    changes = audit.diff(before, audit.snapshot(agreement, AGREEMENT_FIELDS))
    if changes:
        audit.record("update", object_type="agreement", object_id=agreement.id, actor=actor,
                     label=f"{council.name} {agreement.starts_on:%Y-%m}–{agreement.ends_on:%Y-%m}",
                     council_id=council.id, changes=changes)
    db.session.commit()
    return agreement


def renewal_defaults(previous: Agreement) -> dict:
    """A renewal: the period right after `previous`, as long as it, with the same hours."""
    starts = previous.ends_on + dt.timedelta(days=1)
    ends = month_end(add_months(starts, previous.months - 1))
    return {"starts_on": starts, "ends_on": ends, "onsite_minutes_month": previous.onsite_minutes_month,
            "remote_minutes_month": previous.remote_minutes_month, "rollover": previous.rollover}


def change_ratio(new: int | None, old: int | None) -> float | None:
    """(new − old) / old: +0.2 reads "+20 %"; None when there is nothing to compare."""
    if new is None or not old:
        return None
    return (new - old) / old


# --- closing months --------------------------------------------------------------------

def is_month_closed(council_id: int, month: dt.date) -> bool:
    return db.session.scalar(select(MonthClose.id).where(
        MonthClose.council_id == council_id, MonthClose.month == month_start(month))) is not None


def closed_months(council_id: int | None, first: dt.date, last: dt.date) -> set[tuple[int, dt.date]]:
    stmt = select(MonthClose.council_id, MonthClose.month).where(MonthClose.month >= first, MonthClose.month <= last)
    if council_id is not None:
        stmt = stmt.where(MonthClose.council_id == council_id)
    return {(c, m) for c, m in db.session.execute(stmt)}


def month_close(council_id: int, month: dt.date) -> MonthClose | None:
    return db.session.scalar(select(MonthClose).where(MonthClose.council_id == council_id,
                                                      MonthClose.month == month))


def _check_closable(month: dt.date, today: dt.date) -> None:
    if month >= month_start(today):
        raise ValidationFailed(_l("A month can be closed once it has ended."),
                               fields={"month": _l("A month can be closed once it has ended.")})


def _close(council: Council, month: dt.date, actor: User | None) -> bool:
    inserted = insert_ignoring_duplicates(
        MonthClose, {"council_id": council.id, "month": month, "closed_at": utcnow(),
                     "closed_by_id": actor.id if actor is not None else None}, ["council_id", "month"])
    if inserted is not None:
        audit.record("close_month", object_type="month", object_id=f"{council.id}:{format_month(month)}",
                     actor=actor, label=f"{council.name} {format_month(month)}", council_id=council.id)
    return inserted is not None


def close_month(council: Council, month: dt.date, *, actor: User | None, today: dt.date | None = None) -> bool:
    """Close a council's month: its entries become immutable. Idempotent; True if it was open."""
    month = month_start(month)
    lock_council(council.id, exclusive=True)
    if agreement_for_month(council.id, month) is None:
        raise NotFound(_l("No agreement covers this month."), code="no_agreement")
    _check_closable(month, today or office_today())
    closed = _close(council, month, actor)
    db.session.commit()
    return closed


def close_month_everywhere(month: dt.date, *, actor: User | None, today: dt.date | None = None) -> int:
    """Close `month` for every council an agreement covers then; returns how many were open."""
    month = month_start(month)
    _check_closable(month, today or office_today())
    councils = list(db.session.scalars(
        select(Council).join(Agreement, Agreement.council_id == Council.id)
        .where(Agreement.starts_on <= month, Agreement.ends_on >= month).order_by(Council.id)))
    for council in councils:  # in id order, so two closes of overlapping sets cannot deadlock
        lock_council(council.id, exclusive=True)
    closed = sum(1 for council in councils if _close(council, month, actor))
    db.session.commit()
    return closed


def earliest_agreement_month() -> dt.date | None:
    first = db.session.scalar(select(func.min(Agreement.starts_on)))
    return month_start(first) if first else None


def month_overview(first: dt.date, last: dt.date) -> list[dict]:
    """Per month from `last` back to `first`: councils with an agreement, and how many are closed."""
    agreements = db.session.execute(select(Agreement.council_id, Agreement.starts_on, Agreement.ends_on)
                                    .where(Agreement.starts_on <= last, Agreement.ends_on >= first)).all()
    closes = closed_months(None, first, last)
    out = []
    for month in reversed(months_between(first, last)):
        covered = {c for c, s, e in agreements if s <= month <= e}
        out.append({"month": month, "councils": len(covered),
                    "closed": len({c for c, m in closes if m == month and c in covered})})
    return out


"""The hours ledger: time entries, corrections, monthly usage and the forecast. No HTTP here.

Writes follow one order, on purpose: lock the council row (shared for entries, see
agreements.services.lock_council), check the agreement and that the month is open, write,
audit, commit; only then, in a fresh transaction, evaluate the allowance thresholds
(support.jobs), so that under concurrency the last writer to commit sees every entry.

Usage is never stored: it is computed from the entries with one GROUP BY over a covering
index and the arithmetic of support.usage, so no figure can drift from the entries.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from sqlalchemy import func, select

from accounts import audit
from accounts.models import User
from agreements.models import Agreement, Council
from agreements.months import add_months, format_month, month_end, month_start, months_between, office_today
from agreements.services import agreement_for_month, closed_months, is_month_closed, lock_council
from core.db import utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from extensions import db
from support.models import MODES, TimeEntry
from support.sla import BusinessCalendar
from support.usage import Forecast, MonthUsage, Terms, forecast, usage_rows

log = logging.getLogger("councildesk.hours")

MAX_ENTRY_MINUTES = 1440
MAX_DESCRIPTION = 2000
ENTRY_FIELDS = ("council_id", "technician_id", "date", "minutes", "mode", "description", "ticket_id",
                "travel_minutes", "corrects_entry_id")
EDITABLE_FIELDS = ("council_id", "technician_id", "date", "minutes", "mode", "description", "ticket_id",
                   "travel_minutes")
MIN_ENTRY_DATE = dt.date(1990, 1, 1)
MAX_ENTRY_DATE = dt.date(2200, 12, 31)
_INVALID = _l("Some fields are not valid.")
MANAGER_ROLES = ("admin", "manager")


# --- the office calendar (forecast) ---------------------------------------------------

# Fixed public holidays of Catalonia (MM-DD). Movable ones (Easter Monday, Whit Monday, the
# town's festa major) go in OFFICE_HOLIDAYS as dates; another region sets its own list.
DEFAULT_RECURRING_HOLIDAYS = ("01-01", "01-06", "05-01", "06-24", "08-15", "09-11", "10-12", "11-01",
                              "12-06", "12-08", "12-25", "12-26")


def office_calendar() -> BusinessCalendar:
    """The office's working calendar, from configuration (built once per configuration).

    OFFICE_TIMEZONE, OFFICE_WORKDAYS (0 = Monday; default Monday to Friday), OFFICE_HOURS
    ("08:00-15:00"), OFFICE_HOLIDAYS (YYYY-MM-DD dates) and OFFICE_RECURRING_HOLIDAYS (MM-DD).
    """
    cfg = current_app.config
    key = (cfg["OFFICE_TIMEZONE"], tuple(cfg["OFFICE_WORKDAYS"]), str(cfg["OFFICE_HOURS"]),
           tuple(cfg["OFFICE_HOLIDAYS"]),
           tuple(cfg["OFFICE_RECURRING_HOLIDAYS"] or DEFAULT_RECURRING_HOLIDAYS))
    cache = current_app.extensions.setdefault("councildesk_office_calendar", {})
    calendar = cache.get(key)
    if calendar is None:
        this_year = dt.date.today().year
        calendar = BusinessCalendar.from_config(
            timezone=key[0], workdays=key[1], hours=key[2], holidays=key[3], recurring_holidays=key[4],
            holiday_years=range(this_year - 10, this_year + 11))
        cache[key] = calendar
    return calendar


def is_business_day(calendar: BusinessCalendar, day: dt.date) -> bool:
    return bool(calendar.weekly_hours[day.weekday()]) and day not in calendar.holidays


def business_days(month: dt.date, calendar: BusinessCalendar | None = None) -> list[dt.date]:
    calendar = calendar or office_calendar()
    first = month_start(month)
    return [first + dt.timedelta(days=i) for i in range(month_end(first).day)
            if is_business_day(calendar, first + dt.timedelta(days=i))]


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
    days = business_days(usage.month, calendar)
    elapsed = len(days) if usage.month < this_month else sum(1 for d in days if d <= today)
    modes = {m: forecast(usage.mode(m).used_minutes, usage.mode(m).allowance_minutes, elapsed, len(days))
             for m in MODES}
    return MonthForecast(usage.month, elapsed, len(days), modes["onsite"], modes["remote"])


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


# --- reading entries ------------------------------------------------------------------

def entry_query(*, council_id: int | None = None, month: dt.date | None = None,
                technician_id: int | None = None, ticket_id: int | None = None):
    stmt = select(TimeEntry)
    if ticket_id is not None:
        stmt = stmt.where(TimeEntry.ticket_id == ticket_id)
    if council_id is not None:
        stmt = stmt.where(TimeEntry.council_id == council_id)
    if month is not None:
        stmt = stmt.where(TimeEntry.date >= month_start(month), TimeEntry.date <= month_end(month))
    if technician_id is not None:
        stmt = stmt.where(TimeEntry.technician_id == technician_id)
    return stmt


def get_entry(entry_id: int) -> TimeEntry:
    entry = db.session.scalar(select(TimeEntry).where(TimeEntry.id == entry_id))
    if entry is None:
        raise NotFound()
    return entry


def corrections_of(entry_ids: Iterable[int]) -> dict[int, list[TimeEntry]]:
    """The corrections of each given entry, oldest first (shown next to the original)."""
    ids = list(set(entry_ids))
    out: dict[int, list[TimeEntry]] = {}
    if not ids:
        return out
    for corr in db.session.scalars(select(TimeEntry).where(TimeEntry.corrects_entry_id.in_(ids))
                                   .order_by(TimeEntry.date, TimeEntry.id)):
        out.setdefault(corr.corrects_entry_id, []).append(corr)
    return out


def recent_council_ids(user: User, today: dt.date, limit: int = 5) -> list[int]:
    """The councils `user` logged hours for in the last 60 days, most recent work first."""
    last_date, last_id = func.max(TimeEntry.date), func.max(TimeEntry.id)
    rows = db.session.execute(
        select(TimeEntry.council_id, last_date, last_id)
        .where(TimeEntry.technician_id == user.id, TimeEntry.date >= today - dt.timedelta(days=60))
        .group_by(TimeEntry.council_id).order_by(last_date.desc(), last_id.desc()).limit(limit))
    return [council_id for council_id, _date, _id in rows]


def staff_users() -> list[User]:
    """Who may have hours logged in their name: active office staff."""
    return list(db.session.scalars(select(User).where(User.role.in_(("admin", "manager", "technician")),
                                                      User.active.is_(True)).order_by(User.name)))


def can_edit(user: User, entry: TimeEntry) -> bool:
    """Whether `user` may change `entry` (the month being open is checked separately)."""
    return user.role in MANAGER_ROLES or (user.role == "technician" and entry.technician_id == user.id)


def month_is_open(council_id: int, month: dt.date) -> bool:
    return not is_month_closed(council_id, month)


# --- writing entries --------------------------------------------------------------------

def _int_value(values: dict, key: str, errors: dict, low: int, high: int, message) -> int | None:
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[key] = message
        return None
    return value


def _clean_entry(values: dict, *, correction: bool = False) -> tuple[dict, dict]:
    """Type and range checks of an entry's fields; returns (clean values, errors)."""
    errors: dict[str, object] = {}
    out: dict = {}
    if "date" in values:
        day = values["date"]
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            errors["date"] = _l("Must be a date (YYYY-MM-DD).")
        elif not MIN_ENTRY_DATE <= day <= MAX_ENTRY_DATE:
            errors["date"] = _l("Enter a date between 1990 and 2200.")
        else:
            out["date"] = day
    if "minutes" in values:
        if correction:
            minutes = _int_value(values, "minutes", errors, -MAX_ENTRY_MINUTES, MAX_ENTRY_MINUTES,
                                 _l("Enter a change between -1440 and 1440 minutes."))
        else:
            minutes = _int_value(values, "minutes", errors, 1, MAX_ENTRY_MINUTES,
                                 _l("Enter between 1 and 1440 minutes (one day at most)."))
        if minutes is None and "minutes" not in errors:
            errors["minutes"] = _l("This field is required.")
        out["minutes"] = minutes
    if "travel_minutes" in values:
        if values["travel_minutes"] is None:
            out["travel_minutes"] = 0
        elif correction:
            out["travel_minutes"] = _int_value(values, "travel_minutes", errors, -MAX_ENTRY_MINUTES,
                                               MAX_ENTRY_MINUTES, _l("Enter a change between -1440 and 1440 minutes."))
        else:
            out["travel_minutes"] = _int_value(values, "travel_minutes", errors, 0, MAX_ENTRY_MINUTES,
                                               _l("Enter between 0 and 1440 minutes."))
    if "mode" in values:
        if values["mode"] not in MODES:
            errors["mode"] = _l("Choose on site or remote.")
        else:
            out["mode"] = values["mode"]
    if "description" in values:
        text = (values["description"] or "").strip()
        if len(text) > MAX_DESCRIPTION:
            errors["description"] = _l("Too long.")
        out["description"] = text
    if "ticket_id" in values:
        # Only the type here: whether the ticket exists and belongs to the entry's council is
        # checked once the council is known (_check_ticket).
        ticket_id = values["ticket_id"]
        if ticket_id is not None and (isinstance(ticket_id, bool) or not isinstance(ticket_id, int)
                                      or not 1 <= ticket_id <= 2**31 - 1):
            errors["ticket_id"] = _l("Unknown ticket.")
        else:
            out["ticket_id"] = ticket_id
    return out, errors


def _check_ticket(ticket_id: int | None, council_id: int, errors: dict) -> None:
    """Time logged on a ticket is work for the ticket's council: the two must agree."""
    if ticket_id is None or "ticket_id" in errors:
        return
    from support.models import Ticket

    # Through the scoped query layer: a ticket the caller cannot see is unknown to them.
    owner = db.session.scalar(select(Ticket.council_id).where(Ticket.id == ticket_id))
    if owner is None:
        errors["ticket_id"] = _l("Unknown ticket.")
    elif owner != council_id:
        errors["ticket_id"] = _l("This ticket belongs to another council.")


def _check_technician(technician_id: int | None, actor: User | None, errors: dict) -> User | None:
    if technician_id is None:
        return None
    if actor is not None and actor.role == "technician" and technician_id != actor.id:
        raise PermissionDenied(_l("Technicians log their own hours only."))
    user = db.session.scalar(select(User).where(User.id == technician_id))
    if user is None or user.role == "clerk" or not user.active:
        errors["technician_id"] = _l("Choose an active member of the office staff.")
        return None
    return user


def _check_writable(council_id: int, day: dt.date, field: str = "date") -> None:
    """The date must fall in an agreement of the council, in a month still open."""
    month = month_start(day)
    if agreement_for_month(council_id, month) is None:
        message = _l("No agreement of this council covers %(date)s.", date=day.isoformat())
        raise ValidationFailed(message, code="no_agreement", fields={field: message})
    if is_month_closed(council_id, month):
        message = _l("%(month)s is closed: its hours can no longer change.", month=format_month(month))
        raise Conflict(message, code="month_closed", fields={field: message})


def _travel_rule(mode: str, travel: int, errors: dict) -> None:
    if mode == "remote" and travel:
        errors["travel_minutes"] = _l("Travel time applies to on-site work only.")


def _snapshot(entry: TimeEntry) -> dict:
    return audit.snapshot(entry, ENTRY_FIELDS)


def _label(entry: TimeEntry, council: Council | None = None) -> str:
    council = council or entry.council
    return f"{council.name} {entry.date.isoformat()} {entry.mode} {entry.minutes} min"


def create_entry(council: Council, values: dict, *, actor: User | None) -> TimeEntry:
    """Log time for `council`. `values`: date, minutes, mode, description, travel_minutes,
    ticket_id, technician_id (a technician's own id, or anyone's for managers; default: actor)."""
    required = {"date": values.get("date"), "minutes": values.get("minutes"), "mode": values.get("mode")}
    data, errors = _clean_entry({"description": "", "travel_minutes": 0, "ticket_id": None, **values})
    for key, value in required.items():
        if value is None and key not in errors:
            errors[key] = _l("This field is required.")
    technician_id = values.get("technician_id")
    if technician_id is None and actor is not None:
        technician_id = actor.id
    technician = _check_technician(technician_id, actor, errors)
    if technician is None and "technician_id" not in errors:
        errors["technician_id"] = _l("This field is required.")
    if "mode" in data and data.get("travel_minutes"):
        _travel_rule(data["mode"], data["travel_minutes"], errors)
    _check_ticket(data.get("ticket_id"), council.id, errors)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)

    lock_council(council.id, exclusive=False)
    _check_writable(council.id, data["date"])
    entry = TimeEntry(council_id=council.id, technician_id=technician.id, date=data["date"],
                      month=month_start(data["date"]), minutes=data["minutes"], mode=data["mode"],
                      description=data["description"], ticket_id=data.get("ticket_id"),
                      travel_minutes=data["travel_minutes"],
                      created_by_id=actor.id if actor is not None else None)
    db.session.add(entry)
    db.session.flush()
    audit.record("create", object_type="time_entry", object_id=entry.id, actor=actor,
                 label=_label(entry, council), council_id=council.id,
                 changes=audit.diff({}, _snapshot(entry)))
    db.session.commit()
    _after_write([(entry.council_id, entry.month)])
    return entry


def update_entry(entry: TimeEntry, values: dict, *, actor: User | None) -> TimeEntry:
    """Change an entry of an open month (the author, or a manager). A correction keeps its
    council and mode, and its minutes stay a signed change."""
    if actor is not None and not can_edit(actor, entry):
        raise PermissionDenied(_l("Only the author or a manager can change this entry."))
    values = {k: v for k, v in values.items() if k in EDITABLE_FIELDS}
    data, errors = _clean_entry(values, correction=entry.is_correction)
    council_id = values.get("council_id", entry.council_id)
    council = entry.council
    if council_id != entry.council_id:
        if entry.is_correction:
            errors["council_id"] = _l("A correction stays with the council of the entry it corrects.")
        else:
            council = db.session.scalar(select(Council).where(Council.id == council_id))
            if council is None:
                raise NotFound(_l("Unknown council."))
    if entry.is_correction and data.get("mode", entry.mode) != entry.mode:
        errors["mode"] = _l("A correction keeps the mode of the entry it corrects.")
    technician = None
    if values.get("technician_id") is not None and values["technician_id"] != entry.technician_id:
        if actor is not None and actor.role not in MANAGER_ROLES:
            raise PermissionDenied(_l("Only a manager can move hours to another technician."))
        technician = _check_technician(values["technician_id"], actor, errors)
    mode = data.get("mode", entry.mode)
    travel = data.get("travel_minutes", entry.travel_minutes)
    if "travel_minutes" not in errors:
        _travel_rule(mode, travel, errors)
    minutes = data.get("minutes", entry.minutes)
    ticket_id = data.get("ticket_id", entry.ticket_id)
    if "ticket_id" in data or council.id != entry.council_id:
        _check_ticket(ticket_id, council.id, errors)
    if entry.is_correction and "minutes" not in errors and "travel_minutes" not in errors:
        _check_correction_totals(entry.corrects, minutes, travel, errors, exclude_id=entry.id)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)

    # Both councils, in id order, so that two moves in opposite directions cannot deadlock.
    for cid in sorted({entry.council_id, council.id}):
        lock_council(cid, exclusive=False)
    if is_month_closed(entry.council_id, entry.month):
        message = _l("%(month)s is closed: its hours can no longer change.", month=format_month(entry.month))
        raise Conflict(message, code="month_closed", fields={"date": message})
    new_date = data.get("date", entry.date)
    _check_writable(council.id, new_date)

    before = _snapshot(entry)
    old = (entry.council_id, entry.month)
    entry.council_id = council.id
    entry.council = council
    entry.date = new_date
    entry.month = month_start(new_date)
    entry.minutes = minutes
    entry.mode = mode
    entry.travel_minutes = travel
    entry.ticket_id = ticket_id
    if "description" in data:
        entry.description = data["description"]
    if technician is not None:
        entry.technician_id = technician.id
        entry.technician = technician
    changes = audit.diff(before, _snapshot(entry))
    if changes:
        entry.updated_at = utcnow()
        audit.record("update", object_type="time_entry", object_id=entry.id, actor=actor,
                     label=_label(entry, council), council_id=council.id, changes=changes)
    db.session.commit()
    _after_write([old, (entry.council_id, entry.month)])
    return entry


def delete_entry(entry: TimeEntry, *, actor: User | None) -> None:
    if actor is not None and not can_edit(actor, entry):
        raise PermissionDenied(_l("Only the author or a manager can delete this entry."))
    lock_council(entry.council_id, exclusive=False)
    if is_month_closed(entry.council_id, entry.month):
        message = _l("%(month)s is closed: its hours can no longer change.", month=format_month(entry.month))
        raise Conflict(message, code="month_closed", fields={"date": message})
    if db.session.scalar(select(TimeEntry.id).where(TimeEntry.corrects_entry_id == entry.id).limit(1)):
        raise Conflict(_l("This entry has corrections; delete them first."), code="has_corrections")
    audit.record("delete", object_type="time_entry", object_id=entry.id, actor=actor, label=_label(entry),
                 council_id=entry.council_id, changes=audit.diff(_snapshot(entry), {}))
    db.session.delete(entry)
    db.session.commit()


def _check_correction_totals(original: TimeEntry, minutes: int, travel: int, errors: dict,
                             exclude_id: int | None = None) -> None:
    """A correction can take away at most what the original and its corrections add up to."""
    stmt = select(func.coalesce(func.sum(TimeEntry.minutes), 0), func.coalesce(func.sum(TimeEntry.travel_minutes), 0)
                  ).where(TimeEntry.corrects_entry_id == original.id)
    if exclude_id is not None:
        stmt = stmt.where(TimeEntry.id != exclude_id)
    corrected_minutes, corrected_travel = db.session.execute(stmt).one()
    total = original.minutes + int(corrected_minutes)
    if total + minutes < 0:
        errors["minutes"] = _l("A correction cannot take away more than the %(total)s minutes logged.", total=total)
    travel_total = original.travel_minutes + int(corrected_travel)
    if travel_total + travel < 0:
        errors["travel_minutes"] = _l("A correction cannot take away more than the %(total)s minutes of travel logged.",
                                      total=travel_total)
    if minutes == 0 and travel == 0:
        errors["minutes"] = _l("A correction must change the time or the travel.")


def create_correction(original: TimeEntry, values: dict, *, actor: User | None,
                      today: dt.date | None = None) -> TimeEntry:
    """Correct an entry of a closed month with a new entry in an open month.

    `values`: minutes (signed change), travel_minutes (signed change, on-site only),
    description (why), date (default today; must fall in an open month of an agreement).
    The correction counts in its own month; the closed month keeps its figures.
    """
    if actor is not None and not can_edit(actor, original):
        raise PermissionDenied(_l("Only the author or a manager can correct this entry."))
    if original.is_correction:
        message = _l("Correct the original entry, not a correction.")
        raise ValidationFailed(message, fields={"corrects_entry_id": message})
    values = {"travel_minutes": 0, "date": today or office_today(), **values}
    data, errors = _clean_entry({k: values.get(k) for k in ("date", "minutes", "travel_minutes", "description")},
                                correction=True)
    if not data.get("description") and "description" not in errors:
        errors["description"] = _l("Say what is being corrected and why.")
    if "minutes" not in errors and "travel_minutes" not in errors:
        _travel_rule(original.mode, data["travel_minutes"], errors)
        if "travel_minutes" not in errors:
            _check_correction_totals(original, data["minutes"], data["travel_minutes"], errors)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    lock_council(original.council_id, exclusive=False)
    if month_is_open(original.council_id, original.month):
        raise Conflict(_l("The entry's month is still open: change the entry itself."), code="month_open")
    _check_writable(original.council_id, data["date"])
    entry = TimeEntry(council_id=original.council_id, technician_id=original.technician_id, date=data["date"],
                      month=month_start(data["date"]), minutes=data["minutes"], mode=original.mode,
                      description=data["description"], travel_minutes=data["travel_minutes"],
                      corrects_entry_id=original.id, created_by_id=actor.id if actor is not None else None)
    db.session.add(entry)
    db.session.flush()
    audit.record("correct", object_type="time_entry", object_id=entry.id, actor=actor,
                 label=_label(entry), council_id=entry.council_id,
                 changes=audit.diff({}, _snapshot(entry)))
    db.session.commit()
    _after_write([(entry.council_id, entry.month)])
    return entry


def _after_write(council_months: Iterable[tuple[int, dt.date]]) -> None:
    """Evaluate the thresholds of the months a committed write touched.

    A failure here must not undo or hide the entry that was saved; the next write of that
    month (or `flask hours thresholds`) evaluates it again, since evaluation looks at the
    month's totals, not at this one entry.
    """
    from support.jobs import evaluate_thresholds

    for council_id, month in dict.fromkeys(council_months):
        try:
            evaluate_thresholds(council_id, month)
        except Exception:
            log.exception("evaluating the allowance thresholds of council %s, %s failed", council_id, month)


# =========================================================================================
# Tickets
# =========================================================================================
#
# Every write follows the same order: check, lock what must not race (the council's counter
# row for a new number), write the ticket and its history, recompute the stored SLA fields,
# claim breaches, audit, queue notifications, commit. Notifications are rows (in-app, and
# mail through the outbox) in the same transaction, so a rolled-back change mails nobody.

TICKET_TITLE_MAX = 200
TICKET_TEXT_MAX = 20000
RATING_COMMENT_MAX = 2000
STAFF_ROLES = ("admin", "manager", "technician")
# The moves the contract allows; anything else is 409 invalid_transition.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("assigned",),
    "assigned": ("in_progress",),
    "in_progress": ("waiting_council", "resolved"),
    "waiting_council": ("in_progress", "resolved"),
    "resolved": ("closed", "in_progress"),
    "closed": (),
}
# A clerk answers the office's "is it solved?": confirm (closed) or not yet (reopened).
CLERK_TRANSITIONS = {("resolved", "closed"), ("resolved", "in_progress")}
# Stand-ins for "no deadline" in the queue's sort key: paused tickets after every ticket
# that has one (oldest first), finished tickets after those (newest first). Each ticket gets
# an instant of its own, its id in seconds from the stand-in (2**31 seconds are 68 years, so
# the ranges never meet): SQLite seeks a keyset page on the first column of (queue_at, id)
# only, and a million finished tickets sharing one instant made a page deep among them scan
# everything before it. The ranges also say what a ticket is: `queue_at < QUEUE_DONE` is
# "not solved", which bounds the queue's index scans to the open tickets.
QUEUE_PAUSED = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
QUEUE_DONE = dt.datetime(9900, 1, 1, tzinfo=dt.UTC)
_QUEUE_DONE_END = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def queue_stand_in(state: str, ticket_id: int | None) -> dt.datetime:
    """The queue's sort key of a paused ("paused") or finished ("stopped") ticket."""
    seconds = dt.timedelta(seconds=ticket_id or 0)
    return QUEUE_PAUSED + seconds if state == "paused" else _QUEUE_DONE_END - seconds


def ticket_status_labels() -> dict[str, str]:
    """The office's words for statuses.

    With a context: a status names one ticket ("incidència", feminine in Catalan), where the
    same English word elsewhere counts months or tickets ("Closed": "Tancats", "Resolved":
    "Resoltes"). Built at call time, in the reader's language.
    """
    return {"new": pgettext("ticket status", "New"), "assigned": pgettext("ticket status", "Assigned"),
            "in_progress": pgettext("ticket status", "In progress"),
            "waiting_council": pgettext("ticket status", "Waiting for the council"),
            "resolved": pgettext("ticket status", "Resolved"), "closed": pgettext("ticket status", "Closed")}


def clerk_status_labels() -> dict[str, str]:
    """What a clerk reads: where their request stands, in everyday words."""
    return {"new": pgettext("ticket status", "Received"),
            "assigned": pgettext("ticket status", "A technician has it"),
            "in_progress": pgettext("ticket status", "We're on it"),
            "waiting_council": pgettext("ticket status", "Waiting for you"),
            "resolved": pgettext("ticket status", "Solved — please confirm"),
            "closed": pgettext("ticket status", "Closed")}


def priority_labels() -> dict[str, str]:
    return {"low": pgettext("ticket priority", "Low"), "normal": pgettext("ticket priority", "Normal"),
            "high": pgettext("ticket priority", "High"), "urgent": pgettext("ticket priority", "Urgent")}


def urgency_labels() -> dict[str, object]:
    """How urgent, as a clerk would say it; each maps to a priority."""
    return {"low": _l("It can wait a few days"),
            "normal": _l("It bothers us, but we can keep working"),
            "high": _l("Someone cannot do their work"),
            "urgent": _l("The town hall is stopped, or a deadline ends today")}


def category_labels() -> dict[str, object]:
    return {"hardware": _l("Equipment (PC, printer, scanner…)"), "software": _l("Programs"),
            "network": _l("Internet and network"), "e_administration": _l("E-administration and certificates"),
            "transparency_portal": _l("Transparency portal"), "accounts": _l("Users and passwords"),
            "other": _l("Something else")}


def channel_labels() -> dict[str, object]:
    return {"web": _l("Web"), "phone": _l("Phone"), "email": _l("Email"), "chat": _l("Chat"),
            "whatsapp": _l("WhatsApp"), "monitoring": _l("Monitoring")}


def sla_state_labels() -> dict[str, str]:
    """How a ticket's deadline stands (a "termini": masculine in Catalan, hence the context)."""
    return {"ok": pgettext("ticket deadline", "On time"), "warning": pgettext("ticket deadline", "Due soon"),
            "breached": pgettext("ticket deadline", "Overdue"), "paused": pgettext("ticket deadline", "Paused"),
            "stopped": pgettext("ticket deadline", "Done")}


# --- SLA: configuration and the stored fields -------------------------------------------------

@dataclass(frozen=True)
class SlaConfig:
    targets: dict
    # The same targets cut to the warning share: their "due" instant is when a clock turns
    # to warning, which is when the stored state must next be refreshed.
    warning_targets: dict
    warning_percent: int


def sla_config() -> SlaConfig:
    """Targets from SLA_TARGETS over support.sla's defaults, validated once per configuration."""
    import math

    from support.sla import SlaTarget, sla_targets

    cfg = current_app.config
    key = (repr(cfg.get("SLA_TARGETS") or {}), int(cfg.get("SLA_WARNING_PERCENT", 75)))
    cache = current_app.extensions.setdefault("councildesk_sla_config", {})
    config = cache.get(key)
    if config is None:
        targets = sla_targets(cfg.get("SLA_TARGETS") or {})
        percent = key[1]
        warning = {p: SlaTarget(max(1, math.ceil(t.first_response_minutes * percent / 100)),
                                max(1, math.ceil(t.resolution_minutes * percent / 100))) for p, t in targets.items()}
        config = cache[key] = SlaConfig(targets, warning, percent)
    return config


def status_events(ticket_ids: Iterable[int]) -> dict[int, list[tuple[dt.datetime, str]]]:
    """The status history of some tickets, as support.sla wants it: (instant, status)."""
    from support.models import TicketChange

    ids = list(set(ticket_ids))
    out: dict[int, list[tuple[dt.datetime, str]]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = db.session.execute(select(TicketChange.ticket_id, TicketChange.at, TicketChange.new_value)
                                  .where(TicketChange.ticket_id.in_(chunk), TicketChange.field == "status")
                                  .order_by(TicketChange.id))
        for ticket_id, at, status in rows:
            out[ticket_id].append((at, status))
    return out


def evaluate_sla(ticket, events: list[tuple[dt.datetime, str]], now: dt.datetime):
    """Both clocks of a ticket as of `now` (support.sla.ticket_sla on the office calendar)."""
    from support.sla import ticket_sla

    config = sla_config()
    return ticket_sla(office_calendar(), created_at=ticket.created_at, priority=ticket.priority, events=events,
                      now=now, first_response_at=ticket.first_response_at, targets=config.targets,
                      warning_percent=config.warning_percent)


def apply_sla(ticket, events: list[tuple[dt.datetime, str]], now: dt.datetime) -> list[str]:
    """Store the SLA as of `now` on the ticket; returns the clocks found breached."""
    from support.sla import ClockPhase, ClockState, ticket_sla

    config = sla_config()
    sla = evaluate_sla(ticket, events, now)
    first, resolution = sla.first_response, sla.resolution
    ticket.first_response_due_at = first.due_at
    ticket.resolution_due_at = resolution.due_at
    ticket.first_response_breached = first.breached
    ticket.resolution_breached = resolution.breached
    running = [c for c in (first, resolution) if c.phase is ClockPhase.RUNNING]
    if resolution.phase is ClockPhase.STOPPED:
        state, queue_at = "stopped", queue_stand_in("stopped", getattr(ticket, "id", None))
    elif not running:
        state, queue_at = "paused", queue_stand_in("paused", getattr(ticket, "id", None))
    else:
        pending = first if first.phase is ClockPhase.RUNNING else resolution
        states = {c.state for c in running}
        state = ("breached" if ClockState.BREACHED in states
                 else "warning" if ClockState.WARNING in states else "ok")
        queue_at = pending.due_at
    # When the stored values next change with nobody touching the ticket: a running clock
    # reaching its warning share, or running past its due instant (breached just after it).
    upcoming = []
    if running:
        warning = ticket_sla(office_calendar(), created_at=ticket.created_at, priority=ticket.priority,
                             events=events, now=now, first_response_at=ticket.first_response_at,
                             targets=config.warning_targets, warning_percent=config.warning_percent)
        for clock, early in ((first, warning.first_response), (resolution, warning.resolution)):
            if clock.phase is not ClockPhase.RUNNING:
                continue
            if not clock.breached and clock.due_at is not None:
                upcoming.append(clock.due_at + dt.timedelta(seconds=1))
            if clock.state is ClockState.OK and early.due_at is not None and early.due_at > now:
                upcoming.append(early.due_at)
    ticket.sla_state = state
    ticket.queue_at = queue_at
    ticket.sla_next_at = min(upcoming) if upcoming else None
    return [kind for kind, clock in (("first_response", first), ("resolution", resolution)) if clock.breached]


def _claim_breaches(ticket, kinds: list[str], now: dt.datetime) -> list[str]:
    """Record each breach once (the unique key decides who records it) and announce it."""
    from support import notifications
    from support.models import TicketSlaBreach

    announced = []
    for kind in kinds:
        due = ticket.first_response_due_at if kind == "first_response" else ticket.resolution_due_at
        claimed = insert_ignoring(TicketSlaBreach, {
            "ticket_id": ticket.id, "council_id": ticket.council_id, "kind": kind, "due_at": due,
            "detected_at": now}, ["ticket_id", "kind"], returning=TicketSlaBreach.id)
        if claimed is not None:
            notifications.sla_breached(ticket, kind)
            announced.append(kind)
    return announced


def refresh_sla(ticket, now: dt.datetime, events: list[tuple[dt.datetime, str]] | None = None) -> list[str]:
    """Recompute and store a ticket's SLA, and announce new breaches (in the caller's transaction)."""
    db.session.flush()
    if events is None:
        events = status_events([ticket.id])[ticket.id]
    return _claim_breaches(ticket, apply_sla(ticket, events, now), now)


# --- reading ----------------------------------------------------------------------------------

def get_ticket(ticket_id: int):
    """Through the scoped query layer: another council's ticket does not exist for a clerk."""
    from support.models import Ticket

    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or not 1 <= ticket_id <= 2**31 - 1:
        raise NotFound()
    ticket = db.session.scalar(select(Ticket).where(Ticket.id == ticket_id))
    if ticket is None:
        raise NotFound()
    return ticket


@dataclass
class TicketFilters:
    """What the queue (and GET /tickets) narrows by. `status`: one status, "open" (not
    resolved or closed), "active" (not closed) or None for all."""

    council_id: int | None = None
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    sla: str | None = None
    asset_id: int | None = None
    q: str | None = None


def ticket_query(filters: TicketFilters, *, include_internal: bool):
    """The statement behind the queue, the clerks' list and the API list (no ORDER BY).

    Never filters by the reader's council: the scope does that for clerks. `include_internal`
    lets the text search look into internal notes (office staff only).
    """
    from support import search
    from support.models import OPEN_STATUSES, PRIORITIES, TICKET_STATUSES, Ticket

    stmt = select(Ticket)
    f = filters
    if f.council_id is not None:
        stmt = stmt.where(Ticket.council_id == f.council_id)
    if f.status == "open":
        stmt = stmt.where(Ticket.status.in_(OPEN_STATUSES))
    elif f.status == "active":
        stmt = stmt.where(Ticket.status != "closed")
    elif f.status in TICKET_STATUSES:
        stmt = stmt.where(Ticket.status == f.status)
    if f.status in ("open", *TICKET_STATUSES) and db.session.get_bind().dialect.name == "sqlite":
        # Open tickets sort before QUEUE_DONE and solved ones after (see QUEUE_DONE). Saying
        # so next to the status gives SQLite a range of the queue's indexes to read, which ends
        # with the open tickets instead of walking a million solved ones when fewer than a page
        # match. Not on PostgreSQL: its planner would take the two conditions for independent
        # and expect fifty times fewer open tickets than there are (bench/ticket_queue.py saw
        # a search among open tickets go from 11 to 190 ms); its status index does the job.
        stmt = stmt.where(Ticket.queue_at < QUEUE_DONE if f.status == "open" or f.status in OPEN_STATUSES
                          else Ticket.queue_at >= QUEUE_DONE)
    if f.priority in PRIORITIES:
        stmt = stmt.where(Ticket.priority == f.priority)
    if f.category is not None:
        stmt = stmt.where(Ticket.category == f.category)
    if f.unassigned:
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif f.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == f.assignee_id)
    if f.sla == "breached":
        stmt = stmt.where((Ticket.sla_state == "breached") | Ticket.first_response_breached
                          | Ticket.resolution_breached)
    elif f.sla in ("ok", "warning", "paused"):
        stmt = stmt.where(Ticket.sla_state == f.sla)
    if f.asset_id is not None:
        stmt = stmt.where(Ticket.asset_id == f.asset_id)
    if f.q:
        reference = f.q.strip().upper()
        if _REFERENCE.fullmatch(reference):
            stmt = stmt.where(Ticket.reference == reference)
        else:
            # Reading the queue's index in order (the search's fast path for common words)
            # is bounded when only open tickets are asked for, or when every other filter is
            # a column of one of the queue's indexes (council, assignee, category). Priority,
            # SLA state and asset are read from the rows: over every status, a common word
            # could match page after page of tickets such a filter then drops, so the search
            # starts from the matches instead.
            bounded = f.status == "open" or f.status in OPEN_STATUSES
            walk = bounded or not (f.priority or f.sla or f.asset_id is not None)
            criterion = search.match_criterion(f.q, include_internal=include_internal, walk_index=walk)
            if criterion is not None:
                stmt = stmt.where(criterion)
    return stmt


def comments_of(ticket) -> list:
    """The replies of a ticket, oldest first (a clerk's query never returns internal notes)."""
    from sqlalchemy.orm import selectinload

    from support.models import TicketComment

    return list(db.session.scalars(select(TicketComment).where(TicketComment.ticket_id == ticket.id)
                                   .options(selectinload(TicketComment.author))
                                   .order_by(TicketComment.created_at, TicketComment.id)))


def _part_of(ticket, model, part_id: int):
    """A comment or attachment of this ticket; another ticket's is not found."""
    part = db.session.scalar(select(model).where(model.id == part_id, model.ticket_id == ticket.id))
    if part is None:
        raise NotFound()
    return part


def get_comment(ticket, comment_id: int):
    from support.models import TicketComment

    return _part_of(ticket, TicketComment, comment_id)


def attachments_of(ticket) -> list:
    from support.models import TicketAttachment

    return list(db.session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)
                                   .order_by(TicketAttachment.id)))


def get_attachment(ticket, attachment_id: int):
    from support.models import TicketAttachment

    return _part_of(ticket, TicketAttachment, attachment_id)


def history_of(ticket) -> list:
    from sqlalchemy.orm import selectinload

    from support.models import TicketChange

    return list(db.session.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket.id)
                                   .options(selectinload(TicketChange.actor)).order_by(TicketChange.id)))


def time_entries_of(ticket) -> list[TimeEntry]:
    return list(db.session.scalars(select(TimeEntry).where(TimeEntry.ticket_id == ticket.id)
                                   .order_by(TimeEntry.date, TimeEntry.id)))


def time_totals(ticket_ids: Iterable[int]) -> dict[int, int]:
    """Minutes logged on each ticket (corrections included): one GROUP BY."""
    ids = list(set(ticket_ids))
    if not ids:
        return {}
    rows = db.session.execute(select(TimeEntry.ticket_id, func.sum(TimeEntry.minutes))
                              .where(TimeEntry.ticket_id.in_(ids)).group_by(TimeEntry.ticket_id))
    return {ticket_id: int(total or 0) for ticket_id, total in rows}


def rating_of(ticket):
    from support.models import TicketRating

    return db.session.scalar(select(TicketRating).where(TicketRating.ticket_id == ticket.id))


def ratings_of(ticket_ids: Iterable[int]) -> dict:
    from support.models import TicketRating

    ids = list(set(ticket_ids))
    if not ids:
        return {}
    return {r.ticket_id: r for r in db.session.scalars(select(TicketRating).where(TicketRating.ticket_id.in_(ids)))}


def assignable_users() -> list[User]:
    """Who a ticket can be assigned to: active office staff, by name."""
    return staff_users()


def council_clerks(council_id: int) -> list[User]:
    return list(db.session.scalars(select(User).where(User.council_id == council_id, User.role == "clerk",
                                                      User.active.is_(True)).order_by(User.name)))


def can_reopen(ticket, now: dt.datetime | None = None) -> bool:
    """A resolved ticket is reopened (resolved → in progress) until the job closes it."""
    return ticket.status == "resolved"


def council_summary(council_id: int) -> dict:
    """Open tickets of a council by how their SLA stands (the council page's panel)."""
    from support.models import OPEN_STATUSES, Ticket

    rows = db.session.execute(select(Ticket.sla_state, func.count()).where(
        Ticket.council_id == council_id, Ticket.status.in_(OPEN_STATUSES)).group_by(Ticket.sla_state))
    counts = {state: int(n) for state, n in rows}
    waiting = db.session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.council_id == council_id, Ticket.status == "resolved")) or 0
    return {"open": sum(counts.values()), "by_state": counts, "to_confirm": int(waiting)}


# --- writing: helpers ---------------------------------------------------------------------------

_REFERENCE = re.compile(r"[A-Z0-9]{2,8}-\d{4}-\d{4,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def insert_ignoring(model, values: dict, keys: list[str], returning=None):
    """INSERT ... ON CONFLICT (keys) DO NOTHING; with `returning`, that column of the new row,
    or None when the row existed. The database decides atomically who inserted."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    if returning is None:
        db.session.execute(stmt)
        return None
    return db.session.execute(stmt.returning(returning)).scalar()


def _clean_text(values: dict, key: str, errors: dict, *, limit: int, required: bool, one_line: bool = False,
                required_message=None) -> str | None:
    value = values.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[key] = _l("Must be text.")
        return None
    if _CONTROL.search(value):
        errors[key] = _l("Contains control characters.")
        return None
    value = " ".join(value.split()) if one_line else value.replace("\r\n", "\n").strip()
    if required and not value:
        errors[key] = required_message or _l("This field is required.")
        return None
    if len(value) > limit:
        errors[key] = _l("Too long: at most %(n)d characters.", n=limit)
        return None
    return value


def _choice(values: dict, key: str, allowed: tuple[str, ...], errors: dict, message) -> str | None:
    value = values.get(key)
    if value not in allowed:
        errors[key] = message
        return None
    return value


def _is_staff(user: User | None) -> bool:
    return user is not None and user.role in STAFF_ROLES


def _staff_user(user_id, errors: dict, field: str = "assignee_id") -> User | None:
    if user_id is None:
        return None
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not 1 <= user_id <= 2**31 - 1:
        errors[field] = _l("Choose an active member of the office staff.")
        return None
    user = db.session.scalar(select(User).where(User.id == user_id))
    if user is None or user.role not in STAFF_ROLES or not user.active:
        errors[field] = _l("Choose an active member of the office staff.")
        return None
    return user


def office_year(instant: dt.datetime) -> int:
    """The year of an instant on the office's clock (a ticket opened at 00:30 on 1 January
    in Madrid belongs to the new year, although it is still 31 December in UTC)."""
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).year


def next_ticket_number(council_id: int, year: int) -> int:
    """The next number of a council's year, taken inside the caller's transaction.

    The counter row is created if missing (ON CONFLICT DO NOTHING: two first tickets of a year
    at once do not clash) and incremented with one atomic UPDATE ... RETURNING, whose row lock
    (PostgreSQL) or whose write transaction (SQLite) lasts until the caller commits: numbers
    are handed out one at a time, and a rollback gives the number back.
    """
    from sqlalchemy import update

    from support.models import TicketCounter

    insert_ignoring(TicketCounter, {"council_id": council_id, "year": year, "last": 0}, ["council_id", "year"])
    return db.session.execute(update(TicketCounter)
                              .where(TicketCounter.council_id == council_id, TicketCounter.year == year)
                              .values(last=TicketCounter.last + 1).returning(TicketCounter.last)).scalar_one()


def _record_change(ticket, field: str, old, new, actor: User | None, now: dt.datetime) -> None:
    from support.models import TicketChange

    db.session.add(TicketChange(ticket_id=ticket.id, council_id=ticket.council_id, at=now,
                                actor_id=actor.id if actor is not None else None, field=field,
                                old_value=None if old is None else str(old),
                                new_value=None if new is None else str(new)))


def _set_status(ticket, status: str, actor: User | None, now: dt.datetime) -> None:
    """Move a ticket (the move has been checked) and keep the timestamps that go with it."""
    old = ticket.status
    ticket.status = status
    _record_change(ticket, "status", old, status, actor, now)
    if status == "resolved":
        ticket.resolved_at = now
    elif status == "closed":
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif old == "resolved":
        ticket.resolved_at = None  # reopened: the 15 days start again at the next resolution
    if status in ("resolved", "closed"):
        ticket.open_monitoring_key = None
    elif ticket.monitoring_key and ticket.open_monitoring_key is None:
        _retake_monitoring_key(ticket)


def _retake_monitoring_key(ticket) -> None:
    """A reopened monitoring ticket is again the open one of its alert, unless another ticket
    was opened for that alert meanwhile."""
    from support.models import Ticket

    taken = db.session.scalar(select(Ticket.id).where(Ticket.open_monitoring_key == ticket.monitoring_key))
    if taken is None:
        ticket.open_monitoring_key = ticket.monitoring_key


def _invalid_transition(old: str, new: str) -> Conflict:
    labels = ticket_status_labels()
    message = _l("A ticket cannot go from “%(old)s” to “%(new)s”.", old=labels.get(old, old), new=labels.get(new, new))
    return Conflict(message, code="invalid_transition", fields={"status": message})


def _audit_ticket(action: str, ticket, actor: User | None, changes: dict) -> None:
    audit.record(action, object_type="ticket", object_id=ticket.id, actor=actor,
                 label=f"{ticket.reference} {ticket.title}", council_id=ticket.council_id, changes=changes)


# --- writing: tickets -----------------------------------------------------------------------------

def create_ticket(council: Council, values: dict, *, actor: User | None, now: dt.datetime | None = None,
                  files: Iterable[tuple[str, bytes]] = (), commit: bool = True):
    """Open a ticket for `council`.

    `values`: title, description, priority, category, channel, asset_id, requester_id,
    related_ticket_id. A clerk's ticket comes from the web and is theirs; office staff may
    say on whose behalf (a clerk of the council) and by which channel. `files`:
    (file name, bytes) to attach. `actor` None is the system (monitoring).
    """
    from support import attachments as files_module
    from support import notifications, search
    from support.models import CATEGORIES, CHANNELS, PRIORITIES, Ticket

    now = now or utcnow()
    errors: dict[str, object] = {}
    title = _clean_text(values, "title", errors, limit=TICKET_TITLE_MAX, required=True, one_line=True,
                        required_message=_l("Say in a few words what happened."))
    description = _clean_text(values, "description", errors, limit=TICKET_TEXT_MAX, required=False)
    priority = _choice({"priority": values.get("priority") or "normal"}, "priority", PRIORITIES, errors,
                       _l("Choose how urgent it is."))
    category = _choice({"category": values.get("category") or "other"}, "category", CATEGORIES, errors,
                       _l("Choose what it is about."))
    clerk = actor is not None and actor.role == "clerk"
    channel = "web" if clerk else _choice({"channel": values.get("channel") or "web"}, "channel", CHANNELS,
                                          errors, _l("Choose how the request came in."))
    requester = actor if clerk else None
    if not clerk and values.get("requester_id") is not None:
        requester_id = values["requester_id"]
        requester = None
        if isinstance(requester_id, int) and not isinstance(requester_id, bool) and 1 <= requester_id <= 2**31 - 1:
            requester = db.session.scalar(select(User).where(User.id == requester_id))
        if requester is None or requester.council_id != council.id or not requester.active:
            errors["requester_id"] = _l("Choose a person of this council.")
            requester = None
    asset_id = values.get("asset_id")
    if asset_id is not None:
        _check_asset(council, asset_id, errors)
    related_id = values.get("related_ticket_id")
    if related_id is not None:
        related = None
        if isinstance(related_id, int) and not isinstance(related_id, bool) and 1 <= related_id <= 2**31 - 1:
            related = db.session.scalar(select(Ticket).where(Ticket.id == related_id))
        if related is None or related.council_id != council.id:
            errors["related_ticket_id"] = _l("Unknown ticket.")
    checked = []
    for name, data in files:
        try:
            checked.append((files_module.check(data, name), data))
        except files_module.Refused as exc:
            errors["attachment"] = attachment_message(exc.reason)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    if not council.active and actor is not None:
        raise Conflict(_l("The office no longer serves this council."), code="council_inactive")

    year = office_year(now)
    number = next_ticket_number(council.id, year)
    ticket = Ticket(council_id=council.id, reference=f"{council.code}-{year}-{number:04d}", year=year,
                    number=number, title=title, description=description or "", status="new", priority=priority,
                    category=category, channel=channel, requester_id=requester.id if requester else None,
                    created_by_id=actor.id if actor is not None else None, asset_id=asset_id,
                    related_ticket_id=related_id, monitoring_key=values.get("monitoring_key"),
                    open_monitoring_key=values.get("monitoring_key"), created_at=now, updated_at=now,
                    queue_at=now)
    db.session.add(ticket)
    db.session.flush()
    _record_change(ticket, "status", None, "new", actor, now)
    search.index_ticket(ticket)
    refresh_sla(ticket, now, [(now, "new")])
    stored = _store_files(ticket, checked, actor, comment=None, now=now)
    _audit_ticket("create", ticket, actor, audit.diff({}, audit.snapshot(ticket, (
        "reference", "title", "priority", "category", "channel", "requester_id", "asset_id"))))
    notifications.ticket_opened(ticket, actor)
    if commit:
        _commit_or_discard(stored)
    return ticket


def _check_asset(council: Council, asset_id, errors: dict) -> None:
    from inventory import services as inventory

    if isinstance(asset_id, bool) or not isinstance(asset_id, int):
        errors["asset_id"] = _l("Unknown equipment.")
        return
    try:
        inventory.get_asset_in_council(council.id, asset_id)
    except NotFound:
        errors["asset_id"] = _l("Unknown equipment.")
    except ValidationFailed as exc:
        errors.update(exc.fields)


def attachment_message(reason: str):
    if reason == "empty":
        return _l("The file is empty.")
    if reason == "too_large":
        return _l("Files can be up to 10 MB.")
    return _l("This kind of file cannot be attached. Send a PDF, an image (PNG, JPEG, GIF, WebP), "
              "a text or CSV file, a Word, Excel or LibreOffice document, or a mail (.eml).")


def _store_files(ticket, checked, actor: User | None, *, comment, now: dt.datetime) -> list[str]:
    from support import attachments as files_module
    from support.models import TicketAttachment

    stored: list[str] = []
    try:
        for detected, data in checked:
            name, digest = files_module.store(data)
            stored.append(name)
            db.session.add(TicketAttachment(
                ticket_id=ticket.id, council_id=ticket.council_id, comment_id=comment.id if comment else None,
                internal=bool(comment is not None and comment.internal), filename=detected.filename,
                content_type=detected.content_type, size=len(data), sha256=digest, storage_name=name,
                uploaded_by_id=actor.id if actor is not None else None, created_at=now))
        db.session.flush()
    except BaseException:
        for name in stored:
            files_module.discard(name)
        raise
    return stored


def _commit_or_discard(stored: list[str]) -> None:
    """Commit; if that fails, the files written for it go too (no orphans on disk)."""
    from support import attachments as files_module

    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for name in stored:
            files_module.discard(name)
        raise


def change_ticket(ticket, values: dict, *, actor: User | None, now: dt.datetime | None = None,
                  commit: bool = True):
    """Change any of status, assignee_id, priority and category (the keys present).

    Setting an assignee on a new ticket moves it to assigned; the status move asked for, if
    any, is then checked from there. A clerk may only answer a resolved ticket: confirm it
    (closed) or say it is not solved (in progress again).
    """
    from support import notifications
    from support.models import CATEGORIES, PRIORITIES, TICKET_STATUSES

    now = now or utcnow()
    values = {k: v for k, v in values.items() if k in ("status", "assignee_id", "priority", "category")}
    if actor is not None and actor.role == "clerk" and values:
        answers = {target for _source, target in CLERK_TRANSITIONS}
        if set(values) - {"status"} or values.get("status") not in answers:
            raise PermissionDenied(_l("Only the office changes this. You can confirm a solved request, "
                                      "or tell us it is not solved yet."))
        if (ticket.status, values["status"]) not in CLERK_TRANSITIONS and values["status"] != ticket.status:
            # A move the clerk may make, but not from here (a closed ticket is not reopened).
            raise _invalid_transition(ticket.status, values["status"])
    errors: dict[str, object] = {}
    if "status" in values:
        _choice(values, "status", TICKET_STATUSES, errors, _l("Not one of the allowed values."))
    if "priority" in values:
        _choice(values, "priority", PRIORITIES, errors, _l("Not one of the allowed values."))
    if "category" in values:
        _choice(values, "category", CATEGORIES, errors, _l("Not one of the allowed values."))
    assignee = _staff_user(values.get("assignee_id"), errors) if "assignee_id" in values else None
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)

    before = audit.snapshot(ticket, ("status", "assignee_id", "priority", "category"))
    status_before = ticket.status
    if "assignee_id" in values and values["assignee_id"] != ticket.assignee_id:
        if ticket.status == "closed":
            raise Conflict(_l("This ticket is closed."), code="ticket_closed")
        _record_change(ticket, "assignee", ticket.assignee_id, values["assignee_id"], actor, now)
        ticket.assignee_id = values["assignee_id"]
        ticket.assignee = assignee
        if ticket.status == "new" and assignee is not None:
            _set_status(ticket, "assigned", actor, now)
    target = values.get("status")
    if target is not None and target != ticket.status:
        if target not in TRANSITIONS[ticket.status]:
            raise _invalid_transition(ticket.status, target)
        _set_status(ticket, target, actor, now)
    for field in ("priority", "category"):
        if field in values and values[field] != getattr(ticket, field):
            if ticket.status == "closed":
                raise Conflict(_l("This ticket is closed."), code="ticket_closed")
            _record_change(ticket, field, getattr(ticket, field), values[field], actor, now)
            setattr(ticket, field, values[field])
    changes = audit.diff(before, audit.snapshot(ticket, ("status", "assignee_id", "priority", "category")))
    if changes:
        ticket.updated_at = now
        refresh_sla(ticket, now)
        _audit_ticket("update", ticket, actor, changes)
        if ticket.status != status_before:
            notifications.status_changed(ticket, status_before, actor)
        if "assignee_id" in changes and assignee is not None:
            notifications.assigned(ticket, assignee, actor)
    if commit:
        db.session.commit()
    return ticket


def add_comment(ticket, body: str, *, internal: bool, actor: User | None, now: dt.datetime | None = None,
                files: Iterable[tuple[str, bytes]] = (), commit: bool = True):
    """A reply (public) or a note for the office (internal), with optional files.

    Clerks cannot write internal notes (403). A public reply of the office is the first
    response if none came before, and starts the work on an assigned ticket (in progress);
    a clerk's reply on a ticket waiting for the council gives it back to the office.
    """
    from support import attachments as files_module
    from support import notifications, search
    from support.models import TicketComment

    now = now or utcnow()
    clerk = actor is not None and actor.role == "clerk"
    if internal and (clerk or actor is None):
        raise PermissionDenied(_l("Internal notes are for the office."))
    errors: dict[str, object] = {}
    text = _clean_text({"body": body}, "body", errors, limit=TICKET_TEXT_MAX, required=True,
                       required_message=_l("Write your reply."))
    checked = []
    for name, data in files:
        try:
            checked.append((files_module.check(data, name), data))
        except files_module.Refused as exc:
            errors["attachment"] = attachment_message(exc.reason)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    if clerk and ticket.status == "closed":
        raise Conflict(_l("This request is closed. If the problem is back, open a new request about it."),
                       code="ticket_closed")

    comment = TicketComment(ticket_id=ticket.id, council_id=ticket.council_id, author_id=actor.id if actor else None,
                            body=text, internal=bool(internal), created_at=now)
    db.session.add(comment)
    db.session.flush()
    search.index_comment(ticket.id, text, internal=bool(internal))
    changed = False
    if not internal and _is_staff(actor):
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            changed = True
        if ticket.status == "assigned":
            _set_status(ticket, "in_progress", actor, now)
            changed = True
    elif clerk and ticket.status == "waiting_council":
        _set_status(ticket, "in_progress", actor, now)
        changed = True
    ticket.updated_at = now
    if changed:
        refresh_sla(ticket, now)
    stored = _store_files(ticket, checked, actor, comment=comment, now=now)
    audit.record("comment", object_type="ticket", object_id=ticket.id, actor=actor,
                 label=f"{ticket.reference} {ticket.title}",
                 # An internal note's trace stays with the office: no council, so no clerk query reaches it.
                 council_id=None if internal else ticket.council_id,
                 changes={"comment_id": comment.id, "internal": bool(internal)})
    # One message per event: the reply itself says the work has started (or that the council
    # answered), so the status move it caused is not announced separately.
    notifications.commented(ticket, comment, actor)
    if commit:
        _commit_or_discard(stored)
    return comment


def add_attachment(ticket, filename: str, data: bytes, *, actor: User | None, internal: bool = False,
                   comment=None, now: dt.datetime | None = None):
    """Attach a file to a ticket (or to one of its comments, taking its visibility)."""
    from support import attachments as files_module

    now = now or utcnow()
    if internal and (actor is None or actor.role == "clerk"):
        raise PermissionDenied(_l("Internal notes are for the office."))
    if actor is not None and actor.role == "clerk" and ticket.status == "closed":
        raise Conflict(_l("This request is closed. If the problem is back, open a new request about it."),
                       code="ticket_closed")
    try:
        detected = files_module.check(data, filename)
    except files_module.Refused as exc:
        message = attachment_message(exc.reason)
        raise ValidationFailed(message, fields={"file": message}) from None
    if comment is None and internal:
        from support.models import TicketComment

        # A file for the office only rides on an internal note, which is what hides it.
        comment = TicketComment(ticket_id=ticket.id, council_id=ticket.council_id, author_id=actor.id,
                                body=detected.filename, internal=True, created_at=now)
        db.session.add(comment)
        db.session.flush()
    stored = _store_files(ticket, [(detected, data)], actor, comment=comment, now=now)
    ticket.updated_at = now
    from support.models import TicketAttachment

    attachment = db.session.scalar(select(TicketAttachment).where(TicketAttachment.storage_name == stored[0]))
    _commit_or_discard(stored)
    return attachment


def rate_ticket(ticket, score, comment: str | None, *, actor: User, now: dt.datetime | None = None):
    """A clerk of the ticket's council rates the help on a resolved or closed ticket, once."""
    from sqlalchemy.exc import IntegrityError

    from support.models import TicketRating

    now = now or utcnow()
    if actor.role != "clerk" or actor.council_id != ticket.council_id:
        raise PermissionDenied(_l("The council that asked for help rates it."))
    errors: dict[str, object] = {}
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        errors["score"] = _l("Choose from 1 to 5.")
    text = _clean_text({"comment": comment}, "comment", errors, limit=RATING_COMMENT_MAX, required=False)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    if ticket.status not in ("resolved", "closed"):
        raise Conflict(_l("A request can be rated once it is solved."), code="not_resolved")
    if rating_of(ticket) is not None:
        raise Conflict(_l("This request has been rated already."), code="already_rated")
    rating = TicketRating(ticket_id=ticket.id, council_id=ticket.council_id, score=score, comment=text or "",
                          rated_by_id=actor.id, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(rating)
            db.session.flush()
    except IntegrityError:
        raise Conflict(_l("This request has been rated already."), code="already_rated") from None
    _audit_ticket("rate", ticket, actor, {"score": [None, score]})
    db.session.commit()
    return rating


def log_ticket_time(ticket, values: dict, *, actor: User) -> TimeEntry:
    """Time worked on a ticket, as an entry of the hours ledger for the ticket's council."""
    if ticket.status == "closed" and values.get("date") is None:
        raise ValidationFailed(_INVALID, fields={"date": _l("This field is required.")})
    return create_entry(ticket.council, {**values, "ticket_id": ticket.id}, actor=actor)


# --- jobs -----------------------------------------------------------------------------------------

def refresh_due_slas(now: dt.datetime, batch: int = 200) -> dict:
    """Refresh the stored SLA of every ticket whose warning or due instant has come, and
    announce the breaches (the `support.sla` job). Returns counts."""
    from core.db import write_transaction
    from core.scope import unrestricted
    from support.models import Ticket

    refreshed = breaches = 0
    with unrestricted():
        while True:
            with write_transaction():
                tickets = list(db.session.scalars(
                    select(Ticket).where(Ticket.sla_next_at <= now).order_by(Ticket.sla_next_at, Ticket.id)
                    .limit(batch).with_for_update(skip_locked=True)))
                if not tickets:
                    break
                events = status_events(t.id for t in tickets)
                for ticket in tickets:
                    breaches += len(_claim_breaches(ticket, apply_sla(ticket, events[ticket.id], now), now))
                refreshed += len(tickets)
            if len(tickets) < batch:
                break
    return {"refreshed": refreshed, "breaches": breaches}


def close_resolved(now: dt.datetime, batch: int = 200) -> int:
    """Close the tickets resolved more than TICKET_REOPEN_DAYS ago (the reopen window is over)."""
    from core.db import write_transaction
    from core.scope import unrestricted
    from support import notifications
    from support.models import Ticket

    cutoff = now - dt.timedelta(days=int(current_app.config["TICKET_REOPEN_DAYS"]))
    closed = 0
    with unrestricted():
        while True:
            with write_transaction():
                tickets = list(db.session.scalars(
                    select(Ticket).where(Ticket.status == "resolved", Ticket.resolved_at <= cutoff)
                    .order_by(Ticket.resolved_at, Ticket.id).limit(batch).with_for_update(skip_locked=True)))
                for ticket in tickets:
                    _set_status(ticket, "closed", None, now)
                    ticket.updated_at = now
                    refresh_sla(ticket, now)
                    _audit_ticket("update", ticket, None, {"status": ["resolved", "closed"]})
                    notifications.status_changed(ticket, "resolved", None)
                closed += len(tickets)
            if len(tickets) < batch:
                break
    return closed

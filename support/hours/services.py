"""The hours ledger: time entries and corrections, read and written. No HTTP here.

Writes follow one order, on purpose: lock the council row (shared for entries, see
agreements.services.lock_council), check the agreement and that the month is open, write,
audit, commit; only then, in a fresh transaction, evaluate the allowance thresholds
(support.hours.thresholds), so that under concurrency the last writer to commit sees every entry.

What the entries add up to (usage, forecast) is support.hours.figures.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from accounts import audit
from accounts.models import User
from agreements.models import Council
from agreements.months import format_month, month_end, month_start, office_today
from agreements.services import agreement_for_month, is_month_closed, lock_council
from catalogue import services as catalogue
from core.db import utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.text import text_problem
from extensions import db
from support.hours import thresholds
from support.hours.models import MODES, TimeEntry
from support.tickets.models import Ticket

log = logging.getLogger("councildesk.hours")

MAX_ENTRY_MINUTES = 1440
MAX_DESCRIPTION = 2000
ENTRY_FIELDS = ("council_id", "technician_id", "date", "minutes", "mode", "description", "ticket_id",
                "travel_minutes", "corrects_entry_id", "service_id")
EDITABLE_FIELDS = ("council_id", "technician_id", "date", "minutes", "mode", "description", "ticket_id",
                   "travel_minutes", "service_id")
MIN_ENTRY_DATE = dt.date(1990, 1, 1)
MAX_ENTRY_DATE = dt.date(2200, 12, 31)
_INVALID = _l("Some fields are not valid.")
MANAGER_ROLES = ("admin", "manager")


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
        text = values["description"] or ""
        text = text.strip() if isinstance(text, str) else text
        if not isinstance(text, str):
            errors["description"] = _l("Must be text.")
        elif len(text) > MAX_DESCRIPTION:
            errors["description"] = _l("Too long.")
        elif text_problem(text, multiline=True) is not None:
            errors["description"] = text_problem(text, multiline=True)
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
    if "service_id" in values:
        service = catalogue.check_service_id(values["service_id"], errors)
        out["service_id"] = service.id if service else None
    return out, errors


def _check_ticket(ticket_id: int | None, council_id: int, errors: dict) -> None:
    """Time logged on a ticket is work for the ticket's council: the two must agree."""
    if ticket_id is None or "ticket_id" in errors:
        return
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
    # Stored once, read in any language: the council and the day; the mode and the time are
    # among the entry's changes, which the log shows in the reader's words.
    return f"{council.name} {entry.date.isoformat()}"


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
    if "service_id" not in data and data.get("ticket_id") is not None:
        # Work on a ticket is work on the ticket's service (hours per service), unless the
        # caller named one (or none, with an explicit null).
        data["service_id"] = db.session.scalar(select(Ticket.service_id).where(Ticket.id == data["ticket_id"]))

    lock_council(council.id, exclusive=False)
    _check_writable(council.id, data["date"])
    entry = TimeEntry(council_id=council.id, technician_id=technician.id, date=data["date"],
                      month=month_start(data["date"]), minutes=data["minutes"], mode=data["mode"],
                      description=data["description"], ticket_id=data.get("ticket_id"),
                      travel_minutes=data["travel_minutes"], service_id=data.get("service_id"),
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
    if "service_id" in data:
        entry.service_id = data["service_id"]
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
                      corrects_entry_id=original.id, created_by_id=actor.id if actor is not None else None,
                      # The change counts for the same service as the entry it corrects.
                      service_id=original.service_id)
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
    for council_id, month in dict.fromkeys(council_months):
        try:
            thresholds.evaluate_thresholds(council_id, month)
        except Exception:
            log.exception("evaluating the allowance thresholds of council %s, %s failed", council_id, month)

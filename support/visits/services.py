"""Visit slots and bookings: the rules of docs/api-contract.md, "Visits: on-site appointments".

Times are stored in UTC; a series is expanded in the office's zone on the wall clock, so a
09:00 route day stays at 09:00 across the daylight-saving changes (the bug that hit Cal.com
and Easy!Appointments). A slot on a holiday of the office calendar, or while its technician
is absent, is not offered and cannot be booked. Capacity is checked in the booking's own
transaction under the slot's row lock (PostgreSQL) or the single writer (SQLite).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from accounts.models import User
from agreements import services as councils
from core.calendar import office_calendar
from core.db import MAX_ID, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db
from support.teams.routing import absent_ids
from support.tickets.models import Ticket
from support.visits import mails
from support.visits.models import Visit, VisitSlot

STAFF_ROLES = ("admin", "manager", "technician")
MAX_OCCURRENCES = 260  # five years of weekly route days
CLERK_CANCEL_NOTICE = dt.timedelta(hours=24)
NOTES_MAX = 2000
_INVALID = _l("Some fields are not valid.")


def office_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["OFFICE_TIMEZONE"])


def _valid_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def local_day_bounds(first: dt.date | None, last: dt.date | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Office-local dates (both inclusive) as a UTC half-open range."""
    zone = office_zone()
    # Dates at the ends of the calendar (0001-01-01, 9999-12-31) would overflow on conversion.
    first = min(max(first, dt.date(1900, 1, 1)), dt.date(9000, 1, 1)) if first else None
    last = min(max(last, dt.date(1900, 1, 1)), dt.date(9000, 1, 1)) if last else None
    lo = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC) if first else None
    hi = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC) if last else None
    return lo, hi


def occurrences(start: dt.datetime, repeat_weeks: int | None, until: dt.date | None) -> list[dt.datetime]:
    """The starts of a series in UTC: the same office-local wall-clock time every
    `repeat_weeks` weeks up to `until` (an office-local date, inclusive)."""
    zone = office_zone()
    wall = start.astimezone(zone).replace(tzinfo=None)
    if not repeat_weeks or until is None:
        return [start.astimezone(dt.UTC)]
    out = []
    k = 0
    while True:
        when = wall + dt.timedelta(weeks=repeat_weeks * k)
        if when.date() > until:
            break
        out.append(when.replace(tzinfo=zone).astimezone(dt.UTC))
        k += 1
        if len(out) > MAX_OCCURRENCES:
            raise ValidationFailed(_INVALID, fields={"until": _l("At most %(n)d slots at once.", n=MAX_OCCURRENCES)})
    return out


def create_slots(values: dict, *, actor: User | None, now: dt.datetime | None = None) -> list[VisitSlot]:
    now = now or utcnow()
    errors: dict[str, object] = {}
    council = councils.get_council(values["council_id"])
    technician = db.session.scalar(select(User).where(User.id == values["technician_id"])) \
        if _valid_id(values.get("technician_id")) else None
    if technician is None or technician.role not in STAFF_ROLES or not technician.active:
        errors["technician_id"] = _l("Choose an active member of the office staff.")
    starts_at = values.get("starts_at")
    if not isinstance(starts_at, dt.datetime) or starts_at.tzinfo is None:
        errors["starts_at"] = _l("Must be a timestamp (ISO 8601 with offset).")
    elif starts_at <= now:
        errors["starts_at"] = _l("The start is in the past.")
    elif starts_at > now + dt.timedelta(days=5 * 366):
        errors["starts_at"] = _l("At most five years ahead.")
    minutes = values.get("minutes")
    if not _valid_id(minutes) or not 15 <= minutes <= 600:
        errors["minutes"] = _l("Between 15 and 600 minutes.")
    capacity = values.get("capacity", 1)
    if not _valid_id(capacity) or not 1 <= capacity <= 20:
        errors["capacity"] = _l("Between 1 and 20 visits.")
    repeat, until = values.get("repeat_weeks"), values.get("until")
    if repeat is not None and (not _valid_id(repeat) or repeat > 52):
        errors["repeat_weeks"] = _l("Between 1 and 52 weeks.")
    if repeat is not None and until is None:
        errors["until"] = _l("Say until when the series repeats.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    starts = occurrences(starts_at, repeat, until)
    if until is not None and not starts:
        raise ValidationFailed(_INVALID, fields={"until": _l("The series ends before it starts.")})
    length = dt.timedelta(minutes=minutes)
    lo, hi = starts[0], starts[-1] + length
    existing = list(db.session.scalars(select(VisitSlot).where(
        VisitSlot.technician_id == technician.id, VisitSlot.status == "open",
        VisitSlot.starts_at < hi, VisitSlot.ends_at > lo).with_for_update()))
    for start in starts:
        if any(start < other.ends_at and start + length > other.starts_at for other in existing):
            raise Conflict(_l("The technician already has a slot at that time."), code="slot_overlap")
    slots = [VisitSlot(council_id=council.id, technician_id=technician.id, starts_at=start, ends_at=start + length,
                       minutes=minutes, capacity=capacity, booked=0, status="open", created_at=now)
             for start in starts]
    db.session.add_all(slots)
    db.session.flush()
    audit.record("create", object_type="visit_slot", object_id=slots[0].id, actor=actor, label=council.name,
                 council_id=council.id, changes={"count": len(slots), "technician_id": technician.id,
                                                 "starts_at": starts[0].isoformat(), "minutes": minutes})
    db.session.commit()
    return slots


def get_slot(slot_id) -> VisitSlot:
    slot = db.session.scalar(select(VisitSlot).where(VisitSlot.id == slot_id)) if _valid_id(slot_id) else None
    if slot is None:
        raise NotFound()
    return slot


def get_visit(visit_id) -> Visit:
    visit = db.session.scalar(select(Visit).where(Visit.id == visit_id)) if _valid_id(visit_id) else None
    if visit is None:
        raise NotFound()
    return visit


def slots_query(*, council_id=None, technician_id=None, first=None, last=None):
    stmt = select(VisitSlot)
    if council_id is not None:
        stmt = stmt.where(VisitSlot.council_id == council_id)
    if technician_id is not None:
        stmt = stmt.where(VisitSlot.technician_id == technician_id)
    lo, hi = local_day_bounds(first, last)
    if lo is not None:
        stmt = stmt.where(VisitSlot.starts_at >= lo)
    if hi is not None:
        stmt = stmt.where(VisitSlot.starts_at < hi)
    return stmt


def visits_query(*, council_id=None, technician_id=None, first=None, last=None):
    stmt = select(Visit)
    if council_id is not None:
        stmt = stmt.where(Visit.council_id == council_id)
    if technician_id is not None:
        stmt = stmt.where(Visit.technician_id == technician_id)
    lo, hi = local_day_bounds(first, last)
    if lo is not None:
        stmt = stmt.where(Visit.starts_at >= lo)
    if hi is not None:
        stmt = stmt.where(Visit.starts_at < hi)
    return stmt


def is_offered(slot: VisitSlot, now: dt.datetime) -> bool:
    """Open, ahead, not on a holiday and its technician not absent that day."""
    if slot.status != "open" or slot.starts_at <= now:
        return False
    day = slot.starts_at.astimezone(office_zone()).date()
    if day in office_calendar().holidays:
        return False
    return slot.technician_id not in absent_ids([slot.technician_id], day)


def free_slots(council_id: int, now: dt.datetime | None = None, limit: int = 10) -> list[VisitSlot]:
    """The council's next slots with room, that are offered (the clerk's portal)."""
    now = now or utcnow()
    candidates = db.session.scalars(select(VisitSlot).where(
        VisitSlot.council_id == council_id, VisitSlot.status == "open", VisitSlot.starts_at > now,
        VisitSlot.booked < VisitSlot.capacity).order_by(VisitSlot.starts_at, VisitSlot.id).limit(limit * 4))
    return [s for s in candidates if is_offered(s, now)][:limit]


def book(slot_id, values: dict, *, actor: User, now: dt.datetime | None = None) -> Visit:
    """Book a place in a slot: its row is locked first, so capacity is read and raised by one
    booking at a time."""
    now = now or utcnow()
    if not _valid_id(slot_id):
        raise NotFound()
    slot = db.session.scalar(select(VisitSlot).where(VisitSlot.id == slot_id).with_for_update()
                             .execution_options(populate_existing=True))
    if slot is None:
        raise NotFound()
    notes = values.get("notes") or ""
    if not isinstance(notes, str) or len(notes) > NOTES_MAX:
        raise ValidationFailed(_INVALID, fields={"notes": _l("Too long: at most %(n)d characters.", n=NOTES_MAX)})
    ticket_id = values.get("ticket_id")
    if ticket_id is not None:
        ticket = db.session.scalar(select(Ticket).where(Ticket.id == ticket_id)) if _valid_id(ticket_id) else None
        if ticket is None or ticket.council_id != slot.council_id:
            raise ValidationFailed(_INVALID, fields={"ticket_id": _l("Choose a request of this council.")})
    if not is_offered(slot, now):
        raise Conflict(_l("This time is no longer available."), code="slot_unavailable")
    if slot.booked >= slot.capacity:
        raise Conflict(_l("This time is fully booked."), code="slot_full")
    slot.booked += 1
    visit = Visit(slot_id=slot.id, council_id=slot.council_id, technician_id=slot.technician_id,
                  starts_at=slot.starts_at, ticket_id=ticket_id, booked_by_id=actor.id, notes=notes.strip(),
                  status="booked", sequence=0, created_at=now, changed_at=now)
    db.session.add(visit)
    db.session.flush()
    visit.slot = slot
    audit.record("create", object_type="visit", object_id=visit.id, actor=actor, label=slot.council.name,
                 council_id=slot.council_id, changes={"slot_id": slot.id, "ticket_id": ticket_id})
    mails.queue_invitations(visit, "booked")
    db.session.commit()
    return visit


def _locked_slot(slot_id: int) -> VisitSlot | None:
    return db.session.scalar(select(VisitSlot).where(VisitSlot.id == slot_id).with_for_update()
                             .execution_options(populate_existing=True))


def move_visit(visit: Visit, slot_id, *, actor: User, now: dt.datetime | None = None) -> Visit:
    """Move a booked visit to another slot of its council: the same visit (the same UID in
    calendars) with its SEQUENCE raised. A clerk may move it until 24 hours before its start,
    as for cancelling. Both slots are locked in id order, so two moves never deadlock."""
    now = now or utcnow()
    if visit.status != "booked":
        raise Conflict(_l("This visit is cancelled."), code="visit_cancelled")
    if actor.role == "clerk" and visit.starts_at - now < CLERK_CANCEL_NOTICE:
        raise Conflict(_l("Less than 24 hours are left: call the office to change it."), code="too_late_to_change")
    if not _valid_id(slot_id):
        raise ValidationFailed(_INVALID, fields={"slot_id": _l("Choose a time.")})
    if slot_id == visit.slot_id:
        return visit
    locked = {sid: _locked_slot(sid) for sid in sorted((visit.slot_id, slot_id))}
    target, current = locked[slot_id], locked[visit.slot_id]
    if target is None or target.council_id != visit.council_id:
        raise ValidationFailed(_INVALID, fields={"slot_id": _l("Choose a time of this council.")})
    if not is_offered(target, now):
        raise Conflict(_l("This time is no longer available."), code="slot_unavailable")
    if target.booked >= target.capacity:
        raise Conflict(_l("This time is fully booked."), code="slot_full")
    target.booked += 1
    if current is not None and current.booked > 0:
        current.booked -= 1
    old = visit.starts_at
    visit.slot_id, visit.slot = target.id, target
    visit.technician_id, visit.starts_at = target.technician_id, target.starts_at
    visit.sequence += 1
    visit.changed_at = now
    db.session.flush()
    audit.record("update", object_type="visit", object_id=visit.id, actor=actor, label=visit.council.name,
                 council_id=visit.council_id, changes={"slot_id": target.id, "starts_at": [old.isoformat(),
                                                                                         target.starts_at.isoformat()]})
    mails.queue_invitations(visit, "changed")
    db.session.commit()
    return visit


def _release(visit: Visit, reason: str, now: dt.datetime) -> None:
    slot = db.session.scalar(select(VisitSlot).where(VisitSlot.id == visit.slot_id).with_for_update()
                             .execution_options(populate_existing=True))
    visit.status = "cancelled"
    visit.cancelled_at = now
    visit.cancel_reason = reason
    visit.sequence += 1
    if slot is not None and slot.booked > 0:
        slot.booked -= 1
    db.session.flush()
    mails.queue_invitations(visit, "cancelled")


def cancel_visit(visit: Visit, reason: str, *, actor: User, now: dt.datetime | None = None) -> Visit:
    """Clerks until 24 hours before the start; staff at any time; twice is harmless."""
    now = now or utcnow()
    if visit.status == "cancelled":
        return visit
    if actor.role == "clerk" and visit.starts_at - now < CLERK_CANCEL_NOTICE:
        raise Conflict(_l("Less than 24 hours are left: call the office to cancel."), code="too_late_to_cancel")
    reason = (reason or "").strip()[:NOTES_MAX]
    _release(visit, reason, now)
    audit.record("cancel", object_type="visit", object_id=visit.id, actor=actor, label=visit.council.name,
                 council_id=visit.council_id, changes={"reason": reason})
    db.session.commit()
    return visit


def cancel_slot(slot: VisitSlot, *, actor: User, now: dt.datetime | None = None) -> VisitSlot:
    now = now or utcnow()
    if slot.status != "cancelled":
        for visit in db.session.scalars(select(Visit).where(Visit.slot_id == slot.id, Visit.status == "booked")):
            _release(visit, "", now)
        slot.status = "cancelled"
        audit.record("cancel", object_type="visit_slot", object_id=slot.id, actor=actor, label=slot.council.name,
                     council_id=slot.council_id)
        db.session.commit()
    return slot

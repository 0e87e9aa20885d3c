"""Tickets: the workflow (open, assign, move, reply, log time on them) and a ticket's parts
(replies, files, history, time). No HTTP here.

Every write follows the same order: check, lock what must not race (the council's counter
row for a new number), write the ticket and its history, recompute the stored SLA fields,
claim breaches, audit, queue notifications, commit. Notifications are rows (in-app, and
mail through the outbox) in the same transaction, so a rolled-back change mails nobody.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from accounts import audit
from accounts.models import User
from agreements.models import Council
from catalogue import services as catalogue
from core.db import utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.text import text_problem
from extensions import db
from support.hours import services as hours
from support.hours.models import TimeEntry
from support.teams import routing
from support.tickets import attachments, notifications, search
from support.tickets.claims import insert_ignoring
from support.tickets.labels import ticket_status_labels
from support.tickets.models import (
    CATEGORIES,
    CHANNELS,
    PRIORITIES,
    TICKET_STATUSES,
    Ticket,
    TicketChange,
    TicketComment,
    TicketCounter,
)
from support.tickets.queries import (  # noqa: F401  (the reading half, named here for callers)
    assignable_users,
    attachments_of,
    can_reopen,
    comments_of,
    council_clerks,
    council_summary,
    get_attachment,
    get_comment,
    get_ticket,
    history_of,
    time_entries_of,
    time_totals,
)
from support.tickets.sla_state import refresh_sla

TICKET_TITLE_MAX = 200
TICKET_TEXT_MAX = 20000
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
_INVALID = _l("Some fields are not valid.")
CHANGE_AUDIT = ("status", "assignee_id", "priority", "category", "team_id", "service_id")



def clean_text(values: dict, key: str, errors: dict, *, limit: int, required: bool, one_line: bool = False,
                required_message=None) -> str | None:
    value = values.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[key] = _l("Must be text.")
        return None
    problem = text_problem(value, multiline=True)  # a title's line breaks become spaces below
    if problem is not None:
        errors[key] = problem
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
    return instant.astimezone(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).year


def next_ticket_number(council_id: int, year: int) -> int:
    """The next number of a council's year, taken inside the caller's transaction.

    The counter row is created if missing (ON CONFLICT DO NOTHING: two first tickets of a year
    at once do not clash) and incremented with one atomic UPDATE ... RETURNING, whose row lock
    (PostgreSQL) or whose write transaction (SQLite) lasts until the caller commits: numbers
    are handed out one at a time, and a rollback gives the number back.
    """
    insert_ignoring(TicketCounter, {"council_id": council_id, "year": year, "last": 0}, ["council_id", "year"])
    return db.session.execute(update(TicketCounter)
                              .where(TicketCounter.council_id == council_id, TicketCounter.year == year)
                              .values(last=TicketCounter.last + 1).returning(TicketCounter.last)).scalar_one()


def _record_change(ticket, field: str, old, new, actor: User | None, now: dt.datetime,
                   reason: dict | None = None) -> None:
    db.session.add(TicketChange(ticket_id=ticket.id, council_id=ticket.council_id, at=now,
                                actor_id=actor.id if actor is not None else None, field=field,
                                old_value=None if old is None else str(old),
                                new_value=None if new is None else str(new), reason=reason))


def set_status(ticket, status: str, actor: User | None, now: dt.datetime) -> None:
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
    taken = db.session.scalar(select(Ticket.id).where(Ticket.open_monitoring_key == ticket.monitoring_key))
    if taken is None:
        ticket.open_monitoring_key = ticket.monitoring_key


def _invalid_transition(old: str, new: str) -> Conflict:
    labels = ticket_status_labels()
    message = _l("A ticket cannot go from “%(old)s” to “%(new)s”.", old=labels.get(old, old), new=labels.get(new, new))
    return Conflict(message, code="invalid_transition", fields={"status": message})


def audit_ticket(action: str, ticket, actor: User | None, changes: dict) -> None:
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
    now = now or utcnow()
    errors: dict[str, object] = {}
    title = clean_text(values, "title", errors, limit=TICKET_TITLE_MAX, required=True, one_line=True,
                        required_message=_l("Say in a few words what happened."))
    description = clean_text(values, "description", errors, limit=TICKET_TEXT_MAX, required=False)
    priority = _choice({"priority": values.get("priority") or "normal"}, "priority", PRIORITIES, errors,
                       _l("Choose how urgent it is."))
    service = catalogue.check_service_id(values.get("service_id"), errors)
    # A request about a service is, unless said otherwise, in the service's ticket category.
    category = _choice({"category": values.get("category") or (service and service.ticket_category) or "other"},
                       "category", CATEGORIES, errors, _l("Choose what it is about."))
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
            checked.append((attachments.check(data, name), data))
        except attachments.Refused as exc:
            errors["attachment"] = attachments.attachment_message(exc.reason)
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
                    service_id=service.id if service else None,
                    open_monitoring_key=values.get("monitoring_key"), created_at=now, updated_at=now,
                    queue_at=now)
    db.session.add(ticket)
    db.session.flush()
    _record_change(ticket, "status", None, "new", actor, now)
    events = [(now, "new")]
    decision = routing.choose(category, now, team_id=service.default_team_id if service else None)
    ticket.team_id = decision.team.id if decision.team is not None else None
    if decision.assignee is not None:
        # The system assigns (actor None); the reason goes into the history with it.
        _record_change(ticket, "assignee", None, decision.assignee.id, None, now, reason=decision.reason)
        ticket.assignee_id = decision.assignee.id
        ticket.assignee = decision.assignee
        set_status(ticket, "assigned", None, now)
        events.append((now, "assigned"))
    search.index_ticket(ticket)
    refresh_sla(ticket, now, events)
    stored = attachments.store_files(ticket, checked, actor, comment=None, now=now)
    audit_ticket("create", ticket, actor, audit.diff({}, audit.snapshot(ticket, (
        "reference", "title", "priority", "category", "channel", "requester_id", "asset_id", "service_id"))))
    notifications.ticket_opened(ticket, actor)
    if decision.assignee is not None:
        notifications.assigned(ticket, decision.assignee, None)
    if commit:
        attachments.commit_or_discard(stored)
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


def change_ticket(ticket, values: dict, *, actor: User | None, now: dt.datetime | None = None,
                  commit: bool = True):
    """Change any of status, assignee_id, priority and category (the keys present).

    Setting an assignee on a new ticket moves it to assigned; the status move asked for, if
    any, is then checked from there. A clerk may only answer a resolved ticket: confirm it
    (closed) or say it is not solved (in progress again).
    """
    now = now or utcnow()
    values = {k: v for k, v in values.items()
              if k in ("status", "assignee_id", "priority", "category", "team_id", "service_id")}
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
    if values.get("team_id") is not None and routing.get_team_or_none(values["team_id"]) is None:
        errors["team_id"] = _l("Unknown team.")
    catalogue.check_service_id(values.get("service_id"), errors)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)

    before = audit.snapshot(ticket, CHANGE_AUDIT)
    if "team_id" in values:
        ticket.team_id = values["team_id"]
    status_before = ticket.status
    if "assignee_id" in values and values["assignee_id"] != ticket.assignee_id:
        if ticket.status == "closed":
            raise Conflict(_l("This ticket is closed."), code="ticket_closed")
        _record_change(ticket, "assignee", ticket.assignee_id, values["assignee_id"], actor, now)
        ticket.assignee_id = values["assignee_id"]
        ticket.assignee = assignee
        if ticket.status == "new" and assignee is not None:
            set_status(ticket, "assigned", actor, now)
    target = values.get("status")
    if target is not None and target != ticket.status:
        if target not in TRANSITIONS[ticket.status]:
            raise _invalid_transition(ticket.status, target)
        set_status(ticket, target, actor, now)
    for field in ("priority", "category"):
        if field in values and values[field] != getattr(ticket, field):
            if ticket.status == "closed":
                raise Conflict(_l("This ticket is closed."), code="ticket_closed")
            _record_change(ticket, field, getattr(ticket, field), values[field], actor, now)
            setattr(ticket, field, values[field])
    if "service_id" in values:
        ticket.service_id = values["service_id"]
    changes = audit.diff(before, audit.snapshot(ticket, CHANGE_AUDIT))
    if changes:
        ticket.updated_at = now
        refresh_sla(ticket, now)
        audit_ticket("update", ticket, actor, changes)
        if ticket.status != status_before:
            notifications.status_changed(ticket, status_before, actor)
        if "assignee_id" in changes and assignee is not None:
            notifications.assigned(ticket, assignee, actor)
    if commit:
        db.session.commit()
    return ticket


def add_comment(ticket, body: str, *, internal: bool, actor: User | None, now: dt.datetime | None = None,
                files: Iterable[tuple[str, bytes]] = (), commit: bool = True, author_email: str | None = None,
                from_council: bool = False):
    """A reply (public) or a note for the office (internal), with optional files.

    Clerks cannot write internal notes (403). A public reply of the office is the first
    response if none came before, and starts the work on an assigned ticket (in progress);
    a clerk's reply on a ticket waiting for the council gives it back to the office.

    By mail (support.mail): `author_email` is the address it came from; `from_council` says
    the council wrote it (a clerk, or an address of its mail domains): the council answering.
    """
    now = now or utcnow()
    clerk = actor is not None and actor.role == "clerk"
    if internal and (clerk or actor is None):
        raise PermissionDenied(_l("Internal notes are for the office."))
    errors: dict[str, object] = {}
    text = clean_text({"body": body}, "body", errors, limit=TICKET_TEXT_MAX, required=True,
                       required_message=_l("Write your reply."))
    checked = []
    for name, data in files:
        try:
            checked.append((attachments.check(data, name), data))
        except attachments.Refused as exc:
            errors["attachment"] = attachments.attachment_message(exc.reason)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    if clerk and ticket.status == "closed":
        raise Conflict(_l("This request is closed. If the problem is back, open a new request about it."),
                       code="ticket_closed")

    comment = TicketComment(ticket_id=ticket.id, council_id=ticket.council_id, author_id=actor.id if actor else None,
                            author_email=author_email, body=text, internal=bool(internal), created_at=now)
    db.session.add(comment)
    db.session.flush()
    search.index_comment(ticket.id, text, internal=bool(internal))
    changed = False
    if not internal and _is_staff(actor):
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            changed = True
        if ticket.status == "assigned":
            set_status(ticket, "in_progress", actor, now)
            changed = True
    elif clerk and ticket.status == "waiting_council":
        set_status(ticket, "in_progress", actor, now)
        changed = True
    elif from_council and not internal and ticket.status in ("waiting_council", "resolved"):
        # By mail the council does not press "not solved yet": its reply says so.
        set_status(ticket, "in_progress", actor, now)
        changed = True
    ticket.updated_at = now
    if changed:
        refresh_sla(ticket, now)
    stored = attachments.store_files(ticket, checked, actor, comment=comment, now=now)
    audit.record("comment", object_type="ticket", object_id=ticket.id, actor=actor,
                 label=f"{ticket.reference} {ticket.title}",
                 # An internal note's trace stays with the office: no council, so no clerk query reaches it.
                 council_id=None if internal else ticket.council_id,
                 changes={"comment_id": comment.id, "internal": bool(internal)})
    # One message per event: the reply itself says the work has started (or that the council
    # answered), so the status move it caused is not announced separately.
    notifications.commented(ticket, comment, actor)
    if commit:
        attachments.commit_or_discard(stored)
    return comment


def log_ticket_time(ticket, values: dict, *, actor: User) -> TimeEntry:
    """Time worked on a ticket, as an entry of the hours ledger for the ticket's council."""
    if ticket.status == "closed" and values.get("date") is None:
        raise ValidationFailed(_INVALID, fields={"date": _l("This field is required.")})
    return hours.create_entry(ticket.council, {**values, "ticket_id": ticket.id}, actor=actor)

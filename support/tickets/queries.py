"""Tickets, reading: a ticket and its parts (replies, files, history, time), through the scoped
query layer, so another council's ticket or part is simply not found for a clerk."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.models import User
from core.errors import NotFound
from extensions import db
from support.hours import services as hours
from support.hours.models import TimeEntry
from support.tickets.models import OPEN_STATUSES, Ticket, TicketAttachment, TicketChange, TicketComment


def get_ticket(ticket_id: int):
    """Through the scoped query layer: another council's ticket does not exist for a clerk."""
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or not 1 <= ticket_id <= 2**31 - 1:
        raise NotFound()
    ticket = db.session.scalar(select(Ticket).where(Ticket.id == ticket_id))
    if ticket is None:
        raise NotFound()
    return ticket


def comments_of(ticket) -> list:
    """The replies of a ticket, oldest first (a clerk's query never returns internal notes)."""
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
    return _part_of(ticket, TicketComment, comment_id)


def attachments_of(ticket) -> list:
    return list(db.session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)
                                   .order_by(TicketAttachment.id)))


def get_attachment(ticket, attachment_id: int):
    return _part_of(ticket, TicketAttachment, attachment_id)


def history_of(ticket) -> list:
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


def assignable_users() -> list[User]:
    """Who a ticket can be assigned to: active office staff, by name."""
    return hours.staff_users()


def council_clerks(council_id: int) -> list[User]:
    return list(db.session.scalars(select(User).where(User.council_id == council_id, User.role == "clerk",
                                                      User.active.is_(True)).order_by(User.name)))


def can_reopen(ticket, now: dt.datetime | None = None) -> bool:
    """A resolved ticket is reopened (resolved → in progress) until the job closes it."""
    return ticket.status == "resolved"


def council_summary(council_id: int) -> dict:
    """Open tickets of a council by how their SLA stands (the council page's panel)."""
    rows = db.session.execute(select(Ticket.sla_state, func.count()).where(
        Ticket.council_id == council_id, Ticket.status.in_(OPEN_STATUSES)).group_by(Ticket.sla_state))
    counts = {state: int(n) for state, n in rows}
    waiting = db.session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.council_id == council_id, Ticket.status == "resolved")) or 0
    return {"open": sum(counts.values()), "by_state": counts, "to_confirm": int(waiting)}


# --- writing: helpers ---------------------------------------------------------------------------

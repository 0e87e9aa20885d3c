"""The ticket queue: its sort key and its filters.

The queue (the office's list, the clerks' portal and GET /tickets) is one statement,
`ticket_query`, sorted by `queue_at`: the due instant of the clock that is pending (stored by
support.tickets.sla_state), or a stand-in for tickets without a deadline.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select

from extensions import db
from support.tickets import search
from support.tickets.models import OPEN_STATUSES, PRIORITIES, TICKET_STATUSES, Ticket

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


_REFERENCE = re.compile(r"[A-Z0-9]{2,8}-\d{4}-\d{4,}")


@dataclass
class TicketFilters:
    """What the queue (and GET /tickets) narrows by. `status`: one status, "open" (not
    resolved or closed), "active" (not closed) or None for all."""

    council_id: int | None = None
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    unassigned: bool = False
    sla: str | None = None
    asset_id: int | None = None
    q: str | None = None


def ticket_query(filters: TicketFilters, *, include_internal: bool):
    """The statement behind the queue, the clerks' list and the API list (no ORDER BY).

    Never filters by the reader's council: the scope does that for clerks. `include_internal`
    lets the text search look into internal notes (office staff only).
    """
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
    if f.team_id is not None:
        stmt = stmt.where(Ticket.team_id == f.team_id)
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

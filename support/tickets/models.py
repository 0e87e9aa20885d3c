"""Tickets' tables: tickets and their numbers, history, replies, files, ratings, SLA
breaches, handled monitoring events and search text."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from agreements.models import Council
from core.db import UTCDateTime, utcnow
from core.models import JSONType
from core.scope import CouncilOwned, add_clerk_criteria
from extensions import db
from inventory.models import Asset

if TYPE_CHECKING:  # only for the annotation: SQLAlchemy finds the class by name in its registry
    from catalogue.models import Service

TICKET_STATUSES = ("new", "assigned", "in_progress", "waiting_council", "resolved", "closed")
OPEN_STATUSES = ("new", "assigned", "in_progress", "waiting_council")
DONE_STATUSES = ("resolved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("hardware", "software", "network", "e_administration", "transparency_portal", "accounts", "other")
CHANNELS = ("web", "phone", "email", "chat", "whatsapp", "monitoring")
# How the SLA stands, stored so that the queue filters on it in SQL: the clock that is
# pending (first response until answered, then resolution) is ok, at its warning share,
# past its due time, paused while the council is asked something, or stopped once solved.
SLA_STATES = ("ok", "warning", "breached", "paused", "stopped")
SLA_KINDS = ("first_response", "resolution")
CHANGE_FIELDS = ("status", "assignee", "priority", "category")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Ticket(CouncilOwned, db.Model):
    """A request for help from a council, worked by the office.

    `reference` is CODE-YYYY-NNNN: the council's code, the year (office time) the ticket was
    opened and its number in that council and year, handed out by `TicketCounter`.

    The SLA columns are a copy of what support.tickets.sla computes from the status history,
    the priority and the first reply, refreshed on every change and by the `support.sla` job
    (`sla_next_at` is when the stored values next change on their own: a warning share or
    a due instant reached). They exist so that the queue sorts and filters in SQL:
    `queue_at` is the due instant of the clock that is pending, or a far-future stand-in for
    paused and finished tickets, which therefore come after every ticket with a deadline.

    `open_monitoring_key` is the monitoring alert's key while the ticket it opened is not
    solved: unique, so one alert never has two open tickets (NULLs never clash).
    """

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("council_id", "year", "number"),
        CheckConstraint(_in_list("status", TICKET_STATUSES), name="status_known"),
        CheckConstraint(_in_list("priority", PRIORITIES), name="priority_known"),
        CheckConstraint(_in_list("category", CATEGORIES), name="category_known"),
        CheckConstraint(_in_list("channel", CHANNELS), name="channel_known"),
        CheckConstraint(_in_list("sla_state", SLA_STATES), name="sla_state_known"),
        # The queue: every order it offers has its index, so a page is an index range scan.
        Index("ix_tickets_queue", "queue_at", "id"),
        Index("ix_tickets_council_queue", "council_id", "queue_at", "id"),
        Index("ix_tickets_assignee_queue", "assignee_id", "queue_at", "id"),
        Index("ix_tickets_category_queue", "category", "queue_at", "id"),
        Index("ix_tickets_team_queue", "team_id", "queue_at", "id"),
        # A council's requests, newest first (the clerks' list), and an asset's tickets.
        Index("ix_tickets_council_recent", "council_id", "id"),
        Index("ix_tickets_asset", "asset_id", "id"),
        Index("ix_tickets_sla_next", "sla_next_at"),
        Index("ix_tickets_resolved", "status", "resolved_at"),
        # The reports' yearly figures: tickets opened in a period, per council.
        Index("ix_tickets_created", "created_at", "council_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # CouncilOwned's column without its single-column index: (council_id, id) and
    # (council_id, queue_at, id) already start with it, and a third copy only slows inserts.
    council_id: Mapped[int] = mapped_column(ForeignKey("councils.id", ondelete="RESTRICT"))
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    category: Mapped[str] = mapped_column(String(24), default="other")
    channel: Mapped[str] = mapped_column(String(12), default="web")
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # Who asked, when it is nobody with an account: the address of a council's mail domain
    # that wrote to the office (support.mail). Replies reach it by mail.
    requester_email: Mapped[str | None] = mapped_column(String(254))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    # The team of its category when it was opened (support.teams), or one set by hand.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # A new request about a closed one that came back ("it happens again").
    related_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # The catalogue's service the request is about (catalogue/); services are never deleted.
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"), index=True)
    monitoring_key: Mapped[str | None] = mapped_column(String(60), index=True)
    open_monitoring_key: Mapped[str | None] = mapped_column(String(60), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    first_response_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    first_response_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_state: Mapped[str] = mapped_column(String(10), default="ok")
    sla_next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    queue_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    council: Mapped[Council] = relationship(lazy="select")
    requester: Mapped[User | None] = relationship(foreign_keys=[requester_id], lazy="select")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="select")
    asset: Mapped[Asset | None] = relationship(lazy="select")
    related: Mapped[Ticket | None] = relationship(remote_side="Ticket.id", lazy="select")
    service: Mapped[Service | None] = relationship(lazy="select")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def __repr__(self) -> str:
        return f"<Ticket {self.reference} {self.status}>"


class TicketCounter(db.Model):
    """The last ticket number a council used in a year.

    Numbers come from `UPDATE ... SET last = last + 1 RETURNING last` in the ticket's own
    transaction: the row lock serialises concurrent creations of one council, and a ticket
    that rolls back takes its increment with it, so references are consecutive and gap-free.
    """

    __tablename__ = "ticket_counters"
    __table_args__ = (PrimaryKeyConstraint("council_id", "year"),)

    council_id: Mapped[int] = mapped_column(ForeignKey("councils.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer, default=0)


class TicketChange(CouncilOwned, db.Model):
    """One change of a ticket's status, assignee, priority or category: who, when, from, to.

    Never updated. The status rows are also the SLA's input: the clocks are computed from them.
    """

    __tablename__ = "ticket_changes"
    __table_args__ = (
        CheckConstraint(_in_list("field", CHANGE_FIELDS), name="field_known"),
        Index("ix_ticket_changes_ticket", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Null: the system (monitoring, the closing job).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    field: Mapped[str] = mapped_column(String(16))
    old_value: Mapped[str | None] = mapped_column(String(40))
    new_value: Mapped[str | None] = mapped_column(String(40))
    # Why the system made this change, for automatic assignments (support.teams.routing):
    # {"rule": "round_robin", "team": "Xarxes", "skipped": ["Marta"]}, rendered when read so
    # the history speaks the reader's language.
    reason: Mapped[dict | None] = mapped_column(JSONType)

    actor: Mapped[User | None] = relationship(lazy="select")


class TicketComment(CouncilOwned, db.Model):
    """A reply on a ticket. Internal notes are for the office only: clerks never load them
    (the clerk criteria below), so no page, API call, mail or search can show them."""

    __tablename__ = "ticket_comments"
    __table_args__ = (Index("ix_ticket_comments_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    # Null: written by the system (monitoring), or by mail from an address without an account.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The address a reply came from by mail (support.mail), whoever wrote it.
    author_email: Mapped[str | None] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship(lazy="select")


class TicketAttachment(CouncilOwned, db.Model):
    """A file on a ticket (or on one of its comments), kept under DATA_DIR by `storage_name`.

    `internal` copies the comment's: a file attached to an internal note is as hidden from
    clerks as the note itself.
    """

    __tablename__ = "ticket_attachments"
    __table_args__ = (Index("ix_ticket_attachments_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_comments.id", ondelete="CASCADE"), index=True)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_name: Mapped[str] = mapped_column(String(80), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketRating(CouncilOwned, db.Model):
    """How the council rated the help it got: once per ticket (the unique key says so)."""

    __tablename__ = "ticket_ratings"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketSlaBreach(CouncilOwned, db.Model):
    """An SLA clock of a ticket that ran past its due time, announced.

    Like usage alerts: whoever inserts the row (ON CONFLICT DO NOTHING) notifies, so a breach
    is announced once per ticket and clock, however many refreshes see it at once.
    """

    __tablename__ = "ticket_sla_breaches"
    __table_args__ = (
        UniqueConstraint("ticket_id", "kind"),
        CheckConstraint(_in_list("kind", SLA_KINDS), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketAlertEvent(db.Model):
    """A monitoring alert event the ticket engine has handled: the handler claims the event
    id first, in the same transaction as its effect, so a redelivered event changes nothing."""

    __tablename__ = "ticket_alert_events"

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(12))
    handled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The alert's key: an alert grouped into another alert's ticket (one ticket per asset
    # while it is open) finds that ticket again through its earlier events.
    alert_key: Mapped[str | None] = mapped_column(String(60), index=True)


class TicketSearch(CouncilOwned, db.Model):
    """The text a ticket is found by, folded (lower case, no accents): reference, title,
    description and public replies in `public_text`, internal notes in `internal_text`.

    Kept in two columns so that a clerk's search never matches words of an internal note.
    The full-text indexes over it are not ORM objects
    (support.tickets.search.UNMODELLED_PREFIXES): a GIN index on PostgreSQL, an FTS5 table
    kept in sync by triggers on SQLite.
    """

    __tablename__ = "ticket_search"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True,
                                           autoincrement=False)
    public_text: Mapped[str] = mapped_column(Text, default="")
    internal_text: Mapped[str] = mapped_column(Text, default="")


# Internal notes and their files do not exist for clerks, wherever they are queried from.
add_clerk_criteria(TicketComment, lambda cid: lambda cls: cls.internal.is_(False))
add_clerk_criteria(TicketAttachment, lambda cid: lambda cls: cls.internal.is_(False))

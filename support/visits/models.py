"""Visit slots (a technician's time in a council) and the visits booked in them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from agreements.models import Council
from core.db import UTCDateTime, utcnow
from core.scope import CouncilOwned
from extensions import db


class VisitSlot(CouncilOwned, db.Model):
    """A technician's time in one council (a route day's morning), with room for `capacity`
    visits. `booked` counts the booked visits; it changes only under the slot's row lock
    (PostgreSQL) or the single writer (SQLite), so a burst of bookings never overfills it."""

    __tablename__ = "visit_slots"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'cancelled')", name="status_known"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        Index("ix_visit_slots_technician_time", "technician_id", "starts_at"),
        Index("ix_visit_slots_council_time", "council_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    council: Mapped[Council] = relationship(lazy="select")
    technician: Mapped[User] = relationship(lazy="select")


class Visit(CouncilOwned, db.Model):
    """A booked visit. `sequence` is the iCalendar SEQUENCE of its invitations: raised on
    every change, so calendars replace the event instead of keeping a stale copy."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="status_known"),
        Index("ix_visits_slot", "slot_id", "status"),
        Index("ix_visits_technician_time", "technician_id", "starts_at"),
        Index("ix_visits_council_time", "council_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("visit_slots.id", ondelete="CASCADE"))
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="booked")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When it was last booked or moved: a reminder whose moment came before that is not sent
    # (the booking's own mail told them).
    changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")

    slot: Mapped[VisitSlot] = relationship(lazy="select")
    council: Mapped[Council] = relationship(lazy="select")


class VisitMail(db.Model):
    """The invitation (.ics) a queued mail about a visit carries, written when the mail is
    queued: the outbox sends it later, and it must say what was true then (its METHOD and
    SEQUENCE), not what the visit has become since."""

    __tablename__ = "visit_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_mail_id: Mapped[int] = mapped_column(ForeignKey("outbox_mail.id", ondelete="CASCADE"), unique=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(10))
    sequence: Mapped[int] = mapped_column(Integer)
    ics: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitReminder(db.Model):
    """A reminder already sent: one per visit, offset (hours before) and start, so the job
    sends each once however often it runs, and a moved visit is reminded again."""

    __tablename__ = "visit_reminders"
    __table_args__ = (UniqueConstraint("visit_id", "hours", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    hours: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarFeed(db.Model):
    """A user's personal iCalendar feed: only the hash of its secret is kept; a new secret
    replaces the old one (the previous URL stops working)."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Cross-domain tables: in-app notifications, the outgoing-mail queue and the office's local holidays."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from extensions import db

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Notification(db.Model):
    """Something a user should know, shown in the app (and usually mailed too).

    The text is not stored: `kind` and `params` are rendered when read, in the reader's
    language (see core.notify).
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at", "id"),
                      Index("ix_notifications_user_group", "user_id", "group_key"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict] = mapped_column(JSONType, default=dict)
    link: Mapped[str | None] = mapped_column(String(300))
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The council whose data it speaks of, if any: a clerk moved to another council must stop
    # reading the old one's (core.notify.leave_council).
    council_id: Mapped[int | None] = mapped_column(ForeignKey("councils.id", ondelete="SET NULL"), index=True)
    # What it is about ("ticket:42", "asset:7"): news of the same thing arriving within a few
    # minutes updates the unread notification instead of adding one (core.notify).
    group_key: Mapped[str | None] = mapped_column(String(60))


class OutboxMail(db.Model):
    """A mail waiting to be sent, written in the same transaction as the change it reports.

    A crash or an SMTP outage therefore never loses a notification that was committed; the
    sender retries with backoff.
    """

    __tablename__ = "outbox_mail"
    __table_args__ = (Index("ix_outbox_mail_pending", "sent_at", "next_attempt_at"),
                      Index("ix_outbox_mail_group", "to_address", "group_key"))

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    to_address: Mapped[str] = mapped_column(String(254))
    # As on notifications: a queued mail about a council a clerk has left is dropped.
    council_id: Mapped[int | None] = mapped_column(ForeignKey("councils.id", ondelete="SET NULL"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="ca")
    kind: Mapped[str] = mapped_column(String(60), default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failed: Mapped[bool] = mapped_column(default=False)
    # Threading (support.mail): the Message-ID given when queued, so that it can be remembered
    # against what the mail is about before it is sent, and the References it answers.
    message_id: Mapped[str | None] = mapped_column(String(300))
    references: Mapped[str | None] = mapped_column(Text)
    # As on notifications: a mail still queued about the same thing is rewritten, not doubled.
    group_key: Mapped[str | None] = mapped_column(String(60))


class OfficeHoliday(db.Model):
    """A local holiday or festivity the office does not work (the town's festa major, a
    bridge day), added by admins in the app on top of the country's public holidays, which
    come from the `holidays` package (core.calendar)."""

    __tablename__ = "office_holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

"""Mail intake's tables: mailboxes polled over IMAP, every message received (kept raw before
anything else happens), the Message-IDs that thread mail to tickets, and the automatic
acknowledgements sent (one per address and day)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from extensions import db

# What processing made of a message; "pending" until it has been processed once, "discarded"
# when someone threw a held or failed message away (it is kept, never deleted).
STATUSES = ("pending", "created", "appended", "held", "ignored", "duplicate", "failed", "discarded")
OUTCOMES = ("created", "appended", "held", "ignored", "duplicate", "failed")
SOURCES = ("imap", "pipe", "api")
SECURITY = ("ssl", "starttls", "none")
AUTH_KINDS = ("password", "xoauth2")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Mailbox(db.Model):
    """An IMAP mailbox the scheduler reads.

    Secrets (the password, or the OAuth client secret and refresh token) are stored
    encrypted with the MAIL_SECRET_KEYS ring (core.crypto); the access token too, as it is a
    credential for its lifetime. `uidvalidity` and `last_uid` say where reading stopped: a
    changed UIDVALIDITY means the UIDs were renumbered, and the mailbox is read again from the
    start (duplicates are then recognised by Message-ID and hash, never made into tickets).
    """

    __tablename__ = "mail_mailboxes"
    __table_args__ = (
        CheckConstraint(_in_list("security", SECURITY), name="security_known"),
        CheckConstraint(_in_list("auth", AUTH_KINDS), name="auth_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer, default=993)
    security: Mapped[str] = mapped_column(String(10), default="ssl")
    folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    processed_folder: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str] = mapped_column(String(254))
    auth: Mapped[str] = mapped_column(String(10), default="password")
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_token_url: Mapped[str] = mapped_column(String(500), default="")
    oauth_client_id: Mapped[str] = mapped_column(String(300), default="")
    oauth_client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_scope: Mapped[str] = mapped_column(String(500), default="")
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When admins were last told this mailbox is not being read (or its token expires):
    # one alert per episode, not one a minute.
    alerted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    token_alerted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundMail(db.Model):
    """A message as received, stored before it is processed.

    The raw bytes are kept in a file under DATA_DIR/mail named by their SHA-256
    (`storage_name`): a 25 MB message in a database row would weigh on every backup, WAL and
    replica, while the attachments' store already keeps files outside the database with the
    same care (0600, outside the web root); naming by hash stores the same message received
    twice (IMAP and pipe) once.

    `dedupe_key` (the Message-ID, or the hash when there is none) is set only on the message
    that was made into something, in the same transaction: it is unique, so the second copy of
    a message, however it arrives and however close in time, can only end as a duplicate.
    """

    __tablename__ = "mail_inbound"
    __table_args__ = (
        CheckConstraint(_in_list("status", STATUSES), name="status_known"),
        CheckConstraint(_in_list("source", SOURCES), name="source_known"),
        UniqueConstraint("mailbox_id", "uidvalidity", "uid"),
        Index("ix_mail_inbound_status", "status", "id"),
        Index("ix_mail_inbound_message_id", "message_id"),
        Index("ix_mail_inbound_ticket", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(8))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mail_mailboxes.id", ondelete="SET NULL"))
    uid: Mapped[int | None] = mapped_column(BigInteger)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_name: Mapped[str | None] = mapped_column(String(80))
    message_id: Mapped[str] = mapped_column(String(300), default="")
    dedupe_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    from_address: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_comments.id", ondelete="SET NULL"))
    council_id: Mapped[int | None] = mapped_column(ForeignKey("councils.id", ondelete="SET NULL"))
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class TicketMessageId(db.Model):
    """A Message-ID that belongs to a ticket's thread: received with it, or sent by the office
    about it. A reply naming one in In-Reply-To or References is a reply to that ticket."""

    __tablename__ = "mail_ticket_message_ids"
    __table_args__ = (Index("ix_mail_ticket_message_ids_ticket", "ticket_id", "created_at"),)

    message_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    outgoing: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailAcknowledgement(db.Model):
    """An automatic acknowledgement sent to an address on an office-local day: the primary key
    is the rule "at most one a day", decided by the database (ON CONFLICT DO NOTHING)."""

    __tablename__ = "mail_acknowledgements"
    __table_args__ = (PrimaryKeyConstraint("address", "day"),)

    address: Mapped[str] = mapped_column(String(254))
    day: Mapped[dt.date] = mapped_column(Date)

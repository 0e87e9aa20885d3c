"""Users, personal API tokens and the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import ClassVar

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    or_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from agreements.models import Council
from core.db import UTCDateTime, utcnow
from core.scope import CouncilOwned, add_clerk_criteria
from extensions import db

ROLE_CHOICES = ("admin", "manager", "technician", "clerk")
LANGUAGE_CHOICES = ("ca", "es", "en")

JSONType = JSON().with_variant(JSONB(), "postgresql")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'manager', 'technician', 'clerk')", name="role_known"),
        # A clerk belongs to exactly one council; office staff belong to none.
        CheckConstraint(
            "(role = 'clerk' AND council_id IS NOT NULL) OR "
            "(role <> 'clerk' AND council_id IS NULL)",
            name="council_iff_clerk",
        ),
        # Stored lower-cased so that the unique constraint is case-insensitive on both databases.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint(
            "preferred_language IS NULL OR preferred_language IN ('ca', 'es', 'en')",
            name="language_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    council_id: Mapped[int | None] = mapped_column(
        ForeignKey("councils.id", ondelete="RESTRICT"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    preferred_language: Mapped[str | None] = mapped_column(String(5))
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # No longer read: sessions are server-side records now (UserSession), ended one by one or
    # all together. Kept because dropping a column rebuilds the users table on SQLite.
    auth_version: Mapped[int] = mapped_column(Integer, default=0)

    council: Mapped[Council | None] = relationship(lazy="joined")

    @property
    def is_active(self) -> bool:  # Flask-Login asks this
        return bool(self.active)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session cookie and in the remember-me cookie: the key
        of one server-side session of this user (accounts.sessions), never the bare user id,
        so that ending that session on the server ends both cookies.

        Sign-in binds the session it opens before Flask-Login asks. Asked on a user no session
        is bound to (tests and tools that sign a client in without the form), it opens one.
        """
        key = getattr(self, "_session_key", None)
        if key is None:
            key = User.open_session(self)
        return key

    # Set by accounts.sessions when it is imported (it needs the models; the models never
    # import it back).
    open_session: ClassVar[Callable[[User], str]]

    # By id, not by get_id() as UserMixin does: comparing two users must not open sessions.
    def __eq__(self, other):
        return isinstance(other, User) and other.id == self.id

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = object.__hash__

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "manager", "technician")

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


# A clerk sees office staff (assignees, authors) and the people of their own council only.
add_clerk_criteria(
    User, lambda cid: lambda cls: or_(cls.council_id.is_(None), cls.council_id == cid)
)


class UserSession(db.Model):
    """One signed-in browser: the session cookie and the remember-me cookie carry its id and a
    secret whose SHA-256 is stored here. A session ends when it is signed out, ended from the
    account page, when every session of the user ends (password change, sign out everywhere,
    deactivation, role change), after `SESSION_IDLE_TIMEOUT` without a request, or at
    `expires_at` (the absolute lifetime)."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id_ended_at", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64))
    remembered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(24))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip_address: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[User] = relationship(lazy="joined")


class TotpCredential(db.Model):
    """A user's authenticator app (RFC 6238, 30 s steps, 6 digits). The seed is encrypted
    with the TOTP_ENCRYPTION_KEYS ring (core.crypto); `enabled_at` is empty until the user
    has typed a first code; `last_step` is the time step of the last code accepted, so that
    no code is accepted twice."""

    __tablename__ = "totp_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_ciphertext: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(db.Model):
    """Single-use codes for when the phone is lost; only their SHA-256 is stored."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApiToken(db.Model):
    """A personal token; only the SHA-256 of its secret part is stored. Every token expires
    (`expires_at`, chosen at creation, at most API_TOKEN_MAX_DAYS away)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def expired(self) -> bool:
        return self.expires_at <= utcnow()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired


class OptionalCouncil(CouncilOwned):
    """Like CouncilOwned (and scoped the same way) but for rows that may belong to none."""

    @declared_attr
    def council_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("councils.id", ondelete="SET NULL"), index=True, nullable=True)


class AuditEntry(OptionalCouncil, db.Model):
    """Who changed what, when, with the values before and after.

    Rows are only ever inserted. `council_id` lets a clerk read the history of their own
    council's objects (an asset's history) and nothing else.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Kept as text too: the log must still say who it was after the user is gone.
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    object_label: Mapped[str] = mapped_column(String(200), default="")
    changes: Mapped[dict] = mapped_column(JSONType, default=dict)

    actor: Mapped[User | None] = relationship(lazy="joined")

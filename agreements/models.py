"""Councils, the population bands that set default allowances, agreements and closed months."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.scope import CouncilOwned, register_council_table
from extensions import db

if TYPE_CHECKING:  # accounts.models imports this module
    from accounts.models import User

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
CODE_PATTERN = r"^[A-Z0-9]{2,8}$"


class Council(db.Model):
    __tablename__ = "councils"
    __table_args__ = (
        CheckConstraint("population >= 0", name="population_not_negative"),
        CheckConstraint("length(code) BETWEEN 2 AND 8", name="code_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    comarca: Mapped[str] = mapped_column(String(80), default="")
    population: Mapped[int] = mapped_column(Integer)
    population_year: Mapped[int | None] = mapped_column(Integer)
    area_km2: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(Text, default="")
    # The language its reports and mails are written in.
    language: Mapped[str] = mapped_column(String(5), default="ca")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Madrid")
    # One way from the office, in minutes: the day plan shows it before each visit and
    # offers it when a visit's time is logged.
    travel_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    domain_rows: Mapped[list[CouncilMailDomain]] = relationship(
        back_populates="council", lazy="select", cascade="all, delete-orphan", order_by="CouncilMailDomain.domain")

    @property
    def mail_domains(self) -> list[str]:
        return [row.domain for row in self.domain_rows]

    def __repr__(self) -> str:
        return f"<Council {self.slug}>"


class CouncilMailDomain(CouncilOwned, db.Model):
    """A mail domain of a council: mail from an address there is the council's (support.mail).

    The domain is the primary key, so the database itself keeps one domain to one council.
    """

    __tablename__ = "council_mail_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    council: Mapped[Council] = relationship(back_populates="domain_rows", lazy="select")


# A clerk sees only their own council's row (core.scope).
register_council_table(Council)


class AllowanceBand(db.Model):
    """Population → monthly allowance. Bounds inclusive; the last band is open-ended."""

    __tablename__ = "allowance_bands"
    __table_args__ = (
        CheckConstraint("min_population >= 0", name="min_not_negative"),
        CheckConstraint(
            "max_population IS NULL OR max_population >= min_population", name="max_after_min"
        ),
        CheckConstraint("remote_minutes_month >= 0", name="remote_not_negative"),
        CheckConstraint(
            "onsite_default_minutes_month BETWEEN 90 AND 1680", name="onsite_default_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    min_population: Mapped[int] = mapped_column(Integer, unique=True)
    max_population: Mapped[int | None] = mapped_column(Integer)
    remote_minutes_month: Mapped[int] = mapped_column(Integer)
    onsite_default_minutes_month: Mapped[int] = mapped_column(Integer)


# The contract's defaults (remote / on-site default minutes a month).
DEFAULT_BANDS = (
    (0, 500, 90, 180),
    (501, 1000, 135, 240),
    (1001, 2000, 180, 360),
    (2001, None, 225, 480),
)


ROLLOVERS = ("none", "next_month")
AGREEMENT_STATUSES = ("draft", "active", "ended")


class Agreement(CouncilOwned, db.Model):
    """What a council agreed to: monthly on-site and remote minutes over a period of whole months.

    The allowances are stored when the agreement is made (the remote one from the population
    band when not given), so a later change of population or of the bands never rewrites a
    signed agreement. Periods run from the first day of a month to the last day of a month,
    so each month belongs wholly to one agreement of a council or to none; the service keeps
    periods of one council from overlapping.

    `status` is not stored: it follows from the signing date and the period (see `status_on`),
    so it can never disagree with them.
    """

    __tablename__ = "agreements"
    __table_args__ = (
        CheckConstraint("starts_on <= ends_on", name="period_ordered"),
        CheckConstraint("onsite_minutes_month BETWEEN 90 AND 1680", name="onsite_range"),
        CheckConstraint("remote_minutes_month >= 0", name="remote_not_negative"),
        CheckConstraint("rollover IN ('none', 'next_month')", name="rollover_known"),
        # The overlap check and the usage of a month both look a council's agreements up by date.
        Index("ix_agreements_council_period", "council_id", "starts_on", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    onsite_minutes_month: Mapped[int] = mapped_column(Integer)
    remote_minutes_month: Mapped[int] = mapped_column(Integer)
    rollover: Mapped[str] = mapped_column(String(16), default="none")
    # Null while the agreement is a draft (prepared, not signed yet).
    signed_on: Mapped[dt.date | None] = mapped_column(Date)
    document_ref: Mapped[str] = mapped_column(String(120), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    previous_agreement_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreements.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    council: Mapped[Council] = relationship(lazy="joined", innerjoin=True)
    previous: Mapped[Agreement | None] = relationship(remote_side="Agreement.id", lazy="select")

    def status_on(self, today: dt.date) -> str:
        if self.signed_on is None:
            return "draft"
        if self.ends_on < today:
            return "ended"
        return "active"

    @property
    def status(self) -> str:
        from agreements.months import office_today

        return self.status_on(office_today())

    @property
    def first_month(self) -> dt.date:
        return self.starts_on.replace(day=1)

    @property
    def last_month(self) -> dt.date:
        return self.ends_on.replace(day=1)

    def covers(self, month: dt.date) -> bool:
        return self.first_month <= month <= self.last_month

    @property
    def months(self) -> int:
        return (self.ends_on.year - self.starts_on.year) * 12 + self.ends_on.month - self.starts_on.month + 1

    def __repr__(self) -> str:
        return f"<Agreement {self.id} council={self.council_id} {self.starts_on}..{self.ends_on}>"


class MonthClose(CouncilOwned, db.Model):
    """A council's month, closed: its time entries can no longer change.

    One row per council and month; its existence is the lock. Figures of a closed month are
    still computed from the entries (nothing is copied), and since the entries cannot change,
    neither can the figures. Corrections land in an open month and reference the original.
    """

    __tablename__ = "month_closes"
    __table_args__ = (UniqueConstraint("council_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The first day of the month.
    month: Mapped[dt.date] = mapped_column(Date)
    closed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    closed_by: Mapped[User | None] = relationship("User", lazy="joined")

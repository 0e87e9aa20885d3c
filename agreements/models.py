"""Councils and the population bands that set default allowances."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from extensions import db

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
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Council {self.slug}>"


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

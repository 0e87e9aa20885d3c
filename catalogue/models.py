"""The shared-service catalogue: services, each council's subscription to them (wave, status,
dates, people, evidence), the immutable history of status changes, the waves' target dates and
the stalled-rollout alerts already sent."""

from __future__ import annotations

import datetime as dt

from flask import url_for
from flask_babel import get_locale
from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from agreements.models import Council
from core.db import UTCDateTime, utcnow
from core.scope import CouncilOwned
from extensions import db

# Who provides a service: the AOC (Consorci AOC), the provincial diputació, the comarca's own
# office, or a private vendor under contract.
PROVIDERS = ("aoc", "diputacio", "comarca", "vendor")
SERVICE_CATEGORIES = ("e_administration", "transparency", "infrastructure", "communications", "software", "other")
# The ticket categories of the contract ("Tickets"); repeated here rather than imported so the
# catalogue's tables do not depend on the tickets' package (tickets refer to services).
TICKET_CATEGORIES = ("hardware", "software", "network", "e_administration", "transparency_portal", "accounts", "other")
WAVES = ("pilot", "extension", "consolidation")
STATUSES = ("planned", "deploying", "live", "retired")
# The contract's only moves ("Service catalogue and rollout"): forward, plus giving up a plan.
MOVES = {"planned": ("deploying", "retired"), "deploying": ("live",), "live": ("retired",), "retired": ()}
# What "move a wave to its next status" means in bulk.
NEXT_STATUS = {"planned": "deploying", "deploying": "live", "live": "retired"}
ALERT_KINDS = ("stalled", "overdue")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Service(db.Model):
    """A service the office rolls out to councils (e-TRAM, the transparency portal...).

    Never deleted once councils use it: `active` false retires it from new subscriptions.
    `default_team_id`: the team a request about it goes to (support.teams), or none.
    """

    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint(_in_list("provider", PROVIDERS), name="provider_known"),
        CheckConstraint(_in_list("category", SERVICE_CATEGORIES), name="category_known"),
        CheckConstraint("ticket_category IS NULL OR " + _in_list("ticket_category", TICKET_CATEGORIES),
                        name="ticket_category_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_ca: Mapped[str] = mapped_column(String(120), default="")
    name_es: Mapped[str] = mapped_column(String(120), default="")
    name_en: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(16), default="comarca")
    category: Mapped[str] = mapped_column(String(24), default="other")
    documentation_url: Mapped[str] = mapped_column(String(500), default="")
    ticket_category: Mapped[str | None] = mapped_column(String(24))
    default_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def display_name(self, language: str | None = None) -> str:
        """The name in the reader's language, else the service's own name (often a brand)."""
        if language is None:
            locale = get_locale()
            language = locale.language if locale else "ca"
        return getattr(self, f"name_{language}", "") or self.name

    @property
    def local_name(self) -> str:
        return self.display_name()

    def __repr__(self) -> str:
        return f"<Service {self.code}>"


class ServiceWave(db.Model):
    """The target date by which a wave of a service's rollout should be live."""

    __tablename__ = "service_waves"
    __table_args__ = (
        UniqueConstraint("service_id", "wave"),
        CheckConstraint(_in_list("wave", WAVES), name="wave_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    wave: Mapped[str] = mapped_column(String(16))
    target_on: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")


class CouncilService(CouncilOwned, db.Model):
    """One council's subscription to one service: where its rollout stands."""

    __tablename__ = "council_services"
    __table_args__ = (
        UniqueConstraint("council_id", "service_id"),
        CheckConstraint(_in_list("wave", WAVES), name="wave_known"),
        CheckConstraint(_in_list("status", STATUSES), name="status_known"),
        # The rollout page and the bulk moves select a service's councils by wave and status.
        Index("ix_council_services_service_wave", "service_id", "wave", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"))
    wave: Mapped[str] = mapped_column(String(16), default="pilot")
    status: Mapped[str] = mapped_column(String(16), default="planned")
    status_since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    planned_on: Mapped[dt.date | None] = mapped_column(Date)
    live_on: Mapped[dt.date | None] = mapped_column(Date)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    contact: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    evidence_url: Mapped[str] = mapped_column(String(500), default="")
    # A file kept under DATA_DIR/catalogue-evidence (stored name, random), shown and offered for
    # download under its original name cleaned (catalogue.evidence); its type was decided from
    # its bytes at upload and is the one it is served as.
    evidence_file: Mapped[str | None] = mapped_column(String(80))
    evidence_filename: Mapped[str] = mapped_column(String(200), default="")
    evidence_content_type: Mapped[str | None] = mapped_column(String(100))
    evidence_size: Mapped[int | None] = mapped_column(Integer)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_uploaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_review_on: Mapped[dt.date | None] = mapped_column(Date)
    # Any change of the record (not only of status): "no change in N days" is counted from here.
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    service: Mapped[Service] = relationship(lazy="joined", innerjoin=True)
    council: Mapped[Council] = relationship(lazy="joined", innerjoin=True)
    technician: Mapped[User | None] = relationship(lazy="joined")

    @property
    def evidence_info(self) -> dict | None:
        """The evidence file as the API describes it, or None."""
        if not self.evidence_file:
            return None
        return {"filename": self.evidence_filename, "content_type": self.evidence_content_type or "",
                "size": self.evidence_size or 0,
                "url": url_for("catalogue.evidence_download", service_id=self.service_id, council_id=self.council_id)}

    @property
    def code(self) -> str:
        return self.service.code

    @property
    def name(self) -> str:
        return self.service.name

    def __repr__(self) -> str:
        return f"<CouncilService {self.council_id}:{self.service_id} {self.status}>"


class ServiceStatusChange(CouncilOwned, db.Model):
    """One change of a subscription's status: who, when, from, to, why. Written once, never
    changed or deleted (the mapper events below refuse it), so the rollout's story stays true."""

    __tablename__ = "service_status_changes"
    __table_args__ = (
        Index("ix_service_status_changes_subscription", "council_service_id", "id"),
        CheckConstraint("from_status IS NULL OR " + _in_list("from_status", STATUSES), name="from_status_known"),
        CheckConstraint(_in_list("to_status", STATUSES), name="to_status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    council_service_id: Mapped[int] = mapped_column(ForeignKey("council_services.id", ondelete="RESTRICT"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User | None] = relationship(lazy="joined")


class HistoryIsImmutable(Exception):
    pass


@event.listens_for(ServiceStatusChange, "before_update")
def _refuse_update(_mapper, _connection, target):
    raise HistoryIsImmutable(f"status change {target.id} cannot be changed")


@event.listens_for(ServiceStatusChange, "before_delete")
def _refuse_delete(_mapper, _connection, target):
    raise HistoryIsImmutable(f"status change {target.id} cannot be deleted")


class RolloutAlert(CouncilOwned, db.Model):
    """A stalled-rollout alert that was sent. The unique key makes the job idempotent: it
    claims an alert by inserting its row, and notifies only when the insert took. `key` is the
    date the alert is about (the last change for `stalled`, the target for `overdue`), so a
    subscription that moves and stalls again is alerted again."""

    __tablename__ = "rollout_alerts"
    __table_args__ = (
        UniqueConstraint("council_service_id", "kind", "key"),
        CheckConstraint(_in_list("kind", ALERT_KINDS), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    council_service_id: Mapped[int] = mapped_column(ForeignKey("council_services.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[dt.date] = mapped_column(Date)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

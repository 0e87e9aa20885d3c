"""What the reports keep: the archive of generated files, the monthly deliveries, and each
council's choice to publish its figures.

Figures themselves are never stored: every report is computed from the ledger, the tickets
and the health checks when it is asked for, through the same services as the pages and the
API, so no report can drift from them. Only the *files* sent out are kept, as they were sent:
an archived report is evidence of what the office delivered, and is never regenerated.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agreements.models import Council
from core.db import UTCDateTime, utcnow
from core.scope import CouncilOwned
from extensions import db

ARCHIVE_KINDS = ("council_month", "office_month")
ARCHIVE_FORMATS = ("pdf", "xlsx", "csv")
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReportArchive(CouncilOwned, db.Model):
    """A generated report file, kept as it was generated (the file is written once, read-only,
    and its SHA-256 is checked on every download).

    `key` names what the file is (kind, council or office, period, language, format); being
    unique, it makes generation idempotent: whoever inserts the key first owns the report,
    and a second run, in this process or another, finds it and generates nothing.

    An office report belongs to no council (`council_id` null): the council scope, which keeps
    a clerk to rows of their own council, therefore never shows it to a clerk.
    """

    __tablename__ = "report_archives"
    __table_args__ = (
        UniqueConstraint("key"),
        CheckConstraint(_in("kind", ARCHIVE_KINDS), name="kind_known"),
        CheckConstraint(_in("format", ARCHIVE_FORMATS), name="format_known"),
        CheckConstraint("(kind = 'office_month') = (council_id IS NULL)", name="council_matches_kind"),
        CheckConstraint("period_start <= period_end", name="period_ordered"),
        # The archive page: newest periods first, per council for clerks.
        Index("ix_report_archives_period", "period_start", "id"),
        Index("ix_report_archives_council_period", "council_id", "period_start", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # CouncilOwned's column, nullable here (office reports) and indexed by the index above.
    council_id: Mapped[int | None] = mapped_column(ForeignKey("councils.id", ondelete="RESTRICT"))
    key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(5))
    format: Mapped[str] = mapped_column(String(8))
    filename: Mapped[str] = mapped_column(String(200))
    storage_name: Mapped[str] = mapped_column(String(80), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Null: the scheduler's monthly delivery.
    generated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    council: Mapped[Council | None] = relationship(lazy="joined")

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def __repr__(self) -> str:
        return f"<ReportArchive {self.key}>"


class ReportDelivery(db.Model):
    """The monthly delivery of one period: claimed once (unique period), completed once.

    The job runs every day; on the first working day of a month (or the first run after it,
    should the scheduler have been down) it finds no completed delivery for last month and
    does it. Each mail is claimed separately (ReportDeliveryMail), so a run cut short is
    finished by the next one without sending anything twice.
    """

    __tablename__ = "report_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[dt.date] = mapped_column(Date, unique=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    archives: Mapped[int] = mapped_column(Integer, default=0)
    mails: Mapped[int] = mapped_column(Integer, default=0)


class ReportDeliveryMail(db.Model):
    """One mail of a delivery: to a manager (`user:<id>`) or to a council's contact
    (`council:<id>`), with the archived report it carries. The unique (delivery, recipient)
    is the claim: the mail is queued in the transaction that inserts this row."""

    __tablename__ = "report_delivery_mails"
    __table_args__ = (UniqueConstraint("delivery_id", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("report_deliveries.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(254))
    archive_id: Mapped[int] = mapped_column(ForeignKey("report_archives.id", ondelete="RESTRICT"), index=True)
    outbox_mail_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_mail.id", ondelete="SET NULL"),
                                                       unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportPublication(CouncilOwned, db.Model):
    """Whether a council publishes its figures on /public/<slug>. No row means no: publishing
    is the council's decision, taken explicitly, never a default."""

    __tablename__ = "report_publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    council_id: Mapped[int] = mapped_column(ForeignKey("councils.id", ondelete="CASCADE"), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

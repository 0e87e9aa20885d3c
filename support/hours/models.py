"""The hours ledger's tables: time entries, and the usage alerts already announced."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from agreements.models import Council
from core.db import UTCDateTime, utcnow
from core.scope import CouncilOwned
from extensions import db

MODES = ("onsite", "remote")
THRESHOLDS = (80, 100)


class TimeEntry(CouncilOwned, db.Model):
    """Time a technician spent for a council on one day, on site or remotely.

    `month` (the first day of the entry's month) is stored, set by the service from `date`,
    because every usage figure groups by it: an aggregate over a stored column with a covering
    index is several times faster than one grouped on an expression (docs/lessons.md).

    A correction (`corrects_entry_id` set) is an entry in an open month that adjusts an entry
    of a closed month; its minutes (and travel) are a signed delta and count in the month it
    is dated in, so a closed month's figures never change.

    `ticket_id` links the work to a ticket of the same council (checked by the service).
    """

    __tablename__ = "time_entries"
    __table_args__ = (
        CheckConstraint("mode IN ('onsite', 'remote')", name="mode_known"),
        CheckConstraint("minutes BETWEEN -1440 AND 1440", name="minutes_range"),
        CheckConstraint("travel_minutes BETWEEN -1440 AND 1440", name="travel_range"),
        CheckConstraint("corrects_entry_id IS NOT NULL OR (minutes >= 1 AND travel_minutes >= 0)",
                        name="entry_positive"),
        CheckConstraint("mode = 'onsite' OR travel_minutes = 0", name="travel_onsite_only"),
        # Covers the usage aggregates: a council-month (or a council's year) is read from the
        # index alone, without visiting the table.
        Index("ix_time_entries_usage", "council_id", "month", "mode", "minutes", "travel_minutes"),
        # The same for every council at once (the office dashboard, yearly reports): a range
        # of months is one contiguous slice of this index.
        Index("ix_time_entries_month_usage", "month", "council_id", "mode", "minutes", "travel_minutes"),
        Index("ix_time_entries_technician_date", "technician_id", "date", "id"),
        Index("ix_time_entries_council_date", "council_id", "date", "id"),
        # A ticket's page shows the time logged on it, and its total.
        Index("ix_time_entries_ticket", "ticket_id", "date", "id"),
        # Hours per service per council over a range of months, read from the index alone.
        Index("ix_time_entries_service_usage", "service_id", "month", "council_id", "mode", "minutes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    date: Mapped[dt.date] = mapped_column(Date)
    month: Mapped[dt.date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    # No ON DELETE action: tickets are never deleted (see corrects_entry_id for why not RESTRICT).
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # The catalogue's service the work was for (catalogue/); services are never deleted.
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    travel_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # No ON DELETE action (the default check at the end of the statement) rather than RESTRICT,
    # which SQLite applies row by row even within one statement deleting both rows.
    corrects_entry_id: Mapped[int | None] = mapped_column(ForeignKey("time_entries.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    technician: Mapped[User] = relationship(foreign_keys=[technician_id], lazy="joined", innerjoin=True)
    council: Mapped[Council] = relationship(lazy="joined", innerjoin=True)
    corrects: Mapped[TimeEntry | None] = relationship(remote_side="TimeEntry.id", lazy="select")

    @property
    def is_correction(self) -> bool:
        return self.corrects_entry_id is not None

    def __repr__(self) -> str:
        return f"<TimeEntry {self.id} council={self.council_id} {self.date} {self.mode} {self.minutes}>"


class UsageAlert(CouncilOwned, db.Model):
    """A threshold of a council's monthly allowance that was crossed and announced.

    The row is the claim: whoever inserts it (INSERT ... ON CONFLICT DO NOTHING) sends the
    notifications, in the same transaction, so each threshold is announced exactly once per
    council, month and mode, however many entries cross it at the same moment.
    """

    __tablename__ = "usage_alerts"
    __table_args__ = (
        UniqueConstraint("council_id", "month", "mode", "threshold"),
        CheckConstraint("mode IN ('onsite', 'remote')", name="mode_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(8))
    threshold: Mapped[int] = mapped_column(Integer)
    used_minutes: Mapped[int] = mapped_column(Integer)
    allowance_minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The scale-out's own tables: the keys of work already done, and the tasks that gave up."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, utcnow
from extensions import db


class TaskKey(db.Model):
    """One unit of work done, by its key ("ssh:<asset>:<due time>", "job:<run id>"...).

    A task inserts its key in the same transaction as its results: a redelivered task (its
    worker died after the commit and before the acknowledgement) finds the key and records
    nothing twice. The rows also give the operations page its tasks per minute.
    """

    __tablename__ = "scale_task_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(80))
    done_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DeadLetter(db.Model):
    """A task that failed for good (after its retries): kept for an administrator to see."""

    __tablename__ = "scale_dead_letters"
    __table_args__ = (Index("ix_scale_dead_letters_failed_at", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(120))
    task_id: Mapped[str] = mapped_column(String(64), default="")
    args: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The scale-out's rules: keys of work done, dead letters, and the figures of the operations page."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.db import utcnow, write_transaction
from extensions import db
from scale.models import DeadLetter, TaskKey


class AlreadyDone(Exception):
    """The task's key is already there: another delivery of it committed its work."""


def claim_key(key: str, task: str, now: dt.datetime | None = None) -> None:
    """Insert the task's key in the current transaction; AlreadyDone when it is there.

    Called inside the transaction that writes the task's results, so the key and the
    results commit together or not at all.
    """
    try:
        with db.session.begin_nested():
            db.session.execute(TaskKey.__table__.insert().values(key=key[:200], task=task[:80],
                                                                 done_at=now or utcnow()))
    except IntegrityError as exc:
        raise AlreadyDone(key) from exc


def is_done(key: str) -> bool:
    found = db.session.scalar(select(TaskKey.id).where(TaskKey.key == key[:200]))
    db.session.commit()
    return found is not None


def record_dead_letter(task: str, task_id: str, args, error: str, now: dt.datetime | None = None) -> None:
    try:
        text = json.dumps(args, default=str, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(args)
    with write_transaction():
        db.session.add(DeadLetter(task=task[:120], task_id=(task_id or "")[:64], args=text[:4000],
                                  error=(error or "")[-4000:], failed_at=now or utcnow()))


def dead_letters(limit: int = 20) -> tuple[int, list[DeadLetter]]:
    count = db.session.scalar(select(func.count(DeadLetter.id))) or 0
    rows = list(db.session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)))
    return count, rows


def task_figures(now: dt.datetime | None = None, minutes: int = 10) -> dict:
    """Tasks done per minute over the last `minutes`, and failures (dead letters) in that time."""
    now = now or utcnow()
    since = now - dt.timedelta(minutes=minutes)
    done = db.session.scalar(select(func.count(TaskKey.id)).where(TaskKey.done_at >= since)) or 0
    failed = db.session.scalar(select(func.count(DeadLetter.id)).where(DeadLetter.failed_at >= since)) or 0
    by_task = dict(db.session.execute(select(TaskKey.task, func.count(TaskKey.id))
                                      .where(TaskKey.done_at >= since).group_by(TaskKey.task)).all())
    return {"minutes": minutes, "done": done, "per_minute": round(done / minutes, 1), "failed": failed,
            "by_task": by_task}

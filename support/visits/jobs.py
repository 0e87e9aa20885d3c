"""Reminders before a visit (VISIT_REMINDER_HOURS, 48 and 2 hours by default).

`send_visit_reminders(now)` is a plain function: the scheduler calls it every few minutes,
tests pass a frozen `now`. A reminder is claimed by inserting its `visit_reminders` row
(unique per visit, offset and start) in the same transaction as its mail, so a second run or
a second scheduler sends nothing again, and a visit moved to another time is reminded anew.
When several offsets are due at once (a visit booked late, or the scheduler down for a
while) only one mail goes; a reminder whose moment came before the visit was booked or moved
is not sent at all: the booking's own mail has just told them.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from core.db import write_transaction
from core.scope import unrestricted
from extensions import db
from remote import scheduler
from support.visits import mails
from support.visits.models import Visit, VisitReminder


def reminder_hours(config=None) -> list[int]:
    raw = (config or current_app.config).get("VISIT_REMINDER_HOURS", (48, 2))
    if isinstance(raw, str):
        raw = [part for part in raw.replace(";", ",").split(",") if part.strip()]
    out = set()
    for value in raw or ():
        try:
            hours = int(value)
        except (TypeError, ValueError):
            continue
        if 0 < hours <= 24 * 30:
            out.add(hours)
    return sorted(out, reverse=True)


def _claim(visit: Visit, hours: int, now: dt.datetime) -> bool:
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (insert(VisitReminder).values(visit_id=visit.id, hours=hours, starts_at=visit.starts_at, sent_at=now)
            .on_conflict_do_nothing(index_elements=["visit_id", "hours", "starts_at"]).returning(VisitReminder.id))
    return db.session.execute(stmt).first() is not None


def send_visit_reminders(now: dt.datetime) -> dict:
    offsets = reminder_hours()
    if not offsets:
        return {"reminders": 0}
    sent = 0
    with unrestricted():
        db.session.commit()
        ids = list(db.session.scalars(select(Visit.id).where(
            Visit.status == "booked", Visit.starts_at > now,
            Visit.starts_at <= now + dt.timedelta(hours=offsets[0])).order_by(Visit.starts_at, Visit.id)))
        db.session.commit()
        for visit_id in ids:
            # One transaction per visit: a failure costs that visit's reminder only, retried next run.
            with write_transaction():
                sent += _remind(visit_id, offsets, now)
    return {"reminders": sent}


def _remind(visit_id: int, offsets: list[int], now: dt.datetime) -> int:
    visit = db.session.scalar(select(Visit).where(Visit.id == visit_id))
    if visit is None or visit.status != "booked" or visit.starts_at <= now:
        return 0
    due = [h for h in offsets if visit.starts_at - dt.timedelta(hours=h) <= now]
    claimed = [h for h in due if _claim(visit, h, now)]
    if not claimed:
        return 0
    moment = visit.starts_at - dt.timedelta(hours=min(claimed))
    if (visit.changed_at or visit.created_at) >= moment:
        return 0
    return 1 if mails.queue_reminder(visit) else 0


def register_jobs() -> None:
    scheduler.register_job(
        "support.visit_reminders", send_visit_reminders,
        lambda c: scheduler.interval(int(c.get("VISIT_REMINDER_CHECK_SECONDS", 300))),
        description="Visit reminders before each visit (VISIT_REMINDER_HOURS)")

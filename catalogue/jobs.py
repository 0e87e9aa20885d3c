"""Alerts for a stalled rollout: a council's service that has not changed in
`CATALOGUE_STALLED_DAYS` days while planned or deploying, or whose target date (the wave's, or
else the council's planned date) has passed without going live.

`send_rollout_alerts(today)` is a plain function: the scheduler process calls it daily; tests
pass a frozen `today`. Each alert is claimed by inserting its `rollout_alerts` row (unique per
record, kind and date) in the same transaction as the notifications, so a second run or a
second scheduler sends nothing again; a record that moves and stalls anew has a new date and
is alerted again. Alerts go to the managers and to the record's responsible technician.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import User
from catalogue.models import CouncilService, RolloutAlert, ServiceWave
from core import notify
from core.db import write_transaction
from core.scope import unrestricted
from extensions import db
from remote import scheduler

KIND = "catalogue.stalled"
OPEN_STATUSES = ("planned", "deploying")
DEFAULT_STALLED_DAYS = 60


def _claim(sub: CouncilService, kind: str, key: dt.date) -> bool:
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (insert(RolloutAlert).values(council_service_id=sub.id, council_id=sub.council_id, kind=kind, key=key)
            .on_conflict_do_nothing(index_elements=["council_service_id", "kind", "key"]).returning(RolloutAlert.id))
    return db.session.execute(stmt).first() is not None


def due_alerts(today: dt.date, stalled_days: int) -> list[tuple[int, str, dt.date]]:
    """(record id, kind, key date) of every alert that applies on `today`."""
    zone = ZoneInfo(current_app.config["OFFICE_TIMEZONE"])
    targets = {(w.service_id, w.wave): w.target_on for w in db.session.scalars(select(ServiceWave))}
    out = []
    for sub in db.session.scalars(select(CouncilService).where(CouncilService.status.in_(OPEN_STATUSES))
                                  .order_by(CouncilService.id)):
        changed = sub.changed_at.astimezone(zone).date()
        if (today - changed).days >= stalled_days:
            out.append((sub.id, "stalled", changed))
        target = targets.get((sub.service_id, sub.wave)) or sub.planned_on
        if target is not None and target < today:
            out.append((sub.id, "overdue", target))
    return out


def send_rollout_alerts(today: dt.date) -> dict:
    stalled_days = int(current_app.config.get("CATALOGUE_STALLED_DAYS", DEFAULT_STALLED_DAYS))
    sent = 0
    with unrestricted():
        db.session.commit()
        alerts = due_alerts(today, stalled_days)
        db.session.commit()
        for sub_id, kind, key in alerts:
            # One transaction per alert: a failure costs that alert only, retried next run.
            with write_transaction():
                sent += _send_one(sub_id, kind, key, today)
    return {"alerts": sent}


def _send_one(sub_id: int, kind: str, key: dt.date, today: dt.date) -> int:
    sub = db.session.scalar(select(CouncilService).where(CouncilService.id == sub_id))
    if sub is None or sub.status not in OPEN_STATUSES or not _claim(sub, kind, key):
        return 0
    users = list(db.session.scalars(select(User).where(User.role == "manager", User.active.is_(True))
                                    .order_by(User.id)))
    if sub.technician is not None and sub.technician.active and sub.technician not in users:
        users.append(sub.technician)
    params = {"kind": kind, "service": sub.service.name, "code": sub.service.code, "council": sub.council.name,
              "status": sub.status, "date": key.isoformat(), "days": (today - key).days}
    notify.notify_users(users, KIND, params, link=notify.link_for("catalogue.subscription", service_id=sub.service_id,
                                                                  council_id=sub.council_id))
    return 1


def _title(p: dict) -> str:
    if p.get("kind") == "overdue":
        return _("Rollout late: %(service)s in %(council)s", service=p["service"], council=p["council"])
    return _("Rollout stalled: %(service)s in %(council)s", service=p["service"], council=p["council"])


def _body(p: dict) -> str:
    when = format_date(dt.date.fromisoformat(p["date"]), "long")
    if p.get("kind") == "overdue":
        return _("The target date was %(date)s and the service is still %(status)s.", date=when,
                 status=_(p["status"]))
    return _("Nothing has changed since %(date)s (%(days)d days); the service is still %(status)s.", date=when,
             days=int(p["days"]), status=_(p["status"]))


def register_kinds() -> None:
    notify.register_kind(KIND, _title, _body)


def register_jobs() -> None:
    scheduler.register_job("catalogue.rollout_alerts", send_rollout_alerts,
                           lambda c: scheduler.daily(7, 45, c.get("OFFICE_TIMEZONE", "Europe/Madrid")),
                           catch_up=dt.timedelta(hours=24), description="Stalled or late service rollouts")

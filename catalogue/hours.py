"""Hours per service: the minutes of the time entries that name a service, per council.

Read from the time entries' `(service_id, month, council_id, mode, minutes)` index; entries
without a service are not counted (they were not about one). Corrections of closed months
are signed deltas and count like any entry, so the figures match the usage reports.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, func, select

from extensions import db
from support.hours.models import TimeEntry


def service_hours(year: int, *, council_id: int | None = None, service_id: int | None = None) -> list[dict]:
    onsite = func.coalesce(func.sum(case((TimeEntry.mode == "onsite", TimeEntry.minutes), else_=0)), 0)
    remote = func.coalesce(func.sum(case((TimeEntry.mode == "remote", TimeEntry.minutes), else_=0)), 0)
    stmt = (select(TimeEntry.service_id, TimeEntry.council_id, onsite, remote)
            .where(TimeEntry.service_id.is_not(None),
                   TimeEntry.month >= dt.date(year, 1, 1), TimeEntry.month <= dt.date(year, 12, 1))
            .group_by(TimeEntry.service_id, TimeEntry.council_id)
            .order_by(TimeEntry.service_id, TimeEntry.council_id))
    if council_id is not None:
        stmt = stmt.where(TimeEntry.council_id == council_id)
    if service_id is not None:
        stmt = stmt.where(TimeEntry.service_id == service_id)
    return [{"service_id": sid, "council_id": cid, "onsite_minutes": int(on), "remote_minutes": int(rem)}
            for sid, cid, on, rem in db.session.execute(stmt)]


def service_hours_rows(year: int, council_id: int | None = None) -> list[dict]:
    """The same figures with the names pages show, by service then council (report pages)."""
    from agreements.models import Council
    from catalogue.models import Service

    items = service_hours(year, council_id=council_id)
    if not items:
        return []
    names = dict(db.session.execute(select(Council.id, Council.name)).all())
    services = {s.id: s for s in db.session.scalars(select(Service))}
    rows = [{**i, "service": services[i["service_id"]].local_name, "council": names.get(i["council_id"], ""),
             "total_minutes": i["onsite_minutes"] + i["remote_minutes"]} for i in items]
    return sorted(rows, key=lambda r: (r["service"].lower(), r["council"].lower()))

"""The dispatcher's week: technicians × days with their visits, free route-day places and
absences, and the on-site requests that have no visit booked yet.

A ticket does not say "on site" in a field of its own; the office's on-site work is what is
physically there: requests about hardware, and any request that already has on-site time
logged against it. Those still open with no booked visit to come are the ones a dispatcher
has to place on a route day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import selectinload

from accounts.models import User
from core.calendar import office_calendar
from extensions import db
from support.hours.models import TimeEntry
from support.teams.models import Absence
from support.tickets.models import OPEN_STATUSES, Ticket
from support.visits import services
from support.visits.models import Visit, VisitSlot

ONSITE_CATEGORIES = ("hardware",)


@dataclass
class Cell:
    day: dt.date
    visits: list = field(default_factory=list)
    free: int = 0  # places left in offered slots that day
    absent: bool = False


@dataclass
class Row:
    user: User
    cells: list[Cell]

    @property
    def visit_count(self) -> int:
        return sum(len(c.visits) for c in self.cells)


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def week_board(monday: dt.date, now: dt.datetime) -> tuple[list[dt.date], set[dt.date], list[Row]]:
    """(days, holidays among them, one row per technician) for the week starting `monday`."""
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    holidays = {d for d in days if d in office_calendar().holidays}
    zone = services.office_zone()
    visits = list(db.session.scalars(services.visits_query(first=days[0], last=days[-1])
                                     .where(Visit.status == "booked")
                                     .options(selectinload(Visit.council), selectinload(Visit.slot))
                                     .order_by(Visit.starts_at, Visit.id)))
    slots = list(db.session.scalars(services.slots_query(first=days[0], last=days[-1])
                                    .where(VisitSlot.status == "open")))
    absences = list(db.session.scalars(select(Absence).where(Absence.starts_on <= days[-1],
                                                             Absence.ends_on >= days[0])))
    busy_ids = {v.technician_id for v in visits} | {s.technician_id for s in slots}
    users = list(db.session.scalars(select(User).where(
        User.active.is_(True), or_(User.role == "technician", User.id.in_(busy_ids or {0})))
        .order_by(User.name, User.id)))
    rows = {u.id: Row(u, [Cell(d) for d in days]) for u in users}
    for visit in visits:
        row = rows.get(visit.technician_id)
        if row is not None:
            row.cells[(visit.starts_at.astimezone(zone).date() - monday).days].visits.append(visit)
    for slot in slots:
        row = rows.get(slot.technician_id)
        if row is not None and slot.starts_at > now and slot.booked < slot.capacity:
            row.cells[(slot.starts_at.astimezone(zone).date() - monday).days].free += slot.capacity - slot.booked
    for absence in absences:
        row = rows.get(absence.user_id)
        if row is None:
            continue
        for cell in row.cells:
            if absence.starts_on <= cell.day <= absence.ends_on:
                cell.absent = True
    for row in rows.values():
        for cell in row.cells:
            if cell.absent or cell.day in holidays:
                cell.free = 0  # not offered (services.is_offered)
    return days, holidays, list(rows.values())


def unbooked_onsite_tickets(now: dt.datetime, limit: int = 100) -> list[Ticket]:
    """Open requests that need someone on site and have no booked visit to come."""
    onsite_time = exists().where(TimeEntry.ticket_id == Ticket.id, TimeEntry.mode == "onsite")
    booked = exists().where(Visit.ticket_id == Ticket.id, Visit.status == "booked", Visit.starts_at > now)
    stmt = (select(Ticket).options(selectinload(Ticket.council), selectinload(Ticket.assignee))
            .where(Ticket.status.in_(OPEN_STATUSES), or_(Ticket.category.in_(ONSITE_CATEGORIES), onsite_time),
                   ~booked)
            .order_by(Ticket.created_at, Ticket.id).limit(limit))
    return list(db.session.scalars(stmt))

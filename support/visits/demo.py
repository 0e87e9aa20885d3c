"""`flask seed-demo`'s teams and visits: two teams that route new tickets, each council's
travel time from the office, fortnightly route days of the three technicians for six
councils, a few visits booked by the councils' clerks (one of them about an open hardware
request), a visit earlier today on the first technician's day plan, and an absence next week,
so the booking, day plan and dispatch pages are not empty."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from accounts.services import get_user_by_email
from core.db import utcnow
from core.demo import DemoContext
from core.scope import unrestricted
from extensions import db
from support.teams import services as teams
from support.tickets.models import OPEN_STATUSES, Ticket
from support.visits import services
from support.visits.models import Visit, VisitSlot

MANAGER = "manager@demo.councildesk.org"
TECHNICIANS = ("tecnic@demo.councildesk.org", "tecnica@demo.councildesk.org", "tecnic2@demo.councildesk.org")
ROUTE_COUNCILS = 6
NOTES = ("L'impressora del registre no imprimeix.", "Revisar el router i la Wi-Fi de la sala de plens.",
         "Instal·lar el lector de targetes del padró.")


def _now(ctx: DemoContext, zone: ZoneInfo) -> dt.datetime:
    real = utcnow()
    if real.astimezone(zone).date() == ctx.today:
        return real
    return dt.datetime.combine(ctx.today, dt.time(7, 30), zone).astimezone(dt.UTC)


def seed(ctx: DemoContext) -> None:
    with unrestricted():
        if db.session.scalar(select(func.count()).select_from(VisitSlot)):
            return
        manager = get_user_by_email(MANAGER)
        techs = [t for t in (get_user_by_email(e) for e in TECHNICIANS) if t is not None]
        if manager is None or not techs:
            return
        zone = ZoneInfo(current_app.config["OFFICE_TIMEZONE"])
        now = _now(ctx, zone)
        _teams(manager, techs)
        councils = sorted(ctx.councils, key=lambda c: c.name)
        for index, council in enumerate(councils):
            # Manresa is the office; the villages lie 10 to 45 minutes away.
            council.travel_minutes = 10 + (index * 7) % 36
        db.session.commit()
        first_slots = []
        for index, council in enumerate(councils[:ROUTE_COUNCILS]):
            tech = techs[index % len(techs)]
            # Each technician's councils on different weekdays (Tuesday to Thursday), 09:00 local.
            weekday = 1 + (index + index // len(techs)) % 3
            day = ctx.today + dt.timedelta(days=1)
            while day.weekday() != weekday:
                day += dt.timedelta(days=1)
            start = dt.datetime.combine(day, dt.time(9, 0), zone)
            slots = services.create_slots({
                "council_id": council.id, "technician_id": tech.id, "starts_at": start, "minutes": 180,
                "capacity": 2, "repeat_weeks": 2, "until": ctx.today + dt.timedelta(days=90)}, actor=manager, now=now)
            first_slots.append((council, slots))
        for index, (council, slots) in enumerate(first_slots[:3]):
            clerk = get_user_by_email(f"secretaria.{council.slug}@demo.councildesk.org") or manager
            offered = [s for s in slots if services.is_offered(s, now)]
            if not offered:
                continue
            ticket = db.session.scalar(select(Ticket).where(
                Ticket.council_id == council.id, Ticket.status.in_(OPEN_STATUSES), Ticket.category == "hardware")
                .order_by(Ticket.id.desc()).limit(1)) if index == 0 else None
            services.book(offered[0].id, {"notes": NOTES[index], "ticket_id": ticket.id if ticket else None},
                          actor=clerk, now=now)
        today_visit = _today_visit(councils[0], techs[0], manager, zone, now, ctx.today)
        if len(techs) > 1:
            monday = ctx.today + dt.timedelta(days=7 - ctx.today.weekday())
            teams.add_absence(techs[1], monday + dt.timedelta(days=3), monday + dt.timedelta(days=4), actor=manager)
        db.session.commit()
        ctx.notes.append(f"Visits: {len(first_slots)} councils with route days"
                         + (f"; the day plan of {techs[0].email} has a visit today." if today_visit else "."))


def _teams(manager, techs) -> None:
    teams.create_team({"name": "Xarxes", "member_ids": [t.id for t in techs[:2]], "categories": ["network"],
                       "assignment": "round_robin"}, actor=manager)
    teams.create_team({"name": "Maquinari", "member_ids": [t.id for t in techs[1:]] or [techs[0].id],
                       "categories": ["hardware"], "assignment": "least_open"}, actor=manager)


def _today_visit(council, tech, manager, zone, now, today) -> bool:
    """A visit at 09:00 today (history, written as it stands: booked days ago), whose time the
    technician logs from the day plan. Skipped on a day the office does not work."""
    if today.weekday() >= 5:
        return False
    start = dt.datetime.combine(today, dt.time(9, 0), zone).astimezone(dt.UTC)
    end = start + dt.timedelta(minutes=120)
    clash = db.session.scalar(select(VisitSlot.id).where(VisitSlot.technician_id == tech.id,
                                                         VisitSlot.starts_at < end, VisitSlot.ends_at > start))
    if clash is not None:
        return False
    booked = now - dt.timedelta(days=3)
    slot = VisitSlot(council_id=council.id, technician_id=tech.id, starts_at=start, ends_at=end, minutes=120,
                     capacity=1, booked=1, status="open", created_at=booked)
    db.session.add(slot)
    db.session.flush()
    db.session.add(Visit(slot_id=slot.id, council_id=council.id, technician_id=tech.id, starts_at=start,
                         booked_by_id=manager.id, notes="Canvi del disc del servidor del padró.", status="booked",
                         sequence=0, created_at=booked, changed_at=booked))
    return True

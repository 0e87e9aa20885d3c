"""Path arguments of the office calendar, teams, absences and visits routes.

Local holidays are office-wide (admins only). Loaded after tests/samples/support.py.
"""

from __future__ import annotations

import datetime as dt


def provide(world, side):
    from core import holiday_pages

    # Local holidays, teams and absences are office-wide, not a council's: both sides name the
    # same ones (so the matrix has no "other council's" copy to expect a 404 for; clerks are
    # refused them by role, which the access tests check).
    from core.models import OfficeHoliday
    from extensions import db
    from support.teams import services as teams
    from support.teams.models import Absence, Team

    day = dt.date(2030, 8, 16)
    holiday = db.session.scalar(db.select(OfficeHoliday).where(OfficeHoliday.day == day)) \
        or holiday_pages.add_local_holiday(day, "Festa major", actor=world.admin)
    team = db.session.scalar(db.select(Team).where(Team.name == "Team office")) \
        or teams.create_team({"name": "Team office", "member_ids": [world.technician.id], "categories": ["network"],
                              "assignment": "round_robin"}, actor=world.manager)
    absence = db.session.scalar(db.select(Absence).where(Absence.user_id == world.technician.id,
                                                         Absence.starts_on == day)) \
        or teams.add_absence(world.technician, day, day, actor=world.manager)
    # A slot a week ahead (two for side "b", which has its own technician-free hours), a
    # business day, with room, and a visit booked by the council's clerk.
    from core.calendar import office_calendar
    from support.visits import services as visits

    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=8 if side == "a" else 9)
    while start.date() in office_calendar().holidays or start.date() in (day,):
        start += dt.timedelta(days=2)
    council = world.council_a if side == "a" else world.council_b
    clerk = world.clerk_a if side == "a" else world.clerk_b
    (slot,) = visits.create_slots({"council_id": council.id, "technician_id": world.manager.id,
                                   "starts_at": start, "minutes": 60, "capacity": 20}, actor=world.manager)
    visit = visits.book(slot.id, {"notes": f"Sample {side}"}, actor=clerk)
    from support.visits import ical

    secret = ical.new_feed_secret(clerk)
    return {"holiday_id": holiday.id, "team_id": team.id, "absence_id": absence.id, "slot_id": slot.id,
            "visit_id": visit.id, "secret": secret}

"""Path arguments of the office calendar, teams, absences and visits routes.

Local holidays are office-wide (admins only). Loaded after tests/samples/support.py.
"""

from __future__ import annotations

import datetime as dt


def provide(world, side):
    from core import holiday_pages
    from support.teams import services as teams

    # Side "b" gets its own day: one holiday per side, as the matrix may delete either.
    day = dt.date(2030, 8, 16) if side == "a" else dt.date(2030, 8, 19)
    holiday = holiday_pages.add_local_holiday(day, f"Festa major {side}", actor=world.admin)
    team = teams.create_team({"name": f"Team {side}", "member_ids": [world.technician.id],
                              "categories": ["network" if side == "a" else "software"], "assignment": "round_robin"},
                             actor=world.manager)
    absence = teams.add_absence(world.technician, day, day, actor=world.manager)
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

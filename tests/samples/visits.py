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
    return {"holiday_id": holiday.id, "team_id": team.id, "absence_id": absence.id}

"""Path arguments of the hours routes: a time entry of today (an open month), by the technician.

Loaded after tests/samples/agreements.py (alphabetical order), whose agreement covers today.
"""

from __future__ import annotations


def provide(world, side):
    from agreements.months import office_today
    from support import services

    council = world.council_a if side == "a" else world.council_b
    entry = services.create_entry(council, {"date": office_today(), "minutes": 45, "mode": "onsite",
                                            "description": f"Sample entry {side}", "travel_minutes": 30},
                                  actor=world.technician)
    return {"entry_id": entry.id}

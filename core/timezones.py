"""Time zones a council (or the office) can be in: IANA names of real places, grouped for a
select, with the zones of the offices we serve first.

`zoneinfo.available_timezones()` alone is not the list: it also holds names that depend on the
server ("localtime"), placeholders ("Factory") and old aliases ("US/Eastern", "EST5EDT").
A council's zone is an Area/Location name (or UTC) that zoneinfo can load.
"""

from __future__ import annotations

import functools
from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l

AREAS = {
    "Europe": _l("Europe"), "America": _l("America"), "Africa": _l("Africa"), "Asia": _l("Asia"),
    "Atlantic": _l("Atlantic"), "Australia": _l("Australia"), "Indian": _l("Indian Ocean"),
    "Pacific": _l("Pacific"), "Antarctica": _l("Antarctica"), "Arctic": _l("Arctic"),
}
# The zones of the offices CouncilDesk serves: Catalonia and Spain, Andorra, Argentina.
FREQUENT = ("Europe/Madrid", "Atlantic/Canary", "Africa/Ceuta", "Europe/Andorra",
            "America/Argentina/Buenos_Aires", "America/Argentina/Cordoba", "America/Argentina/Mendoza",
            "Europe/Lisbon", "Europe/Paris")


@functools.cache
def council_timezones() -> frozenset[str]:
    names = {n for n in available_timezones() if n.split("/", 1)[0] in AREAS and "/" in n}
    return frozenset(names | {"UTC"})


def is_council_timezone(name: str | None) -> bool:
    return isinstance(name, str) and name in council_timezones()


def label(name: str) -> str:
    return name.replace("_", " ")


def choices(current: str | None = None) -> dict:
    """{group label: [(value, label), ...]} for a WTForms SelectField (rendered as optgroups).
    `current`, a stored zone no longer offered (an old alias), is kept at the top so that
    editing something else does not fail."""
    zones = council_timezones()
    groups: dict = {}
    if current and current not in zones:
        groups[_l("Current")] = [(current, label(current))]
    groups[_l("Frequent")] = [(z, label(z)) for z in FREQUENT if z in zones]
    for area, title in AREAS.items():
        names = sorted(z for z in zones if z.startswith(area + "/"))
        if names:
            groups[title] = [(z, label(z)) for z in names]
    groups["UTC"] = [("UTC", "UTC")]
    return groups

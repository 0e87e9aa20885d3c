"""How the catalogue's values are named on pages, in the reader's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from support.tickets.labels import category_labels

STATUS_CLASSES = {"planned": "text-bg-info", "deploying": "text-bg-warning", "live": "text-bg-success",
                  "retired": "text-bg-secondary"}


class Labels:
    providers = {"aoc": _l("Consorci AOC"), "diputacio": _l("Diputació"), "comarca": _l("The comarca's office"),
                 "vendor": _l("A vendor")}
    categories = {"e_administration": _l("E-administration"), "transparency": _l("Transparency"),
                  "infrastructure": _l("Infrastructure"), "communications": _l("Communications"),
                  "software": _l("Software"), "other": _l("Other")}
    statuses = {"planned": _l("planned"), "deploying": _l("deploying"), "live": _l("live"), "retired": _l("retired")}
    waves = {"pilot": _l("pilot"), "extension": _l("extension"), "consolidation": _l("consolidation")}
    classes = STATUS_CLASSES

    @property
    def ticket_categories(self) -> dict:
        return category_labels()

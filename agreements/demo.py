"""Demo councils: the eighteen Bages councils of data/bages_councils.csv."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from agreements import services
from agreements.models import Council
from extensions import db

DATA = Path(__file__).resolve().parent.parent / "data" / "bages_councils.csv"

# Codes a clerk would recognise; derived codes would be fine too, these read better on tickets.
CODES = {
    "Aguilar de Segarra": "AGUILAR", "Avinyó": "AVINYO", "Balsareny": "BALSAREN", "Callús": "CALLUS",
    "Castellbell i el Vilar": "CASTBELL", "Castellfollit del Boix": "CASTFOLL",
    "Castellgalí": "CASTGALI", "Castellnou de Bages": "CASTNOU", "Fonollosa": "FONOLLOS",
    "Gaià": "GAIA", "Marganell": "MARGANEL", "Monistrol de Montserrat": "MONISTRO", "Mura": "MURA",
    "El Pont de Vilomara i Rocafort": "PONTVILO", "Rajadell": "RAJADELL",
    "Sant Feliu Sasserra": "SFSASSER", "Sant Mateu de Bages": "SMBAGES", "Talamanca": "TALAMANC",
}


def read_councils() -> list[dict]:
    with DATA.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def seed() -> list[Council]:
    services.ensure_default_bands()
    councils = []
    for row in read_councils():
        slug = services.slugify(row["name"])
        existing = db.session.scalar(select(Council).where(Council.slug == slug))
        if existing is not None:
            councils.append(existing)
            continue
        councils.append(services.create_council({
            "name": row["name"],
            "code": CODES.get(row["name"]),
            "comarca": row["comarca"],
            "population": int(row["population"]),
            "population_year": int(row["population_year"]),
            "area_km2": Decimal(row["area_km2"]),
            "contact_email": f"ajuntament@{slug}.example.cat",
            "contact_phone": "93 000 00 00",
            "language": "ca",
        }, actor=None))
    return councils

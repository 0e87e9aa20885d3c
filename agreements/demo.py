"""Demo councils (the eighteen Bages councils of data/bages_councils.csv) and their agreements."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from agreements import services
from agreements.bands import ONSITE_MAX, ONSITE_MIN, ensure_default_bands
from agreements.councils import create_council, slugify
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
    ensure_default_bands()
    councils = []
    for row in read_councils():
        slug = slugify(row["name"])
        existing = db.session.scalar(select(Council).where(Council.slug == slug))
        if existing is not None:
            councils.append(existing)
            continue
        councils.append(create_council({
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


# --- agreements ---------------------------------------------------------------------------

FIRST_TERM = (dt.date(2022, 1, 1), dt.date(2025, 12, 31))
RENEWAL_TERM = (dt.date(2026, 1, 1), dt.date(2029, 12, 31))


def _half_hours(minutes: float) -> int:
    """Agreements speak of hours and half hours; clamp to the 1.5–28 h a council may request."""
    return int(min(ONSITE_MAX, max(ONSITE_MIN, round(minutes / 30) * 30)))


def seed_agreements(ctx) -> None:
    """A 2022–2025 agreement per council and its 2026–2029 renewal with about 20 % more on-site
    time. On-site requests grow with the village (1.5 h a month for the smallest, up to 28 h for
    the largest); remote time comes from the population bands."""
    for council in ctx.councils:
        if services.council_agreements(council.id):
            continue
        # Roughly an hour a month per 150 inhabitants, as the councils asked, give or take.
        onsite = _half_hours(council.population / 150 * 60 * ctx.rng.uniform(0.8, 1.2))
        rollover = "next_month" if ctx.rng.random() < 0.35 else "none"
        first = services.create_agreement(council, {
            "starts_on": FIRST_TERM[0], "ends_on": FIRST_TERM[1], "onsite_minutes_month": onsite,
            "remote_minutes_month": None, "rollover": rollover,
            "signed_on": dt.date(2021, 12, ctx.rng.randint(9, 22)),
            "document_ref": f"CCB-CONV-2022-{council.code}",
        }, actor=None, today=ctx.today)
        signed = dt.date(2025, 12, ctx.rng.randint(9, 22))
        services.create_agreement(council, {
            "starts_on": RENEWAL_TERM[0], "ends_on": RENEWAL_TERM[1],
            "onsite_minutes_month": _half_hours(first.onsite_minutes_month * 1.2),
            "remote_minutes_month": None, "rollover": rollover,
            # Before it was signed, the renewal is a draft.
            "signed_on": signed if signed <= ctx.today else None,
            "document_ref": f"CCB-CONV-2026-{council.code}",
        }, actor=None, today=ctx.today)

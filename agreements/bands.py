"""Allowance bands: population ranges and the monthly minutes an agreement gets by default
(remote time by band, on-site time as requested within 1.5 to 28 h). The table is replaced
whole, and must cover every population without gap or overlap.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select

from accounts import audit
from accounts.models import User
from agreements.councils import MAX_POPULATION
from agreements.models import DEFAULT_BANDS, AllowanceBand
from core.errors import ValidationFailed
from extensions import db

# The on-site minutes a council may request a month (1.5 to 28 h), for bands and agreements.
ONSITE_MIN, ONSITE_MAX = 90, 1680
_INVALID = _l("Some fields are not valid.")


def list_bands() -> list[AllowanceBand]:
    return list(db.session.scalars(select(AllowanceBand).order_by(AllowanceBand.min_population)))


def band_for(population: int) -> AllowanceBand | None:
    return db.session.scalar(
        select(AllowanceBand)
        .where(AllowanceBand.min_population <= population,
               or_(AllowanceBand.max_population.is_(None), AllowanceBand.max_population >= population))
        .order_by(AllowanceBand.min_population.desc())
        .limit(1)
    )


def ensure_default_bands() -> None:
    if db.session.scalar(select(func.count()).select_from(AllowanceBand)):
        return
    for lo, hi, remote, onsite in DEFAULT_BANDS:
        db.session.add(AllowanceBand(min_population=lo, max_population=hi,
                                     remote_minutes_month=remote, onsite_default_minutes_month=onsite))
    db.session.commit()


def validate_bands(rows: list[dict]) -> list[dict]:
    """The table must start at 0, leave no gap or overlap, and end open-ended."""
    errors: dict[str, object] = {}
    if not rows:
        raise ValidationFailed(_INVALID, fields={"bands": _l("Give at least one band.")})
    rows = sorted(rows, key=lambda r: (r.get("min_population") is None, r.get("min_population") or 0))
    for i, row in enumerate(rows):
        prefix = f"bands.{i}"
        for key in ("min_population", "remote_minutes_month", "onsite_default_minutes_month"):
            v = row.get(key)
            if v is None or isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_POPULATION:
                errors[f"{prefix}.{key}"] = _l("Enter a whole number, 0 or more.")
        hi = row.get("max_population")
        if hi is not None and (isinstance(hi, bool) or not isinstance(hi, int) or not 0 <= hi <= MAX_POPULATION):
            errors[f"{prefix}.max_population"] = _l("Enter a whole number, or leave it empty for the last band.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    if rows[0]["min_population"] != 0:
        errors["bands.0.min_population"] = _l("The first band must start at 0 inhabitants.")
    for i, row in enumerate(rows):
        onsite = row["onsite_default_minutes_month"]
        if not ONSITE_MIN <= onsite <= ONSITE_MAX:
            errors[f"bands.{i}.onsite_default_minutes_month"] = _l(
                "On-site time must be between 90 and 1680 minutes a month (1.5 to 28 h).")
        hi = row.get("max_population")
        last = i == len(rows) - 1
        if last and hi is not None:
            errors[f"bands.{i}.max_population"] = _l("The last band has no upper limit; leave it empty.")
        if not last:
            if hi is None:
                errors[f"bands.{i}.max_population"] = _l("Only the last band may be open-ended.")
            elif hi < row["min_population"]:
                errors[f"bands.{i}.max_population"] = _l("The upper limit is below the lower one.")
            elif rows[i + 1]["min_population"] != hi + 1:
                errors[f"bands.{i + 1}.min_population"] = _l(
                    "Must start right after the previous band (%(n)d).", n=hi + 1)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    return rows


def replace_bands(rows: list[dict], *, actor: User | None) -> list[AllowanceBand]:
    rows = validate_bands(rows)
    before = [audit.snapshot(b, ("min_population", "max_population", "remote_minutes_month",
                                 "onsite_default_minutes_month")) for b in list_bands()]
    db.session.execute(delete(AllowanceBand))
    bands = [AllowanceBand(min_population=r["min_population"], max_population=r.get("max_population"),
                           remote_minutes_month=r["remote_minutes_month"],
                           onsite_default_minutes_month=r["onsite_default_minutes_month"]) for r in rows]
    db.session.add_all(bands)
    db.session.flush()
    after = [audit.snapshot(b, ("min_population", "max_population", "remote_minutes_month",
                                "onsite_default_minutes_month")) for b in bands]
    if before != after:
        audit.record("update", object_type="allowance_bands", object_id="all", actor=actor,
                     label="allowance bands", changes={"bands": [before, after]})
    db.session.commit()
    return bands


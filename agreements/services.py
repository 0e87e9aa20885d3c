"""Councils, allowance bands, agreements and month closes: the rules, free of HTTP."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import User
from agreements.models import (
    CODE_PATTERN,
    DEFAULT_BANDS,
    ROLLOVERS,
    SLUG_PATTERN,
    Agreement,
    AllowanceBand,
    Council,
    MonthClose,
)
from agreements.months import add_months, format_month, month_end, month_start, months_between, office_today
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db

COUNCIL_FIELDS = ("name", "slug", "code", "comarca", "population", "population_year", "area_km2",
                  "contact_email", "contact_phone", "address", "language", "timezone", "active")
EDITABLE_FIELDS = tuple(f for f in COUNCIL_FIELDS if f not in ("slug", "code"))
IMMUTABLE_FIELDS = ("slug", "code")
LANGUAGES = ("ca", "es", "en")
ONSITE_MIN, ONSITE_MAX = 90, 1680
# Far above any municipality, and well inside a 32-bit INTEGER column.
MAX_POPULATION = 100_000_000

# Words that say nothing about which village it is ("Sant Mateu de Bages" → SANTMATE...).
_STOPWORDS = {"de", "del", "d", "i", "el", "la", "les", "els", "l", "y", "los", "las", "the", "of"}
_INVALID = _l("Some fields are not valid.")
# Slugs that would collide with the council pages' own addresses (/councils/new).
RESERVED_SLUGS = {"new", "edit", "import", "export"}


def _ascii_words(name: str) -> list[str]:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]


def slugify(name: str) -> str:
    return "-".join(w.lower() for w in _ascii_words(name))[:80].strip("-")


def derive_code(name: str, taken: set[str]) -> str:
    """2–8 characters A–Z/0–9 from the significant words of the name, unique among `taken`."""
    words = [w for w in _ascii_words(name) if w.lower() not in _STOPWORDS] or _ascii_words(name)
    base = "".join(w.upper() for w in words)[:8] or "C"
    if len(base) < 2:
        base = (base + "XX")[:2]
    if base not in taken:
        return base
    for n in range(2, 1000):
        suffix = str(n)
        candidate = base[: 8 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise Conflict(_l("Could not derive a unique code; give one."), code="duplicate_code")


def _clean_council(values: dict, *, creating: bool) -> dict:
    errors: dict[str, object] = {}
    out: dict = {}
    for key, value in values.items():
        if key not in COUNCIL_FIELDS:
            continue
        if isinstance(value, str):
            value = value.strip()
        out[key] = value

    # Control characters have no place in a name or an address: they would reach pages,
    # exports, PDFs and charts (matplotlib has no glyph for them). Invisible formatting
    # characters (bidirectional overrides that disguise a name) neither; the address alone
    # may have lines.
    for key in ("name", "comarca", "address"):
        value = out.get(key)
        allowed = "\n\r\t" if key == "address" else ""
        if isinstance(value, str) and any(unicodedata.category(c) in ("Cc", "Cf") and c not in allowed
                                          for c in value):
            errors[key] = _l("Contains control characters.")
    if (creating or "name" in out) and "name" not in errors:
        if not out.get("name"):
            errors["name"] = _l("This field is required.")
        elif len(out["name"]) > 120:
            errors["name"] = _l("Too long.")
    if creating or "population" in out:
        pop = out.get("population")
        if pop is None or isinstance(pop, bool) or not isinstance(pop, int) or not 0 <= pop <= MAX_POPULATION:
            errors["population"] = _l("Enter the number of inhabitants (0 or more).")
    if out.get("population_year") is not None:
        year = out["population_year"]
        if isinstance(year, bool) or not isinstance(year, int) or not 1800 <= year <= 2200:
            errors["population_year"] = _l("Enter a year such as 2024.")
    if out.get("area_km2") not in (None, ""):
        try:
            # Rounded first: 999999.999 becomes 1000000.00, which Numeric(8, 2) cannot hold.
            area = Decimal(str(out["area_km2"])).quantize(Decimal("0.01"))
            if area < 0 or area >= Decimal("1000000"):
                raise InvalidOperation
            out["area_km2"] = area
        except (InvalidOperation, ValueError):
            errors["area_km2"] = _l("Enter the area in km² (e.g. 47.8).")
    elif "area_km2" in out:
        out["area_km2"] = None
    if out.get("contact_email"):
        try:
            out["contact_email"] = validate_email(out["contact_email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors["contact_email"] = _l("Enter a valid email address.")
    elif "contact_email" in out:
        out["contact_email"] = None
    if "contact_phone" in out:
        phone = out["contact_phone"] or None
        if phone and not re.fullmatch(r"[0-9 +().-]{3,40}", phone):
            errors["contact_phone"] = _l("Enter a phone number (digits, spaces, + and -).")
        out["contact_phone"] = phone
    if out.get("slug"):
        out["slug"] = out["slug"].lower()
        if not re.fullmatch(SLUG_PATTERN, out["slug"]) or len(out["slug"]) > 80:
            errors["slug"] = _l("Lowercase letters, digits and hyphens only.")
    if out.get("code"):
        out["code"] = out["code"].upper()
        if not re.fullmatch(CODE_PATTERN, out["code"]):
            errors["code"] = _l("2 to 8 characters, letters A–Z and digits.")
    if "language" in out and out["language"] not in LANGUAGES:
        errors["language"] = _l("Unknown language.")
    if "timezone" in out and out["timezone"] not in available_timezones():
        errors["timezone"] = _l("Unknown time zone.")
    for key in ("comarca", "address"):
        if key in out and out[key] is None:
            out[key] = ""
    if "comarca" in out and len(out["comarca"]) > 80:
        errors["comarca"] = _l("Too long.")
    if "active" in out and not isinstance(out["active"], bool):
        errors["active"] = _l("Must be true or false.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    return out


def create_council(values: dict, *, actor: User | None) -> Council:
    data = _clean_council(values, creating=True)
    explicit_slug = bool(data.get("slug"))
    data["slug"] = data.get("slug") or slugify(data["name"])
    if not data["slug"]:
        raise ValidationFailed(_INVALID, fields={"slug": _l("Give a slug: the name has no usable letters.")})
    if data["slug"] in RESERVED_SLUGS:
        if explicit_slug:
            raise ValidationFailed(_INVALID, fields={"slug": _l("This word is reserved; choose another slug.")})
        data["slug"] = f"{data['slug']}-council"
    if db.session.scalar(select(Council.id).where(Council.slug == data["slug"])) is not None:
        raise Conflict(_l("Another council already uses this slug."), code="duplicate_slug",
                       fields={"slug": _l("Another council already uses this slug.")})
    if data.get("code"):
        if db.session.scalar(select(Council.id).where(Council.code == data["code"])) is not None:
            raise Conflict(_l("Another council already uses this code."), code="duplicate_code",
                           fields={"code": _l("Another council already uses this code.")})
    else:
        taken = set(db.session.scalars(select(Council.code)))
        data["code"] = derive_code(data["name"], taken)
    data.setdefault("comarca", "")
    council = Council(**{k: v for k, v in data.items() if k in COUNCIL_FIELDS})
    db.session.add(council)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        # Lost a race with a concurrent create: say which key.
        which = "code" if "code" in str(exc.orig).lower() else "slug"
        raise Conflict(_l("Another council already uses this %(field)s.", field=which),
                       code=f"duplicate_{which}", fields={which: _l("Already in use.")}) from None
    audit.record("create", object_type="council", object_id=council.id, actor=actor,
                 label=council.name, council_id=council.id,
                 changes=audit.diff({}, audit.snapshot(council, COUNCIL_FIELDS)))
    db.session.commit()
    return council


def update_council(council: Council, values: dict, *, actor: User | None) -> Council:
    changed_ids = {k: values[k] for k in IMMUTABLE_FIELDS if k in values and values[k] is not None}
    errors = {}
    for key, value in changed_ids.items():
        current = getattr(council, key)
        normalized = value.lower() if key == "slug" else value.upper() if isinstance(value, str) else value
        if normalized != current:
            errors[key] = _l("Cannot change after the council is created.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    data = _clean_council({k: v for k, v in values.items() if k in EDITABLE_FIELDS}, creating=False)
    before = audit.snapshot(council, COUNCIL_FIELDS)
    for key, value in data.items():
        setattr(council, key, value)
    changes = audit.diff(before, audit.snapshot(council, COUNCIL_FIELDS))
    if changes:
        audit.record("update", object_type="council", object_id=council.id, actor=actor,
                     label=council.name, council_id=council.id, changes=changes)
    db.session.commit()
    return council


SORTS = {
    "name": (Council.name, Council.id),
    "population": (Council.population, Council.id),
    "code": (Council.code, Council.id),
}


def council_query(*, q: str | None = None, active: bool | None = None, sort: str = "name"):
    """The councils list as a statement; `sort` comes from an allow-list, never from SQL text."""
    stmt = select(Council)
    if active is not None:
        stmt = stmt.where(Council.active.is_(active))
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(Council.name).like(like), func.lower(Council.code).like(like),
                              Council.slug.like(like)))
    return stmt, SORTS.get(sort, SORTS["name"])


def get_council_by_slug(slug: str) -> Council:
    council = db.session.scalar(select(Council).where(Council.slug == slug))
    if council is None:
        raise NotFound()
    return council


def get_council(council_id: int) -> Council:
    council = db.session.scalar(select(Council).where(Council.id == council_id))
    if council is None:
        raise NotFound()
    return council


# --- allowance bands ------------------------------------------------------------------

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


# --- agreements -----------------------------------------------------------------------

AGREEMENT_FIELDS = ("starts_on", "ends_on", "onsite_minutes_month", "remote_minutes_month", "rollover",
                    "signed_on", "document_ref", "notes")
# What usage is computed from: fixed once a month of the agreement has been closed.
TERMS_FIELDS = ("starts_on", "ends_on", "onsite_minutes_month", "remote_minutes_month", "rollover")
MAX_REMOTE_MINUTES = 44640  # a 31-day month, around the clock: any larger number is a typo
MAX_DOCUMENT_REF = 120
MAX_NOTES = 5000
MIN_AGREEMENT_DATE = dt.date(1990, 1, 1)
MAX_AGREEMENT_DATE = dt.date(2200, 12, 31)


def insert_ignoring_duplicates(model, values: dict, keys: list[str]):
    """INSERT ... ON CONFLICT (keys) DO NOTHING RETURNING id: the id, or None when the row existed.

    The database decides, atomically, who inserted: no window between a check and an insert
    in which a concurrent request could insert the same row (docs/lessons.md, lost updates).
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=keys).returning(model.id)
    return db.session.execute(stmt).scalar()


def lock_council(council_id: int, *, exclusive: bool) -> None:
    """Serialise hours writes against closes and overlapping agreements of one council.

    PostgreSQL: entry writes take the council row FOR SHARE (they do not block each other),
    closes and agreement changes FOR UPDATE (they wait for running entry writes and block new
    ones until they commit). So an entry never slips into a month that a close running at the
    same moment believes empty, and two agreements of one council are never checked for
    overlap side by side. SQLite has no row locks and needs none: a write request begins
    IMMEDIATE, so writers already run one at a time (core.db).
    """
    db.session.execute(select(Council.id).where(Council.id == council_id)
                       .with_for_update(read=not exclusive))


def agreement_query(*, council_id: int | None = None):
    stmt = select(Agreement)
    if council_id is not None:
        stmt = stmt.where(Agreement.council_id == council_id)
    return stmt


def council_agreements(council_id: int) -> list[Agreement]:
    return list(db.session.scalars(agreement_query(council_id=council_id).order_by(Agreement.starts_on.desc())))


def get_agreement(agreement_id: int) -> Agreement:
    agreement = db.session.scalar(select(Agreement).where(Agreement.id == agreement_id))
    if agreement is None:
        raise NotFound()
    return agreement


def agreement_for_month(council_id: int, month: dt.date) -> Agreement | None:
    """The agreement covering `month` (a first day) for the council, if any."""
    return db.session.scalar(select(Agreement).where(
        Agreement.council_id == council_id, Agreement.starts_on <= month, Agreement.ends_on >= month))


def current_agreement(council_id: int, today: dt.date) -> Agreement | None:
    return agreement_for_month(council_id, month_start(today))


def _minutes_value(value, errors: dict, field: str, message) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = message
        return None
    return value


def _date_value(value, errors: dict, field: str) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        errors[field] = _l("Must be a date (YYYY-MM-DD).")
        return None
    if not MIN_AGREEMENT_DATE <= value <= MAX_AGREEMENT_DATE:
        errors[field] = _l("Enter a date between 1990 and 2200.")
        return None
    return value


def _clean_agreement(values: dict, council: Council, *, current: Agreement | None, today: dt.date) -> dict:
    """The values of a new or changed agreement, checked; raises ValidationFailed per field."""
    errors: dict[str, object] = {}
    out = {k: values[k] for k in AGREEMENT_FIELDS if k in values}
    for key in ("document_ref", "notes"):
        if key in out:
            out[key] = (out[key] or "").strip()
    merged = {k: getattr(current, k) for k in AGREEMENT_FIELDS} if current is not None else {}
    merged.update(out)

    starts = _date_value(merged.get("starts_on"), errors, "starts_on")
    ends = _date_value(merged.get("ends_on"), errors, "ends_on")
    if "starts_on" not in errors and starts is None:
        errors["starts_on"] = _l("This field is required.")
    if "ends_on" not in errors and ends is None:
        errors["ends_on"] = _l("This field is required.")
    if starts is not None and starts.day != 1:
        errors["starts_on"] = _l("An agreement starts on the first day of a month.")
    if ends is not None and ends != month_end(ends):
        errors["ends_on"] = _l("An agreement ends on the last day of a month.")
    if starts is not None and ends is not None and ends < starts and "ends_on" not in errors:
        errors["ends_on"] = _l("The agreement must end after it starts.")

    band = None
    onsite = _minutes_value(merged.get("onsite_minutes_month"), errors, "onsite_minutes_month",
                            _l("Must be an integer."))
    if onsite is None and "onsite_minutes_month" not in errors:
        band = band_for(council.population)
        if band is None:
            errors["onsite_minutes_month"] = _l("No allowance band covers this population; give the minutes.")
        else:
            onsite = band.onsite_default_minutes_month
    if onsite is not None and not ONSITE_MIN <= onsite <= ONSITE_MAX:
        errors["onsite_minutes_month"] = _l(
            "On-site time must be between 90 and 1680 minutes a month (1.5 to 28 h).")
    remote = _minutes_value(merged.get("remote_minutes_month"), errors, "remote_minutes_month",
                            _l("Must be an integer."))
    if remote is None and "remote_minutes_month" not in errors:
        # Taken from the band now and stored: a later population change does not alter it.
        band = band or band_for(council.population)
        if band is None:
            errors["remote_minutes_month"] = _l("No allowance band covers this population; give the minutes.")
        else:
            remote = band.remote_minutes_month
    if remote is not None and not 0 <= remote <= MAX_REMOTE_MINUTES:
        errors["remote_minutes_month"] = _l("Enter a whole number of minutes a month, from 0 to 44640.")

    rollover = merged.get("rollover") or "none"
    if rollover not in ROLLOVERS:
        errors["rollover"] = _l("Not one of the allowed values.")
    signed_on = _date_value(merged.get("signed_on"), errors, "signed_on")
    if signed_on is not None and signed_on > today:
        errors["signed_on"] = _l("The signing date cannot be in the future.")
    if len(merged.get("document_ref") or "") > MAX_DOCUMENT_REF:
        errors["document_ref"] = _l("Too long.")
    if len(merged.get("notes") or "") > MAX_NOTES:
        errors["notes"] = _l("Too long.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    return {"starts_on": starts, "ends_on": ends, "onsite_minutes_month": onsite,
            "remote_minutes_month": remote, "rollover": rollover, "signed_on": signed_on,
            "document_ref": merged.get("document_ref") or "", "notes": merged.get("notes") or ""}


def _check_overlap(council_id: int, starts: dt.date, ends: dt.date, exclude_id: int | None = None) -> None:
    stmt = select(Agreement).where(Agreement.council_id == council_id, Agreement.starts_on <= ends,
                                   Agreement.ends_on >= starts).order_by(Agreement.starts_on).limit(1)
    if exclude_id is not None:
        stmt = stmt.where(Agreement.id != exclude_id)
    other = db.session.scalar(stmt)
    if other is not None:
        message = _l("This period overlaps the agreement of %(start)s to %(end)s.",
                     start=other.starts_on.isoformat(), end=other.ends_on.isoformat())
        raise Conflict(message, code="agreement_overlap", fields={"starts_on": message})


def previous_agreement(council_id: int, starts_on: dt.date, exclude_id: int | None = None) -> Agreement | None:
    """The council's agreement that ended most recently before `starts_on`."""
    stmt = (select(Agreement).where(Agreement.council_id == council_id, Agreement.ends_on < starts_on)
            .order_by(Agreement.ends_on.desc(), Agreement.id.desc()).limit(1))
    if exclude_id is not None:
        stmt = stmt.where(Agreement.id != exclude_id)
    return db.session.scalar(stmt)


def create_agreement(council: Council, values: dict, *, actor: User | None,
                     today: dt.date | None = None) -> Agreement:
    """A new agreement of `council`. `signed_on` None makes a draft; the allowances omitted (None)
    come from the population band, and are stored."""
    today = today or office_today()
    lock_council(council.id, exclusive=True)
    data = _clean_agreement(values, council, current=None, today=today)
    _check_overlap(council.id, data["starts_on"], data["ends_on"])
    previous = previous_agreement(council.id, data["starts_on"])
    agreement = Agreement(council_id=council.id, previous_agreement_id=previous.id if previous else None, **data)
    db.session.add(agreement)
    db.session.flush()
    audit.record("create", object_type="agreement", object_id=agreement.id, actor=actor,
                 label=f"{council.name} {data['starts_on']:%Y-%m}–{data['ends_on']:%Y-%m}", council_id=council.id,
                 changes=audit.diff({}, audit.snapshot(agreement, AGREEMENT_FIELDS)))
    db.session.commit()
    return agreement


def agreement_has_closed_month(agreement: Agreement) -> bool:
    return db.session.scalar(select(MonthClose.id).where(
        MonthClose.council_id == agreement.council_id, MonthClose.month >= agreement.starts_on,
        MonthClose.month <= agreement.ends_on).limit(1)) is not None


def update_agreement(agreement: Agreement, values: dict, *, actor: User | None,
                     today: dt.date | None = None) -> Agreement:
    """Change an agreement. Its terms (period, allowances, rollover) can change only while none of
    its months is closed: a closed month's figures must never move."""
    from support.hours.models import TimeEntry

    today = today or office_today()
    council = agreement.council
    lock_council(council.id, exclusive=True)
    data = _clean_agreement(values, council, current=agreement, today=today)
    changed_terms = [k for k in TERMS_FIELDS if data[k] != getattr(agreement, k)]
    if changed_terms:
        if agreement_has_closed_month(agreement):
            message = _l("Months of this agreement are closed, so its period and hours can no longer "
                         "change. Renew it instead.")
            raise Conflict(message, code="month_closed", fields=dict.fromkeys(changed_terms, message))
        _check_overlap(council.id, data["starts_on"], data["ends_on"], exclude_id=agreement.id)
        # Entries the old period covered must stay covered.
        stray = db.session.scalar(
            select(TimeEntry.date).where(
                TimeEntry.council_id == council.id, TimeEntry.date >= agreement.starts_on,
                TimeEntry.date <= agreement.ends_on,
                or_(TimeEntry.date < data["starts_on"], TimeEntry.date > data["ends_on"]))
            .order_by(TimeEntry.date).limit(1))
        if stray is not None:
            message = _l("Hours are logged on %(date)s, outside the new period.", date=stray.isoformat())
            raise ValidationFailed(_INVALID, fields={"starts_on" if stray < data["starts_on"] else "ends_on": message})
    before = audit.snapshot(agreement, AGREEMENT_FIELDS)
    for key, value in data.items():
        setattr(agreement, key, value)
    changes = audit.diff(before, audit.snapshot(agreement, AGREEMENT_FIELDS))
    if changes:
        audit.record("update", object_type="agreement", object_id=agreement.id, actor=actor,
                     label=f"{council.name} {agreement.starts_on:%Y-%m}–{agreement.ends_on:%Y-%m}",
                     council_id=council.id, changes=changes)
    db.session.commit()
    return agreement


def renewal_defaults(previous: Agreement) -> dict:
    """A renewal: the period right after `previous`, as long as it, with the same hours."""
    starts = previous.ends_on + dt.timedelta(days=1)
    ends = month_end(add_months(starts, previous.months - 1))
    return {"starts_on": starts, "ends_on": ends, "onsite_minutes_month": previous.onsite_minutes_month,
            "remote_minutes_month": previous.remote_minutes_month, "rollover": previous.rollover}


def change_ratio(new: int | None, old: int | None) -> float | None:
    """(new − old) / old: +0.2 reads "+20 %"; None when there is nothing to compare."""
    if new is None or not old:
        return None
    return (new - old) / old


# --- closing months --------------------------------------------------------------------

def is_month_closed(council_id: int, month: dt.date) -> bool:
    return db.session.scalar(select(MonthClose.id).where(
        MonthClose.council_id == council_id, MonthClose.month == month_start(month))) is not None


def closed_months(council_id: int | None, first: dt.date, last: dt.date) -> set[tuple[int, dt.date]]:
    stmt = select(MonthClose.council_id, MonthClose.month).where(MonthClose.month >= first, MonthClose.month <= last)
    if council_id is not None:
        stmt = stmt.where(MonthClose.council_id == council_id)
    return {(c, m) for c, m in db.session.execute(stmt)}


def month_close(council_id: int, month: dt.date) -> MonthClose | None:
    return db.session.scalar(select(MonthClose).where(MonthClose.council_id == council_id,
                                                      MonthClose.month == month))


def _check_closable(month: dt.date, today: dt.date) -> None:
    if month >= month_start(today):
        raise ValidationFailed(_l("A month can be closed once it has ended."),
                               fields={"month": _l("A month can be closed once it has ended.")})


def _close(council: Council, month: dt.date, actor: User | None) -> bool:
    inserted = insert_ignoring_duplicates(
        MonthClose, {"council_id": council.id, "month": month, "closed_at": utcnow(),
                     "closed_by_id": actor.id if actor is not None else None}, ["council_id", "month"])
    if inserted is not None:
        audit.record("close_month", object_type="month", object_id=f"{council.id}:{format_month(month)}",
                     actor=actor, label=f"{council.name} {format_month(month)}", council_id=council.id)
    return inserted is not None


def close_month(council: Council, month: dt.date, *, actor: User | None, today: dt.date | None = None) -> bool:
    """Close a council's month: its entries become immutable. Idempotent; True if it was open."""
    month = month_start(month)
    lock_council(council.id, exclusive=True)
    if agreement_for_month(council.id, month) is None:
        raise NotFound(_l("No agreement covers this month."), code="no_agreement")
    _check_closable(month, today or office_today())
    closed = _close(council, month, actor)
    db.session.commit()
    return closed


def close_month_everywhere(month: dt.date, *, actor: User | None, today: dt.date | None = None) -> int:
    """Close `month` for every council an agreement covers then; returns how many were open."""
    month = month_start(month)
    _check_closable(month, today or office_today())
    councils = list(db.session.scalars(
        select(Council).join(Agreement, Agreement.council_id == Council.id)
        .where(Agreement.starts_on <= month, Agreement.ends_on >= month).order_by(Council.id)))
    for council in councils:  # in id order, so two closes of overlapping sets cannot deadlock
        lock_council(council.id, exclusive=True)
    closed = sum(1 for council in councils if _close(council, month, actor))
    db.session.commit()
    return closed


def earliest_agreement_month() -> dt.date | None:
    first = db.session.scalar(select(func.min(Agreement.starts_on)))
    return month_start(first) if first else None


def month_overview(first: dt.date, last: dt.date) -> list[dict]:
    """Per month from `last` back to `first`: councils with an agreement, and how many are closed."""
    agreements = db.session.execute(select(Agreement.council_id, Agreement.starts_on, Agreement.ends_on)
                                    .where(Agreement.starts_on <= last, Agreement.ends_on >= first)).all()
    closes = closed_months(None, first, last)
    out = []
    for month in reversed(months_between(first, last)):
        covered = {c for c, s, e in agreements if s <= month <= e}
        out.append({"month": month, "councils": len(covered),
                    "closed": len({c for c, m in closes if m == month and c in covered})})
    return out

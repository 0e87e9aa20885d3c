"""A council's record: the values it may hold, the slug and code derived from its name,
creating and changing it (audited), and the query behind the councils list.

Looking a council up (`get_council`, `get_council_by_slug`) is in `agreements.services`, with
the other lookups every domain starts from.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import User
from agreements.models import CODE_PATTERN, SLUG_PATTERN, Council, CouncilMailDomain
from core.errors import Conflict, ValidationFailed
from core.text import has_hidden_characters
from core.timezones import is_council_timezone
from extensions import db

COUNCIL_FIELDS = ("name", "slug", "code", "comarca", "population", "population_year", "area_km2",
                  "contact_email", "contact_phone", "address", "language", "timezone", "active", "travel_minutes")
EDITABLE_FIELDS = tuple(f for f in COUNCIL_FIELDS if f not in ("slug", "code"))
IMMUTABLE_FIELDS = ("slug", "code")
LANGUAGES = ("ca", "es", "en")
MAX_TRAVEL_MINUTES = 600
# Far above any municipality, and well inside a 32-bit INTEGER column.
MAX_POPULATION = 100_000_000

# Words that say nothing about which village it is ("Sant Mateu de Bages" → SANTMATE...).
_STOPWORDS = {"de", "del", "d", "i", "el", "la", "les", "els", "l", "y", "los", "las", "the", "of"}
_INVALID = _l("Some fields are not valid.")
_DOMAIN = re.compile(r"(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
MAX_MAIL_DOMAINS = 20
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


def _clean_council(values: dict, *, creating: bool, current_timezone: str | None = None) -> dict:
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
        if isinstance(value, str) and has_hidden_characters(value, multiline=key == "address"):
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
    # Real places only; an old alias a council already has may stay (it still works).
    if "timezone" in out and not (is_council_timezone(out["timezone"]) or out["timezone"] == current_timezone):
        errors["timezone"] = _l("Unknown time zone.")
    for key in ("comarca", "address"):
        if key in out and out[key] is None:
            out[key] = ""
    if "comarca" in out and len(out["comarca"]) > 80:
        errors["comarca"] = _l("Too long.")
    if "travel_minutes" in out:
        travel = out["travel_minutes"]
        if travel is None and not creating:
            out["travel_minutes"] = travel = 0
        if isinstance(travel, bool) or not isinstance(travel, int) or not 0 <= travel <= MAX_TRAVEL_MINUTES:
            errors["travel_minutes"] = _l("Enter the minutes from the office, 0 to %(n)d.", n=MAX_TRAVEL_MINUTES)
    if "active" in out and not isinstance(out["active"], bool):
        errors["active"] = _l("Must be true or false.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    return out


def shared_mail_domains() -> set[str]:
    from flask import current_app

    from core.crypto import configured_keys  # "a list, or one comma-separated string"

    return {d.lower() for d in configured_keys(current_app.config.get("MAIL_SHARED_DOMAINS"))}


def clean_mail_domains(value) -> list[str]:
    """A council's mail domains: lowercase, valid, not a shared one (a webmail provider's,
    the diputació's), at most MAX_MAIL_DOMAINS. Raises ValidationFailed (422)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[\s,;]+", value) if v]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(_INVALID, fields={"mail_domains": _l("Give a list of mail domains.")})
    out: list[str] = []
    shared = shared_mail_domains()
    for raw in value:
        domain = raw.strip().lower().removeprefix("@").rstrip(".")
        if not _DOMAIN.fullmatch(domain):
            raise ValidationFailed(_INVALID, fields={"mail_domains": _l("“%(domain)s” is not a mail domain "
                                                                        "(e.g. mura.cat).", domain=raw[:80])})
        if domain in shared:
            raise ValidationFailed(_INVALID, fields={"mail_domains": _l(
                "“%(domain)s” is shared by many people or councils; it cannot belong to one council.",
                domain=domain)})
        if domain not in out:
            out.append(domain)
    if len(out) > MAX_MAIL_DOMAINS:
        raise ValidationFailed(_INVALID, fields={"mail_domains": _l("At most %(n)d domains.", n=MAX_MAIL_DOMAINS)})
    return sorted(out)


def _set_mail_domains(council: Council, domains: list[str]) -> None:
    taken = db.session.scalar(select(CouncilMailDomain.domain).where(
        CouncilMailDomain.domain.in_(domains), CouncilMailDomain.council_id != council.id).limit(1)) if domains else None
    if taken is not None:
        message = _l("The domain %(domain)s already belongs to another council.", domain=taken)
        raise Conflict(message, code="duplicate_mail_domain", fields={"mail_domains": message})
    current = {row.domain: row for row in council.domain_rows}
    for domain, row in current.items():
        if domain not in domains:
            council.domain_rows.remove(row)
    for domain in domains:
        if domain not in current:
            council.domain_rows.append(CouncilMailDomain(domain=domain, council_id=council.id))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        message = _l("One of these domains already belongs to another council.")
        raise Conflict(message, code="duplicate_mail_domain", fields={"mail_domains": message}) from None


def create_council(values: dict, *, actor: User | None) -> Council:
    domains = clean_mail_domains(values.get("mail_domains"))
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
    _set_mail_domains(council, domains)
    changes = audit.diff({}, audit.snapshot(council, COUNCIL_FIELDS))
    if domains:
        changes["mail_domains"] = [None, domains]
    audit.record("create", object_type="council", object_id=council.id, actor=actor,
                 label=council.name, council_id=council.id, changes=changes)
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
    domains = clean_mail_domains(values["mail_domains"]) if "mail_domains" in values else None
    data = _clean_council({k: v for k, v in values.items() if k in EDITABLE_FIELDS}, creating=False,
                          current_timezone=council.timezone)
    before = audit.snapshot(council, COUNCIL_FIELDS)
    domains_before = council.mail_domains
    for key, value in data.items():
        setattr(council, key, value)
    if domains is not None:
        _set_mail_domains(council, domains)
    changes = audit.diff(before, audit.snapshot(council, COUNCIL_FIELDS))
    if domains is not None and domains != domains_before:
        changes["mail_domains"] = [domains_before, domains]
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


"""Assets: the rules, free of HTTP. Forms, the API, the importer and the demo all come here.

What a value may be (one cleaner per field, shared by forms, API, importer and agents), tags,
creating, changing and retiring an asset (audited), and reading assets: lookups, the list
query and search, an asset's history, reminders and tickets.

How fields are labelled and which ones each kind shows: `inventory.labels`; what expires:
`inventory.expiry`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import AuditEntry, User
from agreements.models import Council
from core.access import STAFF
from core.errors import Conflict, NotFound, ValidationFailed
from core.text import text_problem
from extensions import db
from inventory.expiry import EXPIRING_DAYS, office_today
from inventory.models import KIND_CODES, KINDS, MEDIA, STATUSES, Asset, AssetReminder

_INVALID = _l("Some fields are not valid.")

TEXT_LIMITS = {
    "tag": 40, "name": 200, "manufacturer": 120, "model": 120, "serial": 120, "hostname": 253,
    "ip_address": 45, "os": 120, "location": 200, "assigned_to": 120, "holder": 200,
    "issuer": 120, "notes": 5000,
}
DATE_FIELDS = ("purchased_on", "warranty_until", "expires_on")
# Everything a person (form, API, file) may set, in the order forms and exports show it.
EDITABLE_FIELDS = ("tag", "kind", "name", "status", "manufacturer", "model", "serial", "hostname",
                   "ip_address", "os", "location", "assigned_to", "holder", "issuer", "media", "seats",
                   "purchased_on", "warranty_until", "expires_on", "notes")
AUDIT_FIELDS = EDITABLE_FIELDS
OPTIONAL_FIELDS = tuple(f for f in EDITABLE_FIELDS if f not in ("tag", "kind", "name", "status"))

TAG_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9 ._/-]*")
MIN_DATE, MAX_DATE = dt.date(1970, 1, 1), dt.date(2199, 12, 31)
MAX_SEATS = 1_000_000
MAX_ID = 2**31 - 1  # ids are 32-bit in both databases
MAX_SEARCH_WORDS = 6

SEARCH_COLUMNS = ("tag", "name", "serial", "hostname", "ip_address", "holder", "assigned_to",
                  "location", "manufacturer", "model", "issuer")


# --- field validation ----------------------------------------------------------------------
# One function per field, taking the typed value (str, int, date or None) and returning the
# cleaned value or raising FieldError. The forms, the API and the importer share them, so a
# value refused on one path is refused on all.

class FieldError(ValueError):
    def __init__(self, message):
        super().__init__(message)
        self.message = message  # lazy: rendered in the language of whoever reads it


def _too_long(limit: int):
    return _l("Too long: at most %(n)d characters.", n=limit)


def _line(limit: int) -> Callable:
    def clean(value):
        if value is None:
            return ""
        if not isinstance(value, str):
            raise FieldError(_l("Must be text."))
        if not value.isprintable():
            problem = text_problem(value, multiline=True)
            if problem is not None:
                raise FieldError(problem)
            # One line: tabs and newlines pasted from a spreadsheet become single spaces.
            value = " ".join(value.split())
        elif "  " in value or value[:1] == " " or value[-1:] == " ":
            value = " ".join(value.split())
        if len(value) > limit:
            raise FieldError(_too_long(limit))
        return value
    return clean


def _clean_notes(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(_l("Must be text."))
    problem = text_problem(value, multiline=True)
    if problem is not None:
        raise FieldError(problem)
    value = value.replace("\r\n", "\n").strip()
    if len(value) > TEXT_LIMITS["notes"]:
        raise FieldError(_too_long(TEXT_LIMITS["notes"]))
    return value


def _clean_tag(value):
    if value is None or (isinstance(value, str) and not value.strip()):
        raise FieldError(_l("This field is required."))
    if not isinstance(value, str):
        raise FieldError(_l("Must be text."))
    problem = text_problem(value, multiline=True)
    if problem is not None:
        raise FieldError(problem)
    # Upper case, so that "mura-pc-004" and "MURA-PC-004" are one tag: labels are read aloud
    # on the phone and typed by hand, and a re-import must find the asset either way.
    value = " ".join(value.split()).upper()
    if len(value) > TEXT_LIMITS["tag"]:
        raise FieldError(_too_long(TEXT_LIMITS["tag"]))
    if not TAG_PATTERN.fullmatch(value):
        raise FieldError(_l("Use letters, digits, spaces and . _ / - only, starting with a letter or digit."))
    return value


_clean_name_text = _line(TEXT_LIMITS["name"])


def _clean_name(value):
    value = _clean_name_text(value)
    if not value:
        raise FieldError(_l("This field is required."))
    return value


def _choice(allowed: tuple[str, ...], message, required: bool = True) -> Callable:
    def clean(value):
        if value is None or value == "":
            if required:
                raise FieldError(_l("This field is required."))
            return None
        if not isinstance(value, str) or value not in allowed:
            raise FieldError(message)
        return value
    return clean


_IPV4 = re.compile(r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}")
_clean_ip_text = _line(TEXT_LIMITS["ip_address"])


def _clean_ip(value):
    value = _clean_ip_text(value)
    if not value:
        return ""
    if _IPV4.fullmatch(value):
        return value  # already in canonical form; ipaddress costs 20 times more per value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise FieldError(_l("Not an IP address (e.g. 192.168.1.20).")) from None


def _clean_seats(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(_l("Enter a whole number."))
    if not 0 <= value <= MAX_SEATS:
        raise FieldError(_l("Enter a number from 0 to %(n)d.", n=MAX_SEATS))
    return value


def _clean_date(value):
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise FieldError(_l("Not a date: use YYYY-MM-DD or DD/MM/YYYY."))
    if not MIN_DATE <= value <= MAX_DATE:
        raise FieldError(_l("The year looks wrong."))
    return value


CLEANERS: dict[str, Callable] = {
    "tag": _clean_tag,
    "name": _clean_name,
    "kind": _choice(KINDS, _l("Unknown kind. Use one of: %(values)s.", values=", ".join(KINDS))),
    "status": _choice(STATUSES, _l("Unknown status. Use one of: %(values)s.", values=", ".join(STATUSES))),
    "media": _choice(MEDIA, _l("Unknown medium. Use one of: %(values)s.", values=", ".join(MEDIA)),
                     required=False),
    "ip_address": _clean_ip,
    "seats": _clean_seats,
    "notes": _clean_notes,
    **dict.fromkeys(DATE_FIELDS, _clean_date),
    **{f: _line(limit) for f, limit in TEXT_LIMITS.items()
       if f not in ("tag", "name", "ip_address", "notes")},
}


def cross_field_errors(values: dict) -> dict[str, object]:
    """Rules between fields, checked on the merged values (stored + changed)."""
    purchased, warranty = values.get("purchased_on"), values.get("warranty_until")
    if purchased and warranty and warranty < purchased:
        return {"warranty_until": _l("The warranty ends before the purchase date.")}
    return {}


def clean_values(values: dict, *, creating: bool, stored: dict | None = None) -> dict:
    """Validated values for the fields given; raises ValidationFailed with every bad field.

    `stored` holds the asset's current values when updating, for the rules between fields.
    """
    errors: dict[str, object] = {}
    out: dict = {}
    for key, value in values.items():
        cleaner = CLEANERS.get(key)
        if cleaner is None:
            continue
        if key == "tag" and creating and (value is None or value == ""):
            continue  # suggested by create_asset
        try:
            out[key] = cleaner(value)
        except FieldError as exc:
            errors[key] = exc.message
    if creating:
        for key in ("kind", "name"):
            if key not in values and key not in errors:
                errors[key] = _l("This field is required.")
    for key, message in cross_field_errors((stored or {}) | out).items():
        errors.setdefault(key, message)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    return out


# --- tags ----------------------------------------------------------------------------------

def suggest_tags(council: Council) -> dict[str, str]:
    """For every kind, `CODE-KIND-NNN` with the number after the highest one the council used.

    After the highest rather than the first gap: a number that once named a retired PC is
    never handed to a new one, so old paperwork cannot point at the wrong machine.
    """
    base = f"{council.code}-"
    highest = dict.fromkeys(KIND_CODES.values(), 0)
    tags = db.session.scalars(
        select(Asset.tag).where(Asset.council_id == council.id, Asset.tag.startswith(base, autoescape=True)))
    for tag in tags:
        code, _sep, number = tag[len(base):].partition("-")
        if code in highest and number.isdigit():
            highest[code] = max(highest[code], int(number))
    return {kind: f"{base}{code}-{highest[code] + 1:03d}" for kind, code in KIND_CODES.items()}


def suggest_tag(council: Council, kind: str) -> str:
    return suggest_tags(council)[kind if kind in KIND_CODES else "other"]


def _duplicate_tag(tag: str) -> Conflict:
    return Conflict(_l("Another asset of this council already has the tag %(tag)s.", tag=tag),
                    code="duplicate_tag", fields={"tag": _l("Already used by another asset of this council.")})


def _tag_taken(council_id: int, tag: str, exclude_id: int | None = None) -> bool:
    stmt = select(Asset.id).where(Asset.council_id == council_id, Asset.tag == tag)
    if exclude_id is not None:
        stmt = stmt.where(Asset.id != exclude_id)
    return db.session.scalar(stmt.limit(1)) is not None


# --- create, update, retire ------------------------------------------------------------------

def _label(asset: Asset) -> str:
    return f"{asset.tag} · {asset.name}"


def create_asset(council: Council, values: dict, *, actor: User | None, commit: bool = True) -> Asset:
    data = clean_values(values, creating=True)
    suggested = not data.get("tag")
    if suggested:
        data["tag"] = suggest_tag(council, data["kind"])
    elif _tag_taken(council.id, data["tag"]):
        raise _duplicate_tag(data["tag"])
    data.setdefault("status", "in_use")
    blank = {f: "" for f in OPTIONAL_FIELDS if f in TEXT_LIMITS}
    asset = Asset(council_id=council.id, **(blank | data))
    # A concurrent create may take the same tag between our check and the insert: the unique
    # constraint decides. A suggested tag is then simply suggested again; a chosen one is a 409.
    for _attempt in range(3):
        try:
            with db.session.begin_nested():
                db.session.add(asset)
                db.session.flush()
            break
        except IntegrityError:
            if not suggested:
                raise _duplicate_tag(data["tag"]) from None
            asset.tag = suggest_tag(council, data["kind"])
    else:
        raise _duplicate_tag(asset.tag)
    audit.record("create", object_type="asset", object_id=asset.id, actor=actor, label=_label(asset),
                 council_id=council.id, changes=audit.diff({}, _snapshot(asset)))
    if commit:
        db.session.commit()
    return asset


def _snapshot(asset: Asset) -> dict:
    # Empty values say nothing in a creation entry; leave them out so the history reads well.
    return {k: v for k, v in audit.snapshot(asset, AUDIT_FIELDS).items() if v not in (None, "")}


def update_asset(asset: Asset, values: dict, *, actor: User | None) -> Asset:
    if "council_id" in values and values["council_id"] not in (None, asset.council_id):
        raise ValidationFailed(_INVALID, fields={
            "council_id": _l("An asset cannot move to another council; retire it and create it there.")})
    data = clean_values({k: v for k, v in values.items() if k in EDITABLE_FIELDS}, creating=False,
                        stored={f: getattr(asset, f) for f in EDITABLE_FIELDS})
    if "tag" in data and data["tag"] != asset.tag and _tag_taken(asset.council_id, data["tag"], asset.id):
        raise _duplicate_tag(data["tag"])
    before = audit.snapshot(asset, AUDIT_FIELDS)
    for key, value in data.items():
        setattr(asset, key, value)
    changes = audit.diff(before, audit.snapshot(asset, AUDIT_FIELDS))
    if not changes:
        db.session.commit()
        return asset
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _duplicate_tag(data.get("tag", asset.tag)) from None
    audit.record("update", object_type="asset", object_id=asset.id, actor=actor, label=_label(asset),
                 council_id=asset.council_id, changes=changes)
    db.session.commit()
    return asset


def set_status(asset: Asset, status: str, *, actor: User | None) -> Asset:
    """Retiring (or bringing back) is a status change: the asset and its history stay."""
    return update_asset(asset, {"status": status}, actor=actor)


# --- reading -------------------------------------------------------------------------------

def get_asset(asset_id: int) -> Asset:
    """Through the scoped query layer: another council's asset does not exist for a clerk."""
    if not 1 <= asset_id <= MAX_ID:
        raise NotFound()  # beyond the id column's range: the driver would overflow, not answer
    asset = db.session.scalar(select(Asset).where(Asset.id == asset_id))
    if asset is None:
        raise NotFound()
    return asset


def find_by_hostname(council_id: int, hostname: str) -> Asset | None:
    """The council's asset with this host name (case-insensitive), for agents enrolling."""
    if not hostname:
        return None
    return db.session.scalar(
        select(Asset).where(Asset.council_id == council_id, func.lower(Asset.hostname) == hostname.strip().lower())
        .order_by(Asset.status == "retired", Asset.id).limit(1))


def get_asset_in_council(council_id: int, asset_id: int) -> Asset:
    """An asset that must belong to `council_id` (a ticket about one of the council's PCs)."""
    asset = get_asset(asset_id)
    if asset.council_id != council_id:
        raise ValidationFailed(_INVALID, fields={"asset_id": _l("This asset belongs to another council.")})
    return asset


def asset_query(*, council_id: int | None = None, kind: str | None = None, status: str | None = None,
                expiring: str | None = None, q: str | None = None, today: dt.date | None = None,
                days: int = EXPIRING_DAYS):
    """The statement behind every list, page or export of assets.

    `status`: None for all, "active" for everything not retired, or one status.
    `expiring`: "soon" (an expiry or warranty date within `days`) or "expired".
    Never filters by the reader's council: the scope does that for clerks.
    """
    stmt = select(Asset)
    if council_id is not None:
        stmt = stmt.where(Asset.council_id == council_id)
    if kind in KINDS:
        stmt = stmt.where(Asset.kind == kind)
    if status == "active":
        stmt = stmt.where(Asset.status != "retired")
    elif status in STATUSES:
        stmt = stmt.where(Asset.status == status)
    if expiring in ("soon", "expired"):
        today = today or office_today()
        if expiring == "soon":
            horizon = today + dt.timedelta(days=days)
            stmt = stmt.where(or_(Asset.expires_on.between(today, horizon),
                                  Asset.warranty_until.between(today, horizon)))
        else:
            stmt = stmt.where(or_(Asset.expires_on < today, Asset.warranty_until < today))
    if q:
        stmt = stmt.where(search_criteria(q))
    return stmt


def search_criteria(q: str):
    """Every word must appear in one of the searchable fields (tag, name, serial, host...)."""
    words = q.split()[:MAX_SEARCH_WORDS]
    if not words:
        return true()
    columns = [getattr(Asset, c) for c in SEARCH_COLUMNS]
    return and_(*(or_(*(col.icontains(word, autoescape=True) for col in columns)) for word in words))


LIST_SORTS = {
    "tag": ((Asset.tag, Asset.id), False),
    "name": ((Asset.name, Asset.id), False),
    "updated": ((Asset.updated_at, Asset.id), True),
}


# History entries only the office sees: how its SSH checks reach a machine (host, port, user,
# key fingerprint) and the host keys it pinned or refused. The monitoring page refuses them to
# clerks; the history must not hand them out either.
STAFF_ONLY_HISTORY_PREFIXES = ("ssh_", "host_key_")


def history(asset: Asset, viewer: User | None = None):
    """The audit entries of an asset that `viewer` may read, as a statement the caller orders
    or pages (newest first); a clerk (or no viewer) never gets the office-only ones."""
    stmt = select(AuditEntry).where(AuditEntry.object_type == "asset", AuditEntry.object_id == str(asset.id))
    if viewer is None or viewer.role not in STAFF:
        for prefix in STAFF_ONLY_HISTORY_PREFIXES:
            stmt = stmt.where(AuditEntry.action.not_like(f"{prefix.replace('_', '/_')}%", escape="/"))
    return stmt


def reminders_sent(asset: Asset, limit: int = 20) -> list[AssetReminder]:
    return list(db.session.scalars(
        select(AssetReminder).where(AssetReminder.asset_id == asset.id)
        .order_by(AssetReminder.sent_at.desc(), AssetReminder.id.desc()).limit(limit)))


def tickets_of(asset: Asset, limit: int = 50) -> list:
    """The asset's tickets, newest first.

    Tickets live in `support` and point at assets through `asset_id`; until that model
    exists there is nothing to list. Looked up at call time so inventory does not depend on
    the ticket module (which depends on inventory for its asset picker).
    """
    try:
        from support.tickets.models import Ticket
    except ImportError:
        return []
    column = getattr(Ticket, "asset_id", None)
    if column is None:
        return []
    order = [c for c in (getattr(Ticket, "created_at", None), Ticket.id) if c is not None]
    return list(db.session.scalars(select(Ticket).where(column == asset.id)
                                   .order_by(*(c.desc() for c in order)).limit(limit)))


def asset_choices(council_id: int, q: str | None = None, limit: int = 50) -> list[Asset]:
    """Assets of a council that a picker may offer (a ticket's "which equipment?")."""
    stmt = select(Asset).where(Asset.council_id == council_id, Asset.status != "retired")
    if q:
        stmt = stmt.where(search_criteria(q))
    return list(db.session.scalars(stmt.order_by(Asset.tag, Asset.id).limit(limit)))

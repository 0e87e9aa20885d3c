"""CSV import of a council's assets: validate everything, then write everything or nothing.

The file's header row names asset fields (`tag`, `kind`, `name`, ... as in the API). A row
whose tag exists in the council updates that asset, and only in the columns the file has; any
other row creates an asset (then `kind` and `name` are required). Every row is checked before
anything is written, and one bad row means nothing is written: a half-imported inventory is
worse than none, because nobody knows which half.

What spreadsheets produce is accepted: `;` or `,` (or tab) separators, detected from the
header (Excel in Catalan and Spanish writes `;`); UTF-8 with or without BOM, UTF-16 with BOM
(Excel's "Unicode text"), and Windows-1252 as a fallback (Excel's plain "CSV" on Windows);
dates as YYYY-MM-DD or DD/MM/YYYY; an apostrophe our own exports put in front of
formula-like text is taken off again (core.csvsafe).

History: every asset created or changed gets its row in the audit log, in the same
transaction (`import_create`, `import_update` with the before/after pairs, like
accounts.audit.record writes them, but inserted in bulk).

Speed (bench/inventory_import.py): one SELECT for the council's existing assets, validation
in plain Python, then one executemany INSERT of the new assets (and one SELECT for their ids),
one executemany UPDATE for the rows that change, and one executemany INSERT into the audit
log. No per-row query, no ORM objects.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, bindparam, cast, func, literal, select
from sqlalchemy.exc import IntegrityError

from accounts.models import AuditEntry, User
from agreements.models import Council
from core.csvsafe import restore
from core.db import UTCDateTime, utcnow
from core.errors import Conflict
from extensions import db
from inventory import services
from inventory.labels import aliases, code_for, field_labels, header_key
from inventory.models import KINDS, MEDIA, STATUSES, Asset
from inventory.services import CLEANERS, DATE_FIELDS, EDITABLE_FIELDS, TEXT_LIMITS, FieldError

IMPORT_MAX_BYTES = 10 * 1024 * 1024
IMPORT_MAX_ROWS = 50_000
MAX_REPORTED_ERRORS = 1000
PREVIEW_ROWS = 50

# Columns our exports carry that an import does not write (they are the system's to set).
IGNORED_COLUMNS = ("id", "last_seen_at", "created_at", "updated_at")
COUNCIL_COLUMNS = ("council", "council_id")
KIND_ALIASES = {"licence": "license"}

_DATE_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
_DATE_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?)?")


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, size, header)."""

    def __init__(self, message, field: str = ""):
        super().__init__(str(message))
        self.message = message
        self.field = field


@dataclass
class RowError:
    row: int  # data rows count from 1; 0 is the header or the file as a whole
    field: str
    message: object  # lazy string: rendered in the reader's language

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": str(self.message)}


@dataclass
class PreviewRow:
    row: int
    tag: str
    name: str
    action: str  # "create" or "update"
    changes: dict


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    committed: bool = False
    delimiter: str = ","
    encoding: str = "utf-8"
    columns: list[str] = field(default_factory=list)
    preview: list[PreviewRow] = field(default_factory=list)

    def add_error(self, row: int, field_name: str, message) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, field_name, message))

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "errors": [e.as_dict() for e in self.errors], "error_count": self.error_count}


# --- reading the file ------------------------------------------------------------------------

def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(_l("This is a spreadsheet workbook, not a CSV file. Save it as CSV first "
                                 "(in Excel: Save as › CSV UTF-8)."))
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            raise ImportFileError(_l("The file says it is UTF-8 but is not; save it again as CSV UTF-8.")) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise ImportFileError(_l("The file's text encoding is not recognised; save it as CSV UTF-8.")) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        # Excel's plain "CSV" on a Catalan or Spanish Windows.
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        raise ImportFileError(_l("The file's text encoding is not recognised; save it as CSV UTF-8.")) from None


def sniff_delimiter(text: str) -> str:
    """`;`, `,` or tab, whichever the header line uses most (field names contain none)."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _header_name(raw: str) -> str:
    name = header_key(raw)
    # Our own exports name the columns in the reader's language: any language's label reads back.
    return name if name in EDITABLE_FIELDS else aliases("header").get(name, name)


# --- cells: text to typed values, then the shared field rules --------------------------------

def _parse_date(raw: str):
    raw = raw.strip()
    if not raw:
        return None
    return _date_from_text(raw)


@functools.lru_cache(maxsize=4096)
def _date_from_text(raw: str) -> dt.date:
    # Cached: a file repeats the same few dates (purchase batches, renewal days) many times.
    match = _DATE_ISO.fullmatch(raw)
    if match:
        year, month, day = match.groups()
    else:
        match = _DATE_DMY.fullmatch(raw)
        if match is None:
            raise FieldError(_l("Not a date: use YYYY-MM-DD or DD/MM/YYYY."))
        day, month, year = match.groups()
    try:
        value = dt.date(int(year), int(month), int(day))
    except ValueError:
        raise FieldError(_l("Not a date: use YYYY-MM-DD or DD/MM/YYYY.")) from None
    return CLEANERS["purchased_on"](value)


def _parse_seats(raw: str):
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or not raw.isascii():
        raise FieldError(_l("Enter a whole number."))
    return CLEANERS["seats"](int(raw))


def _parse_kind(raw: str):
    value = code_for("kind", raw)
    return CLEANERS["kind"](KIND_ALIASES.get(value, value)) if value else None


def _parse_status(raw: str):
    value = code_for("status", raw)
    return CLEANERS["status"](value) if value else None  # empty: keep (or in_use when new)


def _parse_media(raw: str):
    value = code_for("media", raw)
    return CLEANERS["media"](value) if value else None


def _text_parser(name: str) -> Callable[[str], object]:
    clean = CLEANERS[name]

    def parse(raw: str):
        if not raw:
            return ""
        return clean(restore(raw) if raw[0] == "'" else raw)
    return parse


PARSERS: dict[str, Callable[[str], object]] = {
    "kind": _parse_kind,
    "status": _parse_status,
    "media": _parse_media,
    "seats": _parse_seats,
    **dict.fromkeys(DATE_FIELDS, _parse_date),
    **{f: _text_parser(f) for f in TEXT_LIMITS if f != "tag"},
}


def _council_matches(council: Council, raw: str, column: str) -> bool:
    value = raw.strip()
    if not value:
        return True
    if column == "council_id":
        return value == str(council.id)
    folded = value.casefold()
    return folded in (council.name.casefold(), council.code.casefold(), council.slug, str(council.id))


def _plain(value):
    return value.isoformat() if isinstance(value, dt.date) else value


# --- the import --------------------------------------------------------------------------------

def import_assets(council: Council, data: bytes, *, actor: User | None, dry_run: bool) -> ImportResult:
    """Validate the whole file; unless `dry_run` or an error was found, write it in one transaction.

    Raises `Conflict` (duplicate_tag) only if another writer took a tag between validation
    and the insert; everything else comes back as errors in the result.
    """
    result = ImportResult()
    try:
        plan = _read(council, data, result)
    except ImportFileError as exc:
        result.add_error(0, exc.field, exc.message)
        return result
    if plan is None or not result.ok or dry_run:
        return result
    _write(council, plan, actor, result)
    return result


@dataclass
class _Plan:
    inserts: list[dict]
    # (asset id, label, new values of the file's columns, {column: (stored, new)} of what changes)
    updates: list[tuple[int, str, dict, dict]]
    columns: list[str]


def _read(council: Council, data: bytes, result: ImportResult) -> _Plan | None:
    if len(data) > IMPORT_MAX_BYTES:
        raise ImportFileError(_l("The file is too large: at most %(mb)d MB.", mb=IMPORT_MAX_BYTES // (1024 * 1024)))
    text, result.encoding = decode(data)
    if "\x00" in text:
        raise ImportFileError(_l("The file contains binary data; save it as CSV UTF-8."))
    result.delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=result.delimiter)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise ImportFileError(_l("The file is empty: the first row must name the columns (tag, kind, name...)."))
        columns = _columns(header, result)
        if not result.ok:
            return None
        return _rows(council, reader, columns, len(header), result)
    except csv.Error as exc:
        raise ImportFileError(_l("The file cannot be read as CSV near line %(line)d: %(error)s",
                                 line=reader.line_num, error=str(exc))) from None


def _columns(header: list[str], result: ImportResult) -> dict[str, int]:
    known = set(EDITABLE_FIELDS) | set(IGNORED_COLUMNS) | set(COUNCIL_COLUMNS)
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = _header_name(raw)
        if not name:
            continue  # a trailing separator; a value under it is reported per row
        if name not in known:
            result.add_error(0, name[:60], _l("Unknown column. Columns are: %(columns)s.",
                                               columns=", ".join(EDITABLE_FIELDS)))
        elif name in columns:
            result.add_error(0, name, _l("This column appears twice."))
        else:
            columns[name] = index
    if "tag" not in columns:
        result.add_error(0, "tag", _l("The file needs a tag column: rows are matched to assets by tag."))
    result.columns = [c for c in columns if c in EDITABLE_FIELDS]
    return columns


def _rows(council: Council, reader, columns: dict[str, int], width: int, result: ImportResult) -> _Plan:
    fields = [c for c in EDITABLE_FIELDS if c in columns and c != "tag"]
    plan = [(name, columns[name], PARSERS[name]) for name in fields]
    tag_index = columns["tag"]
    council_checks = [(c, columns[c]) for c in COUNCIL_COLUMNS if c in columns]
    used = set(columns.values())
    # Cells under a nameless header cell (a stray separator in the header row).
    stray = [i for i in range(width) if i not in used]

    # The council's assets, once: tag -> the stored values of the columns the file has.
    wanted = ["id", "tag", *fields,
              *(f for f in ("name", "status", "purchased_on", "warranty_until") if f not in fields)]
    existing = {row.tag: row for row in db.session.execute(
        select(*(getattr(Asset, c) for c in wanted)).where(Asset.council_id == council.id))}

    has_kind, has_name = "kind" in columns, "name" in columns
    check_dates = "purchased_on" in columns or "warranty_until" in columns
    clean_tag = CLEANERS["tag"]
    seen: dict[str, int] = {}
    inserts: list[dict] = []
    updates: list[tuple[int, str, dict, dict]] = []
    add_error = result.add_error
    # The hot loop of a 50,000-row file: no query, no ORM object, few calls per cell.
    for rownum, rec in enumerate(reader, start=1):
        if rownum > IMPORT_MAX_ROWS:
            raise ImportFileError(_l("Too many rows: at most %(n)d in one file; split it.", n=IMPORT_MAX_ROWS))
        if not any(rec) or not "".join(rec).strip():
            continue  # blank line, counted so that row numbers match the spreadsheet
        result.rows += 1
        ncells = len(rec)
        bad = False
        if (ncells > width and "".join(rec[width:]).strip()) or (
                stray and any(i < ncells and rec[i].strip() for i in stray)):
            add_error(rownum, "", _l("A value in a column without a name (more cells than header columns)."))
            bad = True
        for name, index in council_checks:
            if index < ncells and not _council_matches(council, rec[index], name):
                add_error(rownum, name, _l("This row names another council (%(value)s); this file is being "
                                           "imported into %(council)s.", value=rec[index].strip()[:60],
                                           council=council.name))
                bad = True
        raw_tag = rec[tag_index] if tag_index < ncells else ""
        try:
            tag = clean_tag(restore(raw_tag) if raw_tag[:1] == "'" else raw_tag)
        except FieldError as exc:
            add_error(rownum, "tag", exc.message)
            tag = None
            bad = True
        values = {}
        for name, index, parse in plan:
            try:
                values[name] = parse(rec[index] if index < ncells else "")
            except FieldError as exc:
                add_error(rownum, name, exc.message)
                bad = True
        current = None
        if tag is not None:
            first = seen.get(tag)
            if first is not None:
                add_error(rownum, "tag", _l("The tag %(tag)s is also on row %(row)d.", tag=tag, row=first))
                bad = True
            else:
                seen[tag] = rownum
            current = existing.get(tag)
        # Required values: a column that is present must not be empty; a new asset needs both.
        for name, present in (("kind", has_kind), ("name", has_name)):
            if present:
                if name in values and not values[name]:
                    add_error(rownum, name, _l("This field is required."))
                    bad = True
            elif current is None and tag is not None:
                add_error(rownum, name, _l("Required for a new asset: add a %(column)s column.", column=name))
                bad = True
        if "status" in values and values["status"] is None:
            # An empty status keeps the stored one, and means "in use" for a new asset.
            values["status"] = current.status if current is not None else "in_use"
        if check_dates:
            dates = {f: values[f] if f in values else (getattr(current, f) if current is not None else None)
                     for f in ("purchased_on", "warranty_until")}
            if dates["purchased_on"] and dates["warranty_until"]:
                for name, message in services.cross_field_errors(dates).items():
                    add_error(rownum, name, message)
                    bad = True
        if bad:
            continue
        if current is None:
            values["tag"] = tag
            values.setdefault("status", "in_use")
            inserts.append(values)
            result.created += 1
            if len(result.preview) < PREVIEW_ROWS:
                result.preview.append(PreviewRow(rownum, tag, values.get("name", ""), "create",
                                                 {k: v for k, v in values.items() if v not in (None, "")}))
        else:
            changes = {k: (old, v) for k, v in values.items() if (old := getattr(current, k)) != v}
            if not changes:
                result.unchanged += 1
                continue
            name = values.get("name") or current.name
            updates.append((current.id, f"{tag} · {name}", values, changes))
            result.updated += 1
            if len(result.preview) < PREVIEW_ROWS:
                result.preview.append(PreviewRow(rownum, tag, name, "update", changes))
    return _Plan(inserts, updates, fields)


def _write(council: Council, plan: _Plan, actor: User | None, result: ImportResult) -> None:
    now = utcnow()
    assets = Asset.__table__
    log = AuditEntry.__table__
    actor_id = actor.id if actor is not None else None
    actor_label = actor.email if actor is not None else "system"
    audit_rows: list[dict] = []
    blank = dict.fromkeys(TEXT_LIMITS, "") | {"media": None, "seats": None, "purchased_on": None,
                                             "warranty_until": None, "expires_on": None}
    try:
        if plan.inserts:
            rows = [blank | values | {"council_id": council.id, "created_at": now, "updated_at": now,
                                      "last_seen_at": None} for values in plan.inserts]
            db.session.execute(assets.insert(), rows)
            # The creation entries are written by the database from the rows just inserted,
            # which carry the import's own timestamp: one INSERT ... SELECT instead of 50,000
            # rows built in Python (and no RETURNING, which SQLite runs one row at a time).
            # An entry's values are the asset's own (later changes are logged as before/after
            # pairs), so they are not copied into it.
            source = select(
                literal(now, UTCDateTime()), cast(literal(actor_id), Integer), literal(actor_label),
                literal("import_create"), literal("asset"), cast(Asset.id, String),
                func.substr(Asset.tag + " · " + Asset.name, 1, 200), Asset.council_id,
                literal({}, log.c.changes.type),
            ).where(Asset.council_id == council.id, Asset.created_at == now).order_by(Asset.id)
            db.session.execute(log.insert().from_select(
                ["created_at", "actor_id", "actor_label", "action", "object_type", "object_id", "object_label",
                 "council_id", "changes"], source))
        if plan.updates:
            # Every update row sets all the file's columns (executemany needs one shape);
            # unchanged ones get their own value back, which costs nothing.
            names = plan.columns
            stmt = (assets.update().where(assets.c.id == bindparam("_id"))
                    .values({name: bindparam(f"_v_{name}") for name in names} | {"updated_at": bindparam("_now")}))
            params = [{"_id": asset_id, "_now": now, **{f"_v_{name}": values[name] for name in names}}
                      for asset_id, _label, values, _changes in plan.updates]
            db.session.execute(stmt, params)
            for asset_id, label, _values, changes in plan.updates:
                audit_rows.append(_audit_row(
                    "import_update", asset_id, label, council.id, now, actor_id, actor_label,
                    {k: [_plain(old), _plain(new)] for k, (old, new) in changes.items()}))
        if audit_rows:
            db.session.execute(log.insert(), audit_rows)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("Another change took one of these tags while the file was being imported; "
                          "import it again."), code="duplicate_tag") from None
    result.committed = True


def _audit_row(action, asset_id, label, council_id, now, actor_id, actor_label, changes) -> dict:
    return {"created_at": now, "actor_id": actor_id, "actor_label": actor_label, "action": action,
            "object_type": "asset", "object_id": str(asset_id), "object_label": label[:200],
            "council_id": council_id, "changes": changes}


# Listed for the import page's help: every column and what it takes.
def column_help() -> list[tuple[str, object]]:
    labels = field_labels()
    hints = {
        "tag": _l("required; matches existing assets"),
        "kind": _l("required for new assets: %(values)s", values=", ".join(KINDS)),
        "name": _l("required for new assets"),
        "status": _l("%(values)s (empty: in_use for new assets, unchanged otherwise)", values=", ".join(STATUSES)),
        "media": ", ".join(MEDIA),
        "seats": _l("whole number"),
        **{f: _l("YYYY-MM-DD or DD/MM/YYYY") for f in DATE_FIELDS},
        "ip_address": _l("e.g. 192.168.1.20"),
        "holder": _l("certificates: the holder; domains: the registrant"),
        "issuer": _l("certificates: the certification authority; domains: the registrar"),
    }
    return [(name, labels[name], hints.get(name, "")) for name in EDITABLE_FIELDS]

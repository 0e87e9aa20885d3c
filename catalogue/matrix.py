"""The councils × services matrix: what the page and the chart show, and its CSV export and
import (one row per council and service that has a record)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from agreements.models import Council
from catalogue import services
from catalogue.models import CouncilService, Service
from core.csvsafe import csv_bytes, restore
from core.errors import DomainError
from extensions import db

CSV_HEADER = ("council", "service", "wave", "status", "planned_on", "live_on", "technician", "contact",
              "next_review_on", "notes")
MAX_IMPORT_BYTES = 1_000_000
MAX_IMPORT_ROWS = 5000


@dataclass
class Matrix:
    councils: list[Council]
    services: list[Service]
    cells: dict[tuple[int, int], CouncilService]  # (council_id, service_id) → record

    def status(self, council_id: int, service_id: int) -> str | None:
        cell = self.cells.get((council_id, service_id))
        return cell.status if cell else None


def build(*, active_only: bool = True) -> Matrix:
    councils = list(db.session.scalars(select(Council).where(Council.active.is_(True)).order_by(Council.name)))
    svc = services.all_services(active=True if active_only else None)
    cells = {(c.council_id, c.service_id): c for c in db.session.scalars(select(CouncilService))}
    return Matrix(councils, svc, cells)


def export_csv(matrix: Matrix, *, delimiter: str = ",") -> bytes:
    rows = []
    for council in matrix.councils:
        for service in matrix.services:
            cell = matrix.cells.get((council.id, service.id))
            if cell is not None:
                rows.append((council.code, service.code, cell.wave, cell.status, cell.planned_on, cell.live_on,
                             cell.technician.email if cell.technician else "", cell.contact,
                             cell.next_review_on, cell.notes))
    return csv_bytes(CSV_HEADER, rows, delimiter=delimiter)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, message)

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DomainError(_l("The file is not UTF-8 or Windows-1252 text."))


def _date(text: str):
    return dt.date.fromisoformat(text) if text else None


def import_csv(data: bytes, *, actor: User | None, dry_run: bool) -> ImportResult:
    """Every row is checked before anything is written; with any error nothing is."""
    result = ImportResult()
    if len(data) > MAX_IMPORT_BYTES:
        result.errors.append((0, "", str(_l("The file is too large."))))
        return result
    text = _decode(data)
    dialect = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=dialect)
    missing = {"council", "service"} - set(reader.fieldnames or ())
    if missing:
        result.errors.append((0, ", ".join(sorted(missing)), str(_l("Missing column."))))
        return result
    councils = {c.code: c for c in db.session.scalars(select(Council))}
    by_code = {s.code: s for s in db.session.scalars(select(Service))}
    staff = {u.email.lower(): u.id for u in db.session.scalars(select(User).where(User.role != "clerk"))}
    planned = []
    for number, row in enumerate(reader, start=1):
        if number > MAX_IMPORT_ROWS:
            result.errors.append((number, "", str(_l("Too many rows."))))
            break
        row = {k: restore((v or "").strip()) for k, v in row.items() if k}
        council, service = councils.get(row.get("council", "").upper()), by_code.get(row.get("service", "").upper())
        if council is None:
            result.errors.append((number, "council", str(_l("Unknown council code."))))
        if service is None:
            result.errors.append((number, "service", str(_l("Unknown service code."))))
        values: dict = {}
        for name in ("wave", "status", "contact", "notes"):
            if row.get(name):
                values[name] = row[name]
        for name in ("planned_on", "live_on", "next_review_on"):
            try:
                if row.get(name):
                    values[name] = _date(row[name])
            except ValueError:
                result.errors.append((number, name, str(_l("Must be a date (YYYY-MM-DD)."))))
        if row.get("technician"):
            if row["technician"].lower() not in staff:
                result.errors.append((number, "technician", str(_l("Not a member of the office's staff."))))
            else:
                values["technician_id"] = staff[row["technician"].lower()]
        if council is None or service is None:
            continue
        try:
            values = services.clean_subscription(values)
        except DomainError as exc:
            result.errors.extend((number, k, str(v)) for k, v in exc.fields.items())
            continue
        existing = services.find_subscription(council.id, service.id)
        target = values.get("status")
        if existing is not None and target and target != existing.status and target not in services.MOVES[existing.status]:
            result.errors.append((number, "status", str(services.invalid_move(existing.status, target).message)))
            continue
        if existing is None and not service.active:
            result.errors.append((number, "service", str(_l("This service is retired."))))
            continue
        planned.append((council, service, values, existing is None))
    if result.errors:
        return result
    for council, service, values, new in planned:
        result.created += new
        result.updated += not new
        if not dry_run:
            services.put_subscription(council, service, values, actor=actor)
    return result

"""Exports of assets as CSV and XLSX.

The columns are the API's field names, with the council's name, so an export can be edited
in a spreadsheet and imported back unchanged (the importer ignores `id` and `last_seen_at`
and checks `council`). Kinds and statuses stay as their codes for the same reason.

The statement comes from `services.asset_query`, run here inside the request: the council
scope narrows it for clerks like every other query, so an export can never hold another
council's rows.
"""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from flask import current_app
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from core.csvsafe import csv_bytes
from extensions import db
from inventory.models import Asset
from inventory.services import EDITABLE_FIELDS

EXPORT_COLUMNS = ("id", "council", *EDITABLE_FIELDS, "last_seen_at")
EXPORT_MAX_ROWS = 50_000
_WIDTHS = {"id": 7, "council": 22, "tag": 18, "kind": 12, "name": 32, "status": 10, "notes": 40,
           "purchased_on": 12, "warranty_until": 12, "expires_on": 12, "last_seen_at": 17, "seats": 7}


def export_rows(stmt) -> list[list]:
    stmt = stmt.order_by(Asset.council_id, Asset.tag, Asset.id).limit(EXPORT_MAX_ROWS)
    rows = []
    for asset in db.session.scalars(stmt):
        rows.append([asset.id, asset.council.name,
                     *(getattr(asset, f) for f in EDITABLE_FIELDS), asset.last_seen_at])
    return rows


def to_csv(rows: list[list], delimiter: str) -> bytes:
    return csv_bytes(EXPORT_COLUMNS, rows, delimiter=delimiter)


def _xlsx_cell(ws, value, local_tz):
    if isinstance(value, str):
        cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        # Text stays text: openpyxl would store "=..." as a formula, which is exactly the
        # injection the CSV neutraliser prevents; a string cell is never evaluated.
        cell.data_type = "s"
        return cell
    if isinstance(value, dt.datetime):
        # Excel has no time zones: the office's local time, as people read it.
        cell = WriteOnlyCell(ws, value=value.astimezone(local_tz).replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, dt.date):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return WriteOnlyCell(ws, value=value)


def to_xlsx(rows: list[list], sheet_title: str = "assets") -> bytes:
    local_tz = ZoneInfo(current_app.config["OFFICE_TIMEZONE"])
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31])
    for index, name in enumerate(EXPORT_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = _WIDTHS.get(name, 16)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in EXPORT_COLUMNS:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for row in rows:
        ws.append([_xlsx_cell(ws, value, local_tz) for value in row])
    ws.auto_filter.ref = f"A1:{get_column_letter(len(EXPORT_COLUMNS))}{len(rows) + 1}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()

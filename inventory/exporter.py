"""Exports of assets as CSV and XLSX.

The columns are the asset's fields with the council's name, headed in the reader's language,
and kinds, statuses and media are their names in that language ("En ús", not `in_use`): the
file is for people. It still imports back unchanged: the importer reads any language's labels
of the columns and values as well as the API's codes (inventory.labels.aliases), ignores `id`
and `last_seen_at` and checks `council`.

The statement comes from `services.asset_query`, run here inside the request: the council
scope narrows it for clerks like every other query, so an export can never hold another
council's rows.
"""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from core.csvsafe import csv_bytes
from core.spreadsheet import sheet_title as excel_sheet_title
from extensions import db
from inventory.labels import field_labels, kind_labels, media_labels, status_labels
from inventory.models import Asset
from inventory.services import EDITABLE_FIELDS

EXPORT_COLUMNS = ("id", "council", *EDITABLE_FIELDS, "last_seen_at")
EXPORT_MAX_ROWS = 50_000
_WIDTHS = {"id": 7, "council": 22, "tag": 18, "kind": 12, "name": 32, "status": 10, "notes": 40,
           "purchased_on": 12, "warranty_until": 12, "expires_on": 12, "last_seen_at": 17, "seats": 7}


def export_header() -> list[str]:
    labels = {**field_labels(), "id": _("ID")}
    return [str(labels.get(name, name)) for name in EXPORT_COLUMNS]


def export_rows(stmt) -> list[list]:
    stmt = stmt.order_by(Asset.council_id, Asset.tag, Asset.id).limit(EXPORT_MAX_ROWS)
    names = {"kind": kind_labels(), "status": status_labels(), "media": media_labels()}
    rows = []
    for asset in db.session.scalars(stmt):
        values = []
        for f in EDITABLE_FIELDS:
            value = getattr(asset, f)
            values.append(str(names[f].get(value, value)) if f in names and value else value)
        rows.append([asset.id, asset.council.name, *values, asset.last_seen_at])
    return rows


def to_csv(rows: list[list], delimiter: str) -> bytes:
    return csv_bytes(export_header(), rows, delimiter=delimiter)


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
    ws = wb.create_sheet(title=excel_sheet_title(sheet_title, set()))
    for index, name in enumerate(EXPORT_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = _WIDTHS.get(name, 16)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in export_header():
        cell = WriteOnlyCell(ws, value=name)
        cell.font = bold
        cell.data_type = "s"
        header.append(cell)
    ws.append(header)
    for row in rows:
        ws.append([_xlsx_cell(ws, value, local_tz) for value in row])
    ws.auto_filter.ref = f"A1:{get_column_letter(len(EXPORT_COLUMNS))}{len(rows) + 1}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()

"""Reports as CSV and XLSX.

Two audiences. The API's CSV (`GET /api/v1/reports/usage?format=csv`) is a contract: the
field names of the JSON, in minutes (`usage_csv`). The files people download from the pages
(the usage CSV, the workbooks) speak the reader's language: translated headers, durations as
h:mm text beside decimal hours for sums (core.spreadsheet), month names as the API gives them
(YYYY-MM, which sorts).

CSV: UTF-8 with a byte-order mark and every text cell neutralised against formula injection
(core.csvsafe).

XLSX: one sheet per section (the council-months, the councils' year, the comarcas, the
service), sheet names within Excel's 31 characters cut on a word boundary, numbers stored as
numbers (hours and shares as numbers with a display format, never as text), text stored as
text (a name starting with "=" stays a name), a frozen header row and a filter on each sheet.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from core.csvsafe import csv_bytes
from core.spreadsheet import decimal_hours, decimal_hours_text, hm, sheet_title
from reports import consumption, publishing, texts
from reports.quality import ServiceStats

# Display formats (Excel's codes; the reader's Excel shows them in its own locale).
INT = "#,##0"
HOURS = "#,##0.00"
HOURS_EXACT = "#,##0.00##"  # 2.25, 0.1667: never a rounded 2.3 beside "2:15"
PERCENT = "0.0%"
DECIMAL = "0.00"
TEXT = None


@dataclass
class Column:
    title: str
    number_format: str | None = INT
    width: int = 14


@dataclass
class Section:
    title: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)


def _cell(ws, value, number_format: str | None):
    if isinstance(value, str):
        cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # text is never a formula
        return cell
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, dt.date):
        cell.number_format = "yyyy-mm-dd"
    elif value is not None and number_format:
        cell.number_format = number_format
    return cell


def workbook(sections: Sequence[Section]) -> bytes:
    wb = Workbook(write_only=True)
    taken: set[str] = set()
    bold = Font(bold=True)
    for section in sections:
        ws = wb.create_sheet(title=sheet_title(section.title, taken))
        for index, column in enumerate(section.columns, start=1):
            ws.column_dimensions[get_column_letter(index)].width = column.width
        ws.freeze_panes = "A2"
        header = []
        for column in section.columns:
            cell = WriteOnlyCell(ws, value=column.title)
            cell.font = bold
            cell.data_type = "s"
            header.append(cell)
        ws.append(header)
        for row in section.rows:
            ws.append([_cell(ws, value, column.number_format) for value, column in zip(row, section.columns,
                                                                                        strict=True)])
        ws.auto_filter.ref = f"A1:{get_column_letter(len(section.columns))}{len(section.rows) + 1}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# --- sections ------------------------------------------------------------------------------------

def _h(minutes: int | float | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 4)


_MINUTE_FIELDS = tuple(f for f in consumption.USAGE_FIELDS if f.endswith("_minutes"))
# h:mm columns are text (a TEXT column): Excel would take "2:15" for a time of day.


def _figure_label(name: str) -> str:
    """"onsite_used_minutes" → "On site: used" in the reader's language."""
    if name == "travel_minutes":
        return _("Travel")
    mode, key = name.removesuffix("_minutes").split("_", 1)
    figures = {"base": _("Base"), "carried": _("Carried over"), "allowance": _("Allowance"), "used": _("Used"),
               "remaining": _("Remaining"), "excess": _("Excess")}
    return _("%(mode)s: %(figure)s", mode=_("On site") if mode == "onsite" else _("Remote"),
             figure=figures[key].lower())


def usage_header() -> list[str]:
    """The human-facing usage columns: council, month, then each figure as h:mm and as hours."""
    header = [_("Council"), _("Month")]
    for name in _MINUTE_FIELDS:
        label = _figure_label(name)
        header += [_("%(column)s (h:mm)", column=label), _("%(column)s (h)", column=label)]
    return header


def _usage_values(item: dict, hours) -> list:
    values = [item["council"], item["month"]]
    for name in _MINUTE_FIELDS:
        values += [hm(item[name]), hours(item[name])]
    return values


def usage_section(items: list[dict]) -> Section:
    """The council-months, as the API gives them, in the reader's words and hours."""
    header = usage_header()
    columns = [Column(header[0], TEXT, 24), Column(header[1], TEXT, 10)]
    for index, title in enumerate(header[2:]):
        columns.append(Column(title, TEXT if index % 2 == 0 else HOURS_EXACT, 14))
    return Section(_("Usage by month"), columns,
                   [_usage_values(item, lambda m: None if m is None else float(decimal_hours(m))) for item in items])


def _totals_columns() -> list[Column]:
    return [
        Column(_("On-site allowance (h)"), HOURS), Column(_("On-site used (h)"), HOURS),
        Column(_("On-site excess (h)"), HOURS), Column(_("On site, share used"), PERCENT, 12),
        Column(_("Remote allowance (h)"), HOURS), Column(_("Remote used (h)"), HOURS),
        Column(_("Remote excess (h)"), HOURS), Column(_("Remote, share used"), PERCENT, 12),
        Column(_("Travel (h)"), HOURS, 11),
    ]


def _totals_values(t: consumption.Totals) -> list:
    return [_h(t.onsite.allowance), _h(t.onsite.used), _h(t.onsite.excess), t.onsite.ratio,
            _h(t.remote.allowance), _h(t.remote.used), _h(t.remote.excess), t.remote.ratio, _h(t.travel)]


def councils_section(office: consumption.OfficeYear) -> Section:
    columns = [Column(_("Council"), TEXT, 28), Column(_("Comarca"), TEXT, 16), Column(_("Months"), INT, 8),
               *_totals_columns()]
    rows = []
    for council in office.councils:
        t = office.by_council.get(council.id)
        if t is not None:
            rows.append([council.name, council.comarca, t.months, *_totals_values(t)])
    rows.append([_("Total"), "", office.totals.months, *_totals_values(office.totals)])
    return Section(_("Councils"), columns, rows)


def comarcas_section(office: consumption.OfficeYear) -> Section:
    columns = [Column(_("Comarca"), TEXT, 20), Column(_("Councils"), INT, 10), *_totals_columns()]
    rows = [[name or _("(none)"), len(t.councils), *_totals_values(t)] for name, t in office.by_comarca.items()]
    return Section(_("Comarcas"), columns, rows)


def months_section(office: consumption.OfficeYear) -> Section:
    from agreements.months import format_month

    columns = [Column(_("Month"), TEXT, 10), Column(_("Councils"), INT, 10), *_totals_columns()]
    rows = [[format_month(m), len(t.councils), *_totals_values(t)] for m, t in office.by_month.items() if t.months]
    return Section(_("Comarca totals by month"), columns, rows)


def service_columns() -> list[Column]:
    return [
        Column(_("Tickets opened")), Column(_("Tickets resolved")),
        Column(_("First responses on time")), Column(_("First responses measured")),
        Column(_("First-response compliance"), PERCENT),
        Column(_("Resolved on time")), Column(_("Resolutions measured")),
        Column(_("Resolution compliance"), PERCENT),
        Column(_("Median resolution, business hours"), HOURS, 16),
        Column(_("Median resolution, calendar hours"), HOURS, 16),
        Column(_("Ratings")), Column(_("Satisfaction (1–5)"), DECIMAL),
        *[Column(_("Rated %(score)s", score=s), INT, 9) for s in (1, 2, 3, 4, 5)],
        Column(_("Availability"), "0.00%"),
    ]


def service_values(s: ServiceStats) -> list:
    return [s.opened, s.resolved, s.first_response_met, s.first_response_measured, s.first_response_ratio,
            s.resolution_met, s.resolution_measured, s.resolution_ratio, _h(s.median_business_minutes),
            _h(s.median_calendar_minutes), s.ratings_count,
            None if s.satisfaction is None else round(s.satisfaction, 2),
            *[s.ratings.get(score, 0) for score in (1, 2, 3, 4, 5)], s.availability]


def service_section(councils, stats: dict[int, ServiceStats], total: ServiceStats) -> Section:
    columns = [Column(_("Council"), TEXT, 28), *service_columns()]
    rows = [[c.name, *service_values(stats[c.id])] for c in councils if c.id in stats]
    rows.append([_("Total"), *service_values(total)])
    return Section(_("Service"), columns, rows)


def categories_section(councils, stats: dict[int, ServiceStats], labels: dict, channel_labels: dict) -> Section:
    """Per council, tickets opened and resolved in each category and channel."""
    keys = list(labels)
    channels = list(channel_labels)
    opened, resolved = _("opened"), _("resolved")
    columns = [Column(_("Council"), TEXT, 28),
               *[Column(f"{labels[k]}: {what}", INT, 14) for k in keys for what in (opened, resolved)],
               *[Column(f"{channel_labels[k]}: {what}", INT, 12) for k in channels for what in (opened, resolved)]]
    rows = []
    for c in councils:
        s = stats.get(c.id)
        if s is None:
            continue
        rows.append([c.name, *[n for k in keys for n in (s.by_category.get(k, 0), s.resolved_by_category.get(k, 0))],
                     *[n for k in channels for n in (s.by_channel.get(k, 0), s.resolved_by_channel.get(k, 0))]])
    return Section(_("Tickets by category and channel"), columns, rows)


def month_usage_section(month_rows: list, councils: dict) -> Section:
    """One month, every council: the usage figures in minutes (the office's monthly report)."""
    return usage_section([consumption.usage_item(r, councils[r.council_id].name) for r in month_rows
                          if r.council_id in councils])


# --- whole documents ------------------------------------------------------------------------------

def usage_csv(items: list[dict], delimiter: str = ",") -> bytes:
    """The API's CSV (a contract: its field names, minutes)."""
    return csv_bytes(consumption.USAGE_FIELDS, ([item[f] for f in consumption.USAGE_FIELDS] for item in items),
                     delimiter=delimiter)


def usage_page_csv(items: list[dict], locale: str, delimiter: str = ",") -> bytes:
    """The usage CSV people download from the pages: their language, h:mm and decimal hours
    written with their decimal mark (the delimiter is `;` wherever that mark is a comma)."""
    return csv_bytes(usage_header(), (_usage_values(item, lambda m: decimal_hours_text(m, locale)) for item in items),
                     delimiter=delimiter)


def public_csv(figures: dict, locale: str, delimiter: str = ",") -> bytes:
    """A council's published figures for people (the JSON twin keeps the field names): headed
    in `locale` (the council's language, so one address always gives the same file, which
    shared caches may keep), hours as h:mm and decimal hours."""
    counts = {"tickets_opened": _("Tickets opened"), "tickets_resolved": _("Tickets resolved"),
              "first_response_met": _("First responses on time"),
              "first_response_measured": _("First responses measured"),
              "resolution_met": _("Resolved on time"), "resolution_measured": _("Resolutions measured")}
    header: list[str] = []
    for name in publishing.PUBLIC_FIELDS:
        if name == "month":
            header.append(_("Month"))
        elif name.endswith("_minutes"):
            label = _figure_label(name)
            header += [_("%(column)s (h:mm)", column=label), _("%(column)s (h)", column=label)]
        else:
            header.append(counts.get(name, name))

    def row(item: dict) -> list:
        values: list = []
        for name in publishing.PUBLIC_FIELDS:
            if name.endswith("_minutes"):
                values += [hm(item[name]), decimal_hours_text(item[name], locale)]
            else:
                values.append(item[name])
        return values

    return csv_bytes(header, (row(item) for item in figures["months"]), delimiter=delimiter)


def year_workbook(year: int, council=None) -> bytes:
    """The yearly usage report: council-months, councils' totals, comarcas, comarca totals by
    month, service and tickets by category and channel; one council's when `council` is given."""
    from agreements.months import month_start, office_today
    from reports import quality

    office = consumption.office_year(year, council.id if council is not None else None)
    names = {c.id: c.name for c in office.councils}
    items = [consumption.usage_item(r, names[c]) for (c, _m), r in sorted(office.cells.items()) if c in names]
    last = min(dt.date(year, 12, 1), month_start(office_today()))
    data = quality.service_by_council_month(dt.date(year, 1, 1), last, council.id if council else None) \
        if last >= dt.date(year, 1, 1) else {}
    per_council = quality.by_council(data)
    return workbook([
        usage_section(items),
        councils_section(office),
        comarcas_section(office),
        months_section(office),
        service_section(office.councils, per_council, quality.merged(per_council.values())),
        categories_section(office.councils, per_council, texts.category_labels(), texts.channel_labels()),
    ])


def office_month_workbook(month: dt.date) -> bytes:
    """The office's monthly report as a workbook: the month's usage of every council, the year
    so far, the month's service and tickets by category and channel."""
    from reports import quality

    office = consumption.office_year(month.year)
    names = {c.id: c.name for c in office.councils}
    ordered = sorted(office.cells.items(), key=lambda kv: (consumption.name_key(names.get(kv[0][0], "")), kv[0]))
    month_items = [consumption.usage_item(r, names[c]) for (c, m), r in ordered if m == month and c in names]
    year_items = [consumption.usage_item(r, names[c]) for (c, m), r in sorted(office.cells.items())
                  if m <= month and c in names]
    per_council = quality.by_council(quality.service_by_council_month(month, month))
    month_section = usage_section(month_items)
    month_section.title = _("Usage this month")
    year_section = usage_section(year_items)
    year_section.title = _("Usage, year to date")
    return workbook([
        month_section, year_section,
        service_section(office.councils, per_council, quality.merged(per_council.values())),
        categories_section(office.councils, per_council, texts.category_labels(), texts.channel_labels()),
    ])


"""The charts of the reports, as specs in the current language (see reports.charts).

Each function reads its figures through the report services (so the council scope applies,
and a clerk's chart can only hold their own council) and returns the spec to draw; the spec
is also the chart's cache key, so drawing is skipped whenever nothing it shows has changed.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _

from agreements.models import Council
from agreements.months import month_start
from core.i18n import locale_code
from reports import charts, consumption, quality

HEATMAP_MODES = ("total", "onsite", "remote")


def labels() -> dict:
    return {
        "onsite": _("On site"), "remote": _("Remote"), "allowance": _("Allowance (on site + remote)"),
        "onsite_allowance": _("On-site allowance"), "hours": _("Hours"), "used": _("Share of the allowance used"),
        "resolved": _("Tickets resolved"), "tickets": _("Tickets"),
        "first_response": _("First response on time"), "resolution": _("Resolved on time"),
    }


def council_usage(council: Council, year: int, until: dt.date | None = None) -> dict:
    """A council's year; with `until`, the months after it are left empty (a monthly report)."""
    rows = {r.month: r for r in consumption.usage_report(year, council.id)[0]
            if until is None or r.month <= month_start(until)}
    months = consumption.year_months(year)
    return charts.usage_spec(_("%(council)s: hours used in %(year)s", council=council.name, year=year), months,
                             charts.series_of_rows(months, rows), locale_code(), labels())


def office_usage(year: int, until: dt.date | None = None) -> dict:
    """Every council the reader sees, summed by month (months after `until` left empty)."""
    office = consumption.office_year(year)
    totals = {m: t for m, t in office.by_month.items() if until is None or m <= month_start(until)}
    return charts.usage_spec(_("All councils: hours used in %(year)s", year=year), office.months,
                             charts.series_of_totals(office.months, totals), locale_code(), labels())


def heatmap(year: int, mode: str = "total", office: consumption.OfficeYear | None = None,
            until: dt.date | None = None) -> dict:
    """Councils × months coloured by the share used (months after `until` left empty)."""
    office = office or consumption.office_year(year)
    mode = mode if mode in HEATMAP_MODES else "total"
    rows = []
    for council in office.councils:
        ratios = []
        for month in office.months:
            cell = office.cells.get((council.id, month))
            if cell is None or (until is not None and month > month_start(until)):
                ratios.append(None)
                continue
            if mode == "total":
                allowance = cell.onsite.allowance_minutes + cell.remote.allowance_minutes
                used = cell.onsite.used_minutes + cell.remote.used_minutes
            else:
                allowance, used = cell.mode(mode).allowance_minutes, cell.mode(mode).used_minutes
            ratios.append(used / allowance if allowance > 0 else (None if used <= 0 else 9.99))
        rows.append((council.name, ratios))
    title = {"total": _("Share of the allowance used, %(year)s", year=year),
             "onsite": _("Share of the on-site allowance used, %(year)s", year=year),
             "remote": _("Share of the remote allowance used, %(year)s", year=year)}[mode]
    return charts.heatmap_spec(title, office.months, rows, locale_code(), labels())


def sla_trend(year: int, council: Council | None = None, until: dt.date | None = None) -> dict:
    months = consumption.year_months(year)
    shown = [m for m in months if until is None or m <= month_start(until)]
    data = quality.service_by_council_month(shown[0], shown[-1], council.id if council else None,
                                            with_durations=False) if shown else {}
    per_month = quality.by_month(data, months)
    title = (_("%(council)s: SLA compliance, %(year)s", council=council.name, year=year) if council
             else _("SLA compliance, %(year)s", year=year))
    return charts.sla_spec(title, months, [per_month[m].first_response_ratio for m in months],
                           [per_month[m].resolution_ratio for m in months],
                           [per_month[m].resolved for m in months], locale_code(), labels())

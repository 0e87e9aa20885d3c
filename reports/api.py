"""Reports in the API: the usage report (JSON, CSV) and its chart, per the contract; the service
report and the archive as extensions."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask import Response
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, Field

from agreements import services as councils
from agreements.months import MONTH_PATTERN, format_month, month_start, office_today, parse_month
from core.access import ALL_ROLES, allow
from core.api import ApiAbort, OutModel, PageQuery, QueryModel, api_blueprint, operation, page_of
from core.db import MAX_ID
from core.keyset import keyset_page
from extensions import db
from reports import archive, consumption, exports, figures, quality
from reports.models import ReportArchive
from reports.views import chart_response

bp = api_blueprint("reports_api", __name__)

YEAR = Field(None, ge=consumption.MIN_YEAR, le=consumption.MAX_YEAR,
             description="The calendar year, e.g. 2026 (default: the current year).")
COUNCIL = Field(None, ge=1, le=MAX_ID, description="One council (a clerk sees only their own; another is 404).")


class UsageReportQuery(QueryModel):
    year: int | None = YEAR
    council_id: int | None = COUNCIL
    format: Literal["json", "csv"] = Field("json", description="`csv`: UTF-8 with BOM, the same columns.")


class UsageReportRow(BaseModel):
    council_id: int
    council: str
    month: str = Field(description="YYYY-MM")
    onsite_base_minutes: int
    onsite_carried_minutes: int
    onsite_allowance_minutes: int
    onsite_used_minutes: int
    onsite_remaining_minutes: int
    onsite_excess_minutes: int
    remote_base_minutes: int
    remote_carried_minutes: int
    remote_allowance_minutes: int
    remote_used_minutes: int
    remote_remaining_minutes: int
    remote_excess_minutes: int
    travel_minutes: int


class UsageReport(BaseModel):
    items: list[UsageReportRow]


def _usage_content() -> dict:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/UsageReport"}},
            "text/csv": {"schema": {"type": "string"}}}


@bp.get("/reports/usage")
@allow(*ALL_ROLES)
@operation("Usage report of a year", query=UsageReportQuery, response=UsageReport, tags=["reports"],
           response_content=_usage_content(),
           description="One row per council and month an agreement covers, ordered by council and month; the "
                       "figures equal `GET /councils/{id}/usage` for the same month. Without `council_id`, every "
                       "council the caller may see.")
def usage_report(query: UsageReportQuery):
    query.year = query.year or office_today().year
    if query.council_id is not None:
        councils.get_council(query.council_id)
    items = consumption.usage_items(query.year, query.council_id)
    if query.format == "csv":
        resp = Response(exports.usage_csv(items), mimetype="text/csv")
        resp.headers["Content-Type"] = "text/csv; charset=utf-8"
        who = query.council_id if query.council_id is not None else "all"
        resp.headers["Content-Disposition"] = f'attachment; filename="usage-{who}-{query.year}.csv"'
        resp.headers["Cache-Control"] = "private, no-store"
        return resp
    return {"items": items}


class UsageChartQuery(QueryModel):
    year: int | None = YEAR
    council_id: int | None = COUNCIL


@bp.get("/reports/usage.png")
@allow(*ALL_ROLES)
@operation("Chart of a year's usage", query=UsageChartQuery, tags=["reports"],
           response_content={"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}},
           description="Monthly stacked bars of on-site and remote use against the allowance, labelled in the "
                       "caller's language. Without `council_id`, the councils the caller sees, summed. The "
                       "ETag changes only when the figures (or the language) do.")
def usage_chart(query: UsageChartQuery):
    query.year = query.year or office_today().year
    if query.council_id is not None:
        council = councils.get_council(query.council_id)
        return chart_response(figures.council_usage(council, query.year), "png")
    return chart_response(figures.office_usage(query.year), "png")


class ServiceReportQuery(QueryModel):
    year: int | None = YEAR
    month: str | None = Field(None, pattern=MONTH_PATTERN, description="YYYY-MM: one month of `year` instead of "
                                                                         "the whole year.")
    council_id: int | None = COUNCIL


class ServiceFigures(BaseModel):
    tickets_opened: int
    tickets_resolved: int
    opened_by_category: dict[str, int]
    opened_by_channel: dict[str, int]
    resolved_by_category: dict[str, int]
    resolved_by_channel: dict[str, int]
    first_response_met: int
    first_response_measured: int
    first_response_compliance: float | None
    resolution_met: int
    resolution_measured: int
    resolution_compliance: float | None
    median_resolution_business_minutes: int | None
    median_resolution_calendar_minutes: int | None
    ratings: dict[str, int]
    ratings_count: int
    satisfaction_average: float | None
    availability: float | None = Field(description="Share of the monitored time the health checks were not critical.")
    monitored_minutes: int
    critical_minutes: int


class ServiceReportRow(ServiceFigures):
    council_id: int
    council: str


class ServiceReport(BaseModel):
    first_month: str
    last_month: str
    items: list[ServiceReportRow]
    total: ServiceFigures


@bp.get("/reports/service")
@allow(*ALL_ROLES)
@operation("Service report: tickets, SLA, resolution time, satisfaction, availability", query=ServiceReportQuery,
           response=ServiceReport, tags=["reports"],
           description="Per council over a year (up to the current month) or one month. Compliance and "
                       "availability are shares from 0 to 1; durations are minutes.")
def service_report(query: ServiceReportQuery):
    query.year = query.year or office_today().year
    if query.council_id is not None:
        councils.get_council(query.council_id)
    month = parse_month(query.month) if query.month else None
    if month is not None and month.year != query.year:
        raise ApiAbort(422, "validation_error", None, {"month": _l("Must be a month of the year asked for.")})
    first = month or dt.date(query.year, 1, 1)
    last = month or max(first, min(dt.date(query.year, 12, 1), month_start(office_today())))
    data = quality.service_by_council_month(first, last, query.council_id)
    per_council = quality.by_council(data)
    names = consumption.councils_by_id(per_council)
    items = [{"council_id": c, "council": names[c].name, **s.as_dict()}
             for c, s in sorted(per_council.items(), key=lambda cs: consumption.name_key(names[cs[0]].name))
             if c in names]
    return {"first_month": format_month(first), "last_month": format_month(last), "items": items,
            "total": quality.merged(per_council.values()).as_dict()}


class ArchiveQuery(PageQuery):
    council_id: int | None = COUNCIL
    month: str | None = Field(None, pattern=MONTH_PATTERN, description="YYYY-MM")


class ArchiveOut(OutModel):
    id: int
    kind: Literal["council_month", "office_month"]
    council_id: int | None
    period_start: dt.date
    period_end: dt.date
    language: str
    format: Literal["pdf", "xlsx", "csv"]
    filename: str
    size: int
    sha256: str
    generated_at: dt.datetime


@bp.get("/reports/archive")
@allow(*ALL_ROLES)
@operation("Archived reports", query=ArchiveQuery, response=page_of(ArchiveOut), tags=["reports"],
           description="Newest first. Clerks see their council's reports only.")
def archive_list(query: ArchiveQuery):
    month = parse_month(query.month) if query.month else None
    stmt = archive.archive_query(council_id=query.council_id, period=month)
    return keyset_page(db.session, stmt, [ReportArchive.period_start, ReportArchive.id], query.limit, query.cursor,
                       descending=True)


@bp.get("/reports/archive/<int:archive_id>/file")
@allow(*ALL_ROLES)
@operation("Download an archived report", tags=["reports"], errors=(409,),
           response_content={t: {"schema": {"type": "string", "contentMediaType": t}} for t in
                             ("application/pdf", "text/csv",
                              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
           description="The file exactly as archived; 409 `archive_damaged` if it no longer matches its SHA-256.")
def archive_file(archive_id: int):
    report = archive.get_archive(archive_id)
    resp = Response(archive.read(report), mimetype=report.content_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    resp.headers["Repr-Digest"] = archive.digest_header(report)
    resp.headers["Cache-Control"] = "private, max-age=3600, immutable"
    return resp

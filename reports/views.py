"""Report pages, charts, exports, the archive and the public transparency pages."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from agreements import services as councils
from agreements.models import Agreement, Council
from agreements.months import add_months, format_month, month_start, months_between, office_today, parse_month
from core.access import ALL_ROLES, MANAGERS, STAFF, allow, public
from core.csvsafe import delimiter_for
from core.errors import DomainError
from core.i18n import locale_code
from core.ui import ui_page
from extensions import db, limiter
from reports import archive, charts, consumption, exports, figures, publishing, quality, renewal, texts
from reports.dashboard import dashboard as dashboard_of
from reports.forms import DeliverForm, GenerateForm, PublicationForm
from reports.models import ReportArchive

bp = Blueprint("reports", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- helpers ------------------------------------------------------------------------------------

def _year(today: dt.date) -> int:
    return consumption.parse_year(request.args.get("year"), today.year)


def _month_arg(value: str | None, default: dt.date) -> dt.date:
    month = parse_month(value) if value else None
    return month or default


def _path_month(value: str, today: dt.date) -> dt.date:
    """A month in the URL: a real month up to the current one (anything else is not a page)."""
    month = parse_month(value)
    if month is None or month > month_start(today):
        abort(404)
    return month


def _download(body: bytes, mimetype: str, filename: str, *, cache: str = "private, no-store") -> Response:
    resp = Response(body, mimetype=mimetype)
    if mimetype == "text/csv":
        resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = cache
    return resp


def chart_response(spec: dict, ext: str, *, cache: str = "private, no-cache") -> Response:
    """The chart, or 304 when the browser already holds this exact picture (the ETag is the
    spec's hash, so it changes with the figures and the language, and only then)."""
    key = charts.spec_key(spec, ext, 100)
    if key in request.if_none_match:
        resp = Response(status=304)
    else:
        data, key = charts.render(spec, ext)
        resp = Response(data, mimetype=charts.FORMATS[ext])
    resp.set_etag(key)
    resp.headers["Cache-Control"] = cache
    resp.headers["Vary"] = "Cookie, Authorization, Accept-Language"
    return resp


def _is_staff() -> bool:
    return current_user.is_authenticated and current_user.role in STAFF


def _can_publish() -> bool:
    return current_user.is_authenticated and current_user.role in MANAGERS


def _last_complete_month(today: dt.date) -> dt.date:
    return add_months(month_start(today), -1)


# --- overview -----------------------------------------------------------------------------------

@bp.get("/reports")
@allow(*ALL_ROLES)
def index():
    if current_user.role == "clerk":
        council = db.session.scalar(select(Council).where(Council.id == current_user.council_id))
        if council is None:
            abort(404)
        return redirect(url_for("reports.council", slug=council.slug))
    today = office_today()
    visible = sorted(db.session.scalars(select(Council).where(Council.active.is_(True))),
                     key=lambda c: consumption.name_key(c.name))
    recent = list(db.session.scalars(archive.archive_query().order_by(ReportArchive.period_start.desc(),
                                                                       ReportArchive.id.desc()).limit(6)))
    return render_template("reports/index.html", councils=visible, today=today, year=today.year,
                           last_month=_last_complete_month(today), recent=recent,
                           published=publishing.published_ids())


@bp.get("/reports/dashboard")
@allow(*STAFF)
def dashboard():
    today = office_today()
    this_month = month_start(today)
    month = _month_arg(request.args.get("month"), this_month)
    if month > this_month:
        month = this_month
    board = dashboard_of(month, today)
    return render_template("reports/dashboard.html", board=board, today=today, month=month,
                           previous=add_months(month, -1), following=add_months(month, 1) if month < this_month else None,
                           light_labels=texts.light_labels())


# --- usage --------------------------------------------------------------------------------------

@bp.get("/reports/usage")
@allow(*STAFF)
def usage():
    today = office_today()
    year = _year(today)
    office = consumption.office_year(year)
    mode = request.args.get("mode", "total")
    if mode not in figures.HEATMAP_MODES:
        mode = "total"
    return render_template("reports/usage.html", office=office, year=year, today=today, mode=mode,
                           mode_labels=texts.heatmap_mode_labels(), this_month=month_start(today))


@bp.get("/reports/usage.<any(csv, xlsx):fmt>")
@allow(*ALL_ROLES)
def usage_export(fmt: str):
    today = office_today()
    year = _year(today)
    slug = request.args.get("council") or None
    council = councils.get_council_by_slug(slug) if slug else None
    stem = f"councildesk-usage-{council.slug if council else 'all'}-{year}"
    if fmt == "xlsx":
        return _download(exports.year_workbook(year, council), XLSX, f"{stem}.xlsx")
    sep = request.args.get("sep")
    delimiter = {"comma": ",", "semicolon": ";"}.get(sep or "", delimiter_for(locale_code()))
    items = consumption.usage_items(year, council.id if council else None)
    return _download(exports.usage_page_csv(items, locale_code(), delimiter), "text/csv", f"{stem}.csv")


@bp.get("/reports/councils/<slug>")
@allow(*ALL_ROLES)
def council(slug: str):
    council = councils.get_council_by_slug(slug)
    today = office_today()
    year = _year(today)
    report = consumption.council_year(council, year, today)
    agreements = councils.council_agreements(council.id)
    current = next((a for a in agreements if a.covers(month_start(today))), agreements[0] if agreements else None)
    suggestion = renewal.renewal_suggestion(council, today) if _is_staff() else None
    this_month = month_start(today)
    pdf_months = [m for m in reversed(report.months) if m <= this_month and m in report.rows]
    return render_template(
        "reports/council.html", council=council, report=report, year=year, today=today, this_month=this_month,
        agreement_years=consumption.agreement_years(sorted(agreements, key=lambda a: a.starts_on), today),
        current=current, comparison=renewal.compare_with_previous(current, today) if current else None,
        suggestion=suggestion, published=publishing.is_published(council.id), pdf_months=pdf_months,
        publication_form=PublicationForm() if _can_publish() else None)


@bp.get("/reports/councils/<slug>/chart.<any(png, svg):ext>")
@allow(*ALL_ROLES)
def council_chart(slug: str, ext: str):
    council = councils.get_council_by_slug(slug)
    today = office_today()
    return chart_response(figures.council_usage(council, _year(today), until=today), ext)


@bp.get("/reports/councils/<slug>/monthly/<month>.pdf")
@allow(*ALL_ROLES)
def council_month_pdf(slug: str, month: str):
    from reports import pdf

    council = councils.get_council_by_slug(slug)
    today = office_today()
    period = _path_month(month, today)
    language = request.args.get("lang")
    if language not in current_app.config["LANGUAGES"]:
        language = council.language
    body = pdf.council_month_pdf(council, period, language)
    return _download(body, "application/pdf", archive.filename_for(council, period, language, "pdf"))


@bp.post("/reports/councils/<slug>/publication")
@allow(*MANAGERS)
def publication(slug: str):
    council = councils.get_council_by_slug(slug)
    form = PublicationForm()
    if form.validate_on_submit():
        enabled = form.enabled.data == "1"
        publishing.set_publication(council, enabled, actor=current_user._get_current_object())
        flash(_("The transparency page of %(council)s is now public.", council=council.name) if enabled else
              _("The transparency page of %(council)s is no longer public.", council=council.name), "success")
    else:
        flash(_("Choose whether to publish."), "warning")
    if request.form.get("next") == "transparency":
        return redirect(url_for("reports.transparency"))
    return redirect(url_for("reports.council", slug=council.slug))


# --- the office's charts ---------------------------------------------------------------------

@bp.get("/reports/charts/usage.<any(png, svg):ext>")
@allow(*STAFF)
def office_chart(ext: str):
    today = office_today()
    return chart_response(figures.office_usage(_year(today), until=today), ext)


@bp.get("/reports/charts/heatmap.<any(png, svg):ext>")
@allow(*STAFF)
def heatmap_chart(ext: str):
    mode = request.args.get("mode", "total")
    today = office_today()
    return chart_response(figures.heatmap(_year(today), mode, until=today), ext)


@bp.get("/reports/charts/sla.<any(png, svg):ext>")
@allow(*STAFF)
def sla_chart(ext: str):
    today = office_today()
    return chart_response(figures.sla_trend(_year(today), until=today), ext)


@bp.get("/reports/councils/<slug>/sla.<any(png, svg):ext>")
@allow(*ALL_ROLES)
def council_sla_chart(slug: str, ext: str):
    council = councils.get_council_by_slug(slug)
    today = office_today()
    return chart_response(figures.sla_trend(_year(today), council, until=today), ext)


# --- service ----------------------------------------------------------------------------------

def _service_period(today: dt.date) -> tuple[int, dt.date | None, dt.date, dt.date]:
    year = _year(today)
    month = parse_month(request.args.get("month") or "")
    if month is not None and month.year != year:
        year = month.year
    this_month = month_start(today)
    first = month or dt.date(year, 1, 1)
    last = month or min(dt.date(year, 12, 1), this_month)
    return year, month, first, max(first, last)


@bp.get("/reports/service")
@allow(*STAFF)
def service():
    today = office_today()
    year, month, first, last = _service_period(today)
    data = quality.service_by_council_month(first, last) if first <= month_start(today) else {}
    per_council = quality.by_council(data)
    names = consumption.councils_by_id(per_council)
    return render_template("reports/service.html", year=year, month=month, today=today,
                           months=consumption.year_months(year), total=quality.merged(per_council.values()),
                           rows=sorted(((names[c], s) for c, s in per_council.items() if c in names),
                                       key=lambda cs: consumption.name_key(cs[0].name)),
                           categories=texts.category_labels(), channels=texts.channel_labels(),
                           definitions=texts.definitions(), council=None)


@bp.get("/reports/councils/<slug>/service")
@allow(*ALL_ROLES)
def council_service(slug: str):
    council = councils.get_council_by_slug(slug)
    today = office_today()
    year, month, first, last = _service_period(today)
    data = quality.service_by_council_month(first, last, council.id) if first <= month_start(today) else {}
    by_month = quality.by_month(data, months_between(first, last))
    return render_template("reports/service.html", year=year, month=month, today=today, council=council,
                           months=consumption.year_months(year), total=quality.merged(by_month.values()),
                           by_month=by_month, categories=texts.category_labels(), channels=texts.channel_labels(),
                           definitions=texts.definitions(), rows=None)


# --- agreements ---------------------------------------------------------------------------------

@bp.get("/reports/agreements/<int:agreement_id>")
@allow(*ALL_ROLES)
def agreement(agreement_id: int):
    agreement = councils.get_agreement(agreement_id)
    today = office_today()
    comparison = renewal.compare_with_previous(agreement, today)
    suggestion = renewal.renewal_suggestion(agreement.council, today) if _is_staff() else None
    return render_template("reports/agreement.html", agreement=agreement, council=agreement.council,
                           comparison=comparison, suggestion=suggestion, today=today)


# --- the office's monthly documents ----------------------------------------------------------

@bp.get("/reports/monthly/<month>.<any(pdf, xlsx):doc>")
@allow(*STAFF)
def office_month(month: str, doc: str):
    from reports import pdf

    today = office_today()
    period = _path_month(month, today)
    language = locale_code()
    if doc == "pdf":
        return _download(pdf.office_month_pdf(period, language), "application/pdf",
                         archive.filename_for(None, period, language, "pdf"))
    return _download(exports.office_month_workbook(period), XLSX, archive.filename_for(None, period, language, "xlsx"))


# --- the archive ----------------------------------------------------------------------------------

@bp.get("/reports/archive", endpoint="archive")
@allow(*ALL_ROLES)
def archive_page():
    today = office_today()
    month = parse_month(request.args.get("month") or "")
    slug = request.args.get("council") or None
    council = councils.get_council_by_slug(slug) if slug else None
    stmt = archive.archive_query(council_id=council.id if council else None, period=month)
    page = ui_page(stmt, [ReportArchive.period_start, ReportArchive.id], descending=True, limit=60)
    last = _last_complete_month(today)
    forms = None
    if _can_publish():
        forms = {"generate": GenerateForm(month=format_month(last)), "deliver": DeliverForm(month=format_month(last))}
    return render_template("reports/archive.html", page=page, month=month, council=council, forms=forms,
                           today=today)


@bp.get("/reports/archive/<int:archive_id>")
@allow(*ALL_ROLES)
def archive_download(archive_id: int):
    report = archive.get_archive(archive_id)
    data = archive.read(report)
    resp = _download(data, report.content_type, report.filename, cache="private, max-age=3600, immutable")
    resp.headers["Repr-Digest"] = archive.digest_header(report)
    return resp


def _month_from_form(form) -> dt.date | None:
    month = parse_month(form.month.data)
    today = office_today()
    if month is None or month >= month_start(today):
        form.month.errors = [*form.month.errors, _("Choose a month that has ended.")]
        return None
    return month


@bp.post("/reports/archive/generate")
@allow(*MANAGERS)
def archive_generate():
    form = GenerateForm()
    if form.validate_on_submit():
        month = _month_from_form(form)
        if month is not None:
            try:
                made = archive.generate_month(month, actor=current_user._get_current_object(),
                                              languages=[current_app.config["BABEL_DEFAULT_LOCALE"], locale_code()])
            except DomainError as exc:
                db.session.rollback()
                flash(str(exc.message), "danger")
            else:
                flash(_("%(n)s reports of %(month)s are in the archive.", n=len(made), month=format_month(month)),
                      "success")
                return redirect(url_for("reports.archive", month=format_month(month)))
    for error in [*form.month.errors, *form.form_errors]:
        flash(error, "danger")
    return redirect(url_for("reports.archive"))


@bp.post("/reports/archive/deliver")
@allow(*MANAGERS)
def archive_deliver():
    from reports import jobs

    form = DeliverForm()
    if form.validate_on_submit():
        month = _month_from_form(form)
        if month is not None:
            result = jobs.deliver(month, actor=current_user._get_current_object())
            if result.get("already_done"):
                flash(_("The reports of %(month)s were delivered already; nothing was sent again.",
                        month=format_month(month)), "info")
            else:
                flash(_("The reports of %(month)s were archived and %(n)s mails queued.", month=format_month(month),
                        n=result.get("mails_queued", 0)), "success")
            return redirect(url_for("reports.archive", month=format_month(month)))
    for error in [*form.month.errors, *form.form_errors]:
        flash(error, "danger")
    return redirect(url_for("reports.archive"))


# --- transparency -------------------------------------------------------------------------------

@bp.get("/reports/transparency")
@allow(*MANAGERS)
def transparency():
    rows = sorted(db.session.scalars(select(Council).where(Council.active.is_(True))),
                  key=lambda c: consumption.name_key(c.name))
    return render_template("reports/transparency.html", councils=rows, published=publishing.published_ids(),
                           form=PublicationForm())


def _public_year(today: dt.date) -> int:
    year = consumption.parse_year(request.args.get("year"), today.year)
    return min(year, today.year)


def _public_limit() -> str:
    return current_app.config.get("REPORTS_PUBLIC_RATE_LIMIT", "120 per minute")


@bp.get("/public/<slug>")
@public
@limiter.limit(_public_limit)
def public_page(slug: str):
    council = publishing.published_council(slug)
    today = office_today()
    year = _public_year(today)
    figures_ = publishing.public_figures(council, year, today)
    agreement = figures_["agreement"]
    period = (dt.date.fromisoformat(agreement["starts_on"]), dt.date.fromisoformat(agreement["ends_on"])) \
        if agreement else None
    first = db.session.scalar(select(func.min(Agreement.starts_on)).where(Agreement.council_id == council.id))
    first_year = max(first.year if first else today.year, today.year - 9)
    return render_template("reports/public.html", council=council, data=figures_, year=year, today=today,
                           period=period, years=list(range(today.year, first_year - 1, -1)))


@bp.get("/public/<slug>.<any(json, csv):fmt>")
@public
@limiter.limit(_public_limit)
def public_data(slug: str, fmt: str):
    council = publishing.published_council(slug)
    today = office_today()
    year = _public_year(today)
    figures_ = publishing.public_figures(council, year, today)
    cache = "public, max-age=600"
    if fmt == "json":
        resp = current_app.response_class(
            json.dumps(figures_, ensure_ascii=False, indent=1), mimetype="application/json")
        resp.headers["Cache-Control"] = cache
        resp.headers["Access-Control-Allow-Origin"] = "*"
        return resp
    with force_locale(council.language or current_app.config["BABEL_DEFAULT_LOCALE"]):
        body = exports.public_csv(figures_, locale_code(), delimiter_for(locale_code()))
    resp = _download(body, "text/csv", f"{council.slug}-{year}.csv", cache=cache)
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@bp.get("/public/<slug>/chart.<any(png, svg):ext>")
@public
@limiter.limit(_public_limit)
def public_chart(slug: str, ext: str):
    council = publishing.published_council(slug)
    today = office_today()
    return chart_response(figures.council_usage(council, _public_year(today), until=today), ext,
                          cache="public, max-age=600")


from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from accounts.forms import ConfirmForm
from accounts.models import User
from agreements import services
from agreements.bands import band_for, list_bands, replace_bands
from agreements.councils import SORTS, council_query, create_council, update_council
from agreements.forms import AgreementForm, BandsForm, CouncilForm
from agreements.months import (
    add_months,
    format_month,
    month_end,
    month_start,
    months_between,
    office_today,
    parse_month,
)
from core.access import ADMIN, ALL_ROLES, MANAGERS, allow, safe_next_url
from core.errors import DomainError
from core.i18n import month_filter
from core.inputs import ascii_int
from core.ui import apply_errors, ui_page
from extensions import db

bp = Blueprint("agreements", __name__)

COUNCIL_FORM_FIELDS = ("name", "slug", "code", "comarca", "population", "population_year", "area_km2",
                       "contact_email", "contact_phone", "address", "language", "timezone", "active",
                       "mail_domains", "travel_minutes")


@bp.get("/councils")
@allow(*ALL_ROLES)
def councils():
    q = (request.args.get("q") or "").strip()[:120]
    status = request.args.get("status", "active")
    sort = request.args.get("sort", "name")
    active = {"active": True, "inactive": False}.get(status)
    stmt, order = council_query(q=q or None, active=active, sort=sort)
    page = ui_page(stmt, list(order), limit=100)
    if current_user.role == "clerk" and len(page.items) == 1 and not q:
        return redirect(url_for("agreements.council", slug=page.items[0].slug))
    return render_template("agreements/councils.html", page=page, q=q, status=status,
                           sort=sort if sort in SORTS else "name")


def _form_values(form: CouncilForm, *, creating: bool) -> dict:
    fields = COUNCIL_FORM_FIELDS if creating else tuple(f for f in COUNCIL_FORM_FIELDS if f not in ("slug", "code"))
    values = {f: getattr(form, f).data for f in fields}
    for key in ("slug", "code"):
        if key in values and not values[key]:
            values[key] = None
    values["travel_minutes"] = values["travel_minutes"] or 0
    return values


@bp.route("/councils/new", methods=["GET", "POST"])
@allow(*MANAGERS)
def council_new():
    form = CouncilForm()
    if form.validate_on_submit():
        try:
            council = create_council(_form_values(form, creating=True),
                                     actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Council %(name)s created.", name=council.name), "success")
            return redirect(url_for("agreements.council", slug=council.slug))
    return render_template("agreements/council_form.html", form=form, council=None)


@bp.get("/councils/<slug>")
@allow(*ALL_ROLES)
def council(slug: str):
    from support.hours import figures as hours

    council = services.get_council_by_slug(slug)
    band = band_for(council.population)
    clerks = []
    if current_user.is_staff:
        clerks = db.session.scalars(select(User).where(User.council_id == council.id)
                                    .order_by(User.name)).all()
    today = office_today()
    this_month = month_start(today)
    year = request.args.get("year", type=int) or today.year
    if not 1990 <= year <= 2200:
        year = today.year
    year_rows = {row.month: row for row in hours.usage_for_year(year, council.id)}
    current = year_rows.get(this_month) if year == today.year else hours.council_month_usage(council.id, this_month)
    forecast = hours.month_forecast(current, today) if current is not None else None
    agreement = services.current_agreement(council.id, today)
    return render_template("agreements/council.html", council=council, band=band, clerks=clerks,
                           today=today, this_month=this_month, current=current, forecast=forecast,
                           agreement=agreement, year=year, year_rows=year_rows,
                           year_months=months_between(dt.date(year, 1, 1), dt.date(year, 12, 1)))


@bp.route("/councils/<slug>/edit", methods=["GET", "POST"])
@allow(*MANAGERS)
def council_edit(slug: str):
    council = services.get_council_by_slug(slug)
    form = CouncilForm(obj=council)
    if form.validate_on_submit():
        try:
            update_council(council, _form_values(form, creating=False),
                           actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Council %(name)s saved.", name=council.name), "success")
            return redirect(url_for("agreements.council", slug=council.slug))
    return render_template("agreements/council_form.html", form=form, council=council)


@bp.get("/allowance-bands")
@allow(*ALL_ROLES)
def bands():
    return render_template("agreements/bands.html", bands=list_bands())


@bp.route("/allowance-bands/edit", methods=["GET", "POST"])
@allow(*ADMIN)
def bands_edit():
    form = BandsForm()
    if request.method == "GET":
        current = list_bands()
        form = BandsForm(data={"bands": [
            {"min_population": b.min_population, "max_population": b.max_population,
             "remote_minutes_month": b.remote_minutes_month,
             "onsite_default_minutes_month": b.onsite_default_minutes_month} for b in current]})
        form.bands.append_entry()  # one empty row to add a band
    elif form.is_submitted() and _valid_ignoring_blank_rows(form):
        rows = [row.data for row in form.bands if not _blank(row)]
        try:
            replace_bands(rows, actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            _band_errors(form, exc)
        else:
            flash(_("Allowance bands saved."), "success")
            return redirect(url_for("agreements.bands"))
    return render_template("agreements/bands_edit.html", form=form, confirm=ConfirmForm())


def _blank(row) -> bool:
    return all(f.data in (None, "") for f in row)


def _valid_ignoring_blank_rows(form: BandsForm) -> bool:
    """A fully blank row is the 'add a band' row left empty (or a band removed), not an error."""
    form.validate()
    csrf = getattr(form, "csrf_token", None)
    if csrf is not None and csrf.errors:
        return False
    valid = True
    for row in form.bands:
        if _blank(row):
            for f in row:
                f.errors = []
        elif row.errors:
            valid = False
    return valid


def _band_errors(form: BandsForm, exc: DomainError) -> None:
    rows = [row for row in form.bands if not _blank(row)]
    rows.sort(key=lambda r: r.min_population.data)
    for key, message in exc.fields.items():
        parts = key.split(".")
        if len(parts) == 3 and (ascii_int(parts[1], maximum=len(rows) - 1) is not None):
            field = getattr(rows[int(parts[1])], parts[2], None)
            if field is not None:
                field.errors = list(field.errors) + [str(message)]
                continue
        form.form_errors.append(str(message))


# --- agreements -------------------------------------------------------------------------

@bp.get("/councils/<slug>/agreements")
@allow(*ALL_ROLES)
def agreements(slug: str):
    council = services.get_council_by_slug(slug)
    rows = services.council_agreements(council.id)
    by_id = {a.id: a for a in rows}
    changes = {}
    for a in rows:
        previous = by_id.get(a.previous_agreement_id)
        if previous is not None:
            changes[a.id] = (services.change_ratio(a.onsite_minutes_month, previous.onsite_minutes_month),
                             services.change_ratio(a.remote_minutes_month, previous.remote_minutes_month))
    return render_template("agreements/agreements.html", council=council, agreements=rows, changes=changes,
                           today=office_today())


def _agreement_values(form: AgreementForm) -> dict:
    values = {
        "starts_on": form.first_month.month,
        "ends_on": month_end(form.last_month.month) if form.last_month.month else None,
        "onsite_minutes_month": form.onsite.minutes,
        "remote_minutes_month": form.remote.minutes,
        "rollover": form.rollover.data,
        "document_ref": form.document_ref.data or "",
        "notes": form.notes.data or "",
    }
    if form.status.data == "draft":
        values["signed_on"] = None
    else:
        values["signed_on"] = form.signed_on.data or office_today()
    return values


# Service field → form field, so that a domain error shows next to the right input.
_AGREEMENT_FORM_FIELDS = {"starts_on": "first_month", "ends_on": "last_month", "onsite_minutes_month": "onsite",
                          "remote_minutes_month": "remote", "signed_on": "signed_on", "rollover": "rollover",
                          "document_ref": "document_ref", "notes": "notes"}


def _agreement_errors(form: AgreementForm, exc: DomainError) -> None:
    if exc.code == "month_closed":
        # The terms of such an agreement are shown as text (hidden inputs): say it above the form.
        form.form_errors.append(str(exc.message))
        return
    apply_errors(form, SimpleNamespace(
        message=exc.message, fields={_AGREEMENT_FORM_FIELDS.get(k, k): v for k, v in exc.fields.items()}))


def _duration_text(minutes: int | None) -> str:
    from core.i18n import duration_filter

    return "" if minutes is None else duration_filter(minutes)


def _prefill(form: AgreementForm, values: dict) -> None:
    form.first_month.process_data(values["starts_on"])
    form.last_month.process_data(month_start(values["ends_on"]))
    form.onsite.data = _duration_text(values.get("onsite_minutes_month"))
    form.remote.data = _duration_text(values.get("remote_minutes_month"))
    form.rollover.data = values.get("rollover") or "none"
    if "signed_on" in values:
        form.status.data = "active" if values["signed_on"] else "draft"
        form.signed_on.data = values["signed_on"]
    for key in ("document_ref", "notes"):
        if key in values:
            getattr(form, key).data = values[key]


def _render_agreement_form(form, council, *, agreement=None, previous=None, band=None):
    return render_template("agreements/agreement_form.html", form=form, council=council, agreement=agreement,
                           previous=previous, band=band or band_for(council.population),
                           locked=agreement is not None and services.agreement_has_closed_month(agreement))


@bp.route("/councils/<slug>/agreements/new", methods=["GET", "POST"])
@allow(*MANAGERS)
def agreement_new(slug: str):
    council = services.get_council_by_slug(slug)
    form = AgreementForm()
    if request.method == "GET":
        latest = db.session.scalar(services.agreement_query(council_id=council.id)
                                   .order_by(services.Agreement.ends_on.desc()).limit(1))
        # After the last agreement, or from next month; four years, the usual term.
        start = latest.ends_on + dt.timedelta(days=1) if latest else add_months(month_start(office_today()), 1)
        _prefill(form, {"starts_on": start, "ends_on": month_end(add_months(start, 47)), "rollover": "none"})
    elif form.validate_on_submit():
        try:
            agreement = services.create_agreement(council, _agreement_values(form),
                                                  actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            _agreement_errors(form, exc)
        else:
            flash(_("Agreement saved."), "success")
            return redirect(url_for("agreements.agreement", agreement_id=agreement.id))
    return _render_agreement_form(form, council)


@bp.route("/agreements/<int:agreement_id>/renew", methods=["GET", "POST"])
@allow(*MANAGERS)
def agreement_renew(agreement_id: int):
    previous = services.get_agreement(agreement_id)
    council = previous.council
    form = AgreementForm()
    if request.method == "GET":
        _prefill(form, {**services.renewal_defaults(previous), "signed_on": None})
        form.status.data = "draft"
    elif form.validate_on_submit():
        try:
            agreement = services.create_agreement(council, _agreement_values(form),
                                                  actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            _agreement_errors(form, exc)
        else:
            flash(_("Agreement saved."), "success")
            return redirect(url_for("agreements.agreement", agreement_id=agreement.id))
    return _render_agreement_form(form, council, previous=previous)


@bp.route("/agreements/<int:agreement_id>/edit", methods=["GET", "POST"])
@allow(*MANAGERS)
def agreement_edit(agreement_id: int):
    agreement = services.get_agreement(agreement_id)
    council = agreement.council
    form = AgreementForm()
    if request.method == "GET":
        _prefill(form, {k: getattr(agreement, k) for k in services.AGREEMENT_FIELDS})
    elif form.validate_on_submit():
        try:
            services.update_agreement(agreement, _agreement_values(form), actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            _agreement_errors(form, exc)
        else:
            flash(_("Agreement saved."), "success")
            return redirect(url_for("agreements.agreement", agreement_id=agreement.id))
    previous = agreement.previous
    return _render_agreement_form(form, council, agreement=agreement, previous=previous)


@bp.get("/agreements/<int:agreement_id>")
@allow(*ALL_ROLES)
def agreement(agreement_id: int):
    from support.hours import figures as hours

    agreement = services.get_agreement(agreement_id)
    today = office_today()
    last_shown = min(agreement.last_month, month_start(today))
    rows = hours.usage_between(agreement.first_month, last_shown, agreement.council_id) \
        if last_shown >= agreement.first_month else []
    totals = {
        "onsite_allowance": sum(r.onsite.allowance_minutes for r in rows),
        "onsite_used": sum(r.onsite.used_minutes for r in rows),
        "onsite_excess": sum(r.onsite.excess_minutes for r in rows),
        "remote_allowance": sum(r.remote.allowance_minutes for r in rows),
        "remote_used": sum(r.remote.used_minutes for r in rows),
        "remote_excess": sum(r.remote.excess_minutes for r in rows),
        "travel": sum(r.travel_minutes for r in rows),
    }
    previous = agreement.previous
    change = None
    if previous is not None:
        change = (services.change_ratio(agreement.onsite_minutes_month, previous.onsite_minutes_month),
                  services.change_ratio(agreement.remote_minutes_month, previous.remote_minutes_month))
    following = db.session.scalar(services.agreement_query(council_id=agreement.council_id)
                                  .where(services.Agreement.starts_on > agreement.ends_on)
                                  .order_by(services.Agreement.starts_on).limit(1))
    return render_template("agreements/agreement.html", agreement=agreement, council=agreement.council,
                           rows=list(reversed(rows)), totals=totals, previous=previous, change=change,
                           following=following, today=today, months_left=max(0, len(months_between(
                               add_months(last_shown, 1), agreement.last_month))))


# --- closing months -----------------------------------------------------------------------

def _month_arg(month: str) -> dt.date:
    value = parse_month(month)
    if value is None:
        abort(404)
    return value


@bp.get("/months")
@allow(*MANAGERS)
def months():
    today = office_today()
    last = month_start(today)
    rows = services.month_overview(add_months(last, -23), last)
    return render_template("agreements/months.html", rows=rows, this_month=last, confirm=ConfirmForm())


@bp.get("/months/<month>")
@allow(*MANAGERS)
def month(month: str):
    from support.hours import figures as hours

    first = _month_arg(month)
    today = office_today()
    usage = hours.usage_between(first, first)
    councils = {c.id: c for c in db.session.scalars(select(services.Council).where(
        services.Council.id.in_([u.council_id for u in usage])))}
    closes = {c.council_id: c for c in db.session.scalars(
        select(services.MonthClose).where(services.MonthClose.month == first))}
    rows = sorted(({"council": councils[u.council_id], "usage": u, "close": closes.get(u.council_id)}
                   for u in usage), key=lambda r: r["council"].name)
    return render_template("agreements/month.html", month=first, rows=rows, ended=first < month_start(today),
                           confirm=ConfirmForm())


@bp.post("/months/<month>/close")
@allow(*MANAGERS)
def month_close_all(month: str):
    first = _month_arg(month)
    if ConfirmForm().validate_on_submit():
        try:
            closed = services.close_month_everywhere(first, actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(ngettext("%(month)s closed for %(num)d council.", "%(month)s closed for %(num)d councils.",
                           closed, month=month_filter(first)) if closed
                  else _("%(month)s was already closed everywhere.", month=month_filter(first)), "success")
    return redirect(url_for("agreements.month", month=format_month(first)))


@bp.post("/councils/<slug>/months/<month>/close")
@allow(*MANAGERS)
def council_month_close(slug: str, month: str):
    council = services.get_council_by_slug(slug)
    first = _month_arg(month)
    if ConfirmForm().validate_on_submit():
        try:
            services.close_month(council, first, actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("%(month)s is closed for %(council)s.", month=month_filter(first), council=council.name),
                  "success")
    target = request.form.get("next")
    return redirect(safe_next_url(target, url_for("support.council_month", slug=council.slug,
                                                  month=format_month(first))))

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.forms import ConfirmForm
from accounts.models import User
from agreements import services
from agreements.forms import BandsForm, CouncilForm
from core.access import ADMIN, ALL_ROLES, MANAGERS, allow
from core.errors import DomainError
from core.ui import apply_errors, ui_page
from extensions import db

bp = Blueprint("agreements", __name__)

COUNCIL_FORM_FIELDS = ("name", "slug", "code", "comarca", "population", "population_year", "area_km2",
                       "contact_email", "contact_phone", "address", "language", "timezone", "active")


@bp.get("/councils")
@allow(*ALL_ROLES)
def councils():
    q = (request.args.get("q") or "").strip()[:120]
    status = request.args.get("status", "active")
    sort = request.args.get("sort", "name")
    active = {"active": True, "inactive": False}.get(status)
    stmt, order = services.council_query(q=q or None, active=active, sort=sort)
    page = ui_page(stmt, list(order), limit=100)
    if current_user.role == "clerk" and len(page.items) == 1 and not q:
        return redirect(url_for("agreements.council", slug=page.items[0].slug))
    return render_template("agreements/councils.html", page=page, q=q, status=status,
                           sort=sort if sort in services.SORTS else "name")


def _form_values(form: CouncilForm, *, creating: bool) -> dict:
    fields = COUNCIL_FORM_FIELDS if creating else tuple(f for f in COUNCIL_FORM_FIELDS if f not in ("slug", "code"))
    values = {f: getattr(form, f).data for f in fields}
    for key in ("slug", "code"):
        if key in values and not values[key]:
            values[key] = None
    return values


@bp.route("/councils/new", methods=["GET", "POST"])
@allow(*MANAGERS)
def council_new():
    form = CouncilForm()
    if form.validate_on_submit():
        try:
            council = services.create_council(_form_values(form, creating=True),
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
    council = services.get_council_by_slug(slug)
    band = services.band_for(council.population)
    clerks = []
    if current_user.is_staff:
        clerks = db.session.scalars(select(User).where(User.council_id == council.id)
                                    .order_by(User.name)).all()
    return render_template("agreements/council.html", council=council, band=band, clerks=clerks)


@bp.route("/councils/<slug>/edit", methods=["GET", "POST"])
@allow(*MANAGERS)
def council_edit(slug: str):
    council = services.get_council_by_slug(slug)
    form = CouncilForm(obj=council)
    if form.validate_on_submit():
        try:
            services.update_council(council, _form_values(form, creating=False),
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
    return render_template("agreements/bands.html", bands=services.list_bands())


@bp.route("/allowance-bands/edit", methods=["GET", "POST"])
@allow(*ADMIN)
def bands_edit():
    form = BandsForm()
    if request.method == "GET":
        current = services.list_bands()
        form = BandsForm(data={"bands": [
            {"min_population": b.min_population, "max_population": b.max_population,
             "remote_minutes_month": b.remote_minutes_month,
             "onsite_default_minutes_month": b.onsite_default_minutes_month} for b in current]})
        form.bands.append_entry()  # one empty row to add a band
    elif form.is_submitted() and _valid_ignoring_blank_rows(form):
        rows = [row.data for row in form.bands if not _blank(row)]
        try:
            services.replace_bands(rows, actor=current_user._get_current_object())
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
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(rows):
            field = getattr(rows[int(parts[1])], parts[2], None)
            if field is not None:
                field.errors = list(field.errors) + [str(message)]
                continue
        form.form_errors.append(str(message))

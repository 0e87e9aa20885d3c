"""The hours ledger's pages: the office dashboard, logging hours, the lists of entries, a
council's month, and changing or correcting an entry."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.forms import ConfirmForm
from accounts.models import User
from agreements import services as councils
from agreements.models import Council
from agreements.months import add_months, format_month, month_start, office_today, parse_month
from catalogue import services as catalogue
from core.access import ALL_ROLES, STAFF, allow
from core.errors import DomainError
from core.i18n import duration_filter
from core.ui import ui_page
from extensions import db
from support.blueprint import bp
from support.hours import figures, services
from support.hours.forms import CorrectionForm, EntryForm, apply_entry_errors
from support.hours.models import TimeEntry


def _is_manager() -> bool:
    return current_user.role in services.MANAGER_ROLES


def _council_choices(today: dt.date, include_id: int | None = None) -> list | dict:
    """Active councils by name, with the user's recent ones first (in their own group)."""
    stmt = select(Council.id, Council.name).order_by(Council.name)
    rows = [(cid, name) for cid, name in db.session.execute(stmt.where(Council.active.is_(True)))]
    if include_id is not None and include_id not in {cid for cid, _name in rows}:
        rows += list(db.session.execute(stmt.where(Council.id == include_id)))
    recent_ids = services.recent_council_ids(current_user, today)
    if not recent_ids:
        return rows
    names = dict(rows)
    recent = [(cid, names[cid]) for cid in recent_ids if cid in names]
    return {_("Recent"): recent, _("All councils"): rows}


def _entry_values(form: EntryForm) -> dict:
    values = {"date": form.date.data, "minutes": form.duration.minutes, "mode": form.mode.data,
              "description": form.description.data or "",
              "travel_minutes": (form.travel.minutes or 0) if form.mode.data == "onsite" else 0}
    if getattr(form, "technician_id", None) is not None and form.technician_id.data:
        values["technician_id"] = form.technician_id.data
    values["service_id"] = form.service_id.data or None
    return values


def _service_choices(include_id: int | None = None) -> list[tuple[int, str]]:
    """The catalogue's active services (and the entry's own, should it have been retired since)."""
    chosen = catalogue.all_services(active=True)
    if include_id is not None and include_id not in {s.id for s in chosen}:
        chosen.append(catalogue.get_service(include_id))
    return [(s.id, s.local_name) for s in chosen]


# --- the office dashboard ----------------------------------------------------------------

@bp.get("/hours")
@allow(*STAFF)
def dashboard():
    today = office_today()
    this_month = month_start(today)
    month = parse_month(request.args.get("month")) or this_month
    office = figures.office_month(month, today)
    return render_template("support/hours/dashboard.html", councils=office.councils, usage=office.usage,
                           forecasts=office.forecasts, month=month, this_month=this_month, today=today,
                           elapsed=office.elapsed_days, total_days=office.total_days, totals=office.totals,
                           previous=add_months(month, -1),
                           following=add_months(month, 1) if month < this_month else None)


# --- logging hours ------------------------------------------------------------------------

def _recent_entries(user: User, limit: int = 8) -> list[TimeEntry]:
    return list(db.session.scalars(services.entry_query(technician_id=user.id)
                                   .order_by(TimeEntry.date.desc(), TimeEntry.id.desc()).limit(limit)))


@bp.route("/log-hours", methods=["GET", "POST"])
@allow(*STAFF)
def log():
    today = office_today()
    technicians = services.staff_users() if _is_manager() else None
    form = EntryForm(council_choices=_council_choices(today), technicians=technicians, services=_service_choices())
    preselected = None
    if request.method == "GET":
        form.date.data = dt.date.fromisoformat(request.args["date"]) if _iso_date(request.args.get("date")) else today
        preset = request.args.get("council")
        council = db.session.scalar(select(Council).where(Council.slug == preset)) if preset else None
        recent = services.recent_council_ids(current_user, today, limit=1)
        form.council_id.data = council.id if council is not None else (recent[0] if recent else None)
        if form.council_id.data is not None:
            # Said beside the select: a council chosen for the user is checked, not assumed.
            preselected = db.session.get(Council, form.council_id.data)
        if technicians is not None:
            form.technician_id.data = current_user.id
    elif form.validate_on_submit():
        council = db.session.scalar(select(Council).where(Council.id == form.council_id.data))
        if council is None:
            abort(404)
        try:
            entry = services.create_entry(council, _entry_values(form), actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            apply_entry_errors(form, exc)
        else:
            flash(_("Logged %(time)s for %(council)s on %(date)s.", time=duration_filter(entry.minutes),
                    council=council.name, date=entry.date.isoformat()), "success")
            args = {"council": council.slug}
            if entry.date != today:
                args["date"] = entry.date.isoformat()
            return redirect(url_for("support.log", **args))
    return render_template("support/hours/log.html", form=form, today=today, preselected_council=preselected,
                           recent=_recent_entries(current_user), closed=_closed_lookup())


def _iso_date(text: str | None) -> bool:
    try:
        dt.date.fromisoformat(text or "")
    except ValueError:
        return False
    return True


def _closed_lookup():
    """A template helper: is the month of this entry closed? (one query per council-month)."""
    cache: dict[tuple[int, dt.date], bool] = {}

    def closed(entry: TimeEntry) -> bool:
        key = (entry.council_id, entry.month)
        if key not in cache:
            cache[key] = councils.is_month_closed(*key)
        return cache[key]

    return closed


# --- lists ----------------------------------------------------------------------------------

@bp.get("/hours/entries")
@allow(*STAFF)
def entries():
    """Technicians see their own entries here; managers and admins everyone's."""
    month = parse_month(request.args.get("month"))
    council_id = request.args.get("council", type=int)
    technician_id = request.args.get("technician", type=int) if _is_manager() else current_user.id
    if council_id is not None and not 0 < council_id <= 2**31 - 1:
        council_id = None
    if technician_id is not None and not 0 < technician_id <= 2**31 - 1:
        technician_id = None
    stmt = services.entry_query(council_id=council_id, month=month, technician_id=technician_id)
    page = ui_page(stmt, [TimeEntry.date, TimeEntry.id], descending=True, limit=50)
    all_councils = db.session.execute(select(Council.id, Council.name).order_by(Council.name)).all()
    return render_template("support/hours/entries.html", page=page, month=month, council_id=council_id,
                           technician_id=technician_id, councils=all_councils,
                           technicians=services.staff_users() if _is_manager() else [],
                           closed=_closed_lookup(), corrections=services.corrections_of(e.id for e in page.items))


@bp.get("/councils/<slug>/months/<month>")
@allow(*ALL_ROLES)
def council_month(slug: str, month: str):
    council = councils.get_council_by_slug(slug)
    first = parse_month(month)
    if first is None:
        abort(404)
    usage = figures.month_usage_or_404(council, first)
    today = office_today()
    stmt = services.entry_query(council_id=council.id, month=first)
    page = ui_page(stmt, [TimeEntry.date, TimeEntry.id], limit=200)
    originals_elsewhere = {e.corrects_entry_id for e in page.items if e.corrects_entry_id}
    originals = {e.id: e for e in db.session.scalars(select(TimeEntry).where(TimeEntry.id.in_(originals_elsewhere)))}
    agreement = councils.agreement_for_month(council.id, first)
    return render_template("support/hours/council_month.html", council=council, month=first, usage=usage,
                           # A forecast is for the month under way; a past month has its figures.
                           forecast=figures.month_forecast(usage, today) if first == month_start(today) else None,
                           agreement=agreement, page=page,
                           corrections=services.corrections_of(e.id for e in page.items), originals=originals,
                           close=councils.month_close(council.id, first), ended=first < month_start(today),
                           today=today, previous=add_months(first, -1), following=add_months(first, 1),
                           confirm=ConfirmForm(), can_edit=lambda e: services.can_edit(current_user, e),
                           closed_fn=lambda _entry: usage.closed)


# --- changing entries -------------------------------------------------------------------------

def _editable_entry(entry_id: int) -> TimeEntry:
    entry = services.get_entry(entry_id)
    if not services.can_edit(current_user, entry):
        abort(403)
    return entry


@bp.route("/hours/entries/<int:entry_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def entry_edit(entry_id: int):
    entry = _editable_entry(entry_id)
    back = url_for("support.council_month", slug=entry.council.slug, month=format_month(entry.month))
    if entry.is_correction:
        # Its time is a signed change of another entry: remove it and correct again instead.
        flash(_("A correction is not edited: delete it and add the right one."), "info")
        return redirect(back)
    if councils.is_month_closed(entry.council_id, entry.month):
        flash(_("This entry's month is closed: add a correction instead."), "info")
        return redirect(url_for("support.entry_correct", entry_id=entry.id))
    today = office_today()
    technicians = None
    if _is_manager():
        technicians = services.staff_users()
        if entry.technician not in technicians:  # since deactivated: the entry still names them
            technicians.append(entry.technician)
    form = EntryForm(council_choices=_council_choices(today, include_id=entry.council_id), technicians=technicians,
                     services=_service_choices(include_id=entry.service_id))
    if request.method == "GET":
        form.council_id.data = entry.council_id
        form.service_id.data = entry.service_id or 0
        form.date.data = entry.date
        form.duration.data = duration_filter(entry.minutes)
        form.mode.data = entry.mode
        form.travel.data = duration_filter(entry.travel_minutes) if entry.travel_minutes else ""
        form.description.data = entry.description
        if technicians is not None:
            form.technician_id.data = entry.technician_id
    elif form.validate_on_submit():
        values = _entry_values(form)
        values["council_id"] = form.council_id.data
        try:
            services.update_entry(entry, values, actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            apply_entry_errors(form, exc)
        else:
            flash(_("Entry saved."), "success")
            return redirect(url_for("support.council_month", slug=entry.council.slug,
                                    month=format_month(entry.month)))
    return render_template("support/hours/entry_form.html", form=form, entry=entry, back=back, confirm=ConfirmForm())


@bp.post("/hours/entries/<int:entry_id>/delete")
@allow(*STAFF)
def entry_delete(entry_id: int):
    entry = _editable_entry(entry_id)
    slug, month = entry.council.slug, format_month(entry.month)
    if ConfirmForm().validate_on_submit():
        try:
            services.delete_entry(entry, actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("Entry deleted."), "success")
    return redirect(url_for("support.council_month", slug=slug, month=month))


@bp.route("/hours/entries/<int:entry_id>/correct", methods=["GET", "POST"])
@allow(*STAFF)
def entry_correct(entry_id: int):
    original = _editable_entry(entry_id)
    if original.is_correction and original.corrects_entry_id:
        return redirect(url_for("support.entry_correct", entry_id=original.corrects_entry_id))
    if not councils.is_month_closed(original.council_id, original.month):
        flash(_("This entry's month is still open: change the entry itself."), "info")
        return redirect(url_for("support.entry_edit", entry_id=original.id))
    form = CorrectionForm()
    today = office_today()
    if request.method == "GET":
        form.date.data = today
    elif form.validate_on_submit():
        sign = -1 if form.direction.data == "remove" else 1
        values = {"date": form.date.data, "minutes": sign * (form.duration.minutes or 0),
                  "travel_minutes": sign * (form.travel.minutes or 0), "description": form.description.data}
        try:
            entry = services.create_correction(original, values, actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            apply_entry_errors(form, exc)
        else:
            flash(_("Correction saved in %(month)s.", month=format_month(entry.month)), "success")
            return redirect(url_for("support.council_month", slug=original.council.slug,
                                    month=format_month(original.month)))
    return render_template("support/hours/correction_form.html", form=form, original=original,
                           corrections=services.corrections_of([original.id]).get(original.id, []))

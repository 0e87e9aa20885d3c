"""Visits' pages: the clerk's booking (next free slots, the on-site hours left this month,
confirm), the list of visits with cancelling, and the technician's day plan with a button to
log each visit's time."""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts.forms import ConfirmForm
from agreements.models import Council
from agreements.months import office_today
from core.access import ALL_ROLES, MANAGERS, STAFF, allow, public
from core.db import utcnow
from core.errors import DomainError
from core.inputs import id_arg, parse_day
from core.ui import apply_errors
from extensions import db
from support.blueprint import bp
from support.hours import figures
from support.hours import services as hours
from support.hours.forms import apply_entry_errors
from support.tickets.models import OPEN_STATUSES, Ticket
from support.visits import dispatch, ical, services
from support.visits.forms import BookForm, CancelVisitForm, LogVisitForm
from support.visits.models import Visit


def _actor():
    return current_user._get_current_object()


def _council_for_booking() -> Council:
    """A clerk books for their council; staff for the council named in ?council=."""
    if current_user.role == "clerk":
        council_id = current_user.council_id
    else:
        council_id = id_arg(request.args, "council")
    council = db.session.scalar(select(Council).where(Council.id == council_id)) if council_id else None
    if council is None:
        abort(404)
    return council


@bp.get("/book-visit")
@allow(*ALL_ROLES)
def visit_slots():
    if current_user.role != "clerk" and request.args.get("council") is None:
        councils = list(db.session.scalars(select(Council).where(Council.active.is_(True)).order_by(Council.name)))
        return render_template("support/visits/pick_council.html", councils=councils)
    council = _council_for_booking()
    slots = services.free_slots(council.id, utcnow(), limit=12)
    return render_template("support/visits/slots.html", council=council, slots=slots)


def _book_page(slot, form, status=200):
    usage = figures.council_month_usage(slot.council_id, slot.starts_at.astimezone(services.office_zone()).date()
                                        .replace(day=1))
    return render_template("support/visits/book.html", slot=slot, form=form, usage=usage), status


def _book_form(slot, formdata=None):
    form = BookForm(formdata=formdata)
    tickets = db.session.scalars(select(Ticket).where(Ticket.council_id == slot.council_id,
                                                      Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id.desc())
                                 .limit(50))
    form.ticket_id.choices = [(0, _("None"))] + [(t.id, f"{t.reference} · {t.title}") for t in tickets]
    if formdata is None and id_arg(request.args, "ticket"):
        form.ticket_id.data = id_arg(request.args, "ticket")
    return form


@bp.route("/book-visit/<int:slot_id>", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def visit_book(slot_id: int):
    slot = services.get_slot(slot_id)
    form = _book_form(slot, request.form if request.method == "POST" else None)
    if request.method == "POST":
        if not form.validate():
            return _book_page(slot, form, 422)
        try:
            visit = services.book(slot.id, {"ticket_id": form.ticket_id.data or None, "notes": form.notes.data or ""},
                                  actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
            return _book_page(services.get_slot(slot_id), form, 409 if exc.status == 409 else 422)
        flash(_("The visit is booked."), "success")
        return redirect(url_for("support.visit_list", booked=visit.id))
    return _book_page(slot, form)


@bp.get("/visit-list")
@allow(*ALL_ROLES)
def visit_list():
    stmt = select(Visit).options(selectinload(Visit.council), selectinload(Visit.slot)).where(
        Visit.starts_at >= utcnow() - dt.timedelta(days=1))
    if current_user.role == "technician":
        stmt = stmt.where(Visit.technician_id == current_user.id)
    visits = list(db.session.scalars(stmt.order_by(Visit.starts_at, Visit.id).limit(200)))
    return render_template("support/visits/visits.html", visits=visits, form=CancelVisitForm(), confirm=ConfirmForm(),
                           booked=id_arg(request.args, "booked"))


@bp.post("/visit-list/<int:visit_id>/cancel")
@allow(*ALL_ROLES)
def visit_cancel(visit_id: int):
    visit = services.get_visit(visit_id)
    form = CancelVisitForm()
    if form.validate_on_submit():
        try:
            services.cancel_visit(visit, form.reason.data or "", actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("The visit is cancelled."), "success")
    return redirect(url_for("support.visit_list"))


@bp.route("/visit-list/<int:visit_id>/move", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def visit_move(visit_id: int):
    """Another time for a booked visit: the council's free slots, one button each."""
    visit = services.get_visit(visit_id)
    form = ConfirmForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.move_visit(visit, id_arg(request.form, "slot_id"), actor=_actor())
            except DomainError as exc:
                db.session.rollback()
                visit = services.get_visit(visit_id)
                flash(str(next(iter((exc.fields or {}).values()), exc.message)), "danger")
                status = 409 if exc.status == 409 else 422
            else:
                flash(_("The visit has moved."), "success")
                return redirect(url_for("support.visit_list", booked=visit.id))
        else:
            flash(_("The form expired. Please submit it again."), "danger")
            status = 400
    slots = [s for s in services.free_slots(visit.council_id, utcnow(), limit=13) if s.id != visit.slot_id][:12]
    return render_template("support/visits/move.html", visit=visit, slots=slots, form=form), status


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _plan_day() -> dt.date:
    # Within 1900-2200: the page links the day before and after, which 9999-12-31 has not.
    return parse_day(request.args.get("day", "")) or office_today()


@bp.get("/day-plan")
@allow(*STAFF)
def day_plan():
    day = _plan_day()
    technician_id = id_arg(request.args, "technician") or current_user.id
    if current_user.role == "technician":
        technician_id = current_user.id
    stmt = services.visits_query(technician_id=technician_id, first=day, last=day).where(
        Visit.status == "booked").options(selectinload(Visit.council), selectinload(Visit.slot))
    visits = list(db.session.scalars(stmt.order_by(Visit.starts_at, Visit.id)))
    ticket_ids = [v.ticket_id for v in visits if v.ticket_id]
    tickets = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))} if ticket_ids else {}
    forms = {v.id: LogVisitForm(prefix=f"v{v.id}", formdata=None) for v in visits}
    for visit in visits:
        forms[visit.id].duration.data = _clock(visit.slot.minutes)
        # The round trip from the office, as tickets log travel; the technician corrects it.
        round_trip = 2 * (visit.council.travel_minutes or 0)
        forms[visit.id].travel.data = _clock(round_trip) if round_trip else ""
    travel_total = sum(2 * (v.council.travel_minutes or 0) for v in visits)
    return render_template("support/visits/day_plan.html", day=day, visits=visits, tickets=tickets, forms=forms,
                           travel_total=travel_total,
                           technicians=hours.staff_users() if current_user.role != "technician" else [],
                           technician_id=technician_id, prev=day - dt.timedelta(days=1),
                           next=day + dt.timedelta(days=1))


@bp.post("/day-plan/<int:visit_id>/log")
@allow(*STAFF)
def day_plan_log(visit_id: int):
    visit = services.get_visit(visit_id)
    form = LogVisitForm(prefix=f"v{visit.id}")
    day = visit.starts_at.astimezone(services.office_zone()).date()
    if form.validate_on_submit():
        values = {"date": day, "minutes": form.duration.minutes, "mode": "onsite",
                  "description": form.description.data or _("On-site visit"), "ticket_id": visit.ticket_id,
                  "travel_minutes": form.travel.minutes or 0}
        try:
            hours.create_entry(visit.council, values, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_entry_errors(form, exc)
            flash(" ".join(str(m) for m in (exc.fields or {}).values()) or str(exc.message), "danger")
        else:
            flash(_("Logged the visit's time."), "success")
    else:
        flash(" ".join(str(e) for f in form for e in f.errors) or _("The form expired. Please submit it again."),
              "danger")
    return redirect(url_for("support.day_plan", day=day.isoformat(), technician=visit.technician_id))


@bp.get("/dispatch")
@allow(*MANAGERS)
def dispatch_board():
    """Technicians × the days of a week, for managers placing on-site work."""
    try:
        day = dt.date.fromisoformat(request.args.get("week", ""))
    except ValueError:
        day = office_today()
    monday = dispatch.week_start(min(max(day, dt.date(2000, 1, 3)), dt.date(2999, 12, 1)))
    now = utcnow()
    days, holidays, rows = dispatch.week_board(monday, now)
    return render_template("support/visits/dispatch.html", days=days, holidays=holidays, rows=rows,
                           today=office_today(), monday=monday, prev=monday - dt.timedelta(days=7),
                           next=monday + dt.timedelta(days=7), tickets=dispatch.unbooked_onsite_tickets(now))


@bp.get("/calendar/<secret>.ics")
@public
def calendar_feed(secret: str):
    body = ical.feed_for_secret(secret)
    if body is None:
        abort(404)
    return Response(body, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=300"})


@bp.post("/calendar-feed")
@allow(*ALL_ROLES)
def calendar_feed_new():
    if ConfirmForm().validate_on_submit():
        flash(_("Your calendar address: %(url)s", url=ical.new_feed_url(_actor())), "success")
    return redirect(url_for("support.visit_list"))

"""Teams' pages: the list with each team's queue counts, one team's queues (unassigned, mine,
the team's, waiting on the council) with the absent members' open tickets for managers, the
team form, and absences (everyone their own, managers anyone's)."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts.forms import ConfirmForm
from accounts.models import User
from agreements.months import office_today
from core.access import MANAGERS, STAFF, allow
from core.db import utcnow
from core.errors import DomainError
from core.ui import apply_errors, ui_page
from extensions import db
from support.blueprint import bp
from support.hours import services as hours
from support.teams import routing, services
from support.teams.forms import AbsenceForm, TeamForm
from support.teams.models import Absence
from support.tickets.labels import ticket_labels
from support.tickets.models import Ticket


def routing_reason(reason) -> str:
    return routing.describe(reason)


def _actor():
    return current_user._get_current_object()


@bp.get("/teams")
@allow(*STAFF)
def teams():
    rows = [(t, services.queue_counts(t, current_user)) for t in services.list_teams()]
    return render_template("support/teams/teams.html", rows=rows, tk=ticket_labels())


@bp.get("/teams/<int:team_id>")
@allow(*STAFF)
def team(team_id: int):
    team = services.get_team(team_id)
    queue = request.args.get("queue", "team")
    if queue not in services.QUEUES:
        queue = "team"
    stmt = services.queue_query(team, queue, current_user).options(
        selectinload(Ticket.council), selectinload(Ticket.assignee))
    page = ui_page(stmt, [Ticket.queue_at, Ticket.id])
    absent = services.absent_members_tickets(team, office_today()) if current_user.role in MANAGERS else []
    return render_template("support/teams/team.html", team=team, queue=queue, page=page,
                           counts=services.queue_counts(team, current_user), absent=absent, now=utcnow(),
                           confirm=ConfirmForm(), tk=ticket_labels())


def _team_form(team=None, formdata=None):
    users = hours.staff_users()
    if team is not None:
        # Members keep their routing order; the others follow by name.
        order = {uid: i for i, uid in enumerate(team.member_ids)}
        users = sorted(users, key=lambda u: (order.get(u.id, len(order)), u.name))
    categories = list(ticket_labels().categories.items())
    form = TeamForm(formdata=formdata, users=users, categories=categories)
    if team is not None and formdata is None:
        form.name.data = team.name
        form.assignment.data = team.assignment
        form.member_ids.data = team.member_ids
        form.categories.data = team.category_names
    return form, users


def _render_form(form, team, status=200):
    return render_template("support/teams/team_form.html", form=form, team=team, confirm=ConfirmForm()), status


def _values(form, users) -> dict:
    chosen = set(form.member_ids.data or [])
    return {"name": form.name.data, "assignment": form.assignment.data,
            "member_ids": [u.id for u in users if u.id in chosen], "categories": list(form.categories.data or [])}


@bp.route("/teams/new", methods=["GET", "POST"])
@allow(*MANAGERS)
def team_new():
    form, users = _team_form(formdata=request.form if request.method == "POST" else None)
    if request.method == "POST":
        if not form.validate():
            return _render_form(form, None, 422)
        try:
            created = services.create_team(_values(form, users), actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
            return _render_form(form, None, 422)
        return redirect(url_for("support.team", team_id=created.id))
    return _render_form(form, None)


@bp.route("/teams/<int:team_id>/edit", methods=["GET", "POST"])
@allow(*MANAGERS)
def team_edit(team_id: int):
    team = services.get_team(team_id)
    form, users = _team_form(team, formdata=request.form if request.method == "POST" else None)
    if request.method == "POST":
        if not form.validate():
            return _render_form(form, team, 422)
        try:
            services.update_team(team, _values(form, users), actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
            return _render_form(form, team, 422)
        return redirect(url_for("support.team", team_id=team.id))
    return _render_form(form, team)


@bp.post("/teams/<int:team_id>/delete")
@allow(*MANAGERS)
def team_delete(team_id: int):
    team = services.get_team(team_id)
    if ConfirmForm().validate_on_submit():
        services.delete_team(team, actor=_actor())
        return redirect(url_for("support.teams"))
    return redirect(url_for("support.team_edit", team_id=team.id))


def _absence_page(form, status=200):
    manager = current_user.role in MANAGERS
    stmt = select(Absence).options(selectinload(Absence.user))
    if not manager:
        stmt = stmt.where(Absence.user_id == current_user.id)
    stmt = stmt.where(Absence.ends_on >= office_today()).order_by(Absence.starts_on, Absence.id)
    upcoming = list(db.session.scalars(stmt))
    return render_template("support/teams/absences.html", form=form, upcoming=upcoming, manager=manager,
                           confirm=ConfirmForm()), status


def _absence_form(formdata=None):
    form = AbsenceForm(formdata=formdata)
    if current_user.role in MANAGERS:
        form.user_id.choices = [(u.id, u.name) for u in hours.staff_users()]
        if formdata is None:
            form.user_id.data = current_user.id
    else:
        form.user_id.choices = [(current_user.id, current_user.name)]
    return form


@bp.get("/absences")
@allow(*STAFF)
def absences():
    return _absence_page(_absence_form())


@bp.post("/absences")
@allow(*STAFF)
def absence_add():
    form = _absence_form(request.form)
    if not form.validate():
        return _absence_page(form, 422)
    user_id = form.user_id.data if current_user.role in MANAGERS and form.user_id.data else current_user.id
    try:
        user = db.session.scalar(select(User).where(User.id == user_id))
        if user is None:
            user = current_user
        services.add_absence(user, form.starts_on.data, form.ends_on.data, actor=_actor())
    except DomainError as exc:
        db.session.rollback()
        apply_errors(form, exc)
        return _absence_page(form, 422)
    return redirect(url_for("support.absences"))


@bp.post("/absences/<int:absence_id>/delete")
@allow(*STAFF)
def absence_delete(absence_id: int):
    absence = db.session.scalar(select(Absence).where(Absence.id == absence_id))
    if absence is None or not (current_user.role in MANAGERS or absence.user_id == current_user.id):
        abort(404)
    if ConfirmForm().validate_on_submit():
        services.delete_absence(absence, actor=_actor())
    return redirect(url_for("support.absences"))

"""Tickets' pages: the clerks' portal and the office's queue, opening a ticket, one ticket
(replies, moves, time, rating, files), and the ticket panels of the asset and council pages.

The portal and the queue share these routes; what each page shows depends on who reads it,
and the council scope keeps clerks to their own council.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from accounts.forms import ConfirmForm
from accounts.models import User
from agreements.models import Council
from agreements.months import office_today
from catalogue import services as catalogue
from core.access import ALL_ROLES, STAFF, allow
from core.db import utcnow
from core.errorpages import render_error_page
from core.errors import DomainError
from core.i18n import duration_filter
from core.inputs import ascii_int, is_ascii_digits
from core.ui import apply_errors, ui_page
from extensions import db
from support.blueprint import bp
from support.hours.forms import apply_entry_errors
from support.tickets import attachments, labels, queue, ratings, services, sla_state
from support.tickets.forms import (
    ClerkTicketForm,
    CommentForm,
    RatingForm,
    StaffTicketForm,
    TicketStatusForm,
    TicketTimeForm,
    TicketUpdateForm,
)
from support.tickets.labels import ticket_labels
from support.tickets.models import CATEGORIES, CHANNELS, PRIORITIES, Ticket

QUEUE_STATUS_FILTERS = ("open", "active", "all", "new", "assigned", "in_progress", "waiting_council",
                        "resolved", "closed")
SLA_FILTERS = ("ok", "warning", "breached", "paused")


@dataclass
class QueueFilters:
    """The queue's filters as the URL carries them (allow-listed; anything else is ignored)."""

    q: str = ""
    council: str = ""
    status: str = "open"
    priority: str = ""
    assignee: str = ""
    sla: str = ""
    category: str = ""

    @classmethod
    def from_request(cls) -> QueueFilters:
        args = request.args
        status = args.get("status", "open")
        assignee = args.get("assignee", "")
        if assignee not in ("", "mine", "unassigned") and ascii_int(assignee, minimum=1, maximum=2**31 - 1) is None:
            assignee = ""
        return cls(q=(args.get("q") or "").strip()[:200],
                   council=(args.get("council") or "")[:80],
                   status=status if status in QUEUE_STATUS_FILTERS else "open",
                   priority=args.get("priority") if args.get("priority") in PRIORITIES else "",
                   assignee=assignee,
                   sla=args.get("sla") if args.get("sla") in SLA_FILTERS else "",
                   category=args.get("category") if args.get("category") in CATEGORIES else "")

    def service_filters(self, council_id: int | None) -> queue.TicketFilters:
        assignee_id = None
        if self.assignee == "mine":
            assignee_id = current_user.id
        elif is_ascii_digits(self.assignee):
            assignee_id = int(self.assignee)
        return queue.TicketFilters(
            council_id=council_id, status=None if self.status == "all" else self.status,
            priority=self.priority or None, category=self.category or None, assignee_id=assignee_id,
            unassigned=self.assignee == "unassigned", sla=self.sla or None, q=self.q or None)

    def args(self, **changes) -> dict:
        values = {k: v for k, v in vars(self).items() if v}
        values.update(changes)
        return {k: v for k, v in values.items() if v}

    @property
    def narrowed(self) -> bool:
        return any((self.q, self.council, self.priority, self.assignee, self.sla, self.category,
                    self.status != "open"))


QUEUE_ARGS = tuple(QueueFilters.__dataclass_fields__)


@bp.context_processor
def _ticket_labels():
    return {"tk": ticket_labels()}


def _actor():
    return current_user._get_current_object()


def _is_clerk() -> bool:
    return current_user.role == "clerk"


@bp.get("/tickets")
@allow(*ALL_ROLES)
def tickets():
    filters = QueueFilters.from_request()
    council = None
    if filters.council and not _is_clerk():
        council = db.session.scalar(select(Council).where(Council.slug == filters.council))
    if _is_clerk():
        # The portal: the council's requests, newest first; "active" hides the closed ones.
        status = request.args.get("show", "active")
        stmt = queue.ticket_query(queue.TicketFilters(status="active" if status != "all" else None,
                                                      q=filters.q or None), include_internal=False)
        page = ui_page(stmt, [Ticket.id], descending=True, limit=25, carry=("show", "q"))
        return render_template("support/tickets/tickets_portal.html", page=page, show=status, q=filters.q,
                               council=current_user.council)
    stmt = (queue.ticket_query(filters.service_filters(council.id if council else None), include_internal=True)
            .options(selectinload(Ticket.council), selectinload(Ticket.assignee)))
    page = ui_page(stmt, [Ticket.queue_at, Ticket.id], limit=50, carry=QUEUE_ARGS)
    all_councils = db.session.execute(select(Council.slug, Council.name).order_by(Council.name)).all()
    return render_template("support/tickets/queue.html", page=page, filters=filters, councils=all_councils,
                           staff=services.assignable_users(), now=utcnow())


# --- opening a ticket -----------------------------------------------------------------------------

def _asset_choices(council_id: int) -> list[tuple[int, str]]:
    from inventory import services as inventory

    return [(a.id, f"{a.name} · {a.tag}") for a in inventory.asset_choices(council_id, limit=500)]


def _uploaded(field) -> list[tuple[str, bytes]]:
    storage = getattr(field, "data", None)
    if storage is None or not getattr(storage, "filename", ""):
        return []
    # One byte over the cap is enough for the service to refuse it: never hold a 60 MB file.
    return [(storage.filename, storage.read(current_app.config["TICKET_ATTACHMENT_MAX_BYTES"] + 1))]


# The forms that carry a file. Their bodies may be larger than MAX_CONTENT_LENGTH (up to
# TICKET_FORM_MAX_BYTES), so that an oversized file comes back as a field error on the form with
# everything typed, not as a bare 413 page that loses a clerk's whole request (lessons.md).
FILE_FORM_ENDPOINTS = ("support.ticket_new", "support.ticket_comment")


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    """Beyond even that, nothing of the body can be read: back to the form, with the reason."""
    if request.endpoint not in FILE_FORM_ENDPOINTS:
        return render_error_page(413, exc=exc)
    flash(_("The file was too large to send, so nothing was saved: attach a file of up to 10 MB and send "
            "again."), "danger")
    if request.endpoint == "support.ticket_comment":
        return redirect(url_for("support.ticket", ticket_id=request.view_args["ticket_id"]) + "#reply")
    return redirect(url_for("support.ticket_new", **({"council": request.args["council"]}
                                                    if request.args.get("council") else {})))


_TICKET_FORM_FIELDS = {"title": "title", "description": "description", "priority": "priority",
                       "service_id": "service_id",
                       "category": "category", "channel": "channel", "asset_id": "asset_id",
                       "requester_id": "requester_id", "attachment": "attachment", "body": "body"}


def _apply_ticket(form, exc: DomainError) -> None:
    apply_errors(form, SimpleNamespace(message=exc.message, fields={
        _TICKET_FORM_FIELDS.get(k, k): v for k, v in exc.fields.items()}))


def _service_picker(council) -> tuple[list, object]:
    """The services a new request may start from, and the one the link named (`?service=`).

    Clerks: their council's live services, plus the one their portal linked to while it is
    being deployed (catalogue.offered_service); the office: every active service."""
    named = request.values.get("service", type=int)
    if _is_clerk():
        offered = catalogue.offered_service(council.id, named)
        choices = catalogue.live_services(council.id)
        if offered is not None and offered not in choices:
            choices.append(offered)
        return choices, offered
    choices = catalogue.all_services(active=True)
    return choices, next((s for s in choices if s.id == named), None)


def _picker_data(choices) -> dict:
    # What the progressive enhancement (static/js/service-picker.js) copies into the category.
    return {"data-categories": json.dumps({s.id: s.ticket_category for s in choices if s.ticket_category})}


@bp.route("/tickets/new", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def ticket_new():
    categories = [(c, labels.category_labels()[c]) for c in CATEGORIES]
    if _is_clerk():
        council = current_user.council
        offered, named = _service_picker(council)
        related = None
        related_id = request.values.get("related", type=int)
        if related_id and 0 < related_id <= 2**31 - 1:
            related = db.session.scalar(select(Ticket).where(Ticket.id == related_id))
        form = ClerkTicketForm(urgency=[(p, labels.urgency_labels()[p]) for p in PRIORITIES],
                               categories=categories, assets=_asset_choices(council.id),
                               services=[(s.id, s.local_name) for s in offered])
        if request.method == "GET" and related is not None:
            form.title.data = related.title
            form.category.data = related.category
            form.asset_id.data = related.asset_id or 0
    else:
        slug = request.values.get("council")
        council = db.session.scalar(select(Council).where(Council.slug == slug)) if slug else None
        if council is None:
            choices = db.session.scalars(select(Council).where(Council.active.is_(True)).order_by(Council.name)).all()
            return render_template("support/tickets/ticket_council_picker.html", councils=choices)
        related = None
        offered, named = _service_picker(council)
        form = StaffTicketForm(
            requesters=[(u.id, u.name) for u in services.council_clerks(council.id)],
            channels=[(c, labels.channel_labels()[c]) for c in CHANNELS if c != "monitoring"],
            priorities=[(p, labels.priority_labels()[p]) for p in PRIORITIES], categories=categories,
            assets=_asset_choices(council.id), services=[(s.id, s.local_name) for s in offered])
        if request.method == "GET" and request.args.get("asset", type=int):
            form.asset_id.data = request.args.get("asset", type=int)
    if request.method == "GET" and _is_clerk() and request.args.get("asset", type=int):
        form.asset_id.data = request.args.get("asset", type=int)
    # A request started from a service (the clerk's portal links here with `?service=`): the
    # picker shows it chosen and the category follows it; the team follows it when it is saved.
    form.service_id.render_kw = _picker_data(offered)
    if request.method == "GET" and named is not None:
        form.service_id.data = named.id
        if named.ticket_category:
            form.category.data = named.ticket_category
    by_id = {s.id: s for s in offered}
    service = named
    if request.method == "POST" and "service_id" in request.form:
        service = by_id.get(form.service_id.data)
    if request.method == "POST" and form.validate_on_submit():
        values = {"title": form.title.data, "description": form.description.data or "",
                  "priority": form.priority.data, "category": form.category.data or None,
                  "asset_id": form.asset_id.data or None, "service_id": service.id if service else None}
        if _is_clerk():
            values["related_ticket_id"] = related.id if related is not None else None
        else:
            values.update(channel=form.channel.data, requester_id=form.requester_id.data or None)
        try:
            ticket = services.create_ticket(council, values, actor=_actor(), files=_uploaded(form.attachment))
        except DomainError as exc:
            db.session.rollback()
            _apply_ticket(form, exc)
        else:
            if _is_clerk():
                flash(_("Thank you. Your request is %(reference)s; we will answer here and by mail.",
                        reference=ticket.reference), "success")
            else:
                flash(_("Ticket %(reference)s opened.", reference=ticket.reference), "success")
            return redirect(url_for("support.ticket", ticket_id=ticket.id))
    template = "support/tickets/ticket_new_clerk.html" if _is_clerk() else "support/tickets/ticket_new.html"
    return render_template(template, form=form, council=council, related=related, service=service)


# --- one ticket -------------------------------------------------------------------------------------

def _ticket_page(ticket, *, comment_form=None, note_form=None, time_form=None, rating_form=None,
                 status: int = 200):
    staff = not _is_clerk()
    comments = services.comments_of(ticket)
    files = services.attachments_of(ticket)
    by_comment: dict[int | None, list] = {}
    for f in files:
        by_comment.setdefault(f.comment_id, []).append(f)
    comment_form = comment_form or CommentForm(staff=staff, formdata=None)
    # A reply and an internal note are two forms (one a checkbox apart sent a remark to a council).
    note_form = note_form or (CommentForm(staff=True, formdata=None) if staff else None)
    rating = ratings.rating_of(ticket)
    posted = request.args.get("posted", type=int)
    context = {"ticket": ticket, "comments": comments, "files": by_comment, "comment_form": comment_form,
               "note_form": note_form, "note_open": bool(note_form is not None and note_form.errors),
               "posted": posted if any(c.id == posted for c in comments) else None,
               "rating": rating, "confirm": ConfirmForm(), "reopen_days": current_app.config["TICKET_REOPEN_DAYS"]}
    if staff:
        users = services.assignable_users()
        update_form = TicketUpdateForm(staff=[(u.id, u.name) for u in users],
                                       priorities=[(p, labels.priority_labels()[p]) for p in PRIORITIES],
                                       categories=[(c, labels.category_labels()[c]) for c in CATEGORIES],
                                       assignee_id=ticket.assignee_id or 0, priority=ticket.priority,
                                       category=ticket.category)
        if time_form is None:
            time_form = TicketTimeForm()
            time_form.date.data = office_today()
            time_form.description.data = ticket.title
        entries = services.time_entries_of(ticket)
        history = services.history_of(ticket)
        # Assignee changes store user ids; name them (people who left the office included).
        ids = {int(c.new_value) for c in history if c.field == "assignee" and c.new_value}
        names = {u.id: u.name for u in users}
        missing = ids - set(names)
        if missing:
            names.update(db.session.execute(select(User.id, User.name).where(User.id.in_(missing))).all())
        context.update(update_form=update_form, time_form=time_form, entries=entries, user_names=names,
                       time_total=sum(e.minutes for e in entries), history=history,
                       transitions=services.TRANSITIONS[ticket.status], now=utcnow(),
                       sla=sla_state.evaluate_sla(ticket, sla_state.status_events([ticket.id])[ticket.id], utcnow()))
        template = "support/tickets/ticket.html"
    else:
        context.update(rating_form=rating_form or RatingForm())
        template = "support/tickets/ticket_clerk.html"
    return render_template(template, **context), status


@bp.get("/tickets/<int:ticket_id>")
@allow(*ALL_ROLES)
def ticket(ticket_id: int):
    return _ticket_page(services.get_ticket(ticket_id))


@bp.post("/tickets/<int:ticket_id>/comments")
@allow(*ALL_ROLES)
def ticket_comment(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    form = CommentForm(staff=not _is_clerk())
    internal = bool(getattr(form, "internal", None) and form.internal.data)
    # What failed goes back into the form it came from, the other one stays empty.
    forms = {"note_form": form} if internal else {"comment_form": form}
    if not form.validate_on_submit():
        return _ticket_page(ticket, **forms)
    try:
        comment = services.add_comment(ticket, form.body.data, internal=internal, actor=_actor(),
                                       files=_uploaded(form.attachment))
    except DomainError as exc:
        db.session.rollback()
        _apply_ticket(form, exc)
        return _ticket_page(services.get_ticket(ticket_id), **forms)
    flash(_("Internal note added.") if internal else _("Reply sent."), "success")
    # On a phone the flash at the top is screens away from the reply: land on the new message,
    # which says it was sent (`posted`).
    return redirect(url_for("support.ticket", ticket_id=ticket.id, posted=comment.id) + f"#comment-{comment.id}")


@bp.post("/tickets/<int:ticket_id>/status")
@allow(*ALL_ROLES)
def ticket_status(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    form = TicketStatusForm()
    if form.validate_on_submit():
        try:
            services.change_ticket(ticket, {"status": form.status.data}, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_status_flash(ticket.status), "success")
    return redirect(url_for("support.ticket", ticket_id=ticket_id))


def _status_flash(status: str) -> str:
    if _is_clerk():
        if status == "closed":
            return _("Thank you for confirming. The request is closed.")
        return _("We have reopened your request; a technician will look at it again.")
    return _("Status changed to “%(status)s”.", status=labels.ticket_status_labels()[status])


@bp.post("/tickets/<int:ticket_id>/take")
@allow(*STAFF)
def ticket_take(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.change_ticket(ticket, {"assignee_id": current_user.id}, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("%(reference)s is yours.", reference=ticket.reference), "success")
    return redirect(url_for("support.ticket", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/update")
@allow(*STAFF)
def ticket_update(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    form = TicketUpdateForm(staff=[(u.id, u.name) for u in services.assignable_users()],
                            priorities=[(p, labels.priority_labels()[p]) for p in PRIORITIES],
                            categories=[(c, labels.category_labels()[c]) for c in CATEGORIES])
    if form.validate_on_submit():
        try:
            services.change_ticket(ticket, {"assignee_id": form.assignee_id.data or None,
                                            "priority": form.priority.data, "category": form.category.data},
                                   actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("Ticket saved."), "success")
    else:
        flash(_("Some fields are not valid."), "danger")
    return redirect(url_for("support.ticket", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/time")
@allow(*STAFF)
def ticket_time(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    form = TicketTimeForm()
    if form.validate_on_submit():
        values = {"date": form.date.data, "minutes": form.duration.minutes, "mode": form.mode.data,
                  "description": form.description.data or "",
                  "travel_minutes": (form.travel.minutes or 0) if form.mode.data == "onsite" else 0}
        try:
            entry = services.log_ticket_time(ticket, values, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_entry_errors(form, exc)
        else:
            flash(_("Logged %(time)s on %(reference)s.", time=duration_filter(entry.minutes),
                    reference=ticket.reference), "success")
            return redirect(url_for("support.ticket", ticket_id=ticket_id) + "#time")
    return _ticket_page(services.get_ticket(ticket_id), time_form=form)


@bp.post("/tickets/<int:ticket_id>/rating")
@allow("clerk")
def ticket_rate(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    form = RatingForm()
    if not form.validate_on_submit():
        return _ticket_page(ticket, rating_form=form)
    try:
        ratings.rate_ticket(ticket, form.score.data, form.comment.data, actor=_actor())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
    else:
        flash(_("Thank you for your rating!"), "success")
    return redirect(url_for("support.ticket", ticket_id=ticket_id))


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>")
@allow(*ALL_ROLES)
def ticket_attachment(ticket_id: int, attachment_id: int):
    return attachment_response(services.get_attachment(services.get_ticket(ticket_id), attachment_id))


def attachment_response(attachment):
    """A stored file as a download: never rendered inline, its type decided at upload."""
    try:
        path = attachments.path_of(attachment.storage_name)
        handle = path.open("rb")
    except OSError:
        abort(404)
    response = send_file(handle, mimetype=attachment.content_type, as_attachment=True,
                         download_name=attachment.filename, max_age=0, conditional=False, etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- panels other pages include ----------------------------------------------------------------------

def asset_ticket_panel(asset) -> SimpleNamespace:
    """An asset's tickets for its inventory page (templates/support/tickets/_asset_tickets.html)."""
    from inventory import services as inventory

    tickets = inventory.tickets_of(asset, limit=10)
    return SimpleNamespace(tickets=tickets, open=sum(1 for t in tickets if t.is_open))


def council_ticket_panel(council) -> dict:
    return services.council_summary(council.id)

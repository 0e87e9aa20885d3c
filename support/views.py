from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.forms import ConfirmForm
from accounts.models import User
from agreements import services as councils
from agreements.models import Council
from agreements.months import add_months, format_month, month_start, office_today, parse_month
from core.access import ALL_ROLES, STAFF, allow
from core.db import utcnow
from core.errors import DomainError
from core.i18n import duration_filter
from core.ui import apply_errors, ui_page
from extensions import db
from support import services
from support.forms import (
    ClerkTicketForm,
    CommentForm,
    CorrectionForm,
    EntryForm,
    RatingForm,
    StaffTicketForm,
    TicketStatusForm,
    TicketTimeForm,
    TicketUpdateForm,
)
from support.models import CATEGORIES, CHANNELS, PRIORITIES, Ticket, TimeEntry

bp = Blueprint("support", __name__)

# Service field → form field, so that a domain error shows next to the right input.
_ENTRY_FORM_FIELDS = {"minutes": "duration", "travel_minutes": "travel", "council_id": "council_id",
                      "date": "date", "mode": "mode", "description": "description", "technician_id": "technician_id"}


def _apply(form, exc: DomainError) -> None:
    apply_errors(form, SimpleNamespace(
        message=exc.message, fields={_ENTRY_FORM_FIELDS.get(k, k): v for k, v in exc.fields.items()}))


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
    return values


# --- the office dashboard ----------------------------------------------------------------

@bp.get("/hours")
@allow(*STAFF)
def dashboard():
    today = office_today()
    this_month = month_start(today)
    month = parse_month(request.args.get("month")) or this_month
    usage = {u.council_id: u for u in services.usage_between(month, month)}
    active = db.session.scalars(select(Council).where(Council.active.is_(True)).order_by(Council.name)).all()
    shown = [c for c in active if c.id in usage] + [c for c in active if c.id not in usage]
    calendar = services.office_calendar()
    forecasts = {cid: services.month_forecast(u, today, calendar) for cid, u in usage.items()}
    days = services.business_days(month, calendar)
    elapsed = len([d for d in days if d <= today]) if month == this_month else (len(days) if month < this_month else 0)
    totals = {mode: {"allowance": sum(u.mode(mode).allowance_minutes for u in usage.values()),
                     "used": sum(u.mode(mode).used_minutes for u in usage.values()),
                     "excess": sum(u.mode(mode).excess_minutes for u in usage.values())}
              for mode in ("onsite", "remote")}
    return render_template("support/dashboard.html", councils=shown, usage=usage, forecasts=forecasts,
                           month=month, this_month=this_month, today=today, elapsed=elapsed,
                           total_days=len(days), totals=totals, previous=add_months(month, -1),
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
    form = EntryForm(council_choices=_council_choices(today), technicians=technicians)
    if request.method == "GET":
        form.date.data = dt.date.fromisoformat(request.args["date"]) if _iso_date(request.args.get("date")) else today
        preset = request.args.get("council")
        council = db.session.scalar(select(Council).where(Council.slug == preset)) if preset else None
        recent = services.recent_council_ids(current_user, today, limit=1)
        form.council_id.data = council.id if council is not None else (recent[0] if recent else None)
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
            _apply(form, exc)
        else:
            flash(_("Logged %(time)s for %(council)s on %(date)s.", time=duration_filter(entry.minutes),
                    council=council.name, date=entry.date.isoformat()), "success")
            args = {"council": council.slug}
            if entry.date != today:
                args["date"] = entry.date.isoformat()
            return redirect(url_for("support.log", **args))
    return render_template("support/log.html", form=form, today=today,
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
    return render_template("support/entries.html", page=page, month=month, council_id=council_id,
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
    usage = services.month_usage_or_404(council, first)
    today = office_today()
    stmt = services.entry_query(council_id=council.id, month=first)
    page = ui_page(stmt, [TimeEntry.date, TimeEntry.id], limit=200)
    originals_elsewhere = {e.corrects_entry_id for e in page.items if e.corrects_entry_id}
    originals = {e.id: e for e in db.session.scalars(select(TimeEntry).where(TimeEntry.id.in_(originals_elsewhere)))}
    agreement = councils.agreement_for_month(council.id, first)
    return render_template("support/council_month.html", council=council, month=first, usage=usage,
                           # A forecast is for the month under way; a past month has its figures.
                           forecast=services.month_forecast(usage, today) if first == month_start(today) else None,
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
    form = EntryForm(council_choices=_council_choices(today, include_id=entry.council_id), technicians=technicians)
    if request.method == "GET":
        form.council_id.data = entry.council_id
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
            _apply(form, exc)
        else:
            flash(_("Entry saved."), "success")
            return redirect(url_for("support.council_month", slug=entry.council.slug,
                                    month=format_month(entry.month)))
    return render_template("support/entry_form.html", form=form, entry=entry, back=back, confirm=ConfirmForm())


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
            _apply(form, exc)
        else:
            flash(_("Correction saved in %(month)s.", month=format_month(entry.month)), "success")
            return redirect(url_for("support.council_month", slug=original.council.slug,
                                    month=format_month(original.month)))
    return render_template("support/correction_form.html", form=form, original=original,
                           corrections=services.corrections_of([original.id]).get(original.id, []))


# =========================================================================================
# Tickets: the clerks' portal and the office's queue share these routes; what each page
# shows depends on who reads it, and the council scope keeps clerks to their own council.
# =========================================================================================

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
        if assignee not in ("", "mine", "unassigned") and not (assignee.isdigit() and 0 < int(assignee) <= 2**31 - 1):
            assignee = ""
        return cls(q=(args.get("q") or "").strip()[:200],
                   council=(args.get("council") or "")[:80],
                   status=status if status in QUEUE_STATUS_FILTERS else "open",
                   priority=args.get("priority") if args.get("priority") in PRIORITIES else "",
                   assignee=assignee,
                   sla=args.get("sla") if args.get("sla") in SLA_FILTERS else "",
                   category=args.get("category") if args.get("category") in CATEGORIES else "")

    def service_filters(self, council_id: int | None) -> services.TicketFilters:
        assignee_id = None
        if self.assignee == "mine":
            assignee_id = current_user.id
        elif self.assignee.isdigit():
            assignee_id = int(self.assignee)
        return services.TicketFilters(
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


def ticket_labels() -> SimpleNamespace:
    """The words templates use for a ticket's fields (a global: the asset and council pages
    show tickets too).

    Built once per request and language: a list of 50 tickets asks for them a few hundred
    times, and forty translations each time made up two thirds of the queue's render time.
    """
    from flask import g
    from flask_babel import get_locale

    cache = g.setdefault("councildesk_ticket_labels", {})
    key = str(get_locale())
    labels = cache.get(key)
    if labels is None:
        labels = cache[key] = SimpleNamespace(
            statuses=services.ticket_status_labels(), clerk_statuses=services.clerk_status_labels(),
            priorities=services.priority_labels(), urgency=services.urgency_labels(),
            categories=services.category_labels(), channels=services.channel_labels(),
            sla_states=services.sla_state_labels())
    return labels


def due_in(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """"in 3 hours" / "2 days ago", in the reader's language."""
    from flask_babel import format_timedelta

    if when is None:
        return ""
    return format_timedelta(when - (now or utcnow()), granularity="minute", add_direction=True, threshold=1.2)


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
    from sqlalchemy.orm import selectinload

    filters = QueueFilters.from_request()
    council = None
    if filters.council and not _is_clerk():
        council = db.session.scalar(select(Council).where(Council.slug == filters.council))
    if _is_clerk():
        # The portal: the council's requests, newest first; "active" hides the closed ones.
        status = request.args.get("show", "active")
        stmt = services.ticket_query(services.TicketFilters(status="active" if status != "all" else None,
                                                            q=filters.q or None), include_internal=False)
        page = ui_page(stmt, [Ticket.id], descending=True, limit=25)
        return render_template("support/tickets_portal.html", page=page, show=status, q=filters.q,
                               council=current_user.council)
    stmt = (services.ticket_query(filters.service_filters(council.id if council else None), include_internal=True)
            .options(selectinload(Ticket.council), selectinload(Ticket.assignee)))
    page = ui_page(stmt, [Ticket.queue_at, Ticket.id], limit=50)
    all_councils = db.session.execute(select(Council.slug, Council.name).order_by(Council.name)).all()
    return render_template("support/queue.html", page=page, filters=filters, councils=all_councils,
                           staff=services.assignable_users(), now=utcnow())


# --- opening a ticket -----------------------------------------------------------------------------

def _asset_choices(council_id: int) -> list[tuple[int, str]]:
    from inventory import services as inventory

    return [(a.id, f"{a.name} · {a.tag}") for a in inventory.asset_choices(council_id, limit=500)]


def _uploaded(field) -> list[tuple[str, bytes]]:
    storage = getattr(field, "data", None)
    if storage is None or not getattr(storage, "filename", ""):
        return []
    return [(storage.filename, storage.read())]


_TICKET_FORM_FIELDS = {"title": "title", "description": "description", "priority": "priority",
                       "category": "category", "channel": "channel", "asset_id": "asset_id",
                       "requester_id": "requester_id", "attachment": "attachment", "body": "body"}


def _apply_ticket(form, exc: DomainError) -> None:
    apply_errors(form, SimpleNamespace(message=exc.message, fields={
        _TICKET_FORM_FIELDS.get(k, k): v for k, v in exc.fields.items()}))


@bp.route("/tickets/new", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def ticket_new():
    categories = [(c, services.category_labels()[c]) for c in CATEGORIES]
    if _is_clerk():
        council = current_user.council
        related = None
        related_id = request.values.get("related", type=int)
        if related_id and 0 < related_id <= 2**31 - 1:
            related = db.session.scalar(select(Ticket).where(Ticket.id == related_id))
        form = ClerkTicketForm(urgency=[(p, services.urgency_labels()[p]) for p in PRIORITIES],
                               categories=categories, assets=_asset_choices(council.id))
        if request.method == "GET" and related is not None:
            form.title.data = related.title
            form.category.data = related.category
            form.asset_id.data = related.asset_id or 0
    else:
        slug = request.values.get("council")
        council = db.session.scalar(select(Council).where(Council.slug == slug)) if slug else None
        if council is None:
            choices = db.session.scalars(select(Council).where(Council.active.is_(True)).order_by(Council.name)).all()
            return render_template("support/ticket_council_picker.html", councils=choices)
        related = None
        form = StaffTicketForm(
            requesters=[(u.id, u.name) for u in services.council_clerks(council.id)],
            channels=[(c, services.channel_labels()[c]) for c in CHANNELS if c != "monitoring"],
            priorities=[(p, services.priority_labels()[p]) for p in PRIORITIES], categories=categories,
            assets=_asset_choices(council.id))
        if request.method == "GET" and request.args.get("asset", type=int):
            form.asset_id.data = request.args.get("asset", type=int)
    if request.method == "GET" and _is_clerk() and request.args.get("asset", type=int):
        form.asset_id.data = request.args.get("asset", type=int)
    if request.method == "POST" and form.validate_on_submit():
        values = {"title": form.title.data, "description": form.description.data or "",
                  "priority": form.priority.data, "category": form.category.data,
                  "asset_id": form.asset_id.data or None}
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
    template = "support/ticket_new_clerk.html" if _is_clerk() else "support/ticket_new.html"
    return render_template(template, form=form, council=council, related=related)


# --- one ticket -------------------------------------------------------------------------------------

def _ticket_page(ticket, *, comment_form=None, time_form=None, rating_form=None, status: int = 200):
    staff = not _is_clerk()
    comments = services.comments_of(ticket)
    files = services.attachments_of(ticket)
    by_comment: dict[int | None, list] = {}
    for f in files:
        by_comment.setdefault(f.comment_id, []).append(f)
    comment_form = comment_form or CommentForm(staff=staff)
    rating = services.rating_of(ticket)
    context = {"ticket": ticket, "comments": comments, "files": by_comment, "comment_form": comment_form,
               "rating": rating, "confirm": ConfirmForm(), "reopen_days": current_app.config["TICKET_REOPEN_DAYS"]}
    if staff:
        users = services.assignable_users()
        update_form = TicketUpdateForm(staff=[(u.id, u.name) for u in users],
                                       priorities=[(p, services.priority_labels()[p]) for p in PRIORITIES],
                                       categories=[(c, services.category_labels()[c]) for c in CATEGORIES],
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
                       sla=services.evaluate_sla(ticket, services.status_events([ticket.id])[ticket.id], utcnow()))
        template = "support/ticket.html"
    else:
        context.update(rating_form=rating_form or RatingForm())
        template = "support/ticket_clerk.html"
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
    if not form.validate_on_submit():
        return _ticket_page(ticket, comment_form=form)
    internal = bool(getattr(form, "internal", None) and form.internal.data)
    try:
        services.add_comment(ticket, form.body.data, internal=internal, actor=_actor(),
                             files=_uploaded(form.attachment))
    except DomainError as exc:
        db.session.rollback()
        _apply_ticket(form, exc)
        return _ticket_page(services.get_ticket(ticket_id), comment_form=form)
    flash(_("Internal note added.") if internal else _("Reply sent."), "success")
    return redirect(url_for("support.ticket", ticket_id=ticket.id) + "#conversation")


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
    return _("Status changed to “%(status)s”.", status=services.ticket_status_labels()[status])


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
                            priorities=[(p, services.priority_labels()[p]) for p in PRIORITIES],
                            categories=[(c, services.category_labels()[c]) for c in CATEGORIES])
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
            _apply(form, exc)
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
        services.rate_ticket(ticket, form.score.data, form.comment.data, actor=_actor())
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
    from flask import send_file

    from support import attachments

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
    """An asset's tickets for its inventory page (templates/support/_asset_tickets.html)."""
    from inventory import services as inventory

    tickets = inventory.tickets_of(asset, limit=10)
    return SimpleNamespace(tickets=tickets, open=sum(1 for t in tickets if t.is_open))


def council_ticket_panel(council) -> dict:
    return services.council_summary(council.id)

"""Mail intake's pages: held mail (triage), the record of every message, one message, and the
mailboxes (admins). Thin: parse, call a service, render."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from agreements.models import Council
from core.access import ADMIN, STAFF, allow
from core.errors import DomainError
from core.ui import apply_errors, ui_page
from extensions import db
from support.blueprint import bp
from support.mail import pipeline, services
from support.mail.forms import AcceptForm, MailboxForm
from support.mail.models import STATUSES, InboundMail, Mailbox


def _council_choices() -> list[tuple[int, str]]:
    return [(c.id, c.name) for c in db.session.scalars(select(Council).where(Council.active.is_(True))
                                                        .order_by(Council.name))]


@bp.get("/mail/held")
@allow(*STAFF)
def mail_held():
    page = ui_page(services.held_query(), [InboundMail.id], limit=50)
    choices = _council_choices()
    forms = {}
    for row in page.items:
        form = AcceptForm(prefix=f"m{row.id}")
        form.council_id.choices = [(0, "—"), *choices]
        form.council_id.data = row.council_id or 0
        forms[row.id] = form
    return render_template("support/mail/held.html", page=page, forms=forms)


@bp.post("/mail/held/<int:mail_id>/accept")
@allow(*STAFF)
def mail_accept(mail_id: int):
    services.get_held(mail_id)
    form = AcceptForm(prefix=f"m{mail_id}")
    form.council_id.choices = _council_choices()
    if not form.validate_on_submit():
        flash(_("Choose a council."), "danger")
        return redirect(url_for("support.mail_held"))
    try:
        ticket = services.accept(mail_id, form.council_id.data, actor=current_user._get_current_object())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
        return redirect(url_for("support.mail_held"))
    flash(_("Ticket %(reference)s opened from the mail.", reference=ticket.reference), "success")
    return redirect(url_for("support.ticket", ticket_id=ticket.id))


@bp.post("/mail/held/<int:mail_id>/discard")
@allow(*STAFF)
def mail_discard(mail_id: int):
    services.discard(mail_id, actor=current_user._get_current_object())
    flash(_("Message discarded. It stays in the record."), "success")
    return redirect(url_for("support.mail_held"))


@bp.post("/mail/held/<int:mail_id>/retry")
@allow(*STAFF)
def mail_retry(mail_id: int):
    outcome = services.retry(mail_id, actor=current_user._get_current_object())
    flash(_("Processed again: %(outcome)s.", outcome=outcome_labels().get(outcome["outcome"], outcome["outcome"])),
          "info")
    return redirect(url_for("support.mail_held"))


def outcome_labels() -> dict:
    return {"pending": _("Waiting"), "created": _("New ticket"), "appended": _("Added to a ticket"),
            "held": _("Held"), "ignored": _("Ignored (automatic)"), "duplicate": _("Duplicate"),
            "failed": _("Failed"), "discarded": _("Discarded")}


@bp.get("/mail/messages")
@allow(*STAFF)
def mail_messages():
    outcome = request.args.get("outcome") or None
    outcome = outcome if outcome in STATUSES else None
    q = (request.args.get("q") or "").strip()[:100]
    page = ui_page(services.messages_query(outcome, q or None), [InboundMail.id], descending=True, limit=50)
    return render_template("support/mail/messages.html", page=page, outcome=outcome, q=q, labels=outcome_labels())


@bp.get("/mail/messages/<int:mail_id>")
@allow(*STAFF)
def mail_message(mail_id: int):
    row = services.get_message(mail_id)
    parsed = pipeline.readable(row)
    return render_template("support/mail/message.html", row=row, parsed=parsed, labels=outcome_labels())


@bp.get("/mail/mailboxes")
@allow(*ADMIN)
def mailboxes():
    boxes = db.session.scalars(select(Mailbox).order_by(Mailbox.name, Mailbox.id)).all()
    return render_template("support/mail/mailboxes.html", boxes=boxes)


def _mailbox_values(form: MailboxForm) -> dict:
    return {name: getattr(form, name).data for name in (*services.MAILBOX_FIELDS, "password", "oauth_client_secret",
                                                         "refresh_token")}


@bp.route("/mail/mailboxes/new", methods=["GET", "POST"])
@bp.route("/mail/mailboxes/<int:mailbox_id>/edit", methods=["GET", "POST"])
@allow(*ADMIN)
def mailbox_edit(mailbox_id: int | None = None):
    box = db.session.get(Mailbox, mailbox_id) if mailbox_id is not None else None
    if mailbox_id is not None and box is None:
        abort(404)
    form = MailboxForm(obj=box)
    if form.validate_on_submit():
        try:
            box = services.save_mailbox(_mailbox_values(form), actor=current_user._get_current_object(), mailbox=box)
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Mailbox %(name)s saved.", name=box.name), "success")
            return redirect(url_for("support.mailboxes"))
    return render_template("support/mail/mailbox_form.html", form=form, box=box)


def ticket_messages(ticket_id: int) -> list:
    """The mail of a ticket, for its page (staff): who wrote from which address."""
    return services.messages_of_ticket(ticket_id)

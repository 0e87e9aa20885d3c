"""Held and failed mail, handled by people: accept into a council (a new ticket), discard,
retry; and the lists behind the pages and the API. Plain arguments in, domain errors out."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from accounts.models import User
from agreements.models import Council
from core.db import utcnow, write_transaction
from core.errors import Conflict, NotFound, ValidationFailed
from core.scope import unrestricted
from extensions import db
from support.mail import parsing, pipeline
from support.mail.models import OUTCOMES, InboundMail
from support.tickets.models import Ticket

HELD_STATUSES = ("held", "failed")


def get_message(mail_id: int) -> InboundMail:
    if isinstance(mail_id, bool) or not isinstance(mail_id, int) or not 1 <= mail_id <= 2**31 - 1:
        raise NotFound()
    row = db.session.get(InboundMail, mail_id)
    if row is None:
        raise NotFound()
    return row


def visible_to_scope(mail_id):
    """For the access layer: a message is "of" the council it went to (or was suggested for);
    a clerk refused a mail route learns nothing of other councils' mail (404)."""
    from core.scope import current_scope

    scope = current_scope()
    with unrestricted():
        row = db.session.get(InboundMail, mail_id) if isinstance(mail_id, int) else None
    if row is None or (scope is not None and row.council_id != scope.council_id):
        return None
    return row


def get_held(mail_id: int) -> InboundMail:
    row = get_message(mail_id)
    if row.status not in HELD_STATUSES:
        raise NotFound()
    return row


def held_query():
    return select(InboundMail).where(InboundMail.status.in_(HELD_STATUSES))


def messages_query(outcome: str | None = None, q: str | None = None):
    stmt = select(InboundMail).where(InboundMail.status != "pending")
    if outcome in OUTCOMES:
        stmt = stmt.where(InboundMail.status == outcome)
    elif outcome == "discarded":
        stmt = stmt.where(InboundMail.status == "discarded")
    if q:
        like = f"%{q.strip().lower()[:100]}%"
        stmt = stmt.where(InboundMail.from_address.like(like) | InboundMail.subject.ilike(like))
    return stmt


def messages_of_ticket(ticket_id: int) -> list[InboundMail]:
    return list(db.session.scalars(select(InboundMail).where(InboundMail.ticket_id == ticket_id)
                                   .order_by(InboundMail.received_at, InboundMail.id)))


def accept(mail_id: int, council_id, *, actor: User, now: dt.datetime | None = None) -> Ticket:
    """A held message made into a ticket of the council chosen (channel email)."""
    now = now or utcnow()
    row = get_held(mail_id)
    if isinstance(council_id, bool) or not isinstance(council_id, int):
        raise ValidationFailed(_l("Choose a council."), fields={"council_id": _l("Choose a council.")})
    council = db.session.get(Council, council_id)
    if council is None:
        raise ValidationFailed(_l("Choose a council."), fields={"council_id": _l("Unknown council.")})
    if not council.active:
        raise Conflict(_l("The office no longer serves this council."), code="council_inactive")
    parsed = parsing.parse(pipeline.read_raw(row))
    with unrestricted(), write_transaction():
        row = db.session.get(InboundMail, mail_id)
        if row.status not in HELD_STATUSES:
            raise Conflict(_l("Someone else has handled this message."), code="already_handled")
        user = pipeline._user_of(row.from_address)
        ticket = pipeline.create_from_mail(row, parsed, council, user=user, related=None, now=now)
        row.handled_by_id = actor.id
        row.reason = "accepted"
        row.dedupe_key = row.dedupe_key or pipeline.dedupe_key(row)
        audit.record("accept", object_type="mail", object_id=row.id, actor=actor, label=row.subject,
                     council_id=council.id, changes={"ticket_id": ticket.id})
    return ticket


def discard(mail_id: int, *, actor: User) -> None:
    get_held(mail_id)
    with write_transaction():
        row = db.session.get(InboundMail, mail_id)
        if row.status not in HELD_STATUSES:
            return
        row.status, row.reason, row.handled_by_id = "discarded", "discarded", actor.id
        audit.record("discard", object_type="mail", object_id=row.id, actor=actor, label=row.subject)


def retry(mail_id: int, *, actor: User) -> dict:
    """Process a held or failed message again (a council's domain may have been added since)."""
    get_held(mail_id)
    with write_transaction():
        row = db.session.get(InboundMail, mail_id)
        if row.status == "held":
            row.status, row.dedupe_key = "pending", None
        audit.record("retry", object_type="mail", object_id=row.id, actor=actor, label=row.subject)
    return pipeline.process(mail_id)


# --- mailboxes -------------------------------------------------------------------------------------

MAILBOX_FIELDS = ("name", "host", "port", "security", "folder", "processed_folder", "username", "auth",
                  "oauth_token_url", "oauth_client_id", "oauth_scope", "active")
SECRET_FIELDS = {"password": "password_encrypted", "oauth_client_secret": "oauth_client_secret_encrypted",
                 "refresh_token": "refresh_token_encrypted"}


def save_mailbox(values: dict, *, actor: User | None, mailbox=None):
    """Create or change a mailbox. Secrets are encrypted at rest; one left empty on a change
    keeps the stored one (a form never shows them back)."""
    from support.mail.imap import ring
    from support.mail.models import AUTH_KINDS, SECURITY, Mailbox

    errors: dict = {}
    data = {k: values[k] for k in MAILBOX_FIELDS if k in values}
    for key in ("name", "host", "folder", "processed_folder", "username", "oauth_token_url", "oauth_client_id",
                "oauth_scope"):
        if key in data:
            data[key] = parsing.one_line(str(data[key] or ""), 500)
    for key in ("name", "host", "username"):
        if (mailbox is None or key in data) and not data.get(key):
            errors[key] = _l("This field is required.")
    if mailbox is None:
        data.setdefault("folder", "INBOX")
    if "folder" in data and not data["folder"]:
        data["folder"] = "INBOX"
    port = data.get("port", 993 if mailbox is None else mailbox.port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        errors["port"] = _l("A port number from 1 to 65535.")
    if data.get("security", "ssl") not in SECURITY:
        errors["security"] = _l("Not one of the allowed values.")
    if data.get("auth", "password") not in AUTH_KINDS:
        errors["auth"] = _l("Not one of the allowed values.")
    auth = data.get("auth") or (mailbox.auth if mailbox is not None else "password")
    url = data.get("oauth_token_url", mailbox.oauth_token_url if mailbox is not None else "")
    if auth == "xoauth2" and not (url or "").startswith(("https://", "http://127.0.0.1", "http://localhost")):
        errors["oauth_token_url"] = _l("The token endpoint of the provider (https://...).")
    if errors:
        raise ValidationFailed(_l("Some fields are not valid."), fields=errors)
    box = mailbox or Mailbox()
    for key, value in data.items():
        setattr(box, key, value)
    for field, column in SECRET_FIELDS.items():
        secret = values.get(field)
        if isinstance(secret, str) and secret:
            setattr(box, column, ring.encrypt(secret))
    if values.get("refresh_token_expires_at") is not None:
        box.refresh_token_expires_at = values["refresh_token_expires_at"]
    if mailbox is None:
        db.session.add(box)
    db.session.flush()
    audit.record("create" if mailbox is None else "update", object_type="mailbox", object_id=box.id, actor=actor,
                 label=box.name, changes=dict(data))
    db.session.commit()
    return box

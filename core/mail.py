"""Outgoing mail through a transactional outbox.

`queue()` adds a row in the caller's transaction; `send_pending()` delivers queued rows over
SMTP (configuration MAIL_*), claiming each row first so that a web worker and the scheduler
never send the same mail twice, and retrying failures with backoff.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import or_, select, update

from core.db import utcnow, write_transaction
from core.models import OutboxMail
from extensions import db

log = logging.getLogger("councildesk.mail")

MAX_ATTEMPTS = 8
CLAIM_TIMEOUT = dt.timedelta(minutes=10)

# Mail kind -> callable(OutboxMail row) returning [(filename, mimetype, bytes)]: files a
# domain attaches when the mail is sent (the outbox row keeps only text; the files stay where
# that domain keeps them, e.g. the reports' archive).
_attachment_providers: dict[str, Callable] = {}


# callable(OutboxMail row, about: dict) called when a mail is queued, in the caller's
# transaction: a domain that threads its mail (support.mail: a ticket's reference in the
# subject, References, the Message-ID remembered against the ticket) adjusts the row there.
_thread_hooks: list[Callable] = []


def register_attachments(kind: str, provider: Callable) -> None:
    _attachment_providers[kind] = provider


def register_thread_hook(hook: Callable) -> None:
    if hook not in _thread_hooks:
        _thread_hooks.append(hook)


def sender_domain(app: Flask | None = None) -> str:
    app = app or current_app
    address = parseaddr(app.config["MAIL_DEFAULT_SENDER"])[1]
    return address.rpartition("@")[2].lower() or "councildesk.invalid"


def queue(to_address: str, subject: str, body_text: str, *, language: str = "ca", kind: str = "",
          council_id: int | None = None, about: dict | None = None) -> OutboxMail | None:
    """Queue a mail; `about` says what it is about (a notification's parameters), for the
    thread hooks; `council_id` the council it concerns (a moved clerk's queued mail is dropped)."""
    to_address = (to_address or "").strip()
    if not to_address or "@" not in to_address:
        return None
    # A header line must not carry a newline: it would let text smuggle in headers.
    subject = " ".join(subject.split())[:300]
    # The Message-ID is chosen now, not at sending: what the mail is about can remember it in
    # this transaction, and a reply naming it finds its way back.
    mail = OutboxMail(to_address=to_address[:254], subject=subject, body_text=body_text,
                      language=language, kind=kind, council_id=council_id,
                      message_id=make_msgid(domain=sender_domain()))
    for hook in _thread_hooks:
        hook(mail, about or {})
    mail.subject = " ".join(mail.subject.split())[:300]
    db.session.add(mail)
    if has_request_context():
        g.councildesk_mail_queued = True
    return mail


def rethread(row: OutboxMail, about: dict) -> None:
    """A queued mail rewritten with newer news (core.notify's coalescing): thread it again."""
    row.subject = " ".join(row.subject.split())[:300]
    for hook in _thread_hooks:
        hook(row, about or {})
    row.subject = " ".join(row.subject.split())[:300]


def _message(app: Flask, row: OutboxMail) -> EmailMessage:
    msg = EmailMessage()
    # First: set_content() replaces every Content-* header set before it.
    msg.set_content(row.body_text)
    # Attachments next: they turn the message into multipart/mixed, which moves the Content-*
    # headers set so far into the text part (the headers below stay on the whole message).
    provider = _attachment_providers.get(row.kind)
    if provider is not None:
        for filename, mimetype, data in provider(row):
            maintype, _, subtype = mimetype.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    name, address = parseaddr(app.config["MAIL_DEFAULT_SENDER"])
    msg["From"] = formataddr((name, address))
    msg["To"] = row.to_address
    msg["Subject"] = row.subject
    msg["Message-ID"] = row.message_id or make_msgid(domain=address.split("@")[-1] or "councildesk.invalid")
    if row.references:
        msg["References"] = row.references
        msg["In-Reply-To"] = row.references.split()[-1]
    msg["Content-Language"] = row.language
    # RFC 3834, and Exchange's own header: whatever answers automatically must not answer this.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    return msg


def _connect(app: Flask) -> smtplib.SMTP:
    host, port, timeout = app.config["MAIL_SERVER"], app.config["MAIL_PORT"], app.config["MAIL_TIMEOUT"]
    if app.config["MAIL_USE_SSL"]:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if app.config["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
    if app.config.get("MAIL_USERNAME"):
        smtp.login(app.config["MAIL_USERNAME"], app.config.get("MAIL_PASSWORD") or "")
    return smtp


def _claim(row_id: int, now: dt.datetime) -> bool:
    with write_transaction():
        result = db.session.execute(
            update(OutboxMail)
            .where(OutboxMail.id == row_id, OutboxMail.sent_at.is_(None),
                   or_(OutboxMail.claimed_at.is_(None), OutboxMail.claimed_at < now - CLAIM_TIMEOUT))
            .values(claimed_at=now)
        )
    return result.rowcount == 1


def send_pending(limit: int = 100) -> int:
    """Send what is due; returns how many were sent. Safe to call from several processes."""
    app = current_app._get_current_object()
    if not app.config["MAIL_ENABLED"]:
        return 0
    now = utcnow()
    ids = db.session.scalars(
        select(OutboxMail.id)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.failed.is_(False), OutboxMail.next_attempt_at <= now)
        .order_by(OutboxMail.id).limit(limit)
    ).all()
    db.session.commit()
    if not ids:
        return 0
    sent = 0
    smtp = None
    try:
        for row_id in ids:
            if not _claim(row_id, now):
                continue
            message = _message(app, db.session.get(OutboxMail, row_id))
            db.session.commit()  # hold no transaction while talking to the SMTP server
            try:
                if smtp is None:
                    smtp = _connect(app)
                smtp.send_message(message)
            except (smtplib.SMTPException, OSError) as exc:
                _failed(row_id, exc)
                if isinstance(exc, OSError | smtplib.SMTPServerDisconnected):
                    smtp = None
                continue
            with write_transaction():
                db.session.execute(update(OutboxMail).where(OutboxMail.id == row_id).values(
                    sent_at=utcnow(), attempts=OutboxMail.attempts + 1, claimed_at=None))
            sent += 1
    finally:
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
    return sent


def _failed(row_id: int, exc: Exception) -> None:
    with write_transaction():
        row = db.session.get(OutboxMail, row_id)
        row.attempts += 1
        row.claimed_at = None
        row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        if row.attempts >= MAX_ATTEMPTS:
            row.failed = True
            log.error("giving up on mail %s to %s: %s", row.id, row.to_address, row.last_error)
        else:
            row.next_attempt_at = utcnow() + dt.timedelta(minutes=2 ** row.attempts)
            log.warning("mail %s to %s failed (attempt %s): %s", row.id, row.to_address, row.attempts, row.last_error)


def init_app(app: Flask) -> None:
    @app.after_request
    def _send_after_response(response):
        # Mail queued by this request goes out once the response has been sent, so the user
        # never waits on the SMTP server; the scheduler retries anything left behind.
        if g.pop("councildesk_mail_queued", False) and app.config["MAIL_ENABLED"]:
            def _send():
                with app.app_context():
                    try:
                        send_pending()
                    except Exception:  # never let mail trouble surface in a finished request
                        log.exception("sending queued mail failed")

            response.call_on_close(_send)
        return response

"""Mail intake's commands: `flask mail ingest [FILE]` (the MTA pipe) and the texts of the
automatic acknowledgement."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from flask_babel import gettext as _

from core import notify
from core.crypto import new_key
from core.db import utcnow
from remote import scheduler
from support.mail import imap, pipeline

mail_cli = AppGroup("mail", help="Tickets by mail: the MTA pipe and the mailboxes.")


@mail_cli.command("ingest")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True))
def ingest_command(file: str | None):
    """Read one RFC 5322 message (FILE, or stdin) and print the outcome as JSON on the last line.

    Exits 0 whenever the message was stored (a failed one is kept for a retry); non-zero only
    when nothing could be read or stored, so the MTA keeps it and tries again.
    """
    try:
        if file:
            with open(file, "rb") as fh:
                data = fh.read()
        else:
            data = sys.stdin.buffer.read()
    except OSError as exc:
        click.echo(f"cannot read the message: {exc}", err=True)
        sys.exit(74)  # EX_IOERR: the MTA defers and retries
    if not data.strip():
        click.echo("empty message", err=True)
        sys.exit(65)  # EX_DATAERR
    try:
        row, _new = pipeline.store(data, source="pipe")
    except Exception as exc:  # nothing stored: say so, the MTA keeps the mail
        click.echo(f"cannot store the message: {type(exc).__name__}: {exc}", err=True)
        sys.exit(75)  # EX_TEMPFAIL
    outcome = pipeline.process(row.id)
    click.echo(json.dumps(outcome, ensure_ascii=False))


@mail_cli.command("poll")
def poll_command():
    """Poll every configured mailbox once and print how many messages each gave."""
    from sqlalchemy import select

    from extensions import db
    from support.mail.models import Mailbox

    for box_id, name in db.session.execute(select(Mailbox.id, Mailbox.name).where(Mailbox.active.is_(True))
                                           .order_by(Mailbox.id)).all():
        count = imap.poll_mailbox(box_id, utcnow(), force=True)
        box = db.session.get(Mailbox, box_id)
        state = f" (failing: {box.last_error})" if box.consecutive_failures else ""
        click.echo(f"{name}: {count}{state}")
    imap.alert(utcnow())


@mail_cli.command("new-encryption-key")
def new_key_command():
    """Print a new key for MAIL_SECRET_KEYS."""
    click.echo(new_key())


def poll_job(now):
    """The `support.mail_poll` job."""
    return imap.poll_all(now)


def register_jobs() -> None:
    scheduler.register_job("support.mail_poll", poll_job, lambda c: scheduler.interval(60),
                           description="Read the IMAP mailboxes (tickets by mail)")


def _stale_title(p: dict) -> str:
    return _("The mailbox %(mailbox)s has not been read for a while", mailbox=p.get("mailbox", ""))


def _stale_body(p: dict) -> str:
    return _("Mail sent to it is not becoming tickets. Last error: %(error)s", error=p.get("error") or "—")


def _token_title(p: dict) -> str:
    return _("The mail authorisation of %(mailbox)s expires soon", mailbox=p.get("mailbox", ""))


def _token_body(p: dict) -> str:
    return _("Sign in to the provider again and save the mailbox before %(expires)s.", expires=p.get("expires", ""))


def _ack_title(p: dict) -> str:
    return _("We have received your message: %(reference)s", reference=p["reference"])


def _ack_body(p: dict) -> str:
    return _("Your request “%(title)s” is registered as %(reference)s. Reply to this message to add to it; "
             "keep the reference in the subject.", title=p.get("title", ""), reference=p["reference"])


def register_kinds() -> None:
    notify.register_kind(pipeline.KIND_ACK, _ack_title, _ack_body)
    notify.register_kind(imap.KIND_STALE, _stale_title, _stale_body)
    notify.register_kind(imap.KIND_TOKEN, _token_title, _token_body)

"""One pipeline for the three doors (IMAP, the MTA pipe, the gateway endpoint): store the raw
message first (`store`), process it second (`process`), each in its own transaction.

A message that fails to process is marked `failed` with the error and stays stored for a
retry; the caller goes on with the next one. Nothing here lets one message stop another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
from email import message_from_bytes, policy
from email.parser import BytesHeaderParser
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from agreements.models import Council, CouncilMailDomain
from core import notify
from core.db import utcnow, write_transaction
from core.scope import unrestricted
from extensions import db
from support.mail import parsing
from support.mail.models import InboundMail, MailAcknowledgement, TicketMessageId
from support.tickets import attachments
from support.tickets import services as tickets
from support.tickets.claims import insert_ignoring
from support.tickets.models import Ticket, TicketComment

log = logging.getLogger("councildesk.mail.intake")

STAFF = ("admin", "manager", "technician")
KIND_ACK = "support.mail_ack"


def outcome_of(row: InboundMail, reference: str | None = None) -> dict:
    status = row.status if row.status != "pending" else "failed"
    if status == "discarded":
        status = "ignored"
    if reference is None and row.ticket_id is not None:
        with unrestricted():
            reference = db.session.scalar(select(Ticket.reference).where(Ticket.id == row.ticket_id))
    return {"outcome": status, "ticket_id": row.ticket_id, "reference": reference,
            "message_id": row.message_id or None, "reason": row.reason}


# --- storing -------------------------------------------------------------------------------------

def _root() -> Path:
    root = Path(current_app.config["DATA_DIR"]) / "mail"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)
    return root


def raw_path(storage_name: str) -> Path:
    if len(storage_name) != 67 or not all(c in "0123456789abcdef/" for c in storage_name):
        raise FileNotFoundError(storage_name)
    return _root() / storage_name


def _write_raw(data: bytes, digest: str) -> str:
    """Keep the bytes under their hash: the same message received twice is one file."""
    name = f"{digest[:2]}/{digest}"
    path = _root() / name
    if path.exists():
        return name
    path.parent.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)  # atomic: a reader never sees half a message
    return name


def read_raw(row: InboundMail) -> bytes:
    if not row.storage_name:
        return b""
    return raw_path(row.storage_name).read_bytes()


def _quick_headers(data: bytes) -> tuple[str, str, str, str]:
    """Message-ID, sender, name and subject from the header block alone (cheap, for the
    record before processing; processing reads them again properly)."""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(parsing.headers_only(data) + b"\n\n")
        ids = parsing._message_ids(parsing._header(headers, "Message-ID"))
        address, name = parsing._sender(headers)
        subject = parsing.one_line(parsing._header(headers, "Subject"), parsing.SUBJECT_MAX)
        return (ids[0] if ids else ""), parsing.normalise_address(address), parsing.one_line(name, 200), subject
    except Exception:  # the record is kept whatever the headers are
        return "", "", "", ""


def store(data: bytes, *, source: str, mailbox_id: int | None = None, uid: int | None = None,
          uidvalidity: int | None = None, now: dt.datetime | None = None,
          declared_size: int = 0) -> tuple[InboundMail, bool]:
    """Keep a received message; returns (row, new). A message of a mailbox already stored
    under the same UIDVALIDITY and UID is not stored again (new is False)."""
    now = now or utcnow()
    if mailbox_id is not None and uid is not None:
        existing = db.session.scalar(select(InboundMail).where(
            InboundMail.mailbox_id == mailbox_id, InboundMail.uidvalidity == uidvalidity, InboundMail.uid == uid))
        if existing is not None:
            return existing, False
    # `declared_size`: a message of which only the headers were fetched (IMAP, above the cap).
    size = max(len(data), declared_size)
    too_large = size > current_app.config["MAIL_INTAKE_MAX_BYTES"]
    kept = parsing.headers_only(data) if too_large else data
    digest = hashlib.sha256(data).hexdigest()
    storage_name = _write_raw(kept, hashlib.sha256(kept).hexdigest())
    message_id, sender, name, subject = _quick_headers(kept)
    row = InboundMail(source=source, mailbox_id=mailbox_id, uid=uid, uidvalidity=uidvalidity, received_at=now,
                      size=size, sha256=digest, storage_name=storage_name, message_id=message_id,
                      from_address=sender, from_name=name, subject=subject, status="pending")
    if too_large:
        row.status, row.reason = "failed", "too_large"
        row.last_error = f"{size} bytes, above MAIL_INTAKE_MAX_BYTES; only the headers were kept"
    try:
        with write_transaction():
            db.session.add(row)
    except IntegrityError:
        # The same UID stored by a concurrent poll of this mailbox.
        existing = db.session.scalar(select(InboundMail).where(
            InboundMail.mailbox_id == mailbox_id, InboundMail.uidvalidity == uidvalidity, InboundMail.uid == uid))
        if existing is None:
            raise
        return existing, False
    return row, True


# --- processing ----------------------------------------------------------------------------------

def _shared_domains() -> set[str]:
    from core.crypto import configured_keys  # the same "list or comma-separated string" rule

    return {d.lower() for d in configured_keys(current_app.config.get("MAIL_SHARED_DOMAINS"))}


def council_of_domain(domain: str) -> int | None:
    if not domain or domain in _shared_domains():
        return None
    return db.session.scalar(select(CouncilMailDomain.council_id).where(CouncilMailDomain.domain == domain))


def _user_of(address: str) -> User | None:
    if not address:
        return None
    return db.session.scalar(select(User).where(func.lower(User.email) == address, User.active.is_(True)))


def _thread_ticket(parsed: parsing.Parsed) -> Ticket | None:
    for reference in parsing.references_in_subject(parsed.subject):
        ticket = db.session.scalar(select(Ticket).where(Ticket.reference == reference))
        if ticket is not None:
            return ticket
    ids = list(dict.fromkeys(parsed.in_reply_to + list(reversed(parsed.references))))
    if ids:
        ticket_id = db.session.scalar(select(TicketMessageId.ticket_id).where(TicketMessageId.message_id.in_(ids))
                                      .order_by(TicketMessageId.created_at.desc()).limit(1))
        if ticket_id is not None:
            return db.session.get(Ticket, ticket_id)
    return None


def _entitled(ticket: Ticket, user: User | None, domain_council: int | None) -> bool:
    """osTicket's rule: a reference counts only from someone who may see that ticket."""
    if user is not None:
        return user.role in STAFF or (user.role == "clerk" and user.council_id == ticket.council_id)
    return domain_council is not None and domain_council == ticket.council_id


def _split_files(parts: list[parsing.Part]) -> tuple[list[tuple[str, bytes]], list[str]]:
    accepted, refused = [], []
    for part in parts:
        try:
            attachments.check(part.data, part.filename)
        except attachments.Refused as exc:
            refused.append(f"{part.filename} ({exc.reason})")
            continue
        accepted.append((part.filename, part.data))
    return accepted, refused


def _refused_note(ticket: Ticket, refused: list[str], now: dt.datetime) -> None:
    if not refused:
        return
    body = str(_l("Files of the mail that were not attached (not an accepted kind, empty or too large): "
                  "%(files)s", files=", ".join(refused)))
    db.session.add(TicketComment(ticket_id=ticket.id, council_id=ticket.council_id, author_id=None,
                                 body=parsing.clean(body, tickets.TICKET_TEXT_MAX), internal=True, created_at=now))


def _remember(message_id: str, ticket_id: int, address: str, *, outgoing: bool) -> None:
    if message_id:
        insert_ignoring(TicketMessageId, {"message_id": message_id, "ticket_id": ticket_id, "outgoing": outgoing,
                                          "address": address[:254], "created_at": utcnow()}, ["message_id"])


def _title(parsed: parsing.Parsed) -> str:
    title = parsing.ticket_title(parsed.subject)[: tickets.TICKET_TITLE_MAX]
    if not title:
        first = next((line.strip() for line in parsed.text.split("\n") if line.strip()), "")
        title = " ".join(first.split())[:80]
    return title or str(_l("Mail without a subject"))


def create_from_mail(row: InboundMail, parsed: parsing.Parsed, council: Council, *, user: User | None,
                     related: Ticket | None, now: dt.datetime) -> Ticket:
    accepted, refused = _split_files(parsed.attachments)
    values = {"title": _title(parsed), "description": parsed.text[: tickets.TICKET_TEXT_MAX], "channel": "email",
              "category": "other"}
    if user is not None and user.role == "clerk" and user.council_id == council.id:
        values["requester_id"] = user.id
    if related is not None:
        values["related_ticket_id"] = related.id
    ticket = tickets.create_ticket(council, values, actor=None, now=now, files=accepted, commit=False)
    if "requester_id" not in values and (user is None or user.role == "clerk"):
        ticket.requester_email = row.from_address or None
    _refused_note(ticket, refused, now)
    _remember(parsed.message_id, ticket.id, row.from_address, outgoing=False)
    row.status, row.ticket_id, row.council_id = "created", ticket.id, council.id
    _acknowledge(ticket, row.from_address, now)
    return ticket


def _append(row: InboundMail, parsed: parsing.Parsed, ticket: Ticket, *, user: User | None, from_council: bool,
            now: dt.datetime) -> None:
    accepted, refused = _split_files(parsed.attachments)
    text = parsing.cut_quoted(parsed.text)[: tickets.TICKET_TEXT_MAX] or str(_l("(The mail had no text.)"))
    comment = tickets.add_comment(ticket, text, internal=False, actor=user, now=now, files=accepted, commit=False,
                                  author_email=row.from_address or None, from_council=from_council)
    _refused_note(ticket, refused, now)
    _remember(parsed.message_id, ticket.id, row.from_address, outgoing=False)
    row.status, row.ticket_id, row.comment_id, row.council_id = "appended", ticket.id, comment.id, ticket.council_id


def _acknowledge(ticket: Ticket, address: str, now: dt.datetime) -> None:
    """"We got it, reference X", at most once per address and office-local day."""
    if not current_app.config.get("MAIL_ACKNOWLEDGE") or not address:
        return
    day = now.astimezone(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).date()
    if insert_ignoring(MailAcknowledgement, {"address": address, "day": day}, ["address", "day"],
                       returning=MailAcknowledgement.address) is None:
        return
    language = db.session.scalar(select(Council.language).where(Council.id == ticket.council_id)) or "ca"
    notify.mail_in(language, address, KIND_ACK, {"ticket_id": ticket.id, "reference": ticket.reference,
                                                 "title": ticket.title}, link=None)


def _decide(row: InboundMail, parsed: parsing.Parsed, now: dt.datetime) -> None:
    row.message_id = parsed.message_id
    row.from_address, row.from_name, row.subject = parsed.from_address, parsed.from_name, parsed.subject
    if parsed.automatic:
        row.status, row.reason = "ignored", parsed.automatic
        return
    sender = parsed.from_address
    if not sender:
        row.status, row.reason = "held", "no_sender"
        return
    user = _user_of(sender)
    domain_council = council_of_domain(parsing.domain_of(sender)) if user is None else None
    council_id = user.council_id if user is not None and user.role == "clerk" else domain_council
    ticket = _thread_ticket(parsed)
    if ticket is not None and _entitled(ticket, user, domain_council):
        if ticket.status == "closed":
            create_from_mail(row, parsed, db.session.get(Council, ticket.council_id), user=user, related=ticket,
                             now=now)
        else:
            _append(row, parsed, ticket, user=user, from_council=council_id == ticket.council_id, now=now)
        return
    if council_id is not None:
        council = db.session.get(Council, council_id)
        if council is not None and council.active:
            create_from_mail(row, parsed, council, user=user, related=None, now=now)
            return
    row.status = "held"
    row.reason = "staff_sender" if user is not None and user.role in STAFF else "unknown_sender"


def dedupe_key(row: InboundMail) -> str:
    return row.message_id or f"sha256:{row.sha256}"


def process(mail_id: int, *, now: dt.datetime | None = None) -> dict:
    """Make a stored message into what the rules say; returns the contract's outcome.

    Runs unrestricted: mail is processed by the system, whoever triggered it. A message that
    cannot be processed is marked failed and kept; the exception never leaves here.
    """
    now = now or utcnow()
    with unrestricted():
        row = db.session.get(InboundMail, mail_id)
        if row is None:
            raise LookupError(mail_id)
        if row.status not in ("pending", "failed") or row.reason == "too_large":
            return outcome_of(row)
        try:
            raw = read_raw(row)
            parsed = parsing.parse(raw, parsing.own_address(current_app.config["MAIL_DEFAULT_SENDER"]))
            with write_transaction():
                row = db.session.get(InboundMail, mail_id)
                row.attempts += 1
                row.processed_at = now
                row.last_error = None
                row.reason = None
                row.message_id = parsed.message_id
                key = dedupe_key(row)
                if db.session.scalar(select(InboundMail.id).where(InboundMail.dedupe_key == key)) is not None:
                    row.status, row.reason = "duplicate", "already_received"
                else:
                    row.dedupe_key = key
                    _decide(row, parsed, now)
        except IntegrityError:
            # A copy of the message (the same mail by IMAP and by the pipe at once) was made
            # into something first: this one is the duplicate.
            with write_transaction():
                row = db.session.get(InboundMail, mail_id)
                row.attempts += 1
                row.processed_at = now
                row.status, row.reason = "duplicate", "already_received"
        except Exception as exc:  # quarantine: the next message must go on
            log.exception("mail %s could not be processed", mail_id)
            db.session.rollback()
            with write_transaction():
                row = db.session.get(InboundMail, mail_id)
                row.attempts += 1
                row.processed_at = now
                row.status, row.reason = "failed", "error"
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.refresh(row)
        return outcome_of(row)


def ingest(data: bytes, *, source: str, now: dt.datetime | None = None, **where) -> dict:
    """Store, then process: what the pipe and the endpoint do with one message."""
    row, _new = store(data, source=source, now=now, **where)
    return process(row.id, now=now)


def readable(row: InboundMail) -> parsing.Parsed | None:
    """The message parsed for a page; None when its file is gone."""
    with contextlib.suppress(FileNotFoundError, OSError):
        return parsing.parse(read_raw(row))
    return None


def as_message(row: InboundMail):
    return message_from_bytes(read_raw(row), policy=policy.default)

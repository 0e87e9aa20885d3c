"""Threading the office's own mail about a ticket: the reference in brackets in the subject,
the Message-ID (chosen when queued) remembered against the ticket, and References naming the
thread so far, so that a reply from any mail client finds its ticket again."""

from __future__ import annotations

from sqlalchemy import select

from core.db import utcnow
from core.mail import sender_domain
from core.scope import unrestricted
from extensions import db
from support.mail.models import TicketMessageId
from support.tickets.claims import insert_ignoring

# References name the thread's start and its latest messages; mail clients cut long ones too.
MAX_REFERENCES = 10


def thread_mail(row, about: dict) -> None:
    """core.mail's thread hook: `about` is the notification's parameters."""
    ticket_id, reference = about.get("ticket_id"), about.get("reference")
    if not isinstance(ticket_id, int) or not isinstance(reference, str) or not reference:
        return
    bracketed = f"[{reference}]"
    if bracketed not in row.subject:
        row.subject = row.subject.replace(reference, bracketed, 1) if reference in row.subject \
            else f"{bracketed} {row.subject}"
    # A thread root of the ticket's own, first in References: even the first mail about a
    # ticket opened on the web has one, and a reply naming only it still finds the ticket.
    root = f"<{reference.lower()}.ticket@{sender_domain()}>"
    with unrestricted():
        insert_ignoring(TicketMessageId, {"message_id": root, "ticket_id": ticket_id, "outgoing": True,
                                          "address": "", "created_at": utcnow()}, ["message_id"])
        ids = list(db.session.scalars(select(TicketMessageId.message_id).where(TicketMessageId.ticket_id == ticket_id)
                                      .order_by(TicketMessageId.created_at, TicketMessageId.message_id)))
        ids = [root] + [i for i in ids if i != root]
        chosen = ids[:1] + ids[1:][-(MAX_REFERENCES - 1):]
        row.references = " ".join(chosen)
        insert_ignoring(TicketMessageId, {"message_id": row.message_id, "ticket_id": ticket_id, "outgoing": True,
                                          "address": row.to_address[:254], "created_at": utcnow()}, ["message_id"])

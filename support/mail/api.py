"""Mail intake's API: the gateway endpoint, held mail (triage) and the record of every message."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import Field

from core.access import ADMIN, STAFF, allow
from core.api import ApiAbort, ApiModel, OutModel, PageQuery, operation, page_of
from core.db import MAX_ID
from core.keyset import keyset_page
from extensions import db
from support.blueprint import api_bp as bp
from support.mail import pipeline, services
from support.mail.models import InboundMail
from support.tickets.api import TicketOut, _ticket_out

Outcome = Literal["created", "appended", "held", "ignored", "duplicate", "failed"]
RAW_TYPES = ("message/rfc822", "application/octet-stream", "text/plain")


class OutcomeOut(OutModel):
    outcome: Outcome
    ticket_id: int | None
    reference: str | None
    message_id: str | None
    reason: str | None


class HeldOut(OutModel):
    id: int
    from_: str = Field(alias="from", serialization_alias="from")
    subject: str
    received_at: dt.datetime
    reason: str | None
    status: str = Field(description="`held`, or `failed` (could not be processed; kept for a retry).")
    model_config = {**OutModel.model_config, "populate_by_name": True, "serialize_by_alias": True}


class MessageOut(OutModel):
    id: int
    message_id: str
    from_: str = Field(alias="from", serialization_alias="from")
    subject: str
    outcome: str = Field(description="created, appended, held, ignored, duplicate, failed, or discarded.")
    ticket_id: int | None
    received_at: dt.datetime
    reason: str | None
    source: str
    model_config = {**OutModel.model_config, "populate_by_name": True, "serialize_by_alias": True}


class MessageQuery(PageQuery):
    outcome: Literal["created", "appended", "held", "ignored", "duplicate", "failed", "discarded"] | None = None


class AcceptIn(ApiModel):
    council_id: int = Field(ge=1, le=MAX_ID)


def _held(row: InboundMail) -> dict:
    return {"id": row.id, "from": row.from_address, "subject": row.subject, "received_at": row.received_at,
            "reason": row.reason, "status": row.status}


def _message(row: InboundMail) -> dict:
    return {"id": row.id, "message_id": row.message_id, "from": row.from_address, "subject": row.subject,
            "outcome": row.status, "ticket_id": row.ticket_id, "received_at": row.received_at,
            "reason": row.reason, "source": row.source}


@bp.post("/mail/inbound")
@allow(*ADMIN)
@operation("Receive one message from a mail gateway", response=OutcomeOut, errors=(413, 415, 422), tags=["mail"],
           request_content={"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
           description="The raw RFC 5322 message. The same pipeline as the IMAP mailboxes and `flask mail ingest`.")
def mail_inbound():
    if request.mimetype not in RAW_TYPES:
        raise ApiAbort(415, "unsupported_media_type", _l("Send the raw message as message/rfc822."))
    # Messages are allowed up to the intake cap, above the uploads' limit of the rest of the app.
    request.max_content_length = current_app.config["MAIL_INTAKE_MAX_BYTES"] + 64 * 1024
    data = request.get_data(cache=False)
    if not data.strip():
        raise ApiAbort(422, "validation_failed", _l("The message is empty."), {"body": _l("The message is empty.")})
    return pipeline.ingest(data, source="api")


@bp.get("/mail/held")
@allow(*STAFF)
@operation("Held mail", query=PageQuery, response=page_of(HeldOut), tags=["mail"],
           description="Messages no rule could place (an unknown sender, office staff writing anew), and "
                       "those that could not be processed.")
def list_held(query: PageQuery):
    page = keyset_page(db.session, services.held_query(), [InboundMail.id], query.limit, query.cursor)
    page.items = [_held(r) for r in page.items]
    return page


@bp.post("/mail/held/<int:mail_id>/accept")
@allow(*STAFF)
@operation("Make a held message a ticket of a council", body=AcceptIn, response=TicketOut, status=201,
           errors=(409,), tags=["mail"])
def accept_held(mail_id: int, body: AcceptIn):
    ticket = services.accept(mail_id, body.council_id, actor=current_user._get_current_object())
    return _ticket_out(ticket)


@bp.delete("/mail/held/<int:mail_id>")
@allow(*STAFF)
@operation("Discard a held message (it stays in the record)", status=204, tags=["mail"])
def discard_held(mail_id: int):
    services.discard(mail_id, actor=current_user._get_current_object())


@bp.get("/mail/messages")
@allow(*STAFF)
@operation("Every message received, newest first", query=MessageQuery, response=page_of(MessageOut),
           tags=["mail"])
def list_messages(query: MessageQuery):
    page = keyset_page(db.session, services.messages_query(query.outcome), [InboundMail.id], query.limit,
                       query.cursor, descending=True)
    page.items = [_message(r) for r in page.items]
    return page

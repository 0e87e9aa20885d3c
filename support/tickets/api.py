"""Tickets' API (OpenAPI tag "tickets"): tickets, their history, comments, attachments and
rating. Routes go on support.blueprint.api_bp, as in docs/api-contract.md."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask import request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import BaseModel, Field
from sqlalchemy import select

from agreements import services as councils
from core.access import ALL_ROLES, allow
from core.api import (
    HTTP_MESSAGES,
    ApiAbort,
    ApiModel,
    OutModel,
    PageQuery,
    PageResult,
    omittable,
    operation,
    page_of,
)
from core.db import MAX_ID
from core.inputs import ascii_int
from core.keyset import keyset_page
from extensions import db
from support.blueprint import api_bp as bp
from support.tickets import attachments, queue, ratings, services
from support.tickets.attachments import KINDS
from support.tickets.models import Ticket, TicketComment
from support.tickets.views import attachment_response

Status = Literal["new", "assigned", "in_progress", "waiting_council", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Category = Literal["hardware", "software", "network", "e_administration", "transparency_portal", "accounts", "other"]
Channel = Literal["web", "phone", "email", "chat", "whatsapp", "monitoring"]
SlaState = Literal["ok", "warning", "breached", "paused", "stopped"]


class SlaOut(BaseModel):
    first_response_due: dt.datetime | None = Field(description="Null while the clock is paused (waiting for the council).")
    resolution_due: dt.datetime | None = Field(description="Null while the clock is paused (waiting for the council).")
    first_response_breached: bool
    resolution_breached: bool


class TicketRatingOut(OutModel):
    score: int
    comment: str
    created_at: dt.datetime


class TicketOut(OutModel):
    id: int
    reference: str = Field(description="CODE-YYYY-NNNN: the council's code, the year (office time) and a "
                                       "number per council and year, consecutive.")
    status: Status
    council_id: int
    priority: Priority
    category: Category
    channel: Channel
    requester_id: int | None = Field(description="Null for tickets the monitoring opened, and for mail from an "
                                                 "address of a council's mail domains without an account.")
    requester_email: str | None = Field(None, description="That address, when the requester has no account.")
    assignee_id: int | None
    team_id: int | None = Field(description="The team of its category when opened (or set by hand), or null.")
    created_at: dt.datetime
    sla: SlaOut
    title: str
    description: str
    asset_id: int | None
    related_ticket_id: int | None = Field(description="The closed ticket this one follows up, if any.")
    updated_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    sla_state: SlaState = Field(description="How the pending clock stands: ok, warning (75 % of its target), "
                                            "breached, paused (waiting for the council) or stopped.")
    time_minutes: int = Field(description="Time logged on the ticket in the hours ledger.")
    rating: TicketRatingOut | None = Field(description="The council's rating, once given.")
    service_id: int | None = Field(description="The catalogue's service the request is about.")


def _ticket_out(ticket, minutes: int | None = None, rating=False) -> dict:
    if rating is False:
        rating = ratings.rating_of(ticket)
    return {
        "id": ticket.id, "reference": ticket.reference, "status": ticket.status, "council_id": ticket.council_id,
        "priority": ticket.priority, "category": ticket.category, "channel": ticket.channel,
        "requester_id": ticket.requester_id, "requester_email": ticket.requester_email,
        "assignee_id": ticket.assignee_id, "created_at": ticket.created_at,
        "team_id": ticket.team_id,
        "sla": {"first_response_due": ticket.first_response_due_at, "resolution_due": ticket.resolution_due_at,
                "first_response_breached": ticket.first_response_breached,
                "resolution_breached": ticket.resolution_breached},
        "title": ticket.title, "description": ticket.description, "asset_id": ticket.asset_id,
        "related_ticket_id": ticket.related_ticket_id, "updated_at": ticket.updated_at,
        "first_response_at": ticket.first_response_at, "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at, "sla_state": ticket.sla_state,
        "time_minutes": minutes if minutes is not None else services.time_totals([ticket.id]).get(ticket.id, 0),
        "rating": TicketRatingOut.model_validate(rating) if rating is not None else None,
        "service_id": ticket.service_id,
    }


class TicketIn(ApiModel):
    council_id: int | None = Field(None, ge=1, le=MAX_ID, description="Clerks may omit it (their own council).")
    title: str = Field(min_length=1, max_length=services.TICKET_TITLE_MAX)
    description: str = Field("", max_length=services.TICKET_TEXT_MAX)
    priority: Priority = "normal"
    category: Category = "other"
    channel: Channel = Field("web", description="Clerks' tickets are always `web`.")
    asset_id: int | None = Field(None, ge=1, le=MAX_ID, description="An asset of the same council.")
    requester_id: int | None = Field(None, ge=1, le=MAX_ID,
                                     description="Office staff only: the council's clerk the ticket is for.")
    related_ticket_id: int | None = Field(None, ge=1, le=MAX_ID,
                                          description="A ticket of the same council this one follows up.")
    service_id: int | None = Field(None, ge=1, le=MAX_ID, description="A service of the catalogue (unknown → 422); "
                                                                      "without `category`, its ticket category.")


class TicketPatch(ApiModel):
    status: Status = omittable(description="Only the contract's moves (otherwise 409 `invalid_transition`).")
    assignee_id: int | None = Field(None, ge=1, le=MAX_ID,
                                    description="Active office staff; null unassigns. On a `new` ticket, "
                                                "setting it moves the ticket to `assigned`.")
    priority: Priority = omittable()
    category: Category = omittable()
    team_id: int | None = Field(None, ge=1, le=MAX_ID, description="A team (unknown → 422); null: no team.")
    service_id: int | None = Field(None, ge=1, le=MAX_ID, description="Office staff: the catalogue's service.")


class TicketQuery(PageQuery):
    council_id: int | None = Field(None, ge=1, le=MAX_ID)
    status: Literal["new", "assigned", "in_progress", "waiting_council", "resolved", "closed", "open"] | None = Field(
        None, description="A status, or `open` for every status before resolved.")
    priority: Priority | None = None
    assignee_id: int | None = Field(None, ge=1, le=MAX_ID)
    team_id: int | None = Field(None, ge=1, le=MAX_ID)
    unassigned: bool | None = Field(None, description="true: only tickets nobody has.")
    category: Category | None = None
    sla: Literal["ok", "warning", "breached", "paused"] | None = Field(
        None, description="`breached`: any clock past its due time.")
    asset_id: int | None = Field(None, ge=1, le=MAX_ID)
    q: str | None = Field(None, max_length=200, description="Words of the title, description or replies "
                                                            "(accents and case ignored), or a reference.")
    sort: Literal["created", "due"] = Field("created", description="`created`: oldest first (id); "
                                                                   "`due`: the queue's order, soonest SLA due first.")


class CommentIn(ApiModel):
    body: str = Field(min_length=1, max_length=services.TICKET_TEXT_MAX)
    internal: bool = Field(False, description="An internal note, for the office only (clerks → 403).")


class AttachmentOut(OutModel):
    id: int
    ticket_id: int
    comment_id: int | None
    filename: str
    content_type: str
    size: int
    internal: bool
    created_at: dt.datetime


class CommentOut(OutModel):
    id: int
    ticket_id: int
    author_id: int | None = Field(description="Null for the monitoring's comments, and for mail from an address "
                                              "without an account.")
    author_email: str | None = Field(None, description="The address a reply came from by mail.")
    body: str
    internal: bool
    created_at: dt.datetime
    attachments: list[AttachmentOut]


class RatingIn(ApiModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=ratings.RATING_COMMENT_MAX)


class RatingOut(OutModel):
    ticket_id: int
    score: int
    comment: str
    rated_by_id: int | None
    created_at: dt.datetime


class ChangeOut(OutModel):
    id: int
    at: dt.datetime
    actor_id: int | None = Field(description="Null: the system (monitoring, the closing job).")
    field: Literal["status", "assignee", "priority", "category"]
    old_value: str | None
    new_value: str | None
    reason: dict | None = Field(None, description="Automatic assignments: the rule, the team and who was "
                                                  "skipped as absent, e.g. {\"rule\": \"round_robin\", "
                                                  "\"team\": \"Xarxes\", \"skipped\": [\"Marta\"]}.")


def _actor():
    return current_user._get_current_object()


@bp.before_request
def _ticket_before_body():
    """The ticket a URL names is looked up before its body is validated: another council's
    ticket is a 404 for a clerk whatever they send, never a 422 that would confirm it exists."""
    ticket_id = (request.view_args or {}).get("ticket_id")
    if ticket_id is not None:
        services.get_ticket(ticket_id)


@bp.post("/tickets")
@allow(*ALL_ROLES)
@operation("Open a ticket", body=TicketIn, response=TicketOut, status=201, errors=(409,), tags=["tickets"],
           description="A clerk may omit `council_id` (their own is used); another council's is a 404.")
def create_ticket(body: TicketIn):
    actor = _actor()
    if body.council_id is None:
        if actor.role != "clerk":
            message = _l("This field is required.")
            raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422], {"council_id": message})
        council = councils.get_council(actor.council_id)
    else:
        council = councils.get_council(body.council_id)
    # A category left out follows the service's, when a service is named.
    exclude = {"council_id"} | ({"category"} if "category" not in body.model_fields_set else set())
    ticket = services.create_ticket(council, body.model_dump(exclude=exclude), actor=actor)
    return _ticket_out(ticket, 0, None)


@bp.get("/tickets")
@allow(*ALL_ROLES)
@operation("List tickets", query=TicketQuery, response=page_of(TicketOut), tags=["tickets"],
           description="Clerks see their own council's tickets; another council's `council_id` is a 404.")
def list_tickets(query: TicketQuery):
    if query.council_id is not None:
        councils.get_council(query.council_id)
    filters = queue.TicketFilters(council_id=query.council_id, status=query.status, priority=query.priority,
                                     category=query.category, assignee_id=query.assignee_id, team_id=query.team_id,
                                     unassigned=bool(query.unassigned), sla=query.sla, asset_id=query.asset_id,
                                     q=query.q)
    stmt = queue.ticket_query(filters, include_internal=current_user.role != "clerk")
    order = [Ticket.queue_at, Ticket.id] if query.sort == "due" else [Ticket.id]
    page = keyset_page(db.session, stmt, order, query.limit, query.cursor)
    totals = services.time_totals(t.id for t in page.items)
    rated = ratings.ratings_of(t.id for t in page.items)
    page.items = [_ticket_out(t, totals.get(t.id, 0), rated.get(t.id)) for t in page.items]
    return page


@bp.get("/tickets/<int:ticket_id>")
@allow(*ALL_ROLES)
@operation("Get a ticket", response=TicketOut, tags=["tickets"])
def get_ticket(ticket_id: int):
    return _ticket_out(services.get_ticket(ticket_id))


@bp.patch("/tickets/<int:ticket_id>")
@allow(*ALL_ROLES)
@operation("Change a ticket", body=TicketPatch, response=TicketOut, errors=(409,), tags=["tickets"],
           description="Any of `status`, `assignee_id`, `priority`, `category`, `team_id`. Moves: new → assigned → "
                       "in_progress → waiting_council | resolved; waiting_council → in_progress | resolved; "
                       "resolved → closed | in_progress (reopen); anything else is 409 `invalid_transition`. "
                       "Clerks may only answer a resolved ticket of their council: `closed` (solved) or "
                       "`in_progress` (not solved); anything else is 403.")
def patch_ticket(ticket_id: int, body: TicketPatch):
    ticket = services.get_ticket(ticket_id)
    values = {k: getattr(body, k) for k in body.model_fields_set}
    return _ticket_out(services.change_ticket(ticket, values, actor=_actor()))


@bp.get("/tickets/<int:ticket_id>/history")
@allow(*ALL_ROLES)
@operation("A ticket's history", response=page_of(ChangeOut), tags=["tickets"],
           description="Every change of status, assignee, priority and category: who, when, from, to.")
def ticket_history(ticket_id: int):
    return PageResult(services.history_of(services.get_ticket(ticket_id)), None)


def _comment_out(comment, files) -> dict:
    return {"id": comment.id, "ticket_id": comment.ticket_id, "author_id": comment.author_id,
            "author_email": comment.author_email, "body": comment.body,
            "internal": comment.internal, "created_at": comment.created_at,
            "attachments": [AttachmentOut.model_validate(f) for f in files.get(comment.id, [])]}


def _files_by_comment(ticket) -> dict:
    out: dict = {}
    for attachment in services.attachments_of(ticket):
        out.setdefault(attachment.comment_id, []).append(attachment)
    return out


@bp.post("/tickets/<int:ticket_id>/comments")
@allow(*ALL_ROLES)
@operation("Comment on a ticket", body=CommentIn, response=CommentOut, status=201, errors=(409,),
           tags=["tickets"],
           description="Clerks cannot write internal notes (403). An office reply is the ticket's first "
                       "response; on an `assigned` ticket it starts the work (`in_progress`). A clerk's reply "
                       "on a ticket `waiting_council` hands it back to the office (`in_progress`).")
def create_comment(ticket_id: int, body: CommentIn):
    ticket = services.get_ticket(ticket_id)
    comment = services.add_comment(ticket, body.body, internal=body.internal, actor=_actor())
    return _comment_out(comment, {})


@bp.get("/tickets/<int:ticket_id>/comments")
@allow(*ALL_ROLES)
@operation("List a ticket's comments", query=PageQuery, response=page_of(CommentOut), tags=["tickets"],
           description="Oldest first. Clerks never see internal notes.")
def list_comments(ticket_id: int, query: PageQuery):
    ticket = services.get_ticket(ticket_id)
    stmt = select(TicketComment).where(TicketComment.ticket_id == ticket.id)
    page = keyset_page(db.session, stmt, [TicketComment.id], query.limit, query.cursor)
    files = _files_by_comment(ticket)
    page.items = [_comment_out(c, files) for c in page.items]
    return page


@bp.get("/tickets/<int:ticket_id>/comments/<int:comment_id>")
@allow(*ALL_ROLES)
@operation("Get a comment", response=CommentOut, tags=["tickets"])
def get_comment(ticket_id: int, comment_id: int):
    ticket = services.get_ticket(ticket_id)
    return _comment_out(services.get_comment(ticket, comment_id), _files_by_comment(ticket))


@bp.post("/tickets/<int:ticket_id>/rating")
@allow("clerk")
@operation("Rate a ticket", body=RatingIn, response=RatingOut, status=201, errors=(409,), tags=["tickets"],
           description="A clerk of the ticket's council, on a resolved or closed ticket (409 `not_resolved`), "
                       "once (409 `already_rated`).")
def rate_ticket(ticket_id: int, body: RatingIn):
    ticket = services.get_ticket(ticket_id)
    return ratings.rate_ticket(ticket, body.score, body.comment, actor=_actor())


@bp.get("/tickets/<int:ticket_id>/attachments")
@allow(*ALL_ROLES)
@operation("List a ticket's attachments", response=page_of(AttachmentOut), tags=["tickets"],
           description="Clerks never see the files of internal notes.")
def list_attachments(ticket_id: int):
    return PageResult(services.attachments_of(services.get_ticket(ticket_id)), None)


@bp.post("/tickets/<int:ticket_id>/attachments")
@allow(*ALL_ROLES)
@operation("Attach a file", response=AttachmentOut, status=201, errors=(409, 413, 422), tags=["tickets"],
           request_content={"multipart/form-data": {"schema": {
               "type": "object", "required": ["file"],
               "properties": {"file": {"type": "string", "format": "binary"},
                              # A form field is text: the booleans as a form sends them.
                              "internal": {"type": "string", "enum": ["true", "false", "1", "0"],
                                           "description": "For the office only (clerks → 403)."},
                              "comment_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}}}},
           description="Up to 10 MB; PDF, PNG, JPEG, GIF, WebP, plain text, CSV, DOCX, XLSX, ODT, ODS or EML, "
                       "recognised from the content, not the name (otherwise 422). A file on a comment "
                       "takes its visibility.")
def upload_attachment(ticket_id: int):
    ticket = services.get_ticket(ticket_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422], {"file": _l("This field is required.")})
    internal_raw = request.form.get("internal", "false")
    if internal_raw not in ("true", "false", "1", "0"):
        raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422], {"internal": _l("Must be true or false.")})
    comment = None
    if request.form.get("comment_id"):
        comment_id = ascii_int(request.form["comment_id"], minimum=1, maximum=MAX_ID)
        if comment_id is None:
            raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422], {"comment_id": _l("Must be an integer.")})
        comment = services.get_comment(ticket, comment_id)
    internal = internal_raw in ("true", "1") or bool(comment is not None and comment.internal)
    return attachments.add_attachment(ticket, upload.filename, upload.read(), actor=_actor(), internal=internal,
                                   comment=comment)


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>")
@allow(*ALL_ROLES)
@operation("Download an attachment", tags=["tickets"],
           # The type found at upload, one of the allow-list's (support.tickets.attachments.KINDS).
           response_content={media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                             for media, _exts in KINDS.values()},
           description="Always a download (Content-Disposition: attachment) with the type found at upload.")
def download_attachment(ticket_id: int, attachment_id: int):
    ticket = services.get_ticket(ticket_id)
    return attachment_response(services.get_attachment(ticket, attachment_id))

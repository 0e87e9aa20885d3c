"""Visits in the API (OpenAPI tag "visits"), as in docs/api-contract.md, "Visits: on-site
appointments". Routes go on support.blueprint.api_bp."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask_login import current_user
from pydantic import Field

from core.access import ALL_ROLES, STAFF, allow
from core.api import ApiModel, OutModel, PageQuery, operation, page_of
from core.db import MAX_ID
from core.inputs import Day
from core.keyset import keyset_page
from extensions import db
from support.blueprint import api_bp as bp
from support.visits import ical, services
from support.visits.models import Visit, VisitSlot


class SlotOut(OutModel):
    id: int
    council_id: int
    technician_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    minutes: int
    capacity: int
    booked: int
    status: Literal["open", "cancelled"]


class SlotIn(ApiModel):
    council_id: int = Field(ge=1, le=MAX_ID)
    technician_id: int = Field(ge=1, le=MAX_ID)
    starts_at: dt.datetime = Field(description="With its offset; a start in the past → 422.")
    minutes: int = Field(ge=15, le=600)
    capacity: int = Field(1, ge=1, le=20)
    repeat_weeks: int | None = Field(None, ge=1, le=52, description="A series: one slot every N weeks, at the "
                                                                    "same office-local time across DST changes.")
    until: dt.date | None = Field(None, description="Last date of the series (inclusive).")


class SlotList(OutModel):
    items: list[SlotOut]


class VisitOut(OutModel):
    id: int
    slot_id: int
    council_id: int
    technician_id: int
    starts_at: dt.datetime
    ticket_id: int | None
    booked_by_id: int | None
    notes: str
    status: Literal["booked", "cancelled"]


class VisitIn(ApiModel):
    slot_id: int = Field(ge=1, le=MAX_ID)
    ticket_id: int | None = Field(None, ge=1, le=MAX_ID, description="An open request of the slot's council.")
    notes: str = Field("", max_length=services.NOTES_MAX)


class MoveIn(ApiModel):
    # Typed optional so that another council's visit is a 404 before the body is judged; the
    # service answers 422 when it is missing.
    slot_id: int | None = Field(None, ge=1, le=MAX_ID, description="Required: an offered slot of the visit's council.")


class CancelIn(ApiModel):
    reason: str = Field("", max_length=services.NOTES_MAX)


class RangeQuery(PageQuery):
    council_id: int | None = Field(None, ge=1, le=MAX_ID)
    technician_id: int | None = Field(None, ge=1, le=MAX_ID)
    from_: Day | None = Field(None, alias="from", description="Office-local date, inclusive.")
    to: Day | None = Field(None, description="Office-local date, inclusive.")


def _actor():
    return current_user._get_current_object()


@bp.post("/visit-slots")
@allow(*STAFF)
@operation("Create visit slots", body=SlotIn, response=SlotList, status=201, errors=(409,), tags=["visits"],
           description="One slot, or a series every `repeat_weeks` weeks up to `until`; overlapping another "
                       "open slot of the technician → 409 `slot_overlap` (nothing is created).")
def create_slots(body: SlotIn):
    return {"items": services.create_slots(body.model_dump(), actor=_actor())}


@bp.get("/visit-slots")
@allow(*ALL_ROLES)
@operation("List visit slots", query=RangeQuery, response=page_of(SlotOut), tags=["visits"])
def list_slots(query: RangeQuery):
    stmt = services.slots_query(council_id=query.council_id, technician_id=query.technician_id,
                                first=query.from_, last=query.to)
    return keyset_page(db.session, stmt, [VisitSlot.starts_at, VisitSlot.id], query.limit, query.cursor)


@bp.get("/visit-slots/<int:slot_id>")
@allow(*ALL_ROLES)
@operation("Get a visit slot", response=SlotOut, tags=["visits"])
def get_slot(slot_id: int):
    return services.get_slot(slot_id)


@bp.post("/visit-slots/<int:slot_id>/cancel")
@allow(*STAFF)
@operation("Cancel a visit slot", response=SlotOut, tags=["visits"], description="Cancels its visits too.")
def cancel_slot(slot_id: int):
    return services.cancel_slot(services.get_slot(slot_id), actor=_actor())


@bp.post("/visits")
@allow(*ALL_ROLES)
@operation("Book a visit", body=VisitIn, response=VisitOut, status=201, errors=(409,), tags=["visits"],
           description="Full → 409 `slot_full`; cancelled, past, on a holiday or while the technician is "
                       "absent → 409 `slot_unavailable`; a ticket of another council → 422.")
def book_visit(body: VisitIn):
    return services.book(body.slot_id, body.model_dump(), actor=_actor())


@bp.get("/visits")
@allow(*ALL_ROLES)
@operation("List visits", query=RangeQuery, response=page_of(VisitOut), tags=["visits"])
def list_visits(query: RangeQuery):
    stmt = services.visits_query(council_id=query.council_id, technician_id=query.technician_id,
                                 first=query.from_, last=query.to)
    return keyset_page(db.session, stmt, [Visit.starts_at, Visit.id], query.limit, query.cursor)


@bp.get("/visits/<int:visit_id>")
@allow(*ALL_ROLES)
@operation("Get a visit", response=VisitOut, tags=["visits"])
def get_visit(visit_id: int):
    return services.get_visit(visit_id)


@bp.post("/visits/<int:visit_id>/cancel")
@allow(*ALL_ROLES)
@operation("Cancel a visit", body=CancelIn, response=VisitOut, errors=(409,), tags=["visits"],
           description="Clerks until 24 hours before the start (409 `too_late_to_cancel`); staff at any time. "
                       "Cancelling twice is harmless.")
def cancel_visit(visit_id: int, body: CancelIn):
    return services.cancel_visit(services.get_visit(visit_id), body.reason, actor=_actor())


@bp.post("/visits/<int:visit_id>/move")
@allow(*ALL_ROLES)
@operation("Move a visit to another slot", body=MoveIn, response=VisitOut, errors=(409,), tags=["visits"],
           description="The same visit (the same calendar UID, its SEQUENCE raised) in another slot of its council. "
                       "Clerks until 24 hours before the start (409 `too_late_to_change`); full → 409 `slot_full`; "
                       "cancelled or past → 409 `slot_unavailable`; a cancelled visit → 409 `visit_cancelled`.")
def move_visit(visit_id: int, body: MoveIn):
    return services.move_visit(services.get_visit(visit_id), body.slot_id, actor=_actor())


class FeedOut(OutModel):
    url: str = Field(description="The personal iCalendar feed, read without a token; a new call replaces it.")


@bp.post("/calendar-feed")
@allow(*ALL_ROLES)
@operation("New personal calendar feed URL", response=FeedOut, status=201, tags=["visits"],
           description="Staff: their booked visits; clerks: their council's. The previous URL stops working.")
def new_calendar_feed():
    return {"url": ical.new_feed_url(_actor())}

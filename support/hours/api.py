"""The hours ledger's API (OpenAPI tag "hours"): time entries, corrections of closed months and
a council's monthly usage. Routes go on support.blueprint.api_bp, as in docs/api-contract.md."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import BaseModel, Field

from agreements import services as councils
from agreements.months import MONTH_PATTERN, format_month, office_today, parse_month
from core.access import ALL_ROLES, STAFF, allow
from core.api import (
    HTTP_MESSAGES,
    ApiAbort,
    ApiModel,
    OutModel,
    PageQuery,
    QueryModel,
    omittable,
    operation,
    page_of,
)
from core.db import MAX_ID
from core.keyset import keyset_page
from extensions import db
from support.blueprint import api_bp as bp
from support.hours import figures, services
from support.hours.models import TimeEntry

Mode = Literal["onsite", "remote"]


class TimeEntryOut(OutModel):
    id: int
    technician_id: int
    council_id: int
    date: dt.date
    minutes: int = Field(description="1–1440; on a correction, the signed change (−1440 to 1440).")
    mode: Mode
    description: str
    ticket_id: int | None
    travel_minutes: int = Field(description="Recorded and reported, never counted against the allowance.")
    month: str = Field(description="YYYY-MM: the month whose usage the entry counts in.")
    corrects_entry_id: int | None = Field(description="Set on a correction: the closed month's entry it corrects.")
    created_at: dt.datetime
    service_id: int | None = Field(description="The catalogue's service the work was for.")


def _entry_dict(entry: TimeEntry) -> dict:
    return {"id": entry.id, "technician_id": entry.technician_id, "council_id": entry.council_id,
            "date": entry.date, "minutes": entry.minutes, "mode": entry.mode, "description": entry.description,
            "ticket_id": entry.ticket_id, "travel_minutes": entry.travel_minutes,
            "month": format_month(entry.month), "corrects_entry_id": entry.corrects_entry_id,
            "created_at": entry.created_at, "service_id": entry.service_id}


class TimeEntryIn(ApiModel):
    council_id: int = Field(ge=1, le=MAX_ID)
    date: dt.date
    minutes: int = Field(ge=1, le=1440)
    mode: Mode
    description: str = Field("", max_length=services.MAX_DESCRIPTION)
    ticket_id: int | None = Field(None, ge=1, le=MAX_ID,
                                  description="A ticket of the same council (another council's → 422).")
    travel_minutes: int = Field(0, ge=0, le=1440, description="On-site entries only (non-zero on remote → 422).")
    service_id: int | None = Field(None, ge=1, le=MAX_ID, description="A service of the catalogue (unknown → 422).")
    technician_id: int | None = Field(None, ge=1, le=MAX_ID,
                                      description="Managers and admins may log for another member of staff; "
                                                  "technicians only for themselves (default: the caller).")


class TimeEntryPatch(ApiModel):
    council_id: int = omittable(ge=1, le=MAX_ID)
    date: dt.date = omittable()
    minutes: int = omittable(ge=-1440, le=1440, description="1–1440 (a correction: its signed change).")
    mode: Mode = omittable()
    description: str = omittable(max_length=services.MAX_DESCRIPTION)
    ticket_id: int | None = Field(None, ge=1, le=MAX_ID)
    travel_minutes: int = omittable(ge=-1440, le=1440)
    service_id: int | None = Field(None, ge=1, le=MAX_ID)
    technician_id: int = omittable(ge=1, le=MAX_ID, description="Managers and admins only.")


class CorrectionIn(ApiModel):
    minutes: int = Field(ge=-1440, le=1440, description="The signed change, e.g. −30 to take half an hour away.")
    travel_minutes: int = Field(0, ge=-1440, le=1440, description="The signed change of travel (on-site only).")
    description: str = Field(min_length=1, max_length=services.MAX_DESCRIPTION,
                             description="What is corrected, and why.")
    date: dt.date | None = Field(None, description="In an open month; omitted: today.")


class TimeEntryQuery(PageQuery):
    council_id: int | None = Field(None, ge=1, le=MAX_ID)
    month: str | None = Field(None, pattern=MONTH_PATTERN, description="YYYY-MM")
    technician_id: int | None = Field(None, ge=1, le=MAX_ID)
    ticket_id: int | None = Field(None, ge=1, le=MAX_ID, description="The time logged on one ticket.")


class ModeUsageOut(BaseModel):
    base_minutes: int
    carried_minutes: int
    allowance_minutes: int
    used_minutes: int
    remaining_minutes: int
    excess_minutes: int


class UsageOut(BaseModel):
    council_id: int
    month: str
    agreement_id: int
    onsite: ModeUsageOut
    remote: ModeUsageOut
    travel_minutes: int
    closed: bool


class UsageQuery(QueryModel):
    month: str | None = Field(None, pattern=MONTH_PATTERN, description="YYYY-MM; omitted: the current month.")


def _entry_out(entry: TimeEntry) -> dict:
    return _entry_dict(entry)


@bp.post("/time-entries")
@allow(*STAFF)
@operation("Log time", body=TimeEntryIn, response=TimeEntryOut, status=201, errors=(409,), tags=["hours"],
           description="A date no agreement of the council covers is 422 `no_agreement`; a date in a closed "
                       "month, 409 `month_closed`.")
def create_time_entry(body: TimeEntryIn):
    council = councils.get_council(body.council_id)
    values = body.model_dump(exclude={"council_id"})
    if "service_id" not in body.model_fields_set:
        del values["service_id"]  # left out: time on a ticket counts for the ticket's service
    entry = services.create_entry(council, values, actor=current_user._get_current_object())
    return _entry_out(entry)


@bp.get("/time-entries")
@allow(*ALL_ROLES)
@operation("List time entries", query=TimeEntryQuery, response=page_of(TimeEntryOut), tags=["hours"],
           description="Ordered by date, then id. Clerks see their own council's entries; another "
                       "council's `council_id` is a 404.")
def list_time_entries(query: TimeEntryQuery):
    if query.council_id is not None:
        councils.get_council(query.council_id)
    stmt = services.entry_query(council_id=query.council_id, month=parse_month(query.month),
                                technician_id=query.technician_id, ticket_id=query.ticket_id)
    page = keyset_page(db.session, stmt, [TimeEntry.date, TimeEntry.id], query.limit, query.cursor)
    page.items = [_entry_out(e) for e in page.items]
    return page


@bp.get("/time-entries/<int:entry_id>")
@allow(*ALL_ROLES)
@operation("Get a time entry", response=TimeEntryOut, tags=["hours"])
def get_time_entry(entry_id: int):
    return _entry_out(services.get_entry(entry_id))


@bp.patch("/time-entries/<int:entry_id>")
@allow(*STAFF)
@operation("Change a time entry", body=TimeEntryPatch, response=TimeEntryOut, errors=(409,), tags=["hours"],
           description="The author, or a manager or admin; open months only (409 `month_closed`, also when "
                       "the change would move the entry into a closed month).")
def patch_time_entry(entry_id: int, body: TimeEntryPatch):
    entry = services.get_entry(entry_id)
    values = {k: getattr(body, k) for k in body.model_fields_set}
    if "council_id" in values and values["council_id"] != entry.council_id:
        councils.get_council(values["council_id"])
    entry = services.update_entry(entry, values, actor=current_user._get_current_object())
    return _entry_out(entry)


@bp.delete("/time-entries/<int:entry_id>")
@allow(*STAFF)
@operation("Delete a time entry", status=204, errors=(409,), tags=["hours"],
           description="The author, or a manager or admin; open months only.")
def delete_time_entry(entry_id: int):
    services.delete_entry(services.get_entry(entry_id), actor=current_user._get_current_object())


@bp.post("/time-entries/<int:entry_id>/corrections")
@allow(*STAFF)
@operation("Correct an entry of a closed month", body=CorrectionIn, response=TimeEntryOut, status=201,
           errors=(409,), tags=["hours"],
           description="A new entry in an open month, referencing the original, whose `minutes` (and "
                       "`travel_minutes`) are a signed change; the closed month keeps its figures. An entry "
                       "of a month still open is changed directly instead (409 `month_open`).")
def correct_time_entry(entry_id: int, body: CorrectionIn):
    original = services.get_entry(entry_id)
    values = body.model_dump(exclude_none=True)
    entry = services.create_correction(original, values, actor=current_user._get_current_object())
    return _entry_out(entry)


@bp.get("/councils/<int:council_id>/usage")
@allow(*ALL_ROLES)
@operation("Usage of a council in a month", query=UsageQuery, response=UsageOut, tags=["hours"],
           description="allowance = base + carried; remaining = max(0, allowance − used); "
                       "excess = max(0, used − allowance). A month no agreement covers is 404 `no_agreement`.")
def council_usage(council_id: int, query: UsageQuery):
    council = councils.get_council(council_id)
    month = parse_month(query.month) if query.month else office_today().replace(day=1)
    if month is None:
        raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422], {"month": _l("Wrong format.")})
    return figures.month_usage_or_404(council, month).as_contract()

"""API v1 of the catalogue (docs/api-contract.md, "Service catalogue and rollout")."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask_login import current_user
from pydantic import Field

from agreements import services as councils
from catalogue import hours, services
from catalogue.models import CouncilService, Service
from core.access import ALL_ROLES, MANAGERS, STAFF, allow
from core.api import ApiModel, OutModel, PageQuery, QueryModel, api_blueprint, omittable, operation, page_of
from core.keyset import keyset_page
from extensions import db

bp = api_blueprint("catalogue_api", __name__)

Provider = Literal["aoc", "diputacio", "comarca", "vendor"]
Category = Literal["e_administration", "transparency", "infrastructure", "communications", "software", "other"]
TicketCategory = Literal["hardware", "software", "network", "e_administration", "transparency_portal", "accounts",
                         "other"]
Wave = Literal["pilot", "extension", "consolidation"]
Status = Literal["planned", "deploying", "live", "retired"]
L = services.LIMITS
MAX_ID = services.MAX_ID


class ServiceOut(OutModel):
    id: int
    code: str
    name: str
    name_ca: str
    name_es: str
    name_en: str
    description: str
    provider: str
    category: str
    documentation_url: str
    ticket_category: str | None = Field(description="The category a request about this service gets.")
    default_team_id: int | None = Field(description="The team a request about this service goes to.")
    active: bool


class _ServiceFields(ApiModel):
    name_ca: str | None = Field(None, max_length=L["name_ca"])
    name_es: str | None = Field(None, max_length=L["name_es"])
    name_en: str | None = Field(None, max_length=L["name_en"])
    description: str | None = Field(None, max_length=L["description"])
    documentation_url: str | None = Field(None, max_length=L["documentation_url"],
                                          description="An http:// or https:// address.")
    ticket_category: TicketCategory | None = None
    default_team_id: int | None = Field(None, ge=1, le=MAX_ID)


class ServiceIn(_ServiceFields):
    code: str = Field(min_length=1, max_length=16, description="Unique; upper-cased. Cannot change later.")
    name: str = Field(min_length=1, max_length=L["name"])
    provider: Provider = "comarca"
    category: Category = "other"
    active: bool = True


class ServicePatch(_ServiceFields):
    code: str = omittable(max_length=16, description="Accepted only unchanged (422 otherwise).")
    name: str = omittable(min_length=1, max_length=L["name"])
    provider: Provider = omittable()
    category: Category = omittable()
    active: bool = omittable()


class ServiceQuery(PageQuery):
    active: bool | None = None


class EvidenceFileOut(OutModel):
    filename: str
    content_type: str
    size: int
    url: str


class SubscriptionOut(OutModel):
    service_id: int
    code: str
    name: str
    wave: str
    status: str
    status_since: dt.datetime
    planned_on: dt.date | None
    live_on: dt.date | None
    technician_id: int | None
    notes: str
    council_id: int
    contact: str = Field(description="The council's person for this service.")
    evidence_url: str
    # Read from the record's `evidence_info` (its `evidence_file` column is the storage name).
    evidence_file: EvidenceFileOut | None = Field(
        validation_alias="evidence_info",
        description="The evidence kept as a file, or null; `url` downloads it (signed-in session).")
    next_review_on: dt.date | None


class SubscriptionIn(ApiModel):
    wave: Wave = omittable(description="Default `pilot` on the first PUT.")
    status: Status = omittable(description="Default `planned` on the first PUT; afterwards forward only "
                                           "(409 `invalid_status_move`).")
    planned_on: dt.date | None = None
    live_on: dt.date | None = Field(None, description="Set to the office-local date on reaching `live` "
                                                      "unless given.")
    technician_id: int | None = Field(None, ge=1, le=MAX_ID)
    contact: str | None = Field(None, max_length=L["contact"])
    notes: str | None = Field(None, max_length=L["notes"])
    evidence_url: str | None = Field(None, max_length=L["evidence_url"])
    next_review_on: dt.date | None = None
    reason: str | None = Field(None, max_length=L["reason"], description="Kept in the history with a status change.")


class HistoryOut(OutModel):
    at: dt.datetime
    from_status: str | None = Field(description="Null for the record's first status.")
    to_status: str
    user_id: int | None
    reason: str


class HistoryList(OutModel):
    items: list[HistoryOut]


class RolloutCouncil(OutModel):
    council_id: int
    wave: str
    status: str


class RolloutCounts(OutModel):
    planned: int
    deploying: int
    live: int
    retired: int


class RolloutOut(OutModel):
    service_id: int
    councils: list[RolloutCouncil]
    counts: RolloutCounts


class ServiceHoursQuery(QueryModel):
    year: int | None = Field(None, ge=1990, le=2200, description="Default: the office's current year.")
    council_id: int | None = Field(None, ge=1, le=MAX_ID)


class ServiceHoursOut(OutModel):
    service_id: int
    council_id: int
    onsite_minutes: int
    remote_minutes: int


class ServiceHoursList(OutModel):
    items: list[ServiceHoursOut]


def _actor():
    return current_user._get_current_object()


@bp.get("/services")
@allow(*ALL_ROLES)
@operation("List services", query=ServiceQuery, response=page_of(ServiceOut), tags=["services"])
def list_services(query: ServiceQuery):
    return keyset_page(db.session, services.service_query(active=query.active), [Service.id], query.limit,
                       query.cursor)


@bp.post("/services")
@allow(*MANAGERS)
@operation("Create a service", body=ServiceIn, response=ServiceOut, status=201, errors=(409,), tags=["services"],
           description="`code` is unique (409 `duplicate_code`).")
def create_service(body: ServiceIn):
    return services.create_service(body.model_dump(), actor=_actor())


@bp.get("/services/<int:service_id>")
@allow(*ALL_ROLES)
@operation("Get a service", response=ServiceOut, tags=["services"])
def get_service(service_id: int):
    return services.get_service(service_id)


@bp.patch("/services/<int:service_id>")
@allow(*MANAGERS)
@operation("Update a service", body=ServicePatch, response=ServiceOut, tags=["services"],
           description="Only the fields sent change; `code` cannot change (422).")
def patch_service(service_id: int, body: ServicePatch):
    service = services.get_service(service_id)
    return services.update_service(service, {k: getattr(body, k) for k in body.model_fields_set}, actor=_actor())


@bp.get("/services/<int:service_id>/rollout")
@allow(*STAFF)
@operation("A service's rollout", response=RolloutOut, tags=["services"])
def get_rollout(service_id: int):
    return services.rollout(services.get_service(service_id))


@bp.get("/councils/<int:council_id>/services")
@allow(*ALL_ROLES)
@operation("A council's services", query=PageQuery, response=page_of(SubscriptionOut), tags=["services"],
           description="Clerks read their own council's only (another council → 404).")
def list_council_services(council_id: int, query: PageQuery):
    council = councils.get_council(council_id)
    return keyset_page(db.session, services.council_services_query(council.id), [CouncilService.id], query.limit,
                       query.cursor)


@bp.put("/councils/<int:council_id>/services/<int:service_id>")
@allow(*STAFF)
@operation("Set a council's service", body=SubscriptionIn, response=SubscriptionOut, errors=(409,),
           tags=["services"],
           description="The first PUT creates the record at the given status (default `planned`); a PUT that "
                       "keeps the status changes the other fields sent and adds no history entry.")
def put_council_service(council_id: int, service_id: int, body: SubscriptionIn):
    council = councils.get_council(council_id)
    service = services.get_service(service_id)
    values = {k: getattr(body, k) for k in body.model_fields_set}
    sub, _created = services.put_subscription(council, service, values, actor=_actor())
    return sub


@bp.get("/councils/<int:council_id>/services/<int:service_id>")
@allow(*ALL_ROLES)
@operation("A council's record of one service", response=SubscriptionOut, tags=["services"])
def get_council_service(council_id: int, service_id: int):
    council = councils.get_council(council_id)
    return services.get_subscription(council.id, service_id)


@bp.get("/councils/<int:council_id>/services/<int:service_id>/history")
@allow(*ALL_ROLES)
@operation("Status history of a council's service", response=HistoryList, tags=["services"],
           description="Oldest first, one item per change of status (the first is the record's creation).")
def get_history(council_id: int, service_id: int):
    council = councils.get_council(council_id)
    return {"items": services.history(services.get_subscription(council.id, service_id))}


@bp.get("/reports/service-hours")
@allow(*ALL_ROLES)
@operation("Hours per service and council", query=ServiceHoursQuery, response=ServiceHoursList,
           tags=["reports", "services"],
           description="Summed from the year's time entries that name a service. Clerks: their own council.")
def service_hours(query: ServiceHoursQuery):
    if query.council_id is not None:
        councils.get_council(query.council_id)
    year = query.year or services.office_today().year
    return {"items": hours.service_hours(year, council_id=query.council_id)}

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from agreements import bands, councils, services
from agreements.councils import MAX_POPULATION
from agreements.months import MONTH_PATTERN, format_month, office_today, parse_month
from core.access import ADMIN, ALL_ROLES, MANAGERS, allow
from core.api import (
    HTTP_MESSAGES,
    ApiAbort,
    ApiModel,
    OutModel,
    PageQuery,
    PageResult,
    api_blueprint,
    omittable,
    operation,
    page_of,
)
from core.db import MAX_ID
from core.keyset import keyset_page
from core.timezones import is_council_timezone
from extensions import db

bp = api_blueprint("agreements_api", __name__)

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
CODE = r"^[A-Z0-9]{2,8}$"
LANG = r"^(ca|es|en)$"


class CouncilOut(OutModel):
    id: int
    name: str
    slug: str
    code: str
    comarca: str
    population: int
    population_year: int | None
    area_km2: float | None
    contact_email: str | None
    contact_phone: str | None
    language: str
    timezone: str
    active: bool
    created_at: dt.datetime
    mail_domains: list[str] = Field(description="Mail from these domains is the council's (tickets by mail).")
    travel_minutes: int = Field(0, description="Travel time from the office, one way, in minutes (an addition).")


def _council_timezone(value: str) -> str:
    # Only real places: "localtime" (the server's own zone) or "Factory" load in zoneinfo too.
    if not is_council_timezone(value):
        raise PydanticCustomError("value_error", str(_l("Unknown time zone.")))
    return value


class CouncilIn(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    slug: str | None = Field(None, pattern=SLUG, max_length=80,
                             description="Derived from the name when omitted; cannot change later.")
    code: str | None = Field(None, pattern=CODE,
                             description="Prefix of ticket references; derived when omitted; cannot change later.")
    comarca: str = Field("", max_length=80)
    population: int = Field(ge=0, le=MAX_POPULATION)
    population_year: int | None = Field(None, ge=1800, le=2200)
    area_km2: float | None = Field(None, ge=0, lt=1_000_000)
    contact_email: str | None = Field(None, max_length=254)
    contact_phone: str | None = Field(None, max_length=40)
    language: str = Field("ca", pattern=LANG)
    timezone: str = Field("Europe/Madrid", max_length=64, description="An IANA zone, e.g. Europe/Madrid.")
    active: bool = True
    mail_domains: list[str] = Field(default_factory=list, max_length=20,
                                    description="Lowercase mail domains; each belongs to one council at most.")
    travel_minutes: int = Field(0, ge=0, le=600, description="Travel time from the office, one way, in minutes.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value):
        return _council_timezone(value)


class CouncilPatch(ApiModel):
    # Every field may be left out; only those typed `| None` may be set to null.
    name: str = omittable(min_length=1, max_length=120)
    slug: str = omittable(max_length=80, description="Accepted only unchanged.")
    code: str = omittable(max_length=8, description="Accepted only unchanged.")
    comarca: str | None = Field(None, max_length=80)
    population: int = omittable(ge=0, le=MAX_POPULATION)
    population_year: int | None = Field(None, ge=1800, le=2200)
    area_km2: float | None = Field(None, ge=0, lt=1_000_000)
    contact_email: str | None = Field(None, max_length=254)
    contact_phone: str | None = Field(None, max_length=40)
    language: str = omittable(pattern=LANG)
    timezone: str = omittable(max_length=64, description="An IANA zone, e.g. Europe/Madrid.")
    active: bool = omittable()
    mail_domains: list[str] = omittable(max_length=20)
    travel_minutes: int = omittable(ge=0, le=600)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value):
        return _council_timezone(value)


class CouncilQuery(PageQuery):
    q: str | None = Field(None, max_length=120, description="Part of the name, code or slug.")
    active: bool | None = None


class BandOut(OutModel):
    min_population: int
    max_population: int | None
    remote_minutes_month: int
    onsite_default_minutes_month: int


class BandIn(ApiModel):
    min_population: int = Field(ge=0, le=MAX_POPULATION)
    max_population: int | None = Field(None, ge=0, le=MAX_POPULATION)
    remote_minutes_month: int = Field(ge=0, le=44640)
    onsite_default_minutes_month: int = Field(ge=90, le=1680)


class BandsIn(ApiModel):
    items: list[BandIn] = Field(min_length=1, max_length=50)


class BandList(OutModel):
    items: list[BandOut]
    next_cursor: str | None = None


@bp.get("/councils")
@allow(*ALL_ROLES)
@operation("List councils", query=CouncilQuery, response=page_of(CouncilOut), tags=["councils"],
           description="Clerks see only their own council.")
def list_councils(query: CouncilQuery):
    stmt, _order = councils.council_query(q=query.q, active=query.active)
    return keyset_page(db.session, stmt, [services.Council.id], query.limit, query.cursor)


@bp.post("/councils")
@allow(*MANAGERS)
@operation("Create a council", body=CouncilIn, response=CouncilOut, status=201, errors=(409,),
           tags=["councils"])
def create_council(body: CouncilIn):
    return councils.create_council(body.model_dump(), actor=current_user._get_current_object())


@bp.get("/councils/<int:council_id>")
@allow(*ALL_ROLES)
@operation("Get a council", response=CouncilOut, tags=["councils"])
def get_council(council_id: int):
    return services.get_council(council_id)


@bp.patch("/councils/<int:council_id>")
@allow(*MANAGERS)
@operation("Update a council", body=CouncilPatch, response=CouncilOut, tags=["councils"],
           description="`slug` and `code` cannot change (422).")
def patch_council(council_id: int, body: CouncilPatch):
    council = services.get_council(council_id)
    values = {k: getattr(body, k) for k in body.model_fields_set}
    return councils.update_council(council, values, actor=current_user._get_current_object())


@bp.get("/allowance-bands")
@allow(*ALL_ROLES)
@operation("Population bands and their monthly allowances", response=BandList, tags=["agreements"])
def list_bands():
    return PageResult(bands.list_bands(), None)


@bp.put("/allowance-bands")
@allow(*ADMIN)
@operation("Replace the allowance bands table", body=BandsIn, response=BandList, tags=["agreements"],
           description="The bands must start at 0, leave no gaps, and the last one is open-ended.")
def replace_bands(body: BandsIn):
    saved = bands.replace_bands([b.model_dump() for b in body.items],
                                actor=current_user._get_current_object())
    return PageResult(saved, None)


# --- agreements -------------------------------------------------------------------------

Rollover = Literal["none", "next_month"]


class AgreementOut(OutModel):
    id: int
    council_id: int
    starts_on: dt.date
    ends_on: dt.date
    onsite_minutes_month: int
    remote_minutes_month: int
    rollover: Rollover
    status: Literal["draft", "active", "ended"] = Field(
        description="`draft` until signed; `ended` once the period is over; otherwise `active`.")
    previous_agreement_id: int | None
    signed_on: dt.date | None
    document_ref: str
    notes: str


class AgreementIn(ApiModel):
    council_id: int = Field(ge=1, le=MAX_ID)
    starts_on: dt.date = Field(description="The first day of a month.")
    ends_on: dt.date = Field(description="The last day of a month.")
    onsite_minutes_month: int | None = Field(
        None, ge=90, le=1680, description="90 to 1680; omitted or null: the population band's default.")
    remote_minutes_month: int | None = Field(
        None, ge=0, le=services.MAX_REMOTE_MINUTES,
        description="Omitted or null: from the council's population band, stored now.")
    rollover: Rollover = "none"
    status: Literal["draft", "active"] = Field("active", description="`draft`: prepared, not signed yet.")
    signed_on: dt.date | None = Field(None, description="For a signed agreement; omitted: today.")
    document_ref: str = Field("", max_length=services.MAX_DOCUMENT_REF)
    notes: str = Field("", max_length=services.MAX_NOTES)


class AgreementQuery(PageQuery):
    council_id: int | None = Field(None, ge=1, le=MAX_ID)


class MonthCloseOut(BaseModel):
    council_id: int
    month: str = Field(description="YYYY-MM")
    closed: bool
    closed_at: dt.datetime
    closed_by_id: int | None
    newly_closed: bool = Field(description="False when the month was already closed (closing twice is harmless).")


class MonthCloseAllOut(BaseModel):
    month: str
    councils: int = Field(description="Councils an agreement covers this month.")
    newly_closed: int


MONTH_PARAM = {"type": "string", "pattern": MONTH_PATTERN, "description": "YYYY-MM"}


def agreement_values(body: AgreementIn) -> dict:
    values = body.model_dump(exclude={"council_id", "status"})
    if body.status == "draft":
        if body.signed_on is not None:
            raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422],
                           {"signed_on": _l("A draft has no signing date.")})
        values["signed_on"] = None
    elif body.signed_on is None:
        values["signed_on"] = office_today()
    return values


@bp.get("/agreements")
@allow(*ALL_ROLES)
@operation("List agreements", query=AgreementQuery, response=page_of(AgreementOut), tags=["agreements"],
           description="Clerks see their own council's agreements; another council's `council_id` is a 404.")
def list_agreements(query: AgreementQuery):
    if query.council_id is not None:
        services.get_council(query.council_id)
    stmt = services.agreement_query(council_id=query.council_id)
    return keyset_page(db.session, stmt, [services.Agreement.id], query.limit, query.cursor)


@bp.post("/agreements")
@allow(*MANAGERS)
@operation("Create an agreement", body=AgreementIn, response=AgreementOut, status=201, errors=(409,),
           tags=["agreements"],
           description="Periods run from the first to the last day of a month; an overlap with another "
                       "agreement of the council is 409 `agreement_overlap`.")
def create_agreement(body: AgreementIn):
    council = services.get_council(body.council_id)
    return services.create_agreement(council, agreement_values(body), actor=current_user._get_current_object())


@bp.get("/agreements/<int:agreement_id>")
@allow(*ALL_ROLES)
@operation("Get an agreement", response=AgreementOut, tags=["agreements"])
def get_agreement(agreement_id: int):
    return services.get_agreement(agreement_id)


def _month_or_422(month: str) -> dt.date:
    value = parse_month(month)
    if value is None:
        raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422], {"month": _l("Wrong format.")})
    return value


@bp.post("/councils/<int:council_id>/months/<month>/close")
@allow(*MANAGERS)
@operation("Close a council's month", response=MonthCloseOut, errors=(422,), tags=["agreements"],
           path_params={"month": MONTH_PARAM},
           description="The month's time entries become immutable. Closing twice is harmless (200). "
                       "A month with no agreement is 404 `no_agreement`; a month not over yet, 422.")
def close_month(council_id: int, month: str):
    council = services.get_council(council_id)
    first = _month_or_422(month)
    newly = services.close_month(council, first, actor=current_user._get_current_object())
    row = services.month_close(council.id, first)
    return {"council_id": council.id, "month": format_month(first), "closed": True, "closed_at": row.closed_at,
            "closed_by_id": row.closed_by_id, "newly_closed": newly}


@bp.post("/months/<month>/close")
@allow(*MANAGERS)
@operation("Close a month for every council", response=MonthCloseAllOut, errors=(422,), tags=["agreements"],
           path_params={"month": MONTH_PARAM},
           description="Every council an agreement covers that month. Idempotent.")
def close_month_everywhere(month: str):
    first = _month_or_422(month)
    newly = services.close_month_everywhere(first, actor=current_user._get_current_object())
    covered = sum(row["councils"] for row in services.month_overview(first, first))
    return {"month": format_month(first), "councils": covered, "newly_closed": newly}

from __future__ import annotations

import datetime as dt

from flask_login import current_user
from pydantic import Field

from agreements import services
from agreements.services import MAX_POPULATION
from core.access import ADMIN, ALL_ROLES, MANAGERS, allow
from core.api import (
    ApiModel,
    OutModel,
    PageQuery,
    PageResult,
    api_blueprint,
    keyset_page,
    omittable,
    operation,
    page_of,
)
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
    timezone: str = Field("Europe/Madrid", max_length=64)
    active: bool = True


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
    timezone: str = omittable(max_length=64)
    active: bool = omittable()


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
    stmt, _order = services.council_query(q=query.q, active=query.active)
    return keyset_page(db.session, stmt, [services.Council.id], query.limit, query.cursor)


@bp.post("/councils")
@allow(*MANAGERS)
@operation("Create a council", body=CouncilIn, response=CouncilOut, status=201, errors=(409,),
           tags=["councils"])
def create_council(body: CouncilIn):
    return services.create_council(body.model_dump(), actor=current_user._get_current_object())


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
    return services.update_council(council, values, actor=current_user._get_current_object())


@bp.get("/allowance-bands")
@allow(*ALL_ROLES)
@operation("Population bands and their monthly allowances", response=BandList, tags=["agreements"])
def list_bands():
    return PageResult(services.list_bands(), None)


@bp.put("/allowance-bands")
@allow(*ADMIN)
@operation("Replace the allowance bands table", body=BandsIn, response=BandList, tags=["agreements"],
           description="The bands must start at 0, leave no gaps, and the last one is open-ended.")
def replace_bands(body: BandsIn):
    bands = services.replace_bands([b.model_dump() for b in body.items],
                                   actor=current_user._get_current_object())
    return PageResult(bands, None)

from __future__ import annotations

import datetime as dt
import json
from typing import Literal

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import BaseModel, Field

from agreements import services as councils
from core.access import ALL_ROLES, STAFF, allow
from core.api import (
    HTTP_MESSAGES,
    ApiAbort,
    ApiModel,
    OutModel,
    PageQuery,
    QueryModel,
    api_blueprint,
    omittable,
    operation,
    page_of,
)
from core.keyset import keyset_page
from extensions import db
from inventory import importer, services
from inventory.models import Asset

bp = api_blueprint("inventory_api", __name__)

Kind = Literal["desktop", "laptop", "server", "printer", "network", "mobile", "certificate", "license",
               "domain", "other"]
Status = Literal["in_use", "stock", "repair", "retired"]
Media = Literal["software", "card", "usb_token", "cloud"]
L = services.TEXT_LIMITS
# Ids are 32-bit integers in both databases; a larger one is refused here rather than
# overflowing the database driver.
MAX_ID = services.MAX_ID


class AssetOut(OutModel):
    id: int
    council_id: int
    tag: str
    kind: str
    name: str
    manufacturer: str
    model: str
    serial: str
    hostname: str
    ip_address: str
    os: str
    location: str
    status: str
    purchased_on: dt.date | None
    warranty_until: dt.date | None
    expires_on: dt.date | None
    notes: str
    last_seen_at: dt.datetime | None = Field(description="Last report of a monitoring agent; null without one.")
    assigned_to: str = Field(description="The person who uses it or answers for it.")
    holder: str = Field(description="Certificates: the holder. Domains: the registrant.")
    issuer: str = Field(description="Certificates: the certification authority. Domains: the registrar.")
    media: str | None = Field(description="Certificates: where the key is kept (software, card, usb_token, cloud).")
    seats: int | None = Field(description="Licences: how many users or devices it covers.")
    created_at: dt.datetime
    updated_at: dt.datetime


class _AssetFields(ApiModel):
    manufacturer: str | None = Field(None, max_length=L["manufacturer"])
    model: str | None = Field(None, max_length=L["model"])
    serial: str | None = Field(None, max_length=L["serial"])
    hostname: str | None = Field(None, max_length=L["hostname"])
    ip_address: str | None = Field(None, max_length=L["ip_address"], description="IPv4 or IPv6 address.")
    os: str | None = Field(None, max_length=L["os"])
    location: str | None = Field(None, max_length=L["location"])
    assigned_to: str | None = Field(None, max_length=L["assigned_to"])
    holder: str | None = Field(None, max_length=L["holder"])
    issuer: str | None = Field(None, max_length=L["issuer"])
    media: Media | None = None
    seats: int | None = Field(None, ge=0, le=services.MAX_SEATS)
    purchased_on: dt.date | None = None
    warranty_until: dt.date | None = None
    expires_on: dt.date | None = None
    notes: str | None = Field(None, max_length=L["notes"])


class AssetIn(_AssetFields):
    council_id: int = Field(ge=1, le=MAX_ID)
    tag: str | None = Field(None, max_length=L["tag"],
                            description="Unique in the council; upper-cased. Omitted: the next CODE-KIND-NNN.")
    kind: Kind
    name: str = Field(min_length=1, max_length=L["name"])
    status: Status = "in_use"


class AssetPatch(_AssetFields):
    # These may be left out but never set to null (an asset always has them): omittable, so
    # the OpenAPI document does not offer null where the service answers 422.
    council_id: int = omittable(ge=1, le=MAX_ID,
                                description="Accepted only unchanged: assets do not move between councils.")
    tag: str = omittable(max_length=L["tag"])
    kind: Kind = omittable()
    name: str = omittable(min_length=1, max_length=L["name"])
    status: Status = omittable(description="Retiring an asset is setting `retired`; assets are never deleted.")


class AssetQuery(PageQuery):
    council_id: int | None = Field(None, ge=1, le=MAX_ID)
    kind: Kind | None = None
    status: Status | None = None
    q: str | None = Field(None, max_length=120, description="Words to find in the tag, name, serial, host "
                                                             "name, IP address, holder, assignee or location.")


class ImportQuery(QueryModel):
    council_id: int = Field(ge=1, le=MAX_ID)
    dry_run: bool = Field(False, description="Validate only: nothing is written, and the answer is 200.")


class ImportRowError(BaseModel):
    row: int = Field(description="Data rows count from 1; 0 is the header row or the file as a whole.")
    field: str = Field(description="The column; empty when the whole row or file is concerned.")
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int = Field(description="Rows matching an asset that already had those values.")
    errors: list[ImportRowError] = Field(description=f"At most {importer.MAX_REPORTED_ERRORS}, in row order.")
    error_count: int = Field(description="All errors found, listed or not.")


@bp.get("/assets")
@allow(*ALL_ROLES)
@operation("List assets", query=AssetQuery, response=page_of(AssetOut), tags=["assets"],
           description="Clerks see their own council's assets only; another council's `council_id` is a 404.")
def list_assets(query: AssetQuery):
    if query.council_id is not None:
        councils.get_council(query.council_id)
    stmt = services.asset_query(council_id=query.council_id, kind=query.kind, status=query.status, q=query.q)
    return keyset_page(db.session, stmt, [Asset.id], query.limit, query.cursor)


@bp.post("/assets")
@allow(*STAFF)
@operation("Create an asset", body=AssetIn, response=AssetOut, status=201, errors=(409,), tags=["assets"],
           description="`tag` is unique per council (409 `duplicate_tag`).")
def create_asset(body: AssetIn):
    council = councils.get_council(body.council_id)
    values = body.model_dump(exclude={"council_id"})
    return services.create_asset(council, values, actor=current_user._get_current_object())


@bp.get("/assets/<int:asset_id>")
@allow(*ALL_ROLES)
@operation("Get an asset", response=AssetOut, tags=["assets"])
def get_asset(asset_id: int):
    return services.get_asset(asset_id)


@bp.patch("/assets/<int:asset_id>")
@allow(*STAFF)
@operation("Update an asset", body=AssetPatch, response=AssetOut, errors=(409,), tags=["assets"],
           description="Only the fields sent change. Every change is kept in the asset's history.")
def patch_asset(asset_id: int, body: AssetPatch):
    asset = services.get_asset(asset_id)
    values = {k: getattr(body, k) for k in body.model_fields_set}
    return services.update_asset(asset, values, actor=current_user._get_current_object())


CSV_TYPES = ("text/csv", "text/plain", "application/csv")


@bp.post("/assets/import")
@allow(*STAFF)
@operation("Import assets from a CSV file", query=ImportQuery, response=ImportOut, errors=(409, 415, 422),
           tags=["assets"], request_content={"text/csv": {"schema": {"type": "string"}}},
           description="The header row names asset fields (`tag`, `kind`, `name`, ...); `;` or `,` separated, "
                       "UTF-8 (with or without BOM) or Windows-1252. Rows whose tag exists in the council update "
                       "that asset, in the columns present only. With any error nothing is written and the "
                       "same body comes back with 422, together with the usual `error` object.")
def import_assets(query: ImportQuery):
    if request.mimetype not in CSV_TYPES:
        raise ApiAbort(415, "unsupported_media_type", _l("Send the file as text/csv."))
    council = councils.get_council(query.council_id)
    result = importer.import_assets(council, request.get_data(cache=False), actor=current_user._get_current_object(),
                                    dry_run=query.dry_run)
    body = result.as_dict()
    if query.dry_run or result.ok:
        return body
    body["error"] = {"code": "validation_error", "message": str(HTTP_MESSAGES[422]), "fields": {}}
    return current_app.response_class(json.dumps(body, ensure_ascii=False), status=422,
                                      mimetype="application/json")

"""API v1 scaffolding: operations, validation, errors, keyset pagination and OpenAPI.

Why our own small registry instead of APIFlask or flask-smorest: the contract is strict
about types (`1.5`, `90.0`, `"90"` and `true` are not minutes), which pydantic's strict JSON
mode enforces exactly while marshmallow's Integer lets `true` through; pydantic also emits
JSON Schema 2020-12, which *is* the schema dialect of OpenAPI 3.1, so the document needs no
translation layer. APIFlask would replace the Flask class and bring marshmallow along. The
registry is one decorator: it validates the body and query with the same pydantic models
the document is generated from, so the code that serves the API is the code that describes
it (`build_openapi` walks `app.url_map`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError
from sqlalchemy import tuple_
from werkzeug.exceptions import HTTPException

from core.access import is_api_request, policy_for, public
from core.db import MAX_ID
from core.errors import DomainError

T = TypeVar("T")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}

HTTP_MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("A valid token is required."),
    403: _l("Your role does not allow this."),
    404: _l("Not found."),
    405: _l("This method is not allowed here."),
    409: _l("The request conflicts with the current state."),
    413: _l("The request body is too large."),
    415: _l("Unsupported media type."),
    422: _l("Some fields are not valid."),
    429: _l("Too many requests; try again later."),
    500: _l("Something went wrong on our side."),
}

# pydantic error types → messages in the caller's language. Unknown types keep
# pydantic's English text rather than a vague translation.
_PYDANTIC_MESSAGES = {
    "missing": _l("This field is required."),
    "int_type": _l("Must be an integer."),
    "int_parsing": _l("Must be an integer."),
    "string_type": _l("Must be a string."),
    "bool_type": _l("Must be true or false."),
    "date_type": _l("Must be a date (YYYY-MM-DD)."),
    "date_parsing": _l("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": _l("Must be a date (YYYY-MM-DD)."),
    "datetime_type": _l("Must be a timestamp (ISO 8601 with offset)."),
    "datetime_parsing": _l("Must be a timestamp (ISO 8601 with offset)."),
    "timezone_aware": _l("Must be a timestamp (ISO 8601 with offset)."),
    "greater_than_equal": _l("Too small."),
    "less_than_equal": _l("Too large."),
    "string_too_short": _l("Too short."),
    "string_too_long": _l("Too long."),
    "string_pattern_mismatch": _l("Wrong format."),
    "literal_error": _l("Not one of the allowed values."),
    "enum": _l("Not one of the allowed values."),
    "value_error": None,  # our own validators already phrase the message
    "extra_forbidden": _l("Unknown field."),
    "list_type": _l("Must be a list."),
    "dict_type": _l("Must be an object."),
    "model_type": _l("Must be an object."),
    "float_type": _l("Must be a number."),
    "float_parsing": _l("Must be a number."),
    "too_long": _l("Too many items."),
    "string_nul": _l("Must not contain the NUL character."),
}


def _no_nul(value):
    # PostgreSQL cannot store NUL in text: refuse it here as bad input, not later as a 500.
    if isinstance(value, str) and "\x00" in value:
        raise PydanticCustomError("string_nul", "Must not contain the NUL character.")
    return value


MAX_CURSOR_LENGTH = 512


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def omittable(**kwargs):
    """A PATCH field that may be left out but not set to null, for values that have no empty
    form: typed without `| None`, its None default only means "omitted" (pydantic does not
    validate defaults), and it stays out of the OpenAPI document, where null would not fit."""
    return Field(None, json_schema_extra=_no_default, **kwargs)


class ApiModel(BaseModel):
    """Base for request bodies: strict types, unknown keys ignored (clients may send more)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    @field_validator("*")
    @classmethod
    def _refuse_nul(cls, value):
        return _no_nul(value)


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class QueryModel(BaseModel):
    """Query strings are text, so these validate in lax mode ("50" is 50)."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*")
    @classmethod
    def _refuse_nul(cls, value):
        return _no_nul(value)


class PageQuery(QueryModel):
    limit: int = Field(50, ge=1, le=500, description="Items per page (max 500).")
    # No max_length here: an over-long cursor is just an invalid one (400 invalid_cursor).
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.",
                               json_schema_extra={"maxLength": MAX_CURSOR_LENGTH})


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    error: ErrorDetail


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


_page_models: dict[type, type] = {}


def page_of(item_model: type[BaseModel]) -> type[BaseModel]:
    """A named list model (`CouncilList`...) so the OpenAPI document reads well."""
    if item_model not in _page_models:
        name = item_model.__name__.removesuffix("Out") + "List"
        _page_models[item_model] = create_model(
            name, __base__=BaseModel, items=(list[item_model], ...), next_cursor=(str | None, ...)
        )
    return _page_models[item_model]


@dataclass
class PageResult:
    items: Sequence[Any]
    next_cursor: str | None


class ApiAbort(Exception):
    """Raised inside API code for an immediate error response."""

    def __init__(self, status: int, code: str | None = None, message=None, fields=None):
        super().__init__(code)
        self.status = status
        self.code = code or HTTP_CODES.get(status, "error")
        self.message = message if message is not None else HTTP_MESSAGES.get(status, "")
        self.fields = fields or {}


def error_response(status: int, code: str, message, fields: dict | None = None) -> Response:
    body = {"error": {"code": code, "message": str(message),
                      "fields": {k: str(v) for k, v in (fields or {}).items()}}}
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _pydantic_fields(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        message = _PYDANTIC_MESSAGES.get(err["type"])
        fields.setdefault(loc, str(message) if message is not None else err["msg"])
    return fields


def _is_malformed(exc: ValidationError) -> bool:
    return any(
        err["type"] in ("json_invalid", "json_type") or (not err["loc"] and err["type"] in ("model_type", "dict_type", "model_attributes_type"))
        for err in exc.errors(include_url=False)
    )


def parse_body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "application/json":
        raise ApiAbort(400, "malformed_body", _l("Send a JSON object with Content-Type: application/json."))
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if _is_malformed(exc):
            raise ApiAbort(400, "malformed_body", _l("The body is not a valid JSON object.")) from None
        raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422], _pydantic_fields(exc)) from None
    except UnicodeDecodeError:
        raise ApiAbort(400, "malformed_body", _l("The body is not valid UTF-8.")) from None


def parse_query(model: type[BaseModel]) -> BaseModel:
    data = {}
    for key in request.args:
        values = request.args.getlist(key)
        data[key] = values[-1] if values else None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiAbort(422, "validation_error", HTTP_MESSAGES[422], _pydantic_fields(exc)) from None


# --- keyset pagination ---------------------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="councildesk-api-cursor")


def _encode_value(value):
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    return value


def _decode_value(value):
    if isinstance(value, dict):
        if "t" in value:
            return dt.datetime.fromisoformat(value["t"])
        if "d" in value:
            return dt.date.fromisoformat(value["d"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    # Signed so that a client cannot craft cursors that bypass the ordering contract.
    return _serializer().dumps([_encode_value(v) for v in values])


def decode_cursor(cursor: str, arity: int) -> list:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        values = _serializer().loads(cursor)
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError
        return [_decode_value(v) for v in values]
    except (BadSignature, ValueError, TypeError, KeyError):
        raise ApiAbort(400, "invalid_cursor", _l("The cursor is not valid; start from the first page.")) from None


def keyset_page(session, stmt, order_by: Sequence, limit: int, cursor: str | None,
                descending: bool = False, key: Callable | None = None) -> PageResult:
    """One page of `stmt` ordered by the unique key `order_by` (the last column must be unique).

    Keyset rather than OFFSET: page N costs what page 1 costs, and rows inserted meanwhile
    neither repeat nor vanish across pages.
    """
    cols = list(order_by)
    if cursor:
        values = decode_cursor(cursor, len(cols))
        cmp = tuple_(*cols) < tuple_(*values) if descending else tuple_(*cols) > tuple_(*values)
        stmt = stmt.where(cmp)
    stmt = stmt.order_by(*[c.desc() if descending else c.asc() for c in cols]).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        values = key(last) if key else [getattr(last, c.key) for c in cols]
        next_cursor = encode_cursor(values)
    return PageResult(rows, next_cursor)


# --- operations -----------------------------------------------------------------------

@dataclass
class OperationSpec:
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    description: str | None = None
    path_params: dict[str, dict] = field(default_factory=dict)
    request_content: dict | None = None  # raw OpenAPI requestBody content (non-JSON bodies)
    response_content: dict | None = None  # raw OpenAPI content for non-JSON responses


def operation(summary: str, *, body=None, query=None, response=None, status: int = 200,
              tags: Sequence[str] = (), errors: Sequence[int] = (), description: str | None = None,
              path_params: dict | None = None, request_content: dict | None = None,
              response_content: dict | None = None):
    """Declare an API operation: validation in, serialisation out, and its OpenAPI entry.

    The view receives `body=` and/or `query=` (validated models) besides its path
    arguments, and returns an object the `response` model can read (ORM row, dict,
    `PageResult`), or a ready `Response`.
    """
    spec = OperationSpec(summary, body, query, response, status, tuple(tags), tuple(errors),
                         description, dict(path_params or {}), request_content, response_content)

    def decorate(view):
        @functools.wraps(view)
        def wrapper(**kwargs):
            if body is not None:
                kwargs["body"] = parse_body(body)
            if query is not None:
                kwargs["query"] = parse_query(query)
            rv = view(**kwargs)
            if isinstance(rv, Response):
                return rv
            if status == 204:
                return Response(status=204)
            if response is None:
                return jsonify(rv), status
            data = response.model_validate(
                {"items": rv.items, "next_cursor": rv.next_cursor} if isinstance(rv, PageResult) else rv,
                from_attributes=True,
            )
            resp = current_app.response_class(
                data.model_dump_json(), status=status, mimetype="application/json"
            )
            return resp

        wrapper.openapi = spec
        return wrapper

    return decorate


def api_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint mounted under /api/v1; `create_app` exempts these from CSRF."""
    bp = Blueprint(name, import_name, url_prefix="/api/v1")
    bp.is_api = True  # type: ignore[attr-defined]
    return bp


def handle_api_errors(app: Flask) -> None:
    @app.errorhandler(ApiAbort)
    def _api_abort(exc: ApiAbort):
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        if is_api_request():
            return error_response(exc.status, exc.code, exc.message, exc.fields)
        from core.ui import render_error_page

        # Without a message of its own, the page's usual hint reads better than a generic line.
        return render_error_page(exc.status, exc.message if exc.has_message else None)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if is_api_request():
            status = exc.code or 500
            resp = error_response(status, HTTP_CODES.get(status, "error"),
                                  HTTP_MESSAGES.get(status, exc.description or ""))
            # Keep the headers werkzeug or Flask-Limiter put on the error (Allow, Retry-After).
            for name in ("Allow", "Retry-After"):
                value = exc.get_response().headers.get(name)
                if value:
                    resp.headers[name] = value
            return resp
        from flask_wtf.csrf import CSRFError

        from core.ui import render_error_page

        if isinstance(exc, CSRFError):
            # Usually a session that expired while the form was open: say so, and what to do.
            return render_error_page(400, _l("The form expired. Go back, reload the page and submit it again."), exc)
        return render_error_page(exc.code or 500, None, exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if is_api_request():
            return error_response(500, "internal_error", HTTP_MESSAGES[500])
        from core.ui import render_error_page

        return render_error_page(500, None)


# --- OpenAPI 3.1 ----------------------------------------------------------------------

_RULE_ARG = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def _openapi_path(rule: str) -> tuple[str, list[tuple[str, str]]]:
    params: list[tuple[str, str]] = []

    def repl(match):
        params.append((match.group("name"), match.group("conv") or "string"))
        return "{" + match.group("name") + "}"

    return _RULE_ARG.sub(repl, rule), params


def build_openapi(app: Flask) -> dict:
    ops = []
    models: list[tuple[type[BaseModel], str]] = [(ErrorBody, "serialization")]
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        spec: OperationSpec | None = getattr(view, "openapi", None)
        if spec is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            ops.append((rule, method.lower(), spec, policy_for(app, rule.endpoint)))
            if spec.body is not None:
                models.append((spec.body, "validation"))
            if spec.response is not None:
                models.append((spec.response, "serialization"))
    seen, unique = set(), []
    for m in models:
        if m not in seen:
            seen.add(m)
            unique.append(m)
    refs, defs = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})

    error_ref = refs[(ErrorBody, "serialization")]
    paths: dict[str, dict] = {}
    for rule, method, spec, policy in ops:
        path, args = _openapi_path(rule.rule)
        parameters = []
        for name, conv in args:
            schema = spec.path_params.get(name) or (
                {"type": "integer", "minimum": 1, "maximum": MAX_ID} if conv == "int" else {"type": "string"}
            )
            parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        if spec.query is not None:
            qschema = spec.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                prop = dict(prop)
                desc = prop.pop("description", None)
                prop.pop("title", None)
                param = {"name": name, "in": "query", "required": name in required, "schema": prop}
                if desc:
                    param["description"] = desc
                parameters.append(param)
        op: dict[str, Any] = {
            "operationId": f"{method}_{rule.endpoint.replace('.', '_')}",
            "summary": spec.summary,
            "tags": list(spec.tags),
            "parameters": parameters,
            "responses": {},
        }
        if spec.description:
            op["description"] = spec.description
        if spec.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": refs[(spec.body, "validation")]}}}
        elif spec.request_content is not None:
            op["requestBody"] = {"required": True, "content": spec.request_content}
        if spec.status == 204:
            op["responses"]["204"] = {"description": "Done."}
        elif spec.response_content is not None:
            op["responses"][str(spec.status)] = {"description": "OK", "content": spec.response_content}
        elif spec.response is not None:
            op["responses"][str(spec.status)] = {"description": "OK", "content": {
                "application/json": {"schema": refs[(spec.response, "serialization")]}}}
        else:
            op["responses"][str(spec.status)] = {"description": "OK"}
        statuses = set(spec.errors) | {400, 404, 405, 413, 429}
        if spec.body is not None or spec.query is not None:
            statuses.add(422)
        if policy is not None and policy.kind != "public":
            statuses |= {401, 403}
            op["security"] = [{"agentToken": []}] if policy.kind == "agent" else [{"bearerAuth": []}]
            if policy.kind == "roles":
                op["x-roles"] = sorted(policy.roles)
        else:
            op["security"] = []
        for status in sorted(statuses):
            op["responses"].setdefault(str(status), {
                "description": str(HTTP_MESSAGES.get(status, "Error")),
                "content": {"application/json": {"schema": error_ref}},
            })
        paths.setdefault(path, {})[method] = op

    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "CouncilDesk API",
            "version": "1",
            "description": "Service agreements, hours, tickets, assets and checks of a "
                           "comarcal IT office. Durations are integer minutes.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "Personal token (`flask tokens create EMAIL`)."},
                "agentToken": {"type": "http", "scheme": "bearer",
                               "description": "Agent token from POST /api/v1/agents/enroll."},
            },
        },
    }


core_api = api_blueprint("core_api", __name__)


@core_api.get("/openapi.json")
@public
def openapi_document():
    app = current_app._get_current_object()
    cached = app.extensions.get("councildesk_openapi")
    if cached is None:
        # Built once and served to every client: in English, not in the first caller's language.
        with force_locale("en"):
            cached = json.dumps(build_openapi(app), ensure_ascii=False)
        app.extensions["councildesk_openapi"] = cached
    return Response(cached, mimetype="application/json")

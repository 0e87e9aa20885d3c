"""API v1 request and response plumbing: the operation decorator, strict pydantic models in
and out, validation messages, JSON error bodies and the blueprint factory.

Why our own small registry instead of APIFlask or flask-smorest: the contract is strict
about types (`1.5`, `90.0`, `"90"` and `true` are not minutes), which pydantic's strict JSON
mode enforces exactly while marshmallow's Integer lets `true` through; pydantic also emits
JSON Schema 2020-12, which *is* the schema dialect of OpenAPI 3.1, so the document needs no
translation layer. APIFlask would replace the Flask class and bring marshmallow along. The
registry is one decorator: it validates the body and query with the same pydantic models
the document is generated from, so the code that serves the API is the code that describes
it (`core.openapi.build_openapi` walks `app.url_map`).

Keyset pagination is in `core.keyset`; the error handlers that answer API callers with these
JSON bodies and browsers with a page are in `core.errorpages`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic_core import PydanticCustomError

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
    503: "unavailable",
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
    503: _l("Not available just now; try again later."),
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


"""The OpenAPI 3.1 document, generated from the operations declared with `core.api.operation`
and the access policies of their routes, and the route that serves it (`/api/v1/openapi.json`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Response, current_app
from flask_babel import force_locale
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from core.access import policy_for, public
from core.api import HTTP_MESSAGES, ErrorBody, OperationSpec, api_blueprint
from core.db import MAX_ID

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

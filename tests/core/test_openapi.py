"""`GET /api/v1/openapi.json`: a valid OpenAPI 3.1 document that describes the whole API
as the contract writes it (Schemathesis runs against it)."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from core.access import policy_for

_ARG = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>")


@pytest.fixture
def document(app):
    resp = app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.json


def resolve(doc, node):
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        node = doc["components"]["schemas"][name]
    return node


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_served_without_a_token_and_valid(document):
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"] == "3.1.0"


def test_describes_the_contracts_councils_and_bands(document):
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/councils"])
    assert {"get", "patch"} <= set(paths["/api/v1/councils/{council_id}"])
    assert "get" in paths["/api/v1/allowance-bands"]
    (param,) = paths["/api/v1/councils/{council_id}"]["get"]["parameters"]
    assert param["name"] == "council_id" and param["in"] == "path" and param["schema"]["type"] == "integer"


def test_every_api_route_is_described(app, document):
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = _ARG.sub(lambda m: "{" + m.group(1) + "}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, f"API routes missing from openapi.json: {sorted(missing)}"


def test_protected_operations_require_the_bearer_token(app, document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    for path, method, op in operations(document):
        if path.startswith("/api/v1/agents/"):
            continue  # agent endpoints have their own token scheme
        assert op["security"] == [{"bearerAuth": []}], (method, path)
        assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_every_4xx_is_the_error_body(document):
    error = resolve(document, {"$ref": "#/components/schemas/ErrorBody"})
    assert error["required"] == ["error"]
    detail = resolve(document, error["properties"]["error"])
    assert {"code", "message", "fields"} <= set(detail["properties"])
    assert {"code", "message"} <= set(detail["required"])
    for path, method, op in operations(document):
        for status, response in op["responses"].items():
            if status.startswith("4"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
        assert {"400", "404"} <= set(op["responses"]), (method, path)


def test_council_operations_in_detail(document):
    paths = document["paths"]
    create = paths["/api/v1/councils"]["post"]
    assert "201" in create["responses"] and {"409", "422"} <= set(create["responses"])
    council_in = resolve(document, create["requestBody"]["content"]["application/json"]["schema"])
    assert council_in["properties"]["population"]["type"] == "integer"
    assert set(council_in["required"]) == {"name", "population"}
    out = resolve(document, create["responses"]["201"]["content"]["application/json"]["schema"])
    assert {"id", "name", "slug", "code", "comarca", "population", "population_year", "contact_email",
            "active"} <= set(out["properties"])
    assert "422" in paths["/api/v1/councils/{council_id}"]["patch"]["responses"]
    listing = paths["/api/v1/councils"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 500 and params["limit"]["schema"]["default"] == 50
    assert params["cursor"]["in"] == "query"
    page = resolve(document, listing["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(page["properties"]) == {"items", "next_cursor"}


def test_bands_schema(document):
    get = document["paths"]["/api/v1/allowance-bands"]["get"]
    page = resolve(document, get["responses"]["200"]["content"]["application/json"]["schema"])
    band = resolve(document, page["properties"]["items"]["items"])
    assert {"min_population", "max_population", "remote_minutes_month",
            "onsite_default_minutes_month"} <= set(band["properties"])


def test_the_document_is_the_same_for_every_caller(make_app, app):
    """Cached once per process: it must not take the first caller's language."""
    fresh = make_app()
    first = fresh.test_client().get("/api/v1/openapi.json", headers={"Accept-Language": "ca"}).get_data()
    second = fresh.test_client().get("/api/v1/openapi.json", headers={"Accept-Language": "en"}).get_data()
    assert first == second
    doc = fresh.test_client().get("/api/v1/openapi.json").json
    assert doc["paths"]["/api/v1/councils"]["get"]["responses"]["404"]["description"] == "Not found."


def test_policies_and_document_agree(app, document):
    """x-roles lists who may call each operation, straight from the access policy."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        policy = policy_for(app, rule.endpoint)
        path = _ARG.sub(lambda m: "{" + m.group(1) + "}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = document["paths"][path][method.lower()]
            if policy.kind == "roles":
                assert op["x-roles"] == sorted(policy.roles), (method, path)

"""The assets API as the contract writes it (docs/api-contract.md, "Assets")."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from inventory.models import Asset

CONTRACT_FIELDS = {"id", "council_id", "tag", "kind", "name", "manufacturer", "model", "serial", "hostname",
                   "ip_address", "os", "location", "status", "purchased_on", "warranty_until", "expires_on",
                   "notes", "last_seen_at"}


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) >= {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


def test_create_get_and_patch(world, api_for):
    api = api_for(world.technician)
    resp = api.post("/api/v1/assets", json={
        "council_id": world.council_a.id, "kind": "certificate", "name": "T-CAT alcaldia",
        "holder": "Maria Puig", "issuer": "Consorci AOC", "media": "card", "expires_on": "2027-03-01"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert set(body) >= CONTRACT_FIELDS
    assert body["tag"] == f"{world.council_a.code}-CERT-001"
    assert body["status"] == "in_use"
    assert body["expires_on"] == "2027-03-01"
    assert body["purchased_on"] is None and body["last_seen_at"] is None
    assert body["notes"] == "" and body["serial"] == ""
    assert (body["holder"], body["media"], body["seats"]) == ("Maria Puig", "card", None)

    got = api.get(f"/api/v1/assets/{body['id']}").get_json()
    assert got == body

    patched = api.patch(f"/api/v1/assets/{body['id']}", json={"expires_on": "2031-03-01", "status": "stock"})
    assert patched.status_code == 200
    assert patched.get_json()["expires_on"] == "2031-03-01"
    assert patched.get_json()["holder"] == "Maria Puig"  # untouched fields stay
    # Retiring is a PATCH of the status; there is no DELETE.
    assert api.patch(f"/api/v1/assets/{body['id']}", json={"status": "retired"}).get_json()["status"] == "retired"
    assert api.delete(f"/api/v1/assets/{body['id']}").status_code == 405


def test_duplicate_tag_is_409_within_a_council_only(world, api_for):
    api = api_for(world.technician)
    payload = {"council_id": world.council_a.id, "tag": "MURA-PC-001", "kind": "desktop", "name": "PC"}
    assert api.post("/api/v1/assets", json=payload).status_code == 201
    error = assert_error(api.post("/api/v1/assets", json=payload | {"tag": "mura-pc-001"}), 409, "duplicate_tag")
    assert "tag" in error["fields"]
    assert api.post("/api/v1/assets", json=payload | {"council_id": world.council_b.id}).status_code == 201
    other = api.post("/api/v1/assets", json=payload | {"tag": "MURA-PC-002"}).get_json()
    assert_error(api.patch(f"/api/v1/assets/{other['id']}", json={"tag": "MURA-PC-001"}), 409, "duplicate_tag")


# "{A}" stands for council A's id, written as the case says (a string, a float...).
@pytest.mark.parametrize(("payload", "field"), [
    ({"council_id": "{A}"}, "council_id"),
    ({"council_id": "{A}.0"}, "council_id"),
    ({"council_id": True}, "council_id"),
    ({"seats": 1.5}, "seats"),
    ({"seats": "10"}, "seats"),
    ({"seats": True}, "seats"),
    ({"kind": "toaster"}, "kind"),
    ({"status": "lost"}, "status"),
    ({"expires_on": "31/12/2026"}, "expires_on"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"ip_address": "999.1.1.1"}, "ip_address"),
    ({"name": "bad\u0000name"}, "name"),
    ({"purchased_on": "2025-01-01", "warranty_until": "2024-01-01"}, "warranty_until"),
])
def test_validation_errors_are_422_with_fields(world, api_for, payload, field):
    api = api_for(world.technician)
    body = {"council_id": world.council_a.id, "kind": "desktop", "name": "PC"} | payload
    if body["council_id"] == "{A}":
        body["council_id"] = str(world.council_a.id)
    elif body["council_id"] == "{A}.0":
        body["council_id"] = float(world.council_a.id)
    error = assert_error(api.post("/api/v1/assets", json=body), 422, "validation_error")
    assert field in error["fields"], error


def test_missing_fields_and_malformed_bodies(world, api_for):
    api = api_for(world.technician)
    error = assert_error(api.post("/api/v1/assets", json={"council_id": world.council_a.id}), 422, "validation_error")
    assert {"kind", "name"} <= set(error["fields"])
    assert_error(api.post("/api/v1/assets", data="{not json", headers={"Content-Type": "application/json"}),
                 400, "malformed_body")
    assert_error(api.post("/api/v1/assets", json=[1, 2]), 400, "malformed_body")
    pc = api.post("/api/v1/assets", json={"council_id": world.council_a.id, "kind": "desktop", "name": "PC"}).get_json()
    error = assert_error(api.patch(f"/api/v1/assets/{pc['id']}", json={"council_id": world.council_b.id}),
                         422, "validation_error")
    assert "council_id" in error["fields"]
    assert_error(api.patch(f"/api/v1/assets/{pc['id']}", json={"name": None}), 422, "validation_error")
    assert_error(api.get("/api/v1/assets/999999"), 404, "not_found")
    assert_error(api.post("/api/v1/assets", json={"council_id": 999999, "kind": "desktop", "name": "x"}),
                 404, "not_found")


def test_list_filters_search_and_keyset_pages(world, api_for, add_asset):
    for n in range(7):
        add_asset(name=f"PC {n}", serial=f"SN{n:03d}")
    add_asset(kind="printer", name="Impressora", hostname="PRN-MURA")
    add_asset(world.council_b, name="PC Talamanca")
    api = api_for(world.technician)
    seen, cursor = [], None
    while True:
        url = f"/api/v1/assets?council_id={world.council_a.id}&limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url).get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 8 and seen == sorted(seen)
    assert [i["name"] for i in api.get("/api/v1/assets?kind=printer").get_json()["items"]] == ["Impressora"]
    assert [i["name"] for i in api.get("/api/v1/assets?q=sn004").get_json()["items"]] == ["PC 4"]
    assert len(api.get("/api/v1/assets").get_json()["items"]) == 9
    assert_error(api.get("/api/v1/assets?limit=501"), 422, "validation_error")
    assert_error(api.get("/api/v1/assets?kind=toaster"), 422, "validation_error")
    assert_error(api.get("/api/v1/assets?cursor=forged"), 400, "invalid_cursor")


def test_clerk_reads_only_their_council_and_writes_nothing(world, api_for, add_asset):
    mine = add_asset(name="PC Mura", serial="MINE1")
    theirs = add_asset(world.council_b, name="PC Talamanca", serial="THEIRS1")
    clerk = api_for(world.clerk_a)
    items = clerk.get("/api/v1/assets").get_json()["items"]
    assert [i["id"] for i in items] == [mine.id]
    assert clerk.get("/api/v1/assets?q=theirs1").get_json()["items"] == []
    assert_error(clerk.get(f"/api/v1/assets?council_id={world.council_b.id}"), 404, "not_found")
    assert clerk.get(f"/api/v1/assets/{mine.id}").status_code == 200
    assert_error(clerk.get(f"/api/v1/assets/{theirs.id}"), 404, "not_found")
    assert_error(clerk.patch(f"/api/v1/assets/{mine.id}", json={"name": "x"}), 403, "forbidden")
    assert_error(clerk.post("/api/v1/assets", json={"council_id": world.council_a.id, "kind": "desktop",
                                                    "name": "x"}), 403, "forbidden")
    assert_error(clerk.post(f"/api/v1/assets/import?council_id={world.council_a.id}", data=b"tag,kind,name\r\n",
                            headers={"Content-Type": "text/csv"}), 403, "forbidden")


def _import(api, council_id, data: bytes, dry_run: bool):
    return api.post(f"/api/v1/assets/import?council_id={council_id}" + ("&dry_run=1" if dry_run else ""),
                    data=data, headers={"Content-Type": "text/csv; charset=utf-8"})


def test_import_contract(db, world, api_for, add_asset, make_csv):
    add_asset(tag="MURA-PC-001", name="PC")
    api = api_for(world.technician)
    good = make_csv(["tag", "kind", "name", "location"],
                    [["MURA-PC-001", "desktop", "PC", "Arxiu"], ["MURA-PRN-001", "printer", "Impressora", ""]])
    bad = make_csv(["tag", "kind", "name"], [["A", "desktop", "ok"]] * 1 + [["B", "desktop", "x"]] * 5
                   + [["C", "toaster", "y"]])

    dry = _import(api, world.council_a.id, good, dry_run=True)
    assert dry.status_code == 200
    assert dry.get_json() == {"created": 1, "updated": 1, "unchanged": 0, "errors": [], "error_count": 0}
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 1

    dry_bad = _import(api, world.council_a.id, bad, dry_run=True)
    assert dry_bad.status_code == 200
    errors = dry_bad.get_json()["errors"]
    assert errors[0] == {"row": 3, "field": "tag", "message": errors[0]["message"]}
    assert {(e["row"], e["field"]) for e in errors} >= {(7, "kind")}

    refused = _import(api, world.council_a.id, bad, dry_run=False)
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["errors"] == errors and body["created"] == 2
    assert body["error"]["code"] == "validation_error"  # the contract's error body, too
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 1

    done = _import(api, world.council_a.id, good, dry_run=False)
    assert done.status_code == 200
    assert done.get_json()["created"] == 1 and done.get_json()["updated"] == 1
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 2


def test_import_request_errors(world, api_for):
    api = api_for(world.technician)
    assert_error(api.post(f"/api/v1/assets/import?council_id={world.council_a.id}", json={"tag": "x"}),
                 415, "unsupported_media_type")
    assert_error(_import(api, 999999, b"tag,kind,name\r\n", dry_run=True), 404, "not_found")
    error = assert_error(api.post("/api/v1/assets/import", data=b"x", headers={"Content-Type": "text/csv"}),
                         422, "validation_error")
    assert "council_id" in error["fields"]
    assert_error(_import(api, "1.5", b"tag\r\n", dry_run=True), 422, "validation_error")


def test_import_messages_follow_the_users_language(world, translated_app, make_csv, db):
    from accounts import services as accounts

    world.technician.preferred_language = "es"
    db.session.commit()
    _token, token = accounts.create_token(world.technician, "t", actor=None)
    client = translated_app.test_client()
    resp = client.post(f"/api/v1/assets/import?council_id={world.council_a.id}&dry_run=1",
                       data=make_csv(["tag", "kind", "name", "expires_on"], [["A", "toaster", "x", "mañana"]]),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    messages = {e["field"]: e["message"] for e in resp.get_json()["errors"]}
    assert messages["kind"].startswith("Tipo desconocido")
    assert messages["expires_on"].startswith("No es una fecha")


def test_openapi_describes_the_assets_api(client_for, world, app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/assets"])
    assert {"get", "patch"} <= set(paths["/api/v1/assets/{asset_id}"])
    imp = paths["/api/v1/assets/import"]["post"]
    assert imp["requestBody"]["content"] == {"text/csv": {"schema": {"type": "string"}}}
    assert {p["name"] for p in imp["parameters"]} >= {"council_id", "dry_run"}
    assert "409" in paths["/api/v1/assets"]["post"]["responses"]
    schema = doc["components"]["schemas"]["AssetOut"]
    assert set(schema["properties"]) >= CONTRACT_FIELDS

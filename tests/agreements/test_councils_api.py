"""`/api/v1/councils` exactly as docs/api-contract.md writes it, and the API conventions
(errors, tokens, strict integers, sizes, cursor pagination) as seen through it."""

from __future__ import annotations

import json

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from accounts import services as accounts
from accounts.models import AuditEntry
from agreements.models import Council

CONTRACT_FIELDS = {"id", "name", "slug", "code", "comarca", "population", "population_year",
                   "contact_email", "active"}


@pytest.fixture
def admin(world, api_for):
    return api_for(world.admin)


@pytest.fixture
def manager(world, api_for):
    return api_for(world.manager)


# --- create ---------------------------------------------------------------------------

def test_create_derives_slug_and_code_from_the_name(manager, db):
    resp = manager.post("/api/v1/councils", json={
        "name": "El Pont de Vilomara i Rocafort", "population": 3858, "population_year": 2014,
        "comarca": "Bages", "contact_email": "ajuntament@pontvilomara.example.cat"})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert set(body) >= CONTRACT_FIELDS
    assert body["slug"] == "el-pont-de-vilomara-i-rocafort"
    assert body["code"] == "PONTVILO"
    assert body["population"] == 3858 and body["population_year"] == 2014
    assert body["active"] is True and body["comarca"] == "Bages"
    assert isinstance(body["id"], int)
    assert db.session.get(Council, body["id"]).slug == body["slug"]
    # The created object is what GET answers.
    assert manager.get(f"/api/v1/councils/{body['id']}").json == body


def test_create_with_explicit_slug_and_code(admin):
    resp = admin.post("/api/v1/councils", json={
        "name": "Sant Mateu de Bages", "slug": "smbages", "code": "SMB", "population": 661})
    assert resp.status_code == 201, resp.json
    assert (resp.json["slug"], resp.json["code"]) == ("smbages", "SMB")


def test_derived_code_avoids_codes_in_use(manager):
    # "Mura" exists with code MURA; a second Mura (another slug) gets the next free code.
    resp = manager.post("/api/v1/councils", json={"name": "Mura", "slug": "mura-2", "population": 5})
    assert resp.status_code == 201, resp.json
    assert resp.json["code"] == "MURA2"


@pytest.mark.parametrize(("payload", "code", "field"), [
    ({"name": "Mura", "population": 10}, "duplicate_slug", "slug"),                  # derived slug taken
    ({"name": "Other", "slug": "talamanca", "population": 10}, "duplicate_slug", "slug"),
    ({"name": "Other", "code": "MURA", "population": 10}, "duplicate_code", "code"),
])
def test_duplicates_are_409_with_the_error_body(manager, api_error, db, payload, code, field):
    error = api_error(manager.post("/api/v1/councils", json=payload), 409, code)
    assert field in error["fields"]
    assert db.session.scalar(select(Council).where(Council.name == "Other")) is None


@pytest.mark.parametrize("payload", [
    {"name": "X", "slug": "Not A Slug", "population": 1},
    {"name": "X", "slug": "trailing-", "population": 1},
    {"name": "X", "code": "mura", "population": 1},
    {"name": "X", "code": "TOOLONGCODE", "population": 1},
    {"name": "X", "code": "A", "population": 1},
    {"name": "   ", "population": 1},
    {"population": 1},
    {"name": "X"},
    {"name": "X", "population": -1},
    {"name": "X", "population": 1, "contact_email": "not an email"},
    {"name": "X", "population": 1, "timezone": "Mars/Olympus"},
    {"name": "X", "population": 1, "language": "fr"},
])
def test_invalid_councils_are_422_with_fields(manager, api_error, payload):
    error = api_error(manager.post("/api/v1/councils", json=payload), 422, "validation_error")
    assert error["fields"], error


@pytest.mark.parametrize("value", ["211", 211.0, True, 1.5, None, [211], {"n": 211}])
def test_population_must_be_a_json_integer(manager, api_error, world, value):
    error = api_error(manager.post("/api/v1/councils", json={"name": "Strict", "population": value}),
                      422, "validation_error")
    assert "population" in error["fields"]
    error = api_error(manager.patch(f"/api/v1/councils/{world.council_a.id}", json={"population": value}),
                      422, "validation_error")
    assert "population" in error["fields"]


@pytest.mark.parametrize("value", ["2014", 2014.0, False])
def test_population_year_must_be_a_json_integer(manager, api_error, value):
    error = api_error(manager.post("/api/v1/councils",
                                   json={"name": "Strict", "population": 1, "population_year": value}), 422)
    assert "population_year" in error["fields"]


def test_bad_input_that_databases_refuse_is_a_422_not_a_500(manager, api_error):
    # PostgreSQL refuses NUL characters in text; Numeric(8, 2) overflows when 999999.999 rounds up.
    error = api_error(manager.post("/api/v1/councils", json={"name": "Nul\u0000name", "population": 1}), 422)
    assert "name" in error["fields"]
    error = api_error(manager.post("/api/v1/councils",
                                   json={"name": "Huge", "population": 1, "area_km2": 999999.999}), 422)
    assert "area_km2" in error["fields"]
    resp = manager.post("/api/v1/councils", json={"name": "Big", "population": 1, "area_km2": 999999.99})
    assert resp.status_code == 201 and resp.json["area_km2"] == 999999.99


# --- read and update ------------------------------------------------------------------

def test_get_answers_the_contract_fields(world, api_for):
    body = api_for(world.technician).get(f"/api/v1/councils/{world.council_a.id}").json
    assert {k: body[k] for k in ("name", "slug", "code", "comarca", "population", "population_year",
                                 "contact_email", "active")} == {
        "name": "Mura", "slug": "mura", "code": "MURA", "comarca": "Bages", "population": 211,
        "population_year": 2014, "contact_email": "ajuntament@mura.example.cat", "active": True}


def test_unknown_council_is_404_with_a_human_message(admin, api_error):
    api_error(admin.get("/api/v1/councils/987654"), 404, "not_found")
    api_error(admin.patch("/api/v1/councils/987654", json={"name": "X"}), 404, "not_found")


def test_patch_name_and_population_is_saved_and_audited(world, manager, db):
    cid = world.council_a.id
    resp = manager.patch(f"/api/v1/councils/{cid}", json={"name": "Mura de Bages", "population": 230})
    assert resp.status_code == 200, resp.json
    assert (resp.json["name"], resp.json["population"], resp.json["slug"]) == ("Mura de Bages", 230, "mura")
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.object_type == "council", AuditEntry.object_id == str(cid), AuditEntry.action == "update")).one()
    assert entry.changes == {"name": ["Mura", "Mura de Bages"], "population": [211, 230]}
    assert entry.actor_id == world.manager.id and entry.council_id == cid


@pytest.mark.parametrize(("field", "value"), [("slug", "mura-nova"), ("code", "MURANOVA")])
def test_patch_cannot_change_slug_or_code(world, manager, api_error, db, field, value):
    cid = world.council_a.id
    error = api_error(manager.patch(f"/api/v1/councils/{cid}", json={field: value, "name": "Renamed"}), 422)
    assert field in error["fields"]
    db.session.expire_all()
    council = db.session.get(Council, cid)
    assert (council.slug, council.code, council.name) == ("mura", "MURA", "Mura")


def test_patch_with_unchanged_slug_and_code_is_accepted(world, manager):
    resp = manager.patch(f"/api/v1/councils/{world.council_a.id}",
                         json={"slug": "mura", "code": "MURA", "population": 212})
    assert resp.status_code == 200, resp.json
    assert resp.json["population"] == 212


def test_patch_with_nothing_changed_writes_no_audit_entry(world, manager, db):
    before = db.session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    assert manager.patch(f"/api/v1/councils/{world.council_a.id}", json={"name": "Mura"}).status_code == 200
    after = db.session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    assert after == before


# --- roles and the clerk's view -------------------------------------------------------

def test_technician_and_clerk_cannot_create_or_update(world, api_for, api_error):
    for user in (world.technician, world.clerk_a):
        client = api_for(user)
        api_error(client.post("/api/v1/councils", json={"name": "New", "population": 1}), 403, "forbidden")
        api_error(client.patch(f"/api/v1/councils/{world.council_a.id}", json={"name": "X"}), 403, "forbidden")


def test_clerk_sees_only_their_council(world, api_for, api_error):
    clerk = api_for(world.clerk_a)
    assert [c["slug"] for c in clerk.get("/api/v1/councils").json["items"]] == ["mura"]
    assert clerk.get(f"/api/v1/councils/{world.council_a.id}").status_code == 200
    api_error(clerk.get(f"/api/v1/councils/{world.council_b.id}"), 404, "not_found")
    assert clerk.get("/api/v1/councils?q=talamanca").json["items"] == []


def test_clerk_patch_of_another_council_reveals_nothing(world, api_for, api_error):
    """PATCH is for managers. For their own council a clerk gets the role's 403; for another
    council's id the contract says 404, never 403, and it is the same 404 as for an id that
    does not exist, so the answer cannot tell whether council B exists."""
    clerk = api_for(world.clerk_a)
    api_error(clerk.patch(f"/api/v1/councils/{world.council_a.id}", json={"name": "X"}), 403, "forbidden")
    answers = []
    for cid in (world.council_b.id, 987654):
        resp = clerk.patch(f"/api/v1/councils/{cid}", json={"name": "X"})
        api_error(resp, 404, "not_found")
        answers.append(resp.get_data())
    assert len(set(answers)) == 1


# --- authentication -------------------------------------------------------------------

def test_token_problems_are_401_with_the_error_body(world, app, api_error, db):
    client = app.test_client()
    url = "/api/v1/councils"
    api_error(client.get(url), 401, "unauthorized")
    for header in ("Bearer", "Bearer ", "Bearer nonsense", "Bearer cdp_1_wrongsecret", "Bearer cdp_x_y",
                   "Basic YWRtaW46YWRtaW4=", "cdp_1_abc"):
        api_error(client.get(url, headers={"Authorization": header}), 401, "unauthorized")

    token, plaintext = accounts.create_token(world.manager, "t", actor=None)
    ok = {"Authorization": f"Bearer {plaintext}"}
    assert client.get(url, headers=ok).status_code == 200
    # A token for another id with the right secret part does not work either.
    forged = plaintext.replace(f"cdp_{token.id}_", f"cdp_{token.id + 1000}_")
    api_error(client.get(url, headers={"Authorization": f"Bearer {forged}"}), 401)

    accounts.revoke_token(token, actor=None)
    api_error(client.get(url, headers=ok), 401, "unauthorized")

    _t, plaintext = accounts.create_token(world.technician, "t", actor=None)
    accounts.set_active(world.technician, False, actor=world.admin)
    api_error(client.get(url, headers={"Authorization": f"Bearer {plaintext}"}), 401, "unauthorized")


def test_a_session_cookie_does_not_authenticate_the_api(world, client_for, api_error):
    client = client_for(world.admin)
    assert client.get("/councils").status_code == 200
    api_error(client.get("/api/v1/councils"), 401, "unauthorized")


# --- malformed requests ---------------------------------------------------------------

@pytest.mark.parametrize(("data", "content_type"), [
    ('{"name": "X", "population": 1', "application/json"),      # truncated
    ("", "application/json"),
    ("[]", "application/json"),
    ('"council"', "application/json"),
    ("1", "application/json"),
    ("null", "application/json"),
    (b"\xff\xfe{}", "application/json"),
    ('{"name": "X", "population": 1}', "text/plain"),
    ("name=X&population=1", "application/x-www-form-urlencoded"),
    ('{"name": "X", "population": 1}', None),
])
def test_malformed_bodies_are_400(manager, api_error, db, data, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    for method in (manager.post, manager.patch):
        url = "/api/v1/councils" if method == manager.post else "/api/v1/councils/1"
        error = api_error(method(url, data=data, headers=headers), 400)
        assert error["code"] == "malformed_body"
    assert db.session.scalar(select(Council).where(Council.name == "X")) is None


def test_body_over_the_size_limit_is_413_with_the_error_body(app, manager, api_error):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"name": "X", "population": 1, "comarca": "x" * limit})
    api_error(manager.post("/api/v1/councils", data=body, headers={"Content-Type": "application/json"}),
              413, "payload_too_large")


def test_unknown_route_and_wrong_method_have_the_error_body(admin, app, api_error):
    api_error(admin.get("/api/v1/no-such-thing"), 404, "not_found")
    api_error(app.test_client().get("/api/v1/no-such-thing"), 404, "not_found")
    api_error(admin.post("/api/v1/councils/1/no-such-action", json={}), 404, "not_found")
    resp = admin.delete("/api/v1/councils/1")
    api_error(resp, 405, "method_not_allowed")
    assert "PATCH" in resp.headers["Allow"]
    api_error(admin.delete("/api/v1/councils"), 405, "method_not_allowed")


# --- pagination -----------------------------------------------------------------------

def _add_councils(db, n: int, prefix: str = "Poble") -> None:
    db.session.add_all(Council(name=f"{prefix} {i:03d}", slug=f"{prefix.lower()}-{i:03d}",
                               code=f"{prefix[:2].upper()}{i:03d}", population=100 + i) for i in range(n))
    db.session.commit()


def _all_pages(client, url, limit):
    ids, pages, cursor = [], 0, None
    while True:
        resp = client.get(url + f"?limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status_code == 200, resp.json
        assert set(resp.json) == {"items", "next_cursor"}
        ids += [c["id"] for c in resp.json["items"]]
        pages += 1
        cursor = resp.json["next_cursor"]
        if cursor is None:
            return ids, pages
        assert pages < 100


def test_default_limit_is_50(manager, db):
    _add_councils(db, 51)  # 53 councils in all
    first = manager.get("/api/v1/councils").json
    assert len(first["items"]) == 50 and first["next_cursor"]
    second = manager.get(f"/api/v1/councils?cursor={first['next_cursor']}").json
    assert len(second["items"]) == 3 and second["next_cursor"] is None


def test_pages_cover_every_council_once_in_a_stable_order(manager, db):
    _add_councils(db, 10)  # 12 in all
    ids, pages = _all_pages(manager, "/api/v1/councils", 5)
    assert pages == 3
    assert len(ids) == len(set(ids)) == 12
    assert ids == sorted(ids)
    everything = manager.get("/api/v1/councils?limit=500").json
    assert [c["id"] for c in everything["items"]] == ids and everything["next_cursor"] is None


def test_rows_inserted_between_pages_neither_repeat_nor_shift(manager, db):
    _add_councils(db, 6)  # 8 in all
    first = manager.get("/api/v1/councils?limit=4").json
    _add_councils(db, 2, prefix="Nou")
    seen = [c["id"] for c in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = manager.get(f"/api/v1/councils?limit=4&cursor={cursor}").json
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 10


@pytest.mark.parametrize("limit", ["0", "501", "-1", "abc", "1.5"])
def test_limit_out_of_range_is_422(manager, api_error, limit):
    error = api_error(manager.get(f"/api/v1/councils?limit={limit}"), 422, "validation_error")
    assert "limit" in error["fields"]


def test_limit_500_is_allowed(manager):
    assert manager.get("/api/v1/councils?limit=500").status_code == 200


def test_invalid_or_tampered_cursor_is_400_invalid_cursor(app, manager, api_error, db):
    _add_councils(db, 4)
    cursor = manager.get("/api/v1/councils?limit=2").json["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    foreign = URLSafeSerializer("another-secret", salt="councildesk-api-cursor").dumps([1])
    wrong_arity = URLSafeSerializer(app.config["SECRET_KEY"], salt="councildesk-api-cursor").dumps([1, 2])
    for bad in ("garbage", tampered, foreign, wrong_arity, "x" * 600):
        api_error(manager.get(f"/api/v1/councils?cursor={bad}"), 400, "invalid_cursor")


def test_list_filters(manager, world):
    assert [c["slug"] for c in manager.get("/api/v1/councils?q=TALA").json["items"]] == ["talamanca"]
    manager.patch(f"/api/v1/councils/{world.council_b.id}", json={"active": False})
    assert [c["slug"] for c in manager.get("/api/v1/councils?active=false").json["items"]] == ["talamanca"]
    assert [c["slug"] for c in manager.get("/api/v1/councils?active=true").json["items"]] == ["mura"]


@pytest.mark.parametrize("field", ["name", "slug", "code", "population", "language", "timezone", "active"])
def test_patch_cannot_null_a_required_field(world, manager, api_error, field):
    error = api_error(manager.patch(f"/api/v1/councils/{world.council_a.id}", json={field: None}), 422)
    assert field in error["fields"]


def test_patch_can_clear_the_optional_fields(world, manager):
    resp = manager.patch(f"/api/v1/councils/{world.council_a.id}",
                         json={"population_year": None, "contact_email": None, "area_km2": None, "comarca": None})
    assert resp.status_code == 200, resp.json
    assert (resp.json["population_year"], resp.json["contact_email"], resp.json["comarca"]) == (None, None, "")


def test_ids_beyond_the_integer_columns_are_404(world, manager, app, api_error):
    """PostgreSQL refuses an INTEGER parameter above 2**31 - 1 even in a lookup."""
    for cid in (2**31, 121645100408832001, 10**30):
        api_error(manager.get(f"/api/v1/councils/{cid}"), 404, "not_found")
        api_error(manager.patch(f"/api/v1/councils/{cid}", json={"name": "X"}), 404, "not_found")
    assert manager.get(f"/api/v1/councils/{world.council_a.id}").status_code == 200
    client = app.test_client()
    for token in ("cdp_999999999999_x", "cdp_2147483648_x", "cdp_\u00b2_x", "cdp_\u0663_x", f"cdp_{'9' * 40}_x"):
        api_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")

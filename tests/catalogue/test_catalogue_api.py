"""The catalogue's API as the contract writes it (docs/api-contract.md, "Service catalogue and
rollout"): services, the per-council records, the status machine, the history, the rollout."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from catalogue.models import MOVES, STATUSES, HistoryIsImmutable, ServiceStatusChange

SUBSCRIPTION_FIELDS = {"service_id", "code", "name", "wave", "status", "status_since", "planned_on", "live_on",
                       "technician_id", "notes"}


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


@pytest.fixture
def service(world, api_for):
    resp = api_for(world.manager).post("/api/v1/services", json={
        "code": "ETRAM", "name": "e-TRAM", "description": "Tràmits genèrics", "category": "e_administration",
        "active": True})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def put(api, council, service, **body):
    return api.put(f"/api/v1/councils/{council.id}/services/{service['id']}", json=body)


def test_create_list_patch_service(world, api_for, service):
    assert service["code"] == "ETRAM" and service["name"] == "e-TRAM" and service["active"] is True
    assert service["provider"] == "comarca" and service["ticket_category"] is None
    for user in (world.clerk_a, world.technician, world.admin):
        items = api_for(user).get("/api/v1/services").get_json()["items"]
        assert [s["code"] for s in items] == ["ETRAM"]
    manager = api_for(world.manager)
    from support.teams import services as teams
    team = teams.create_team({"name": "e-Adm", "member_ids": [world.technician.id]}, actor=world.manager).id
    patched = manager.patch(f"/api/v1/services/{service['id']}", json={
        "name_ca": "e-TRAM (AOC)", "provider": "aoc", "ticket_category": "e_administration", "default_team_id": team,
        "code": "ETRAM"})
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert (body["provider"], body["ticket_category"], body["default_team_id"]) == ("aoc", "e_administration", team)
    assert body["description"] == "Tràmits genèrics"  # untouched
    assert_error(manager.patch(f"/api/v1/services/{service['id']}", json={"code": "OTHER"}), 422,
                 "validation_error")
    assert_error(manager.post("/api/v1/services", json={"code": "etram", "name": "Again"}), 409, "duplicate_code")
    assert_error(manager.post("/api/v1/services", json={"code": "BAD CODE!", "name": "x"}), 422, "validation_error")
    assert_error(manager.patch(f"/api/v1/services/{service['id']}", json={"documentation_url": "javascript:alert(1)"}),
                 422, "validation_error")
    # Technicians and clerks do not edit the catalogue.
    assert_error(api_for(world.technician).post("/api/v1/services", json={"code": "X", "name": "x"}), 403, "forbidden")
    assert_error(api_for(world.clerk_a).patch(f"/api/v1/services/{service['id']}", json={"name": "x"}), 403,
                 "forbidden")


def test_first_put_creates_at_planned_and_same_status_adds_no_history(world, api_for, service):
    api = api_for(world.technician)
    resp = put(api, world.council_a, service, wave="pilot", planned_on="2027-03-01", technician_id=world.technician.id)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert set(body) >= SUBSCRIPTION_FIELDS
    assert (body["status"], body["wave"], body["planned_on"], body["live_on"]) == ("planned", "pilot", "2027-03-01",
                                                                                  None)
    assert (body["code"], body["name"], body["service_id"]) == ("ETRAM", "e-TRAM", service["id"])
    again = put(api, world.council_a, service, status="planned", notes="Falta el certificat", wave="extension")
    assert again.status_code == 200
    assert (again.get_json()["notes"], again.get_json()["wave"]) == ("Falta el certificat", "extension")
    assert again.get_json()["planned_on"] == "2027-03-01"  # fields not sent stay
    history = api.get(f"/api/v1/councils/{world.council_a.id}/services/{service['id']}/history").get_json()["items"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [(None, "planned")]
    listed = api.get(f"/api/v1/councils/{world.council_a.id}/services").get_json()
    assert [i["code"] for i in listed["items"]] == ["ETRAM"] and listed["next_cursor"] is None


def test_first_put_may_create_at_another_status(world, api_for, service):
    body = put(api_for(world.manager), world.council_a, service, wave="consolidation", status="deploying").get_json()
    assert body["status"] == "deploying"


ALLOWED = {(a, b) for a, targets in MOVES.items() for b in targets}
FORBIDDEN = [(a, b) for a, b in itertools.product(STATUSES, STATUSES) if a != b and (a, b) not in ALLOWED]


def _reach(api, council, service, status):
    """Create the record and walk it along allowed moves to `status`."""
    path = {"planned": [], "deploying": ["deploying"], "live": ["deploying", "live"],
            "retired": ["deploying", "live", "retired"]}[status]
    assert put(api, council, service, wave="pilot").status_code == 200
    for step in path:
        assert put(api, council, service, status=step).status_code == 200


def test_the_allowed_moves_are_the_contracts():
    assert {("planned", "deploying"), ("deploying", "live"), ("live", "retired"), ("planned", "retired")} == ALLOWED
    assert len(FORBIDDEN) == 8


@pytest.mark.parametrize(("start", "target"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_each_forbidden_move_is_409(world, api_for, service, start, target):
    api = api_for(world.manager)
    _reach(api, world.council_a, service, start)
    before = api.get(f"/api/v1/councils/{world.council_a.id}/services/{service['id']}/history").get_json()["items"]
    error = assert_error(put(api, world.council_a, service, status=target, notes="changed?"), 409,
                         "invalid_status_move")
    assert "status" in error["fields"]
    after = api.get(f"/api/v1/councils/{world.council_a.id}/services/{service['id']}").get_json()
    assert after["status"] == start and after["notes"] == ""  # nothing of the refused PUT was kept
    history = api.get(f"/api/v1/councils/{world.council_a.id}/services/{service['id']}/history").get_json()["items"]
    assert history == before


def test_planned_may_be_retired(world, api_for, service):
    api = api_for(world.manager)
    _reach(api, world.council_a, service, "planned")
    assert put(api, world.council_a, service, status="retired").get_json()["status"] == "retired"


@pytest.mark.frozen("2026-06-30T22:30:00+00:00")
def test_reaching_live_sets_live_on_to_the_office_date(world, api_for, service):
    # 22:30 UTC on 30 June is already 1 July in Madrid (UTC+2 in summer).
    api = api_for(world.technician)
    _reach(api, world.council_a, service, "deploying")
    body = put(api, world.council_a, service, status="live").get_json()
    assert body["live_on"] == "2026-07-01"


def test_live_on_given_is_kept(world, api_for, service):
    api = api_for(world.technician)
    _reach(api, world.council_a, service, "deploying")
    assert put(api, world.council_a, service, status="live", live_on="2026-02-03").get_json()["live_on"] == "2026-02-03"
    # Created live without a date: today (office) as well.
    created = put(api, world.council_b, service, status="live").get_json()
    assert created["live_on"] is not None


def test_history_order_who_and_why(world, api_for, service):
    tech, manager = api_for(world.technician), api_for(world.manager)
    assert put(tech, world.council_a, service, wave="pilot").status_code == 200
    assert put(manager, world.council_a, service, status="deploying", reason="Formació feta").status_code == 200
    assert put(tech, world.council_a, service, status="live").status_code == 200
    assert put(manager, world.council_a, service, status="retired", reason="Substituït").status_code == 200
    items = tech.get(f"/api/v1/councils/{world.council_a.id}/services/{service['id']}/history").get_json()["items"]
    assert [(i["from_status"], i["to_status"], i["user_id"]) for i in items] == [
        (None, "planned", world.technician.id), ("planned", "deploying", world.manager.id),
        ("deploying", "live", world.technician.id), ("live", "retired", world.manager.id)]
    assert items[1]["reason"] == "Formació feta"
    times = [dt.datetime.fromisoformat(i["at"]) for i in items]
    assert times == sorted(times)
    assert all(t.utcoffset() == dt.timedelta(0) for t in times)


def test_history_rows_cannot_be_changed_or_deleted(world, db, service, api_for):
    put(api_for(world.manager), world.council_a, service, wave="pilot")
    row = db.session.scalar(select(ServiceStatusChange))
    row.reason = "rewritten"
    with pytest.raises(HistoryIsImmutable):
        db.session.flush()
    db.session.rollback()
    row = db.session.scalar(select(ServiceStatusChange))
    db.session.delete(row)
    with pytest.raises(HistoryIsImmutable):
        db.session.flush()
    db.session.rollback()


def test_rollout_counts(world, api_for, service):
    api = api_for(world.manager)
    _reach(api, world.council_a, service, "live")
    _reach(api, world.council_b, service, "planned")
    put(api, world.council_b, service, wave="extension")
    body = api.get(f"/api/v1/services/{service['id']}/rollout").get_json()
    assert body["service_id"] == service["id"]
    assert body["counts"] == {"planned": 1, "deploying": 0, "live": 1, "retired": 0}
    assert {(c["council_id"], c["wave"], c["status"]) for c in body["councils"]} == {
        (world.council_a.id, "pilot", "live"), (world.council_b.id, "extension", "planned")}
    assert_error(api_for(world.clerk_a).get(f"/api/v1/services/{service['id']}/rollout"), 403, "forbidden")


def test_bad_input_is_422(world, api_for, service):
    api = api_for(world.manager)
    assert_error(put(api, world.council_a, service, wave="phase9"), 422, "validation_error")
    assert_error(put(api, world.council_a, service, status="done"), 422, "validation_error")
    assert_error(put(api, world.council_a, service, technician_id=world.clerk_a.id), 422, "validation_error")
    assert_error(put(api, world.council_a, service, technician_id="5"), 422, "validation_error")
    assert_error(put(api, world.council_a, service, planned_on="2027-13-01"), 422, "validation_error")
    assert_error(api.put(f"/api/v1/councils/{world.council_a.id}/services/999999", json={}), 404, "not_found")
    retired = api.post("/api/v1/services", json={"code": "OLD", "name": "Old", "active": False}).get_json()
    assert_error(put(api, world.council_a, retired, wave="pilot"), 422, "validation_error")


def test_clerk_reads_own_council_and_writes_nothing(world, api_for, service):
    manager = api_for(world.manager)
    put(manager, world.council_a, service, wave="pilot", notes="A")
    put(manager, world.council_b, service, wave="pilot", notes="B")
    clerk = api_for(world.clerk_a)
    own = clerk.get(f"/api/v1/councils/{world.council_a.id}/services")
    assert own.status_code == 200 and [i["notes"] for i in own.get_json()["items"]] == ["A"]
    assert clerk.get(f"/api/v1/councils/{world.council_a.id}/services/{service['id']}/history").status_code == 200
    for url in (f"/api/v1/councils/{world.council_b.id}/services",
                f"/api/v1/councils/{world.council_b.id}/services/{service['id']}",
                f"/api/v1/councils/{world.council_b.id}/services/{service['id']}/history"):
        assert_error(clerk.get(url), 404, "not_found")
    assert_error(put(clerk, world.council_a, service, notes="mine"), 403, "forbidden")
    assert_error(put(clerk, world.council_b, service, notes="theirs"), 404, "not_found")


def test_a_services_default_team_must_exist(app, world, api_for, api_error):
    api = api_for(world.manager)
    resp = api.post("/api/v1/services", json={"code": "WIFI", "name": "Wi-Fi", "default_team_id": 999})
    assert "default_team_id" in api_error(resp, 422)["fields"]

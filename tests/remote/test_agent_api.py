"""The agent endpoints of the contract: enroll, report, revoke, enrollment keys (API and CLI)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from remote_support import report_body
from sqlalchemy import func, select

UTC = dt.UTC


def _count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --- enrollment ------------------------------------------------------------------------------

def test_enroll_creates_the_asset_and_answers_the_contract(app, db, world, enrollment_key, api_error):
    from inventory.models import Asset
    from remote.models import Agent, Check

    client = app.test_client()
    resp = client.post("/api/v1/agents/enroll", json={
        "enrollment_key": enrollment_key, "hostname": "mura-srv-01", "os": "Debian GNU/Linux 12 (bookworm)",
        "inventory": report_body()["inventory"]})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"agent_id", "token", "asset_id", "report_interval_seconds", "status"}
    assert body["status"] == "enrolled"
    assert body["report_interval_seconds"] == 300
    asset = db.session.get(Asset, body["asset_id"])
    assert asset.council_id == world.council_a.id
    assert (asset.hostname, asset.kind, asset.serial, asset.manufacturer) == (
        "mura-srv-01", "server", "CZJ1234ABC", "HPE")
    assert asset.ip_address == "192.0.2.2"
    agent = db.session.get(Agent, body["agent_id"])
    # Only the hash of the token is stored.
    assert body["token"] not in json.dumps([agent.token_hash, agent.hostname])
    assert len(agent.token_hash) == 64
    kinds = sorted(db.session.scalars(select(Check.kind).where(Check.asset_id == asset.id)))
    assert kinds == ["cpu", "memory", "offline"]
    offline = db.session.scalar(select(Check).where(Check.asset_id == asset.id, Check.kind == "offline"))
    assert offline.params == {"severity": "critical"}  # a server must not go silent


def test_enroll_matches_the_councils_asset_by_hostname(app, db, world, enroll):
    from inventory import services as inventory
    from inventory.models import Asset

    typed = inventory.create_asset(world.council_a, {"kind": "desktop", "name": "Secretaria", "hostname": "MURA-PC-04",
                                                     "location": "Secretaria"}, actor=world.technician)
    other = inventory.create_asset(world.council_b, {"kind": "desktop", "name": "Other council",
                                                     "hostname": "mura-pc-04"}, actor=world.technician)
    agent = enroll(hostname="mura-pc-04")
    assert agent.asset_id == typed.id
    db.session.expire_all()
    asset = db.session.get(Asset, typed.id)
    assert asset.location == "Secretaria" and asset.kind == "desktop"
    assert asset.serial == "CZJ1234ABC"
    assert db.session.get(Asset, other.id).serial == ""
    # A different serial number is another machine that happens to share the name.
    stranger = enroll(hostname="mura-pc-04", inventory={**report_body()["inventory"], "hostname": "mura-pc-04",
                                                        "serial": "OTHER-SERIAL"})
    assert stranger.asset_id != typed.id


def test_enrolling_again_revokes_the_previous_agent_and_keeps_the_checks(app, db, world, enroll):
    from remote.models import Agent, Check

    first = enroll()
    assert first.report().status_code == 202
    # Silent since yesterday (reinstalled): replaced at once. A live agent's machine waits for
    # approval instead (tests/abuse/test_reenrollment.py).
    row = db.session.get(Agent, first.agent_id)
    row.last_report_at -= dt.timedelta(days=1)
    db.session.commit()
    second = enroll()
    assert second.asset_id == first.asset_id
    assert first.report().status_code == 401
    assert second.report().status_code == 202
    assert db.session.get(Agent, first.agent_id).revoked_at is not None
    checks = db.session.scalars(select(Check).where(Check.asset_id == first.asset_id, Check.kind == "cpu")).all()
    assert len(checks) == 1 and checks[0].agent_id == second.agent_id and checks[0].enabled


def test_enroll_refuses_a_wrong_or_replaced_key(app, world, enrollment_key, api_error):
    from remote import agents as services

    client = app.test_client()
    body = {"enrollment_key": "cdenroll_1_wrong", "hostname": "pc"}
    api_error(client.post("/api/v1/agents/enroll", json=body), 401, "invalid_enrollment_key")
    services.create_enrollment_key(world.council_a, actor=None)  # replaces the key
    api_error(client.post("/api/v1/agents/enroll", json={**body, "enrollment_key": enrollment_key}), 401,
              "invalid_enrollment_key")
    api_error(client.post("/api/v1/agents/enroll", json={"hostname": "pc"}), 422, "validation_error")
    error = api_error(client.post("/api/v1/agents/enroll", json={**body, "hostname": "pc\u202egnp.exe"}), 422)
    assert "hostname" in error["fields"]


def test_enrollment_key_endpoint_and_cli(app, db, world, api_for, api_error):
    from remote import agents as services
    from remote.models import EnrollmentKey

    for role in ("admin", "manager", "technician"):
        resp = api_for(world.by_role[role]).post(f"/api/v1/councils/{world.council_a.id}/enrollment-key")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        key = resp.get_json()["enrollment_key"]
        assert services.council_for_enrollment_key(key).id == world.council_a.id
    api_error(api_for(world.clerk_a).post(f"/api/v1/councils/{world.council_a.id}/enrollment-key"), 403)
    api_error(api_for(world.clerk_a).post(f"/api/v1/councils/{world.council_b.id}/enrollment-key"), 404)
    rows = db.session.scalars(select(EnrollmentKey)).all()
    assert len(rows) == 1 and key not in rows[0].secret_hash  # one key per council, hashed

    result = app.test_cli_runner().invoke(args=["agents", "enrollment-key", world.council_a.slug])
    assert result.exit_code == 0, result.output
    printed = result.stdout.strip().splitlines()[-1]
    assert printed.startswith("cdenroll_")
    assert services.council_for_enrollment_key(printed).id == world.council_a.id
    assert services.council_for_enrollment_key(key) is None  # the new key replaced the old one
    result = app.test_cli_runner().invoke(args=["agents", "enrollment-key", "no-such-council"])
    assert result.exit_code != 0


# --- reports -----------------------------------------------------------------------------------

def test_report_updates_facts_checks_and_last_seen(app, db, world, enroll):
    from inventory.models import Asset
    from remote.models import Check, Result

    agent = enroll()
    asset = db.session.get(Asset, agent.asset_id)
    asset.location = "Sala de servidors"
    db.session.commit()
    updated_at = asset.updated_at
    disks = [{"mount": "/", "total_bytes": 1000, "used_bytes": 950},
             {"mount": "/srv/backups", "total_bytes": 1000, "used_bytes": 100}]
    inventory = {"hostname": "mura-srv-01", "os": "Debian GNU/Linux 13 (trixie)", "serial": None,
                 "manufacturer": None, "model": None, "ip_address": "192.0.2.7"}
    resp = agent.report(report_body(cpu=97.0, disks=disks, inventory=inventory))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json() == {"status": "accepted", "report_interval_seconds": 300}
    db.session.expire_all()
    asset = db.session.get(Asset, agent.asset_id)
    # Only what the agent knows changes; null never blanks a field.
    assert asset.os == "Debian GNU/Linux 13 (trixie)" and asset.ip_address == "192.0.2.7"
    assert asset.serial == "CZJ1234ABC" and asset.manufacturer == "HPE" and asset.location == "Sala de servidors"
    assert asset.last_seen_at is not None
    states = {c.key: c.state for c in db.session.scalars(select(Check).where(Check.asset_id == asset.id))}
    assert states == {"agent:cpu": "critical", "agent:memory": "ok", "agent:offline": "ok",
                      "agent:disk:/": "critical", "agent:disk:/srv/backups": "ok"}
    # One result per metric check, and the offline check's first state (it stores transitions only).
    assert db.session.scalar(select(func.count()).select_from(Result)) == 5
    # A report that changes no fact does not make the asset look edited.
    stamp = asset.updated_at
    assert agent.report(report_body(cpu=5.0, disks=disks, inventory=inventory)).status_code == 202
    db.session.expire_all()
    assert db.session.get(Asset, agent.asset_id).updated_at == stamp
    assert stamp != updated_at  # the first report did change facts (os, ip)


def test_replayed_report_is_accepted_once(app, db, world, enroll):
    from remote.models import AgentReport, Result

    agent = enroll()
    body = report_body()
    assert agent.report(body).get_json()["status"] == "accepted"
    again = agent.report(body)
    assert again.status_code == 202 and again.get_json()["status"] == "duplicate"
    assert _count(db, AgentReport) == 1
    assert _count(db, Result) == 4  # cpu, memory, one disk, the offline check's first state: once


def test_late_reports_join_the_series_without_rewinding_the_state(app, db, world, enroll):
    from inventory.models import Asset
    from remote.models import Check, Result

    agent = enroll()
    now = dt.datetime.now(UTC)
    newer = report_body(now - dt.timedelta(minutes=1), cpu=10.0,
                        inventory={"hostname": "mura-srv-01", "os": "Debian 13"})
    older = report_body(now - dt.timedelta(minutes=30), cpu=99.0,
                        inventory={"hostname": "mura-srv-01", "os": "Debian 11"})
    assert agent.report(newer).status_code == 202
    assert agent.report(older).status_code == 202
    db.session.expire_all()
    cpu = db.session.scalar(select(Check).where(Check.asset_id == agent.asset_id, Check.kind == "cpu"))
    assert (cpu.state, cpu.last_value) == ("ok", 10.0)
    assert db.session.get(Asset, agent.asset_id).os == "Debian 13"
    values = db.session.scalars(select(Result.value).where(Result.check_id == cpu.id)
                                .order_by(Result.collected_at)).all()
    assert values == [99.0, 10.0]


def test_revoked_token_gets_401_at_once_api_and_cli(app, db, world, enroll, api_for, api_error):
    agent = enroll()
    assert agent.report().status_code == 202
    resp = api_for(world.technician).post(f"/api/v1/agents/{agent.agent_id}/revoke")
    assert resp.status_code == 200 and resp.get_json()["status"] == "revoked"
    api_error(agent.report(), 401, "unauthorized")
    # Revoking twice is harmless.
    assert api_for(world.manager).post(f"/api/v1/agents/{agent.agent_id}/revoke").status_code == 200
    api_error(api_for(world.clerk_a).post(f"/api/v1/agents/{agent.agent_id}/revoke"), 403)

    other = enroll(hostname="mura-pc-09")
    result = app.test_cli_runner().invoke(args=["agents", "revoke", str(other.agent_id)])
    assert result.exit_code == 0, result.output
    api_error(other.report(), 401)
    assert app.test_cli_runner().invoke(args=["agents", "revoke", "999999"]).exit_code != 0


def test_report_needs_an_agent_token(app, world, enroll, api_for, api_error):
    agent = enroll()
    client = app.test_client()
    api_error(client.post("/api/v1/agents/report", json=report_body()), 401, "unauthorized")
    api_error(client.post("/api/v1/agents/report", json=report_body(), headers={"Authorization": "Bearer nope"}), 401)
    # A personal token of any role is not an agent token, and an agent token is not a user's.
    api_error(api_for(world.admin).post("/api/v1/agents/report", json=report_body()), 401)
    api_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {agent.token}"}), 401)


def test_body_over_256_kib_is_413_with_the_error_body(app, enroll, api_error):
    agent = enroll()
    body = report_body(padding="x" * (256 * 1024))
    api_error(agent.report(body), 413, "payload_too_large")
    assert agent.report(report_body()).status_code == 202


HOSTILE = [
    (lambda b: b["metrics"].__setitem__("cpu_percent", 101), "metrics.cpu_percent"),
    (lambda b: b["metrics"].__setitem__("cpu_percent", "12"), "metrics.cpu_percent"),
    (lambda b: b["metrics"].__setitem__("cpu_percent", True), "metrics.cpu_percent"),
    (lambda b: b["metrics"].__setitem__("uptime_seconds", 1.5), "metrics.uptime_seconds"),
    (lambda b: b["metrics"]["disks"][0].__setitem__("used_bytes", -1), "metrics.disks.0.used_bytes"),
    (lambda b: b["metrics"]["disks"][0].__setitem__("mount", "/\x00etc"), "metrics.disks.0.mount"),
    (lambda b: b["inventory"].__setitem__("hostname", "pc\x1b[31m"), "inventory.hostname"),
    (lambda b: b["inventory"].__setitem__("model", "x" * 256), "inventory.model"),
    (lambda b: b["inventory"]["disks"].append({"device": "/dev/\x00", "mount": "/"}), "inventory.disks.1.device"),
    (lambda b: b["metrics"].__setitem__("disks", [{"mount": "/", "total_bytes": 1, "used_bytes": 1}] * 65),
     "metrics.disks"),
    (lambda b: b["metrics"].__setitem__("addresses", [{"interface": "e", "family": "ipx", "address": "x"}]),
     "metrics.addresses.0.family"),
    (lambda b: b.__setitem__("collected_at", "2026-11-21T10:00:00"), "collected_at"),
    (lambda b: b.__setitem__("collected_at", (dt.datetime.now(UTC) - dt.timedelta(days=40)).isoformat()),
     "collected_at"),
    (lambda b: b.__setitem__("report_id", "'; DROP TABLE assets; --"), "report_id"),
    (lambda b: b["agent"].__setitem__("spool_depth", -3), "agent.spool_depth"),
    (lambda b: b["metrics"].pop("memory_percent"), "metrics.memory_percent"),
]


@pytest.mark.parametrize(("mutate", "field"), HOSTILE, ids=[f for _m, f in HOSTILE])
def test_hostile_reports_are_422_with_the_field(app, db, enroll, api_error, mutate, field):
    from remote.models import AgentReport, Result

    agent = enroll()
    body = report_body()
    mutate(body)
    error = api_error(agent.report(body), 422, "validation_error")
    assert field in error["fields"], error
    assert _count(db, Result) == 0 and _count(db, AgentReport) == 0


def test_malformed_report_is_400(app, enroll, api_error):
    agent = enroll()
    resp = agent.client.post("/api/v1/agents/report", data=b"{not json",
                             headers={"Authorization": f"Bearer {agent.token}", "Content-Type": "application/json"})
    api_error(resp, 400, "malformed_body")


def test_clock_ahead_is_stamped_on_arrival(app, db, enroll):
    from remote.models import Agent, Result

    agent = enroll()
    ahead = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    assert agent.report(report_body(ahead)).status_code == 202
    stamp = db.session.scalar(select(func.max(Result.collected_at)))
    assert stamp < dt.datetime.now(UTC) + dt.timedelta(minutes=1)
    assert db.session.get(Agent, agent.agent_id).clock_offset_seconds > 7000


def test_hostile_strings_are_stored_as_text_and_escaped_on_pages(app, db, world, enroll, client_for):
    agent = enroll(hostname="<img src=x onerror=alert(1)>")
    mount = "/mnt/<script>alert(2)</script>"
    body = report_body(disks=[{"mount": mount, "total_bytes": 10, "used_bytes": 9}],
                       inventory={"hostname": "<img src=x onerror=alert(1)>", "os": "<b>os</b>"})
    assert agent.report(body).status_code == 202
    for url in (f"/assets/{agent.asset_id}", "/health", f"/councils/{world.council_a.slug}/health",
                "/health/agents", f"/assets/{agent.asset_id}/monitoring"):
        html = client_for(world.technician).get(url).get_data(as_text=True)
        assert "<script>alert(2)" not in html and "<img src=x" not in html, url
    html = client_for(world.clerk_a).get(f"/assets/{agent.asset_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


# --- checks and results --------------------------------------------------------------------

def test_checks_and_results_endpoints(app, db, world, enroll, api_for, api_error):
    agent = enroll()
    start = (dt.datetime.now(UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    for i in range(7):
        assert agent.report(report_body(start + dt.timedelta(minutes=5 * i), cpu=10.0 + i)).status_code == 202
    clerk = api_for(world.clerk_a)
    resp = clerk.get(f"/api/v1/assets/{agent.asset_id}/checks")
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    by_kind = {c["check"]: c for c in items}
    assert set(by_kind) == {"cpu", "memory", "disk", "offline"}
    cpu = by_kind["cpu"]
    assert cpu["state"] == "ok" and cpu["value"] == 16.0 and cpu["unit"] == "%"
    assert cpu["thresholds"] == {"warning": 85.0, "critical": 95.0}
    assert cpu["summary_key"] == "cpu_use" and cpu["summary"]

    url = f"/api/v1/assets/{agent.asset_id}/checks/{cpu['id']}/results"
    page = clerk.get(url + "?limit=3").get_json()
    assert [r["value"] for r in page["items"]] == [16.0, 15.0, 14.0]  # newest first
    page2 = clerk.get(url + f"?limit=3&cursor={page['next_cursor']}").get_json()
    assert [r["value"] for r in page2["items"]] == [13.0, 12.0, 11.0]
    since = (start + dt.timedelta(minutes=10)).isoformat()
    until = (start + dt.timedelta(minutes=20)).isoformat()
    window = clerk.get(url, query_string={"since": since, "until": until}).get_json()
    assert [r["value"] for r in window["items"]] == [13.0, 12.0]
    api_error(clerk.get(url, query_string={"since": "yesterday"}), 422)
    api_error(clerk.get(url + "?cursor=forged"), 400, "invalid_cursor")
    # Another council's clerk: the asset and its checks do not exist.
    other = api_for(world.clerk_b)
    api_error(other.get(f"/api/v1/assets/{agent.asset_id}/checks"), 404)
    api_error(other.get(url), 404)
    api_error(clerk.get(f"/api/v1/assets/{agent.asset_id}/checks/999999/results"), 404)


def test_ssh_checks_through_the_api(app, db, world, api_for, api_error):
    from inventory import services as inventory

    asset = inventory.create_asset(world.council_a, {"kind": "server", "name": "NAS"}, actor=world.technician)
    tech = api_for(world.technician)
    url = f"/api/v1/assets/{asset.id}/checks"
    resp = tech.post(url, json={"check": "disk", "params": {"mount": "/srv"}, "warning": 70, "critical": 85,
                                "interval_seconds": 600})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    check = resp.get_json()
    assert check["thresholds"] == {"warning": 70.0, "critical": 85.0} and check["interval_seconds"] == 600
    api_error(tech.post(url, json={"check": "disk", "params": {"mount": "/srv"}}), 409, "duplicate_check")
    api_error(tech.post(url, json={"check": "disk", "params": {"mount": "relative"}}), 422)
    api_error(tech.post(url, json={"check": "systemd_unit", "params": {"unit": "x; rm -rf /"}}), 422)
    api_error(tech.post(url, json={"check": "rm -rf"}), 422)
    api_error(tech.post(url, json={"check": "disk", "warning": 95, "critical": 90}), 422)
    api_error(tech.post(url, json={"check": "load", "interval_seconds": 30}), 422)
    patched = tech.patch(f"{url}/{check['id']}", json={"warning": None, "enabled": False})
    assert patched.status_code == 200
    assert patched.get_json()["enabled"] is False and patched.get_json()["thresholds"]["warning"] == 80.0
    api_error(api_for(world.clerk_a).post(url, json={"check": "load"}), 403)
    assert tech.delete(f"{url}/{check['id']}").status_code == 204
    assert tech.get(url).get_json()["items"] == []


def test_agents_list(app, world, enroll, api_for, api_error):
    agent = enroll()
    items = api_for(world.technician).get(f"/api/v1/agents?council_id={world.council_a.id}").get_json()["items"]
    assert [a["id"] for a in items] == [agent.agent_id]
    assert items[0]["status"] == "waiting" and "token" not in json.dumps(items)
    api_error(api_for(world.clerk_a).get("/api/v1/agents"), 403)

"""The health pages: overview, the asset's panel, a check, configuration, agents, enrollment."""

from __future__ import annotations

import datetime as dt

import pytest
from remote_support import login, report_body
from sqlalchemy import event, select

UTC = dt.UTC


@pytest.fixture
def reporting(enroll):
    """An agent of council A with an hour of reports, the last one with a full disk."""
    agent = enroll()
    start = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    for i in range(12):
        full = i == 11
        disks = [{"mount": "/", "total_bytes": 100, "used_bytes": 97 if full else 40 + i}]
        agent.report(report_body(start + dt.timedelta(minutes=5 * i), cpu=5.0 + i, disks=disks))
    return agent


def test_overview_traffic_lights_and_alerts(app, world, reporting, client_for):
    html = client_for(world.technician).get("/health").get_data(as_text=True)
    assert "Health of every council" in html and "Open alerts" in html
    assert "cd-light-critical" in html and "Disk /" in html
    html = client_for(world.technician).get(f"/councils/{world.council_a.slug}/health?problems=1").get_data(as_text=True)
    assert "mura-srv-01" in html or "Disk /" in html
    # A clerk lands on their own council, and another council's page does not exist for them.
    resp = client_for(world.clerk_a).get("/health")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/councils/{world.council_a.slug}/health")
    assert client_for(world.clerk_a).get(f"/councils/{world.council_b.slug}/health").status_code == 404
    assert "Disk /" not in client_for(world.clerk_b).get(f"/councils/{world.council_b.slug}/health").get_data(
        as_text=True)


def test_asset_page_shows_the_health_panel_with_sparklines(app, db, world, reporting, client_for):
    url = f"/assets/{reporting.asset_id}"
    html = client_for(world.clerk_a).get(url).get_data(as_text=True)
    assert 'id="asset-health"' in html and "<svg" in html and "cd-spark-line" in html
    assert "Monitoring settings" not in html  # staff only
    html = client_for(world.technician).get(url).get_data(as_text=True)
    assert "Monitoring settings" in html
    assert "style=" not in html  # the page's CSP refuses inline styles


def test_asset_page_query_count_does_not_grow_with_checks(app, db, world, enroll, client_for):
    agent = enroll()
    disks = [{"mount": f"/d{i}", "total_bytes": 100, "used_bytes": 10} for i in range(2)]
    agent.report(report_body(disks=disks))
    engine = db.engine

    def queries(url):
        count = [0]

        def counter(*_args):
            count[0] += 1

        event.listen(engine, "before_cursor_execute", counter)
        try:
            assert client_for(world.technician).get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", counter)
        return count[0]

    few = queries(f"/assets/{agent.asset_id}")
    agent.report(report_body(disks=[{"mount": f"/d{i}", "total_bytes": 100, "used_bytes": 10} for i in range(12)]))
    many = queries(f"/assets/{agent.asset_id}")
    assert many <= few + 1, (few, many)


def test_check_page_results_and_ranges(app, db, world, reporting, client_for):
    from remote.models import Check

    disk = db.session.scalar(select(Check).where(Check.asset_id == reporting.asset_id, Check.kind == "disk"))
    for span in ("24h", "7d", "30d", "bogus"):
        resp = client_for(world.clerk_a).get(f"/assets/{reporting.asset_id}/checks/{disk.id}?range={span}")
        assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "97 % used" in html and "State changes" in html
    assert client_for(world.clerk_b).get(f"/assets/{reporting.asset_id}/checks/{disk.id}").status_code == 404


def test_configuring_checks_through_the_pages(app, db, world, client_for):
    from inventory import services as inventory
    from remote.models import Check

    asset = inventory.create_asset(world.council_a, {"kind": "server", "name": "NAS", "ip_address": "192.0.2.50"},
                                   actor=world.technician)
    tech = client_for(world.technician)
    html = tech.get(f"/assets/{asset.id}/monitoring").get_data(as_text=True)
    assert 'value="192.0.2.50"' in html
    resp = tech.post(f"/assets/{asset.id}/ssh", data={"host": "192.0.2.50", "port": "22", "username": "monitor",
                                                     "generate_key": "y", "enabled": "y"})
    assert resp.status_code == 302
    html = tech.get(f"/assets/{asset.id}/monitoring").get_data(as_text=True)
    assert "Key set, fingerprint SHA256:" in html and "ssh-ed25519 AAAA" in html
    resp = tech.post(f"/assets/{asset.id}/checks/new", data={"kind": "backup_freshness", "path": "relative/path",
                                                            "interval_minutes": "60"})
    assert resp.status_code == 422 and "Enter an absolute path" in resp.get_data(as_text=True)
    resp = tech.post(f"/assets/{asset.id}/checks/new", data={"kind": "backup_freshness", "path": "/srv/backups",
                                                            "interval_minutes": "60", "warning": "30",
                                                            "critical": "72"})
    assert resp.status_code == 302
    check = db.session.scalar(select(Check).where(Check.asset_id == asset.id, Check.kind == "backup_freshness"))
    assert (check.params, check.interval_seconds, check.warning, check.critical) == (
        {"path": "/srv/backups"}, 3600, 30.0, 72.0)
    resp = tech.post(f"/assets/{asset.id}/checks/{check.id}/edit", data={"warning": "80", "critical": "40",
                                                                        "interval_minutes": "30", "enabled": "y"})
    assert resp.status_code == 200 and "must not be beyond" in resp.get_data(as_text=True)
    resp = tech.post(f"/assets/{asset.id}/checks/{check.id}/edit", data={"critical": "48", "interval_minutes": "30"})
    assert resp.status_code == 302
    db.session.expire_all()
    check = db.session.get(Check, check.id)
    assert (check.warning, check.critical, check.interval_seconds, check.enabled) == (None, 48.0, 1800, False)
    check_id = check.id
    assert tech.post(f"/assets/{asset.id}/checks/{check_id}/delete", data={}).status_code == 302
    from sqlalchemy import func

    assert db.session.scalar(select(func.count()).select_from(Check).where(Check.id == check_id)) == 0
    assert client_for(world.clerk_a).get(f"/assets/{asset.id}/monitoring").status_code == 403


def test_agents_page_revokes_and_never_shows_tokens(app, db, world, enroll, client_for):
    from remote.models import Agent

    agent = enroll()
    tech = client_for(world.technician)
    html = tech.get("/health/agents").get_data(as_text=True)
    assert "mura-srv-01" in html and agent.token not in html and "Waiting for its first report" in html
    resp = tech.post(f"/health/agents/{agent.agent_id}/revoke", data={"next": "//evil.example/"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/health/agents")
    db.session.expire_all()
    assert db.session.get(Agent, agent.agent_id).revoked_at is not None
    assert agent.report().status_code == 401


def test_enrollment_page_shows_a_new_key_once(app, db, world, client_for):
    from remote import agents as services

    tech = client_for(world.technician)
    html = tech.get(f"/councils/{world.council_a.slug}/enrollment-key").get_data(as_text=True)
    assert "no enrollment key yet" in html
    resp = tech.post(f"/councils/{world.council_a.slug}/enrollment-key", data={})
    assert resp.headers["Cache-Control"] == "no-store"
    html = resp.get_data(as_text=True)
    key = html.split('user-select-all p-2 bg-body rounded border">', 1)[1].split("<", 1)[0]
    assert services.council_for_enrollment_key(key).id == world.council_a.id
    assert key not in tech.get(f"/councils/{world.council_a.slug}/enrollment-key").get_data(as_text=True)
    assert client_for(world.clerk_a).get(f"/councils/{world.council_a.slug}/enrollment-key").status_code == 403


@pytest.mark.parametrize(("lang", "words"), [
    ("ca", ("Salut", "Disc /", "usat", "Crític")),
    ("es", ("Salud", "Disco /", "usado", "Crítico")),
])
def test_pages_speak_the_users_language(app, db, world, reporting, translated_app, lang, words):
    world.technician.preferred_language = lang
    db.session.commit()
    client = login(translated_app, world.technician)
    html = client.get(f"/assets/{reporting.asset_id}").get_data(as_text=True)
    html += client.get(f"/councils/{world.council_a.slug}/health").get_data(as_text=True)
    for word in words:
        assert word in html, (lang, word)

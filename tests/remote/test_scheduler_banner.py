"""The scheduler's heartbeat: a banner on staff pages when it has not run for ten minutes, and
health pages that say "unknown" instead of contradicting themselves while it is stopped."""

from __future__ import annotations

import datetime as dt

from remote_support import report_body
from sqlalchemy import select

UTC = dt.UTC
BANNER = "Monitoring is not running."


def _run(db, minutes_ago: float, job_id: str = "remote.offline"):
    from remote.models import JobRun

    at = dt.datetime.now(UTC) - dt.timedelta(minutes=minutes_ago)
    db.session.add(JobRun(job_id=job_id, scheduled_at=at, started_at=at, finished_at=at, outcome="ok",
                          counts={}, instance="test:1"))
    db.session.commit()


def test_banner_when_the_scheduler_never_ran(app, db, world, client_for):
    html = client_for(world.technician).get("/tickets").get_data(as_text=True)
    assert BANNER in html and "The scheduler has never run." in html
    assert "See the scheduler" not in html  # the link is for admins, who can open that page
    assert "See the scheduler" in client_for(world.admin).get("/tickets").get_data(as_text=True)
    # Clerks are not told about the office's machinery.
    assert BANNER not in client_for(world.clerk_a).get("/tickets").get_data(as_text=True)


def test_banner_after_ten_minutes_without_a_run(app, db, world, client_for):
    _run(db, minutes_ago=11)
    html = client_for(world.manager).get("/tickets").get_data(as_text=True)
    assert BANNER in html and "The scheduler has not run since" in html


def test_no_banner_while_the_scheduler_runs(app, db, world, client_for):
    _run(db, minutes_ago=30, job_id="remote.rollups")
    _run(db, minutes_ago=1)
    assert BANNER not in client_for(world.technician).get("/tickets").get_data(as_text=True)


def test_the_threshold_is_a_setting(app, db, world, client_for, monkeypatch):
    _run(db, minutes_ago=3)
    monkeypatch.setitem(app.config, "SCHEDULER_STALE_SECONDS", 120)
    assert BANNER in client_for(world.technician).get("/tickets").get_data(as_text=True)


def _silent_agent(db, enroll):
    """An agent whose last report is two hours old, and its silence check still "OK" because no
    scheduler judged it: the demo's contradiction."""
    from remote.models import Agent, Check

    agent = enroll()
    two_hours_ago = dt.datetime.now(UTC) - dt.timedelta(hours=2)
    assert agent.report(report_body(two_hours_ago)).status_code in (200, 202)
    # The server stamps a report when it arrives: move that back, as two hours of silence would.
    row = db.session.get(Agent, agent.agent_id)
    row.last_report_at = two_hours_ago
    db.session.commit()
    silence = db.session.scalar(select(Check).where(Check.asset_id == agent.asset_id, Check.key == "agent:offline"))
    assert silence is not None and silence.state == "ok"
    return agent


def test_health_pages_say_unknown_while_the_scheduler_is_stopped(app, db, world, enroll, client_for):
    agent = _silent_agent(db, enroll)
    client = client_for(world.technician)
    html = client.get(f"/assets/{agent.asset_id}").get_data(as_text=True)
    assert "(monitoring is not running)" in html
    assert ">Offline<" not in html
    assert "Unknown: monitoring is not running (the scheduler has stopped)." in html
    overview = client.get("/health").get_data(as_text=True)
    # The silence check is not counted as OK while nobody judges it.
    assert "Unknown: monitoring is not running" in overview
    agents = client.get("/health/agents").get_data(as_text=True)
    assert "(monitoring is not running)" in agents
    # A clerk's health page says the same (no banner, but no contradiction either).
    clerk = client_for(world.clerk_a).get(f"/assets/{agent.asset_id}").get_data(as_text=True)
    assert BANNER not in clerk and "(monitoring is not running)" in clerk


def test_health_pages_trust_the_states_while_the_scheduler_runs(app, db, world, enroll, client_for):
    agent = _silent_agent(db, enroll)
    _run(db, minutes_ago=0.5)
    html = client_for(world.technician).get(f"/assets/{agent.asset_id}").get_data(as_text=True)
    assert ">Offline<" in html and "monitoring is not running" not in html


def test_state_counts_move_scheduler_judged_checks_to_unknown(app, db, world, enroll):
    from remote import health

    agent = _silent_agent(db, enroll)
    with app.test_request_context():
        stale = health.state_counts(world.council_a.id)
    _run(db, minutes_ago=0.5)
    with app.test_request_context():
        fresh = health.state_counts(world.council_a.id)
    assert stale["unknown"] == fresh["unknown"] + 1 and stale["ok"] == fresh["ok"] - 1
    assert agent.asset_id


def test_the_scheduler_page_names_its_jobs_in_the_users_language(app, db, world, client_for):
    from flask_babel import refresh

    _run(db, minutes_ago=1, job_id="remote.offline")
    world.admin.preferred_language = "ca"
    db.session.commit()
    refresh()
    html = client_for(world.admin).get("/admin/scheduler").get_data(as_text=True)
    assert "Agents que han deixat d'informar" in html or "Agents que han deixat d&#39;informar" in html
    assert "Comprovacions SSH pendents" in html
    assert "Agents gone silent" not in html

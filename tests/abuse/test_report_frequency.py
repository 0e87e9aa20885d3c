"""Report frequency (issue 14, item 1): fresh reports closer than a quarter of the interval
are answered 429 with Retry-After, judged by their arrival; spooled reports replayed after an
outage (collected long before they arrive) still go through."""

from __future__ import annotations

import datetime as dt

from remote_support import report_body
from sqlalchemy import func, select


def _received(db, agent_id: int) -> int:
    from remote.models import AgentReport

    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(AgentReport).where(AgentReport.agent_id == agent_id))


def test_fresh_reports_too_close_together_get_429_with_retry_after(app, db, world, enroll):
    agent = enroll()
    quarter = app.config["REMOTE_AGENT_REPORT_INTERVAL"] // 4
    assert agent.report(report_body(), paced=False).status_code == 202
    resp = agent.report(report_body(), paced=False)
    assert resp.status_code == 429
    assert resp.get_json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(resp.headers["Retry-After"]) <= quarter
    assert resp.headers["Cache-Control"].startswith("no-store") or "no-store" in resp.headers["Cache-Control"]
    assert _received(db, agent.agent_id) == 1


def test_a_report_after_the_quarter_interval_is_taken(app, db, world, enroll):
    from remote.models import Agent

    agent = enroll()
    assert agent.report(report_body(), paced=False).status_code == 202
    # A quarter of the interval later (moved on the stored arrival, not on the test's clock).
    row = db.session.get(Agent, agent.agent_id)
    row.last_fresh_report_at -= dt.timedelta(seconds=app.config["REMOTE_AGENT_REPORT_INTERVAL"] // 4 + 1)
    db.session.commit()
    assert agent.report(report_body(), paced=False).status_code == 202
    assert _received(db, agent.agent_id) == 2


def test_spooled_reports_replay_at_full_speed_after_an_outage(app, db, world, enroll):
    agent = enroll()
    interval = app.config["REMOTE_AGENT_REPORT_INTERVAL"]
    now = dt.datetime.now(dt.UTC)
    assert agent.report(report_body(now), paced=False).status_code == 202
    # The outage's backlog: collected one interval apart, sent back to back.
    for k in range(6, 0, -1):
        resp = agent.report(report_body(now - dt.timedelta(seconds=k * interval),
                                        agent={"version": "1.0.0", "spool_depth": k, "spool_dropped": 0,
                                               "spool_rejected": 0}), paced=False)
        assert resp.status_code == 202, resp.get_data(as_text=True)
    assert _received(db, agent.agent_id) == 7
    # ... while a fresh one in the same burst is still held back.
    assert agent.report(report_body(), paced=False).status_code == 429


def test_the_retry_of_a_report_whose_202_was_lost_is_a_duplicate_not_a_429(app, db, world, enroll):
    agent = enroll()
    body = report_body()
    assert agent.report(body, paced=False).get_json()["status"] == "accepted"
    resp = agent.report(body, paced=False)
    assert resp.status_code == 202 and resp.get_json()["status"] == "duplicate"


def test_a_lagging_agent_clock_does_not_pass_its_fresh_reports_for_spooled_ones(app, db, world, enroll):
    agent = enroll()
    behind = dt.timedelta(hours=2)  # the machine's clock is two hours late
    assert agent.report(report_body(dt.datetime.now(dt.UTC) - behind), paced=False).status_code == 202
    # Its live report taught the server the offset: the next one, as late, is still fresh.
    assert agent.report(report_body(dt.datetime.now(dt.UTC) - behind), paced=False).status_code == 429


def test_forged_old_reports_cannot_advance_the_series_faster_than_the_schedule(app, db, world, enroll):
    agent = enroll()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    spooled = {"version": "1.0.0", "spool_depth": 5, "spool_dropped": 0, "spool_rejected": 0}
    assert agent.report(report_body(old, agent=spooled), paced=False).status_code == 202
    # "Spooled" reports a second apart are not the agent's schedule: refused.
    resp = agent.report(report_body(old + dt.timedelta(seconds=1), agent=spooled), paced=False)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    # One interval later in the series is what a replay looks like: taken.
    later = old + dt.timedelta(seconds=app.config["REMOTE_AGENT_REPORT_INTERVAL"])
    assert agent.report(report_body(later, agent=spooled), paced=False).status_code == 202

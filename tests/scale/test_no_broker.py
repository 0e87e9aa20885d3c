"""(d) Without a broker nothing changes: reports are written in their request, the scheduler
runs its jobs itself, `flask worker` refuses to start, /healthz says "not configured"."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

UTC = dt.UTC


def test_reports_are_written_in_the_request(app, db, world, enroll):
    from remote.models import AgentReport

    assert "councildesk_report_queue" not in app.extensions
    agent = enroll()
    resp = agent.report(report_id="direct-0001")
    assert resp.status_code == 202
    assert resp.get_json()["status"] == "accepted"
    assert db.session.scalar(select(func.count(AgentReport.id)).where(AgentReport.report_id == "direct-0001")) == 1
    assert agent.report(report_id="direct-0001").get_json()["status"] == "duplicate"


def test_jobs_run_in_the_scheduler_process(app, db):
    from remote import scheduler
    from remote.models import JobRun

    calls = []
    spec = scheduler.JobSpec(id="test.local", func=lambda now: calls.append(now) or {"n": 1},
                             trigger=scheduler.interval(60))
    at = dt.datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    assert scheduler.execute(app, spec, at) == "ok"
    assert len(calls) == 1
    run = db.session.scalar(select(JobRun).where(JobRun.job_id == "test.local"))
    assert run.outcome == "ok" and run.counts == {"n": 1}


def test_healthz_and_worker_without_broker(app):
    body = app.test_client().get("/healthz").get_json()
    assert body == {"status": "ok", "broker": "not configured"}
    result = app.test_cli_runner().invoke(args=["worker"])
    assert result.exit_code != 0
    assert "no broker is configured" in result.output


def test_operations_page_without_broker(app, world):
    from i18n_catalogs import login

    client = login(app, world.manager)
    page = client.get("/admin/operations")
    assert page.status_code == 200
    assert "Not configured" in page.get_data(as_text=True)

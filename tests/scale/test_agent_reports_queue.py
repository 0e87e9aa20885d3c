"""Agent reports through the broker: 202 only once RabbitMQ confirmed the report, 503 with
Retry-After when it cannot, and the batch writer storing each report once with the same
results and states as the direct path; (b) a RabbitMQ restart in the middle of a stream."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

from remote_support import report_body
from sqlalchemy import func, select

UTC = dt.UTC


def _writer(app):
    from scale.batch import consume_reports

    stop = threading.Event()
    batches = []
    thread = threading.Thread(target=consume_reports, args=(app, stop, lambda n, counts: batches.append((n, counts))),
                              daemon=True)
    thread.start()
    return stop, thread, batches


def _post(client, agent, body):
    return client.post("/api/v1/agents/report", json=body, headers={"Authorization": f"Bearer {agent.token}"})


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stored(db, agent_ids=None):
    from remote.models import AgentReport

    db.session.commit()
    stmt = select(AgentReport.agent_id, AgentReport.report_id)
    if agent_ids:
        stmt = stmt.where(AgentReport.agent_id.in_(agent_ids))
    return db.session.execute(stmt).all()


def test_queued_reports_match_the_direct_path(app, db, world, enroll, broker_app):
    """The same reports, one agent through the queue and one directly: same results, states."""
    from remote.models import Check, Result

    queued, direct = enroll(hostname="queued-01"), enroll(hostname="direct-01")
    start = dt.datetime.now(UTC) - dt.timedelta(minutes=10)
    bodies = [report_body(start + dt.timedelta(minutes=i), cpu=cpu, report_id=f"same-{i:04d}",
                          disks=[{"mount": "/", "total_bytes": 100, "used_bytes": used, "fstype": "ext4"}])
              for i, (cpu, used) in enumerate([(10, 40), (97, 40), (99, 96), (20, 40), (20, 40)])]
    client = broker_app.test_client()
    for body in bodies:
        resp = _post(client, queued, body)
        assert resp.status_code == 202, resp.get_data(as_text=True)
        assert resp.get_json()["status"] == "accepted"
        assert direct.report(body).status_code == 202
    _post(client, queued, bodies[0])  # a replay: accepted again, stored once
    stop, thread, _batches = _writer(broker_app)
    try:
        _wait(lambda: len(_stored(db, [queued.agent_id])) == len(bodies), what="the queued reports")
        time.sleep(0.5)  # the replay's batch
    finally:
        stop.set()
        thread.join(10)

    def shape(agent):
        db.session.commit()
        checks = db.session.scalars(select(Check).where(Check.asset_id == agent.asset_id).order_by(Check.key)).all()
        out = {}
        for c in checks:
            results = db.session.execute(select(Result.state, Result.value, Result.summary_key).where(
                Result.check_id == c.id).order_by(Result.collected_at, Result.id)).all()
            out[c.key] = (c.state, c.last_value, [tuple(r) for r in results])
        return out

    assert shape(queued) == shape(direct)
    assert len(_stored(db, [queued.agent_id])) == len(bodies)


def test_broker_away_is_503_with_retry_after(app, db, world, enroll, make_app, broker_config):
    from remote_support import free_port

    away = make_app(**{**broker_config, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"})
    agent = enroll()
    resp = _post(away.test_client(), agent, report_body())
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == str(away.config["SCALE_RETRY_AFTER"])
    error = resp.get_json()["error"]
    assert error["code"] == "unavailable" and error["message"] and error["fields"] == {}
    assert _stored(db) == []
    assert away.test_client().get("/healthz").get_json()["broker"] == "unavailable"
    # Validation and authentication come first, as on the direct path.
    assert _post(away.test_client(), agent, {"collected_at": "nonsense"}).status_code == 422
    bad = away.test_client().post("/api/v1/agents/report", json=report_body(),
                                  headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_reports_survive_a_broker_restart(app, db, world, enroll, broker_app, rabbit):
    """(b) Reports streamed while RabbitMQ stops and starts again: every report answered 202
    is in the database afterwards, none twice; the others were answered 503."""
    from remote.models import Check, Result

    agents = [enroll(hostname=f"stream-{i:02d}") for i in range(4)]
    stop, thread, _batches = _writer(broker_app)
    accepted: list[tuple[int, str]] = []
    refused = []
    done = threading.Event()

    def stream():
        client = broker_app.test_client()
        # A spool replayed after an outage: each agent's reports collected an interval apart
        # (closer ones would be forged "old" reports, answered 429).
        start = dt.datetime.now(UTC) - dt.timedelta(days=5)
        i = 0
        while not done.is_set():
            agent = agents[i % len(agents)]
            report_id = f"r{uuid.uuid4().hex[:20]}"
            collected = start + dt.timedelta(seconds=300 * (i // len(agents)))
            body = report_body(collected, report_id=report_id,
                               agent={"version": "1.0.0", "spool_depth": 50, "spool_dropped": 0, "spool_rejected": 0})
            resp = _post(client, agent, body)
            if resp.status_code == 202:
                accepted.append((agent.agent_id, report_id))
                if i % 7 == 0:  # a retry of a report whose 202 was lost: stored once all the same
                    assert _post(client, agent, body).status_code in (202, 503)
            else:
                assert resp.status_code == 503, resp.get_data(as_text=True)
                assert resp.headers.get("Retry-After")
                refused.append(report_id)
            i += 1
            time.sleep(0.01)

    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    try:
        _wait(lambda: len(accepted) >= 30, what="reports before the restart")
        rabbit.stop()
        _wait(lambda: len(refused) >= 3, what="503s while the broker is down")
        before_restart = len(accepted)
        rabbit.start()
        _wait(lambda: len(accepted) >= before_restart + 30, timeout=60, what="reports after the restart")
    finally:
        done.set()
        sender.join(30)
    try:
        ids = [a.agent_id for a in agents]
        _wait(lambda: {(a, r) for a, r in _stored(db, ids)} >= set(accepted), timeout=60,
              what="every accepted report in the database")
    finally:
        stop.set()
        thread.join(15)
    rows = _stored(db, ids)
    assert len(rows) == len(set(rows))
    assert set(accepted) <= set(rows) <= set(accepted) | {(a.agent_id, r) for a in agents for r in refused}
    # (A report answered 503 may still be stored: the broker can have taken it and lost the
    # connection before its confirm. The agent sends it again with its report_id: once.)
    # None twice: each stored report gave one result per built-in check (cpu, memory, disk /).
    cpu = db.session.scalars(select(Check.id).where(Check.agent_id.in_(ids), Check.kind == "cpu")).all()
    assert db.session.scalar(select(func.count(Result.id)).where(Result.check_id.in_(cpu))) == len(rows)

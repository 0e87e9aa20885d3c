"""The report door (scale.door): with a broker, an accepted report is answered below Flask's
pipeline with the same answer the view gives; every other outcome is the view's own answer;
reports that arrive together travel in one message; the writer reads both shapes of message."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from kombu import Connection
from remote_support import report_body

UTC = dt.UTC


def _post(client, token, body, **headers):
    return client.post("/api/v1/agents/report", json=body, headers={"Authorization": f"Bearer {token}", **headers})


def _drain(app) -> list:
    """Every message waiting in the app's reports queue, taken off it."""
    from scale.broker import reports_queue

    queue = reports_queue(app.config)
    bodies = []
    with Connection(app.config["BROKER_URL"]) as conn:
        simple = conn.SimpleQueue(queue.name)
        try:
            while True:
                message = simple.get(timeout=0.5)
                bodies.append(message.payload)
                message.ack()
        except simple.Empty:
            pass
        finally:
            simple.close()
    return bodies


def _reports(bodies) -> list:
    from scale.broker import envelope_reports

    return [r for b in bodies for r in envelope_reports(b)]


def test_the_door_answers_as_the_view_does(app, db, world, enroll, broker_app, make_app, broker_config):
    from scale.door import ReportDoor

    assert isinstance(broker_app.wsgi_app, ReportDoor)
    plain = make_app(**broker_config, SCALE_REPORT_DOOR=False)
    assert not isinstance(plain.wsgi_app, ReportDoor)
    agent = enroll()
    # No writer runs: the agent's state does not move, so the gate takes both.
    by_door = _post(broker_app.test_client(), agent.token, report_body(report_id="d1" + "0" * 30))
    by_view = _post(plain.test_client(), agent.token, report_body(report_id="d2" + "0" * 30))
    assert by_door.status_code == by_view.status_code == 202, (by_door.get_data(as_text=True), by_view.get_data(as_text=True))
    assert by_door.get_json() == by_view.get_json() == {"status": "accepted",
                                                        "report_interval_seconds": by_view.get_json()[
                                                            "report_interval_seconds"]}
    for name in ("Content-Type", "Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                 "Referrer-Policy", "Cross-Origin-Opener-Policy", "Permissions-Policy", "Cache-Control"):
        assert by_door.headers[name] == by_view.headers[name], name
    assert "Set-Cookie" not in by_door.headers
    reports = _reports(_drain(broker_app))
    assert sorted(json.loads(r["report"])["report_id"] for r in reports) == ["d1" + "0" * 30, "d2" + "0" * 30]
    assert all(r["agent"] == agent.agent_id for r in reports)


def test_https_answers_carry_hsts_behind_the_proxy(app, db, world, enroll, make_app, broker_config):
    proxied = make_app(**broker_config, PROXY_FIX_X_PROTO=1)
    agent = enroll()
    resp = _post(proxied.test_client(), agent.token, report_body(), **{"X-Forwarded-Proto": "https"})
    assert resp.status_code == 202
    assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
    _drain(proxied)


@pytest.mark.parametrize("case", ["no token", "bad token", "invalid", "text body", "revoked", "pending", "too soon",
                                  "duplicate"])
def test_what_the_door_does_not_take_the_view_answers(app, db, world, enroll, broker_app, case):
    from remote.agents import revoke_agent
    from remote.models import Agent

    agent = enroll()
    client = broker_app.test_client()
    now = dt.datetime.now(UTC)
    expected = {"no token": 401, "bad token": 401, "invalid": 422, "text body": 400, "revoked": 401,
                "pending": 403, "too soon": 429, "duplicate": 202}[case]
    if case == "no token":
        resp = client.post("/api/v1/agents/report", json=report_body())
    elif case == "bad token":
        resp = _post(client, agent.token[:-3] + "xyz", report_body())
    elif case == "invalid":
        resp = _post(client, agent.token, {**report_body(), "collected_at": "yesterday"})
    elif case == "text body":
        resp = client.post("/api/v1/agents/report", data=json.dumps(report_body()), content_type="text/plain",
                           headers={"Authorization": f"Bearer {agent.token}"})
    elif case == "revoked":
        revoke_agent(db.session.get(Agent, agent.agent_id), actor=world.admin)
        resp = _post(client, agent.token, report_body())
    elif case == "pending":
        db.session.get(Agent, agent.agent_id).pending_at = now
        db.session.commit()
        resp = _post(client, agent.token, report_body())
    else:
        # The agent's last fresh report is recorded as just now: a fresh one is too soon, and
        # the retry of a report already taken (its id claimed) is a duplicate.
        from remote.agents import agent_for_token
        from remote.ingest import ingest_report

        with app.test_request_context():
            ingest_report(agent_for_token(agent.token), _model(report_body(now, report_id="f1" + "0" * 30)), now=now)
        body = report_body(now, report_id=("f1" if case == "duplicate" else "f2") + "0" * 30)
        resp = _post(client, agent.token, body)
    assert resp.status_code == expected, resp.get_data(as_text=True)
    if expected == 202:
        assert resp.get_json()["status"] == "duplicate"
    else:
        assert resp.get_json()["error"]["code"]
    assert _drain(broker_app) == []  # nothing refused (or already stored) reached the queue


def _model(body):
    from remote.agent_protocol import ReportIn

    return ReportIn.model_validate_json(json.dumps(body))


def test_a_broker_away_is_tried_once(app, db, world, enroll, make_app, broker_config, monkeypatch):
    from remote_support import free_port

    from scale import broker

    away = make_app(**{**broker_config, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"})
    tries = []
    original = broker.ReportPublisher._send
    monkeypatch.setattr(broker.ReportPublisher, "_send", lambda self, m: (tries.append(1), original(self, m)))
    resp = _post(away.test_client(), enroll().token, report_body())
    assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "unavailable"
    assert len(tries) == 1


def test_reports_arriving_together_share_a_message(app, db, world, enroll, broker_app, monkeypatch):
    """While one envelope waits for its confirm, the reports that arrive meanwhile go together
    in the next one; each request is answered only after its own envelope is confirmed."""
    from scale import broker

    agents = [enroll(hostname=f"group-{i:02d}") for i in range(12)]
    original = broker.ReportPublisher._send
    sent = []

    def slow_send(self, messages):
        sent.append(len(messages))
        time.sleep(0.3)  # a slow disk at the broker: the others gather meanwhile
        original(self, messages)

    monkeypatch.setattr(broker.ReportPublisher, "_send", slow_send)
    answers = []

    def post(agent):
        answers.append(_post(broker_app.test_client(), agent.token, report_body()).status_code)

    threads = [threading.Thread(target=post, args=(a,)) for a in agents]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join(30)
    assert answers == [202] * len(agents)
    assert sum(sent) == len(agents) and len(sent) < len(agents)
    bodies = _drain(broker_app)
    assert len(bodies) == len(sent) and max(len(b["reports"]) for b in bodies) > 1
    assert sorted(r["agent"] for r in _reports(bodies)) == sorted(a.agent_id for a in agents)


def test_the_writer_reads_single_reports_and_envelopes(app, db, world, enroll, broker_app):
    """A message of a web node of the previous version (one report) and an envelope are both
    written; each report once."""
    from sqlalchemy import select

    from remote.models import AgentReport
    from scale.accept import report_message
    from scale.batch import _write_and_ack
    from scale.broker import reports_queue

    agents = [enroll(hostname=f"shape-{i}") for i in range(3)]
    start = dt.datetime.now(UTC) - dt.timedelta(minutes=30)
    from remote.agents import agent_for_token

    with app.test_request_context():
        messages = [report_message(agent_for_token(a.token), _model(report_body(start + dt.timedelta(minutes=i),
                                                                                  report_id=f"5{i}" + "0" * 30)), start)
                    for i, a in enumerate(agents)]
    queue = reports_queue(broker_app.config)
    with Connection(broker_app.config["BROKER_URL"]) as conn:
        producer = conn.Producer(serializer="json")
        producer.publish(messages[0], exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])
        producer.publish({"reports": messages[1:]}, exchange=queue.exchange, routing_key=queue.routing_key,
                         declare=[queue])
        simple = conn.SimpleQueue(queue.name)
        taken = [(m.payload, m) for m in (simple.get(timeout=5), simple.get(timeout=5))]
        counts = []
        _write_and_ack(broker_app, taken, lambda n, c: counts.append((n, c)))
        simple.close()
    assert counts == [(3, {"accepted": 3, "duplicate": 0, "dropped": 0})]
    db.session.commit()
    stored = db.session.scalars(select(AgentReport.report_id).where(
        AgentReport.agent_id.in_([a.agent_id for a in agents]))).all()
    assert sorted(stored) == [f"5{i}" + "0" * 30 for i in range(3)]

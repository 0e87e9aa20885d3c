"""Two web nodes: two gunicorn processes on two loopback ports, on the same database, broker and
queues, take enrolled agents' reports in turn; one report writer (scale.batch.consume_reports,
in a thread of the test) stores them. Every report answered 202 by either node is in the
database exactly once, and a report sent to one node and replayed to the other is stored once."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from remote_support import free_port, report_body, subprocess_env
from sqlalchemy import func, select

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
AGENTS = 6
ROUNDS = 5


def _node(database_url, broker_app, tmp_root: Path, port: int, log: Path) -> subprocess.Popen:
    config = broker_app.config
    env = subprocess_env(database_url, COUNCILDESK_BROKER_URL=config["BROKER_URL"],
                         COUNCILDESK_SCALE_QUEUE_PREFIX=config["SCALE_QUEUE_PREFIX"],
                         COUNCILDESK_SCALE_PUBLISH_TIMEOUT=json.dumps(config["SCALE_PUBLISH_TIMEOUT"]),
                         COUNCILDESK_DATA_DIR=str(tmp_root / "data"), PYTHONPATH=str(ROOT))
    handle = open(log, "ab")  # noqa: SIM115  (the child writes to it)
    try:
        return subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "2",
                                 "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"],
                                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        handle.close()


def _wait_up(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"gunicorn on {port} did not start\n{log.read_text(errors='replace')[-2000:]}")


def _post(port: int, token: str, body: dict) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/agents/report", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _stored(db, agent_ids):
    from remote.models import AgentReport

    db.session.commit()
    return db.session.execute(select(AgentReport.agent_id, AgentReport.report_id)
                              .where(AgentReport.agent_id.in_(agent_ids))).all()


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_nodes_one_queue_every_report_once(app, db, world, enroll, broker_app, database_url, tmp_root, tmp_path):
    from remote.models import Check, Result
    from scale.batch import consume_reports

    agents = [enroll(hostname=f"node-{i:02d}") for i in range(AGENTS)]
    ids = [a.agent_id for a in agents]
    ports = [free_port(), free_port()]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    nodes = [_node(database_url, broker_app, tmp_root, port, log) for port, log in zip(ports, logs, strict=True)]
    stop = threading.Event()
    taken = []  # the reports the writer took from the queue, per batch
    writer = threading.Thread(target=consume_reports, args=(broker_app, stop, lambda n, counts: taken.append(n)),
                              daemon=True)
    try:
        for port, proc, log in zip(ports, nodes, logs, strict=True):
            _wait_up(port, proc, log)
        writer.start()
        # A spool replayed after an outage: each agent's reports collected an interval apart
        # (closer ones would be forged "old" reports, answered 429 by the report-frequency rule).
        start = dt.datetime.now(UTC) - dt.timedelta(days=2)
        accepted, answers = [], []
        sent = 0
        for round_ in range(ROUNDS):
            for agent in agents:
                report_id = f"n{uuid.uuid4().hex[:20]}"
                body = report_body(start + dt.timedelta(seconds=300 * round_), report_id=report_id,
                                   agent={"version": "1.0.0", "spool_depth": 20, "spool_dropped": 0,
                                          "spool_rejected": 0})
                status = _post(ports[sent % 2], agent.token, body)  # alternately to each node
                answers.append(status)
                if status == 202:
                    accepted.append((agent.agent_id, report_id))
                if round_ == 1:  # the agent did not hear the 202: it sends the same report to the other node
                    assert _post(ports[(sent + 1) % 2], agent.token, body) == 202
                sent += 1
        assert answers == [202] * len(answers), answers
        _wait(lambda: len(_stored(db, ids)) >= len(accepted), 60, "every accepted report in the database")
        # The replays too (they are dropped by their report_id when written): none is left queued.
        _wait(lambda: sum(taken) >= len(answers) + AGENTS, 60, "the writer to take every message")
    finally:
        stop.set()
        for proc in nodes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        if writer.is_alive():
            writer.join(15)
    # Through the queue, not stored by the nodes themselves: the writer took every message.
    assert sum(taken) == len(answers) + AGENTS
    rows = _stored(db, ids)
    assert len(rows) == len(set(rows)) == AGENTS * ROUNDS
    assert set(rows) == set(accepted)
    # Once each: every stored report gave one result per built-in check, none twice.
    cpu = db.session.scalars(select(Check.id).where(Check.agent_id.in_(ids), Check.kind == "cpu")).all()
    assert len(cpu) == AGENTS
    assert db.session.scalar(select(func.count(Result.id)).where(Result.check_id.in_(cpu))) == AGENTS * ROUNDS

"""The real agent (`python -m remote.agent`, as installed on council machines) against the real
app on a loopback HTTP server: enrollment, reports, an outage of the server, and the spooled
reports arriving in order, each exactly once, when the server is back on the same port."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from remote_support import free_port
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]


class RestartableServer:
    """werkzeug's threaded server on a fixed loopback port, which can go away and come back."""

    def __init__(self, app, port: int):
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server = None
        self._thread = None

    def start(self) -> RestartableServer:
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()  # frees the port: the agent now gets "connection refused"
            self._thread.join(timeout=10)
            self._server = None


def _agent(*args: str, env: dict | None = None, **kwargs):
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "remote.agent", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=60, check=False, **kwargs)


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_real_agent_survives_an_outage_and_replays_in_order(app, db, world, enrollment_key, tmp_path, monkeypatch):
    from inventory.models import Asset
    from remote.models import Agent, AgentReport, Check, Result

    # The agent reports every second: so does the server expect it to (the report-frequency
    # rule answers 429 to fresh reports closer than a quarter of the interval).
    monkeypatch.setitem(app.config, "REMOTE_AGENT_REPORT_INTERVAL", 1)
    server = RestartableServer(app, free_port()).start()
    config = tmp_path / "agent" / "agent.json"
    process = None
    try:
        enrolled = _agent("enroll", "--server", server.url, "--config", str(config),
                          env={"COUNCILDESK_ENROLLMENT_KEY": enrollment_key})
        assert enrolled.returncode == 0, enrolled.stderr
        stored = json.loads(config.read_text())
        agent_id, asset_id = stored["agent_id"], stored["asset_id"]
        assert enrollment_key not in config.read_text()
        db.session.commit()
        asset = db.session.get(Asset, asset_id)
        assert asset.council_id == world.council_a.id and asset.hostname

        log = open(tmp_path / "agent.log", "w")  # noqa: SIM115 - the agent writes to it
        process = subprocess.Popen(
            [sys.executable, "-m", "remote.agent", "run", "--config", str(config), "--interval", "1",
             "--max-backoff", "1", "--verbose"], cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def received():
            db.session.commit()
            return db.session.scalars(select(AgentReport).where(AgentReport.agent_id == agent_id)
                                      .order_by(AgentReport.id)).all()

        _wait(lambda: len(received()) >= 2, 30, "the first reports")
        server.stop()
        outage_started = time.monotonic()
        spool = Path(str(config).replace(".json", ".spool.sqlite3"))
        _wait(lambda: spool.exists(), 10, "the agent to start spooling")
        time.sleep(4)  # a few reports pile up in the agent's spool
        before = len(received())
        server.start()  # back, same port
        _wait(lambda: len(received()) >= before + 6, 30, "the spooled reports")
        process.terminate()
        process.wait(timeout=15)
        outage = time.monotonic() - outage_started
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        server.stop()

    reports = received()
    collected = [r.collected_at for r in reports]
    # In collection order, exactly once (report ids are unique per agent by constraint).
    assert collected == sorted(collected)
    assert len({r.report_id for r in reports}) == len(reports)
    # Nothing was lost in the outage: one report a second, no hole wider than a couple of ticks.
    gaps = [(b - a).total_seconds() for a, b in zip(collected, collected[1:], strict=False)]
    assert max(gaps) < 2.6, gaps
    spooled = [r for r in reports if (r.received_at - r.collected_at) > dt.timedelta(seconds=1.5)]
    assert len(spooled) >= 3, f"the outage ({outage:.1f} s) should have spooled reports"
    # Each report fed the checks once, at its collection time.
    cpu = db.session.scalar(select(Check).where(Check.asset_id == asset_id, Check.kind == "cpu"))
    results = db.session.scalars(select(Result.collected_at).where(Result.check_id == cpu.id)
                                 .order_by(Result.id)).all()
    assert results == collected
    agent = db.session.get(Agent, agent_id)
    assert agent.spool_dropped == 0 and agent.spool_rejected == 0 and agent.version
    assert db.session.get(Asset, asset_id).last_seen_at is not None

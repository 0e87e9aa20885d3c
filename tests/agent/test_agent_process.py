"""The real agent process (``python -m remote.agent``) against the stub server."""

from __future__ import annotations

import datetime as dt
import json
import signal
import stat
import time
from pathlib import Path

from agent_support import (
    ENROLLMENT_KEY,
    TOKEN,
    StubServer,
    contract_problems,
    enroll,
    run_agent,
    spool_rows,
    start_agent,
    stop_agent,
    wait_for,
    write_config,
)

from remote.agent import __version__


def test_enroll_then_report_with_the_bearer_token(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "state" / "agent.json"
    result = enroll(stub, config)
    assert result.returncode == 0, result.stderr
    assert "enrolled as agent 4" in result.stdout

    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    stored = json.loads(config.read_text())
    assert stored["token"] == TOKEN
    assert (stored["agent_id"], stored["asset_id"]) == (4, 17)
    assert stored["server"] == stub.url
    assert stored["report_interval_seconds"] == 60
    assert TOKEN not in result.stdout + result.stderr, "the token is never printed"

    enrollment = stub.state.enrollments[0]
    assert enrollment["enrollment_key"] == ENROLLMENT_KEY
    assert enrollment["hostname"] == enrollment["inventory"]["hostname"]
    assert enrollment["os"] == enrollment["inventory"]["os"]

    result = run_agent("run", "--config", str(config), "--once")
    assert result.returncode == 0, result.stderr
    assert len(stub.state.reports) == 1
    report = stub.state.reports[0]
    assert contract_problems(report) == []
    assert stub.state.headers[0]["Authorization"] == f"Bearer {TOKEN}"
    assert stub.state.headers[0]["User-Agent"].startswith(f"councildesk-agent/{__version__}")
    assert report["agent"]["version"] == __version__


def test_enrollment_with_a_wrong_key_stores_nothing(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    result = run_agent("enroll", "--server", stub.url, "--enrollment-key", "wrong", "--config", str(config))
    assert result.returncode == 77
    assert "enrollment key refused" in result.stderr
    assert not config.exists()


def test_enrolling_twice_needs_force(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    assert enroll(stub, config).returncode == 0
    again = enroll(stub, config)
    assert again.returncode == 78
    assert "--force" in again.stderr
    assert enroll(stub, config, "--force").returncode == 0


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    result = run_agent(
        "enroll",
        "--server",
        "http://desk.example.cat",
        "--enrollment-key",
        "k",
        "--config",
        str(tmp_path / "agent.json"),
    )
    assert result.returncode == 78
    assert "refusing plain http://" in result.stderr


def test_run_without_enrollment_is_a_config_error(tmp_path: Path) -> None:
    result = run_agent("run", "--once", "--config", str(tmp_path / "agent.json"))
    assert result.returncode == 78
    assert "not enrolled" in result.stderr


def test_dry_run_prints_the_report_and_sends_nothing(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    write_config(stub, config)
    result = run_agent("run", "--config", str(config), "--once", "--dry-run")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert contract_problems(report) == []
    assert stub.state.reports == []
    assert spool_rows(config) == []


def test_outage_spools_and_replays_every_report_in_order_exactly_once(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    write_config(stub, config)
    agent = start_agent("run", "--config", str(config), "--interval", "0.2", "--max-backoff", "0.4", "-v")
    try:
        assert wait_for(lambda: len(stub.state.reports) >= 2), "agent never reported"
        stub.stop()
        delivered_before = len(stub.state.reports)
        assert wait_for(lambda: len(spool_rows(config)) >= 5), "reports were not spooled"
        spooled = [r["report_id"] for r in spool_rows(config)]
        stub.start()  # same port, same state
        assert wait_for(lambda: set(spooled) <= set(stub.state.report_ids()) and not spool_rows(config)), (
            "spooled reports were not replayed"
        )
        assert wait_for(lambda: len(stub.state.reports) >= delivered_before + len(spooled) + 2)
    finally:
        code, _out, err = stop_agent(agent)
    assert code == 0, err

    ids = stub.state.report_ids()
    assert len(ids) == len(set(ids)), "a report arrived twice"
    assert ids[delivered_before : delivered_before + len(spooled)] == spooled, (
        "the spool is replayed oldest first, before anything newer"
    )
    stamps = [dt.datetime.fromisoformat(r["collected_at"]) for r in stub.state.reports]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), (
        "collected_at is kept as collected and increases"
    )
    # Each spooled report carries the depth the queue had when it was collected.
    assert max(r["agent"]["spool_depth"] for r in stub.state.reports) >= len(spooled) - 1
    assert all(r["agent"]["spool_dropped"] == 0 for r in stub.state.reports)
    assert stub.state.invalid == []
    assert "cannot deliver reports" in err and "replayed" in err


def test_once_while_the_server_is_down_spools_then_delivers(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    write_config(stub, config)
    stub.stop()
    down = run_agent("run", "--config", str(config), "--once")
    assert down.returncode == 75
    assert len(spool_rows(config)) == 1
    stub.start()
    up = run_agent("run", "--config", str(config), "--once")
    assert up.returncode == 0, up.stderr
    assert len(stub.state.reports) == 2
    assert stub.state.reports[0]["agent"]["spool_depth"] == 0
    assert stub.state.reports[1]["agent"]["spool_depth"] == 1
    assert spool_rows(config) == []


def test_revoked_token_stops_the_agent(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    write_config(stub, config)
    agent = start_agent("run", "--config", str(config), "--interval", "0.2")
    try:
        assert wait_for(lambda: len(stub.state.reports) >= 1)
        stub.state.revoked = True
        started = time.monotonic()
        code = agent.wait(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        code, _out, err = stop_agent(agent)
    assert code == 77
    assert "revoked" in err
    assert spool_rows(config) == [], "a revoked agent does not pile up reports"


def test_sigterm_cuts_the_sleep_between_reports(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    write_config(stub, config)
    agent = start_agent("run", "--config", str(config), "--interval", "2.5")
    assert wait_for(lambda: len(stub.state.reports) == 1), "no first report"
    time.sleep(0.1)  # now asleep for ~2.4 s until the next report
    started = time.monotonic()
    code, _out, err = stop_agent(agent, signal.SIGTERM)
    assert time.monotonic() - started < 1.5, "the sleep was not interrupted"
    assert code == 0, err
    assert "stopping (SIGTERM)" in err
    assert len(stub.state.reports) == 1


def test_ctrl_c_stops_the_agent_cleanly(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    write_config(stub, config)
    lock = config.with_suffix(".lock")
    # A 60 s interval: the agent waits 1 to 10 s before its first report.
    agent = start_agent("run", "--config", str(config), "--interval", "60")
    assert wait_for(lock.exists), "agent did not start"
    time.sleep(0.2)  # past the lock, into the wait before the first report
    started = time.monotonic()
    code, _out, err = stop_agent(agent, signal.SIGINT)
    assert time.monotonic() - started < 1.5
    assert code == 0, err
    assert "stopping (SIGINT)" in err
    assert "Traceback" not in err


def test_a_second_agent_on_the_same_config_is_refused(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    write_config(stub, config)
    agent = start_agent("run", "--config", str(config), "--interval", "5")
    try:
        assert wait_for(lambda: config.with_suffix(".lock").exists())
        time.sleep(0.3)  # past startup, lock held
        second = run_agent("run", "--config", str(config), "--once")
        assert second.returncode == 75
        assert "already running" in second.stderr
    finally:
        stop_agent(agent)


def test_tls_self_signed_is_refused_without_ca_file_and_accepted_with_it(
    tls_stub: tuple[StubServer, Path], tmp_path: Path
) -> None:
    server, cert = tls_stub
    config = tmp_path / "agent.json"
    refused = enroll(server, config)
    assert refused.returncode == 69
    assert "certificate verif" in refused.stderr.lower()
    assert "--ca-file" in refused.stderr
    assert not config.exists()
    assert server.state.enrollments == []

    accepted = enroll(server, config, "--ca-file", str(cert))
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(config.read_text())["ca_file"] == str(cert)
    result = run_agent("run", "--config", str(config), "--once")
    assert result.returncode == 0, result.stderr
    assert len(server.state.reports) == 1


def test_status_shows_state_without_the_token(stub: StubServer, tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    write_config(stub, config)
    result = run_agent("status", "--config", str(config))
    assert result.returncode == 0
    status = json.loads(result.stdout)
    assert status["agent_id"] == 4
    assert status["spool"]["depth"] == 0
    assert TOKEN not in result.stdout

"""The scheduler: its registry and run records, and two real `flask scheduler` processes taking
turns (an exclusive flock on SQLite, a PostgreSQL advisory lock on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from remote_support import subprocess_env
from sqlalchemy import select

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


# --- the registry and the run records ----------------------------------------------------------

def test_interval_triggers_agree_between_processes():
    from remote.scheduler import interval

    a, b = interval(60), interval(60)
    t1 = dt.datetime(2026, 5, 4, 10, 0, 17, 123456, tzinfo=UTC)
    t2 = dt.datetime(2026, 5, 4, 10, 0, 42, tzinfo=UTC)
    assert a.get_next_fire_time(None, t1) == b.get_next_fire_time(None, t2) == dt.datetime(2026, 5, 4, 10, 1, tzinfo=UTC)


def test_register_job_validates_its_options():
    from remote import scheduler

    with pytest.raises(TypeError):
        scheduler.register_job("x.y", lambda: None, scheduler.interval(5), misfire_grace=3)
    spec = scheduler.register_job("test.tmp", lambda: None, lambda config: scheduler.interval(config["N"]))
    try:
        assert spec.build_trigger({"N": 7}).interval.total_seconds() == 7
        assert spec in scheduler.registered_jobs()
    finally:
        scheduler.unregister_job("test.tmp")


def test_every_job_of_ours_is_configured_on_purpose(app):
    from remote import scheduler

    ours = {"remote.ssh_round", "remote.offline", "remote.alert_events", "core.mail_outbox",
            "inventory.expiry_reminders", "remote.rollups", "remote.retention"}
    jobs = {spec.id: spec for spec, _trigger in scheduler.active_jobs(app) if spec.id in ours}
    assert set(jobs) == ours
    for spec in jobs.values():
        # Never skipped for being late, one at a time, and a backlog runs once.
        assert (spec.misfire_grace_time, spec.max_instances, spec.coalesce) == (None, 1, True), spec.id


def test_catch_up_after_downtime():
    from remote.scheduler import JobSpec, catch_up_start, daily, interval

    now = dt.datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC)
    probe = JobSpec("p", print, interval(2), coalesce=False, catch_up=dt.timedelta(seconds=60))
    last = dt.datetime(2026, 5, 4, 9, 59, 50, tzinfo=UTC)
    assert catch_up_start(probe, interval(2), last, now) == dt.datetime(2026, 5, 4, 9, 59, 52, tzinfo=UTC)
    # Older than the window: only the window is replayed.
    old = dt.datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    assert catch_up_start(probe, interval(2), old, now) == dt.datetime(2026, 5, 4, 9, 59, 6, tzinfo=UTC)
    assert catch_up_start(probe, interval(2), None, now) is None
    assert catch_up_start(probe, interval(2), now - dt.timedelta(seconds=1), now) is None
    reminders = JobSpec("r", print, daily(7, 30, "Europe/Madrid"), catch_up=dt.timedelta(hours=24))
    trigger = daily(7, 30, "Europe/Madrid")
    yesterday = dt.datetime(2026, 5, 3, 5, 30, tzinfo=UTC)  # 07:30 in Madrid (summer time)
    late_start = dt.datetime(2026, 5, 4, 8, 10, tzinfo=UTC)
    assert catch_up_start(reminders, trigger, yesterday, late_start) == dt.datetime(2026, 5, 4, 5, 30, tzinfo=UTC)


def test_a_trigger_is_claimed_once(app, db):
    from remote.models import JobRun
    from remote.scheduler import claim_run

    at = dt.datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert claim_run("test.job", at, "host:1") is not None
    assert claim_run("test.job", at, "host:2") is None
    assert claim_run("test.job", at + dt.timedelta(seconds=1), "host:2") is not None
    assert len(db.session.scalars(select(JobRun)).all()) == 2


def test_execute_records_outcome_counts_and_errors(app, db):
    from remote.models import JobRun
    from remote.scheduler import JobSpec, execute, interval

    seen = {}

    def job(now, today, scheduled_at):
        seen.update(now=now, today=today, scheduled_at=scheduled_at)
        return {"sent": 3}

    def broken():
        raise ValueError("disk full")

    at = dt.datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert execute(app, JobSpec("test.ok", job, interval(60)), at, "me:1") == "ok"
    assert seen["scheduled_at"] == at and isinstance(seen["today"], dt.date)
    assert execute(app, JobSpec("test.ok", job, interval(60)), at, "me:2") == "duplicate"
    assert execute(app, JobSpec("test.broken", broken, interval(60)), at, "me:1") == "error"
    runs = {r.job_id: r for r in db.session.scalars(select(JobRun))}
    assert runs["test.ok"].outcome == "ok" and runs["test.ok"].counts == {"sent": 3}
    assert runs["test.ok"].finished_at >= runs["test.ok"].started_at
    assert runs["test.broken"].outcome == "error" and "disk full" in runs["test.broken"].error


def test_job_runs_page_for_admins_with_filters(app, db, world, client_for):
    from remote.scheduler import claim_run

    at = dt.datetime.now(UTC).replace(microsecond=0)
    claim_run("remote.offline", at, "host:1", outcome="skipped", error="the previous run was still going")
    claim_run("core.mail_outbox", at, "host:1", outcome="ok")
    admin = client_for(world.admin)
    html = admin.get("/admin/scheduler?outcome=skipped").get_data(as_text=True)
    assert "the previous run was still going" in html and "host:1" in html
    assert "core.mail_outbox</td>" not in html
    assert admin.get("/admin/scheduler?job=core.mail_outbox&day=not-a-date").status_code == 200
    assert client_for(world.technician).get("/admin/scheduler").status_code == 403


def test_cli_lists_and_runs_a_job(app, db):
    from remote.models import JobRun

    runner = app.test_cli_runner()
    result = runner.invoke(args=["scheduler", "jobs"])
    assert result.exit_code == 0 and "remote.ssh_round" in result.output
    result = runner.invoke(args=["scheduler", "run-job", "remote.offline"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(JobRun.outcome).where(JobRun.job_id == "remote.offline")) == "ok"
    assert runner.invoke(args=["scheduler", "run-job", "no.such"]).exit_code != 0


# --- two real processes ------------------------------------------------------------------------

class Probe:
    def __init__(self, path: Path):
        self.path = path

    def lines(self) -> list[tuple[dt.datetime, int]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            stamp, pid = line.split()
            out.append((dt.datetime.fromisoformat(stamp), int(pid)))
        return out

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.lines()
            if predicate(lines):
                return lines
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}: {self.lines()}")


def _start(database_url: str, probe: Path, log: Path, **extra) -> subprocess.Popen:
    env = subprocess_env(database_url, PROBE_FILE=probe, PROBE_SECONDS=1,
                         PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]),
                         COUNCILDESK_SCHEDULER_JOB_MODULES='["scheduler_probe:register"]',
                         COUNCILDESK_SCHEDULER_ONLY_JOBS='["test.probe"]',
                         COUNCILDESK_SCHEDULER_STANDBY_POLL_SECONDS="0.25",
                         COUNCILDESK_SCHEDULER_LOCK_CHECK_SECONDS="0.25", **extra)
    handle = open(log, "ab")  # noqa: SIM115 - the child writes to it
    try:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "scheduler"], cwd=ROOT, env=env,
                                stdout=handle, stderr=subprocess.STDOUT)
    finally:
        handle.close()


def _wait_for_log(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{path.name} never said {text!r}: {path.read_text(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _check_exactly_once(db, lines):
    from remote.models import JobRun

    stamps = [t for t, _pid in lines]
    assert len(stamps) == len(set(stamps)), f"a trigger ran twice: {lines}"
    db.session.commit()
    runs = {r.scheduled_at: r for r in db.session.scalars(select(JobRun).where(JobRun.job_id == "test.probe"))}
    assert set(stamps) <= set(runs)
    # Every trigger between the first and the last got its run: none lost in the failover, and
    # the only one not in the probe's file is a run the killed process left unfinished.
    first, last = min(runs), max(runs)
    expected = {first + dt.timedelta(seconds=i) for i in range(int((last - first).total_seconds()) + 1)}
    assert set(runs) == expected, sorted(expected - set(runs))
    missing = set(runs) - set(stamps)
    assert len(missing) <= 1 and all(runs[m].outcome in ("error", "running") for m in missing), missing
    return runs


@pytest.mark.slow
def test_two_schedulers_one_active_and_a_killed_leader_is_replaced(app, db, database_url, tmp_path):
    probe = Probe(tmp_path / "probe.txt")
    first = _start(database_url, probe.path, tmp_path / "a.log")
    second = None
    try:
        probe.wait(lambda lines: len(lines) >= 2, 60, "the first scheduler's runs")
        second = _start(database_url, probe.path, tmp_path / "b.log")
        _wait_for_log(tmp_path / "b.log", "waits as standby", 60)
        lines = probe.lines()
        assert {pid for _t, pid in lines} == {first.pid}, "the standby ran jobs while the leader was alive"
        count = len(lines)
        probe.wait(lambda lines: len(lines) > count, 15, "a fresh run")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=5)
        killed_at = time.monotonic()
        lines = probe.wait(lambda lines: sum(pid == second.pid for _t, pid in lines) >= 3, 40, "the standby's runs")
        took_over = time.monotonic() - killed_at
        assert took_over < 15
    finally:
        for process in (first, second):
            if process is not None:
                _stop(process)
    lines = probe.lines()
    runs = _check_exactly_once(db, lines)
    pids = [pid for _t, pid in sorted(lines)]
    # One leader, then the other: never interleaved.
    assert pids == sorted(pids, key=lambda p: p != first.pid)
    assert any(r.instance.endswith(f":{second.pid}") for r in runs.values())
    log = (tmp_path / "b.log").read_text()
    assert "waits as standby" in log and "is active" in log


@pytest.mark.slow
def test_leader_that_loses_its_postgresql_connection_stops_at_once(app, db, database_url, is_postgres, tmp_path):
    if not is_postgres:
        pytest.skip("PostgreSQL only: on SQLite the lock is a flock, which only the process's death releases "
                    "(the test above kills the leader)")
    import sqlalchemy as sa

    probe = Probe(tmp_path / "probe.txt")
    first = _start(database_url, probe.path, tmp_path / "a.log")
    second = None
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        probe.wait(lambda lines: len(lines) >= 2, 60, "the first scheduler's runs")
        second = _start(database_url, probe.path, tmp_path / "b.log")
        _wait_for_log(tmp_path / "b.log", "waits as standby", 60)
        with engine.connect() as conn:
            killed = conn.execute(sa.text(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'councildesk-scheduler'"
            )).scalars().all()
        assert killed == [True]
        probe.wait(lambda lines: any(pid == second.pid for _t, pid in lines), 40, "the standby taking over")
        time.sleep(2.5)
        assert first.poll() is None, "losing the lock stops scheduling, not the process"
    finally:
        for process in (first, second):
            if process is not None:
                _stop(process)
        engine.dispose()
    _check_exactly_once(db, probe.lines())
    assert "lost its lock" in (tmp_path / "a.log").read_text()

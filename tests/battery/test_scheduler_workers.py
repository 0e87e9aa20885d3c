"""The scheduler as deployed: gunicorn with 4 workers serving traffic, and two `flask
scheduler` processes (one active, one standby), restarted and killed in turn. Every job runs
exactly once per trigger (the test probe of tests/remote/scheduler_probe.py every second,
beside every real job of the installation), across a graceful restart of the leader, a
restart of gunicorn and a SIGKILL of the leader; and no web worker ever runs a job.

Runs on the suite's engine: the PostgreSQL advisory lock in CI's PostgreSQL run, the flock
on SQLite.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from battery_support import FLASK, ROOT, Gunicorn, migrated_app, seed_stream_world, subprocess_env

PROBE_DIR = ROOT / "tests" / "remote"  # scheduler_probe.py: a job that appends its trigger and pid


def _env(url: str, probe: Path) -> dict:
    return {"PROBE_FILE": probe, "PROBE_SECONDS": 1,
            "PYTHONPATH": os.pathsep.join([str(PROBE_DIR), str(ROOT)]),
            "COUNCILDESK_SCHEDULER_JOB_MODULES": '["scheduler_probe:register"]',
            "COUNCILDESK_SCHEDULER_STANDBY_POLL_SECONDS": "0.25",
            "COUNCILDESK_SCHEDULER_LOCK_CHECK_SECONDS": "0.25"}


class Scheduler:
    def __init__(self, url: str, probe: Path, log: Path):
        self.log = log
        handle = open(log, "ab")  # noqa: SIM115 - the child writes to it
        try:
            self.process = subprocess.Popen([FLASK, "--app", "app", "scheduler"], cwd=ROOT,
                                            env=subprocess_env(url, **_env(url, probe)),
                                            stdout=handle, stderr=subprocess.STDOUT)
        finally:
            handle.close()
        self.pid = self.process.pid

    def said(self, text: str) -> bool:
        return self.log.exists() and text in self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.said(text):
                return
            assert self.process.poll() is None, self.log.read_text(errors="replace")[-2000:]
            time.sleep(0.1)
        raise AssertionError(f"{self.log.name} never said {text!r}: {self.log.read_text(errors='replace')[-2000:]}")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _probe_lines(probe: Path) -> list[tuple[dt.datetime, int]]:
    if not probe.exists():
        return []
    return [(dt.datetime.fromisoformat(stamp), int(pid))
            for stamp, pid in (line.split() for line in probe.read_text().splitlines())]


def _wait_runs(probe: Path, pid: int, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(p == pid for _t, p in _probe_lines(probe)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} did not run {count} probes: {_probe_lines(probe)[-10:]}")


class Traffic:
    """Requests to the web workers all along: they are busy, and they are the processes that
    must never run a job."""

    def __init__(self, port_ref: list[int], token: str, council_id: int, today: str):
        self.port_ref, self.token, self.council_id, self.today = port_ref, token, council_id, today
        self.stop = threading.Event()
        self.answers: dict[object, int] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port_ref[0], timeout=10)
                conn.request("POST", "/api/v1/time-entries", body=json.dumps({
                    "council_id": self.council_id, "date": self.today, "minutes": 5, "mode": "remote",
                    "description": f"traffic {n}"}),
                    headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
            except OSError:
                status = "down"
                time.sleep(0.05)
            self.answers[status] = self.answers.get(status, 0) + 1


@pytest.mark.slow
def test_each_trigger_runs_once_with_four_workers_and_two_schedulers(database_url, scratch_database, tmp_path):
    url = scratch_database("scheduler")
    seed = seed_stream_world(migrated_app(url, tmp_path))
    probe = tmp_path / "probe.txt"
    # The web workers get the probe's registration too: were any of them to start a
    # scheduler, its pid would show up in the probe's file.
    web = Gunicorn(url, tmp_path / "gunicorn.log", workers=4, threads=1, preload=False, **_env(url, probe))
    web.start()
    port_ref = [web.port]
    web_pids = set(web.worker_pids()) | {web.process.pid}
    traffic = Traffic(port_ref, seed["technician_token"], seed["councils"][0], seed["today"])
    traffic.thread.start()
    schedulers: list[Scheduler] = []
    try:
        a = Scheduler(url, probe, tmp_path / "a.log")
        schedulers.append(a)
        _wait_runs(probe, a.pid, 3)
        b = Scheduler(url, probe, tmp_path / "b.log")
        schedulers.append(b)
        b.wait_for("waits as standby")
        _wait_runs(probe, a.pid, 5)

        # 1. The leader is restarted gracefully (a deploy): the standby takes over.
        a.stop(signal.SIGTERM)
        _wait_runs(probe, b.pid, 3, timeout=30)
        a2 = Scheduler(url, probe, tmp_path / "a2.log")
        schedulers.append(a2)
        a2.wait_for("waits as standby")

        # 2. gunicorn is restarted meanwhile (its new workers must not schedule either).
        web.stop()
        web.start()
        web_pids |= set(web.worker_pids()) | {web.process.pid}
        _wait_runs(probe, b.pid, 6, timeout=30)

        # 3. The leader dies without a word: the restarted one takes over.
        b.stop(signal.SIGKILL)
        _wait_runs(probe, a2.pid, 4, timeout=40)
        time.sleep(1.5)
    finally:
        traffic.stop.set()
        traffic.thread.join(timeout=15)
        for scheduler in schedulers:
            scheduler.stop()
        web.stop()

    lines = _probe_lines(probe)
    stamps = [t for t, _p in lines]
    scheduler_pids = {s.pid for s in schedulers}
    app = migrated_app(url, tmp_path)
    from extensions import db
    from remote.models import JobRun

    with app.app_context():
        runs = db.session.scalars(sa.select(JobRun)).all()
        db.session.remove()
        db.engine.dispose()
    probe_runs = {r.scheduled_at.replace(tzinfo=dt.UTC) if r.scheduled_at.tzinfo is None else r.scheduled_at: r
                  for r in runs if r.job_id == "test.probe"}
    run_pids = {int(r.instance.rsplit(":", 1)[1]) for r in runs}
    real_jobs = sorted({r.job_id for r in runs if r.job_id != "test.probe"})

    print(f"\nscheduler: {len(stamps)} probe triggers by {len({p for _t, p in lines})} processes over "
          f"{(max(stamps) - min(stamps)).total_seconds():.0f}s, {len(runs) - len(probe_runs)} runs of real jobs "
          f"{real_jobs}; web requests {traffic.answers}")
    assert len(stamps) == len(set(stamps)), f"a trigger ran twice: {sorted(stamps)}"
    assert {p for _t, p in lines} <= scheduler_pids, "a process other than the schedulers ran the probe"
    assert not (run_pids & web_pids), "a web worker ran a job"
    assert run_pids <= scheduler_pids
    # Every trigger from the first to the last has its run: the graceful restart lost none, and
    # the SIGKILL at most the one that was running (recorded, never run twice).
    first, last = min(probe_runs), max(probe_runs)
    expected = {first + dt.timedelta(seconds=i) for i in range(int((last - first).total_seconds()) + 1)}
    assert set(probe_runs) == expected, sorted(expected - set(probe_runs))
    unfinished = set(probe_runs) - set(stamps)
    # A once-a-second probe on two loaded cores may fall due while its previous run is still
    # recording: max_instances=1 then skips that trigger, and the skip is recorded (never a
    # second concurrent run). Real jobs run every minute or less often and never meet this.
    skipped = {m for m in unfinished if probe_runs[m].outcome == "skipped"}
    assert all("max_instances" in (probe_runs[m].error or "") for m in skipped), skipped
    assert len(skipped) <= max(2, len(probe_runs) // 10), f"{len(skipped)} of {len(probe_runs)} triggers skipped"
    lost = unfinished - skipped
    assert len(lost) <= 1 and all(probe_runs[m].outcome in ("error", "running") for m in lost), lost
    # Real jobs (every minute or less often: the run may or may not span a trigger): one run
    # per trigger too.
    keys = [(r.job_id, r.scheduled_at) for r in runs]
    assert len(keys) == len(set(keys))
    assert traffic.answers.get(201, 0) > 20, traffic.answers

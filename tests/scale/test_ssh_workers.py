"""(a) An SSH round of 200 checks spread over two real `flask worker` processes on the private
broker, against the real sshd of tests/remote: one worker is killed with SIGKILL in the middle
of the round, and every check is recorded exactly once all the same (late acknowledgement
gives the dead worker's tasks to the other; the task key stops a second record)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from remote_support import subprocess_env
from sqlalchemy import func, select

UTC = dt.UTC
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HOSTS = 50  # four due checks each: 200 checks
FAST = {"connect": 2.0, "banner": 2.0, "handshake": 8.0, "auth": 8.0, "command": 8.0, "host_total": 30.0}


def _servers(db, world, sshd) -> list[int]:
    from inventory import services as inventory
    from remote import check_config
    from remote import ssh_settings as services
    from remote.hostkey_approval import record_offered_key
    from remote.hostkeys import HostKey as SshHostKey

    offered = SshHostKey.from_openssh(sshd.host_key_line)
    client = sshd.client_keys["audited"]
    ids = []
    for i in range(HOSTS):
        asset = inventory.create_asset(world.council_a, {"kind": "server", "name": f"srv-{i:03d}"}, actor=None)
        settings = services.save_ssh_settings(asset, {"host": sshd.host, "port": sshd.port, "username": sshd.username,
                                                      "private_key": client.private_key,
                                                      "passphrase": client.passphrase}, actor=None)
        row, _new = record_offered_key(settings, offered, changed=False, now=dt.datetime.now(UTC))
        row.status = "approved"
        for kind, params in (("disk", {"mount": "/"}), ("memory", {}), ("load", {"window": 1}), ("reachability", {})):
            check_config.create_ssh_check(asset, {"kind": kind, "params": params}, actor=None)
        ids.append(asset.id)
    db.session.commit()
    return ids


def _worker(database_url, app, name: str, log: Path) -> subprocess.Popen:
    env = subprocess_env(database_url, COUNCILDESK_BROKER_URL=app.config["BROKER_URL"],
                         COUNCILDESK_SCALE_QUEUE_PREFIX=app.config["SCALE_QUEUE_PREFIX"],
                         COUNCILDESK_REMOTE_SSH_ALLOW_LOCAL_HOSTS="true",
                         COUNCILDESK_REMOTE_SSH_TIMEOUTS=json.dumps(FAST),
                         COUNCILDESK_SSH_KEY_ENCRYPTION_KEYS=json.dumps(list(app.config["SSH_KEY_ENCRYPTION_KEYS"])
                                                                        if not isinstance(app.config["SSH_KEY_ENCRYPTION_KEYS"], str)
                                                                        else app.config["SSH_KEY_ENCRYPTION_KEYS"]),
                         PYTHONPATH=str(ROOT))
    handle = open(log, "ab")  # noqa: SIM115  (the child writes to it)
    try:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "--pool", "threads",
                                 "-c", "4", "-Q", "checks", "-n", f"{name}@%h", "-l", "INFO"], cwd=ROOT, env=env,
                                stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        handle.close()


def _wait_for(predicate, timeout, what, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tails = "\n".join(p.read_text(errors="replace")[-1500:] for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def test_round_over_two_workers_one_killed(app, db, world, sshd, broker_app, database_url, tmp_path):
    from remote import jobs
    from remote.models import Check, Result
    from scale.models import TaskKey

    assets = _servers(db, world, sshd)
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [_worker(database_url, broker_app, f"w{i + 1}", logs[i]) for i in range(2)]
    try:
        _wait_for(lambda: all(" ready." in p.read_text(errors="replace") for p in logs if p.exists())
                  and all(p.exists() for p in logs), 60, "both workers ready", logs)

        def keys() -> int:
            db.session.commit()
            return db.session.scalar(select(func.count(TaskKey.id)).where(TaskKey.task == "scale.ssh_host"))

        with broker_app.app_context():
            counts = jobs.run_ssh_round(dt.datetime.now(UTC) + dt.timedelta(seconds=1))
        assert counts == {"hosts": HOSTS, "checks": 4 * HOSTS, "queued": HOSTS}
        _wait_for(lambda: keys() >= HOSTS // 5, 60, "a fifth of the round", logs)
        os.killpg(workers[0].pid, signal.SIGKILL)  # mid-round, tasks in hand
        workers[0].wait(10)
        assert keys() < HOSTS, "the round ended before the kill: nothing was tested"
        _wait_for(lambda: keys() == HOSTS, 120, "the whole round", logs)
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
    db.session.commit()
    due = db.session.scalars(select(Check.id).where(Check.asset_id.in_(assets), Check.kind != "host_key")).all()
    assert len(due) == 4 * HOSTS
    per_check = dict(db.session.execute(select(Result.check_id, func.count(Result.id))
                                        .where(Result.check_id.in_(due)).group_by(Result.check_id)).all())
    assert set(per_check) == set(due), "a check was never recorded"
    assert set(per_check.values()) == {1}, "a check was recorded twice"
    states = db.session.scalars(select(Check.summary_key).where(Check.id.in_(due))).all()
    assert "host_key_pending" not in states and None not in states

"""Helpers of the reliability and security battery: scratch databases, real server processes.

Imported by the battery's tests (tests/battery/conftest.py puts this folder on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
FLASK = str(Path(PYTHON).with_name("flask"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_env(database_url: str, **extra) -> dict:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "SECRET_KEY": "battery-secret", "COUNCILDESK_ENV": "testing",
                "FLASK_APP": "app", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)})
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- scratch databases -----------------------------------------------------------------------

def _server_engine(url: str) -> sa.engine.Engine:
    return sa.create_engine(sa.engine.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def create_scratch_database(like_url: str, directory: Path, label: str = "scratch") -> str:
    """A new, empty database on the same engine as `like_url` (the suite's)."""
    if like_url.startswith("sqlite"):
        return f"sqlite:///{directory / f'{label}-{uuid.uuid4().hex[:8]}.sqlite3'}"
    name = f"{sa.engine.make_url(like_url).database}_{label}_{uuid.uuid4().hex[:8]}"
    engine = _server_engine(like_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return sa.engine.make_url(like_url).set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(url: str) -> None:
    if not url.startswith("postgresql"):
        path = Path(sa.engine.make_url(url).database)
        for suffix in ("", "-wal", "-shm", ".scheduler.lock"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    engine = _server_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def flask_cli(database_url: str, *args: str, check: bool = True, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    proc = subprocess.run([FLASK, "--app", "app", *args], cwd=ROOT, env=subprocess_env(database_url, **env),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"flask {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


# --- a real server -------------------------------------------------------------------------------

class Gunicorn:
    """`gunicorn "app:create_app()"` on a loopback port, in its own process group."""

    def __init__(self, database_url: str, log: Path, workers: int = 2, threads: int = 1, preload: bool = True,
                 port: int | None = None, **env):
        self.database_url = database_url
        self.log = log
        self.workers = workers
        self.threads = threads
        self.preload = preload
        self.port = port or free_port()
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Gunicorn:
        args = [GUNICORN, "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "--threads", str(self.threads), "--graceful-timeout", "5", "--timeout", "60",
                "--access-logfile", "-", "--error-logfile", "-", "--log-level", "info"]
        if self.preload:
            args.append("--preload")
        args.append("app:create_app()")
        handle = open(self.log, "ab")  # noqa: SIM115 - the child writes to it
        try:
            self.process = subprocess.Popen(args, cwd=ROOT, env=subprocess_env(self.database_url, **self.env),
                                            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            handle.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer /healthz within {timeout}s: {self.tail()}")

    def worker_pids(self) -> list[int]:
        """The master's children: the workers serving requests right now."""
        try:
            out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True,
                                 text=True, check=False).stdout
        except OSError:
            return []
        return [int(p) for p in out.split()]

    def kill_all(self) -> None:
        """SIGKILL to the master and every worker at once: nobody gets to clean up."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)
        # Orphaned workers die with the group, but give the kernel a moment to release the port.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.worker_pids():
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill_all()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


# --- a database of its own, migrated and seeded ----------------------------------------------

def app_config(url: str, tmp: Path, **extra) -> dict:
    config = {"ENV_NAME": "testing", "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "battery-secret",
              "WTF_CSRF_ENABLED": False, "MAIL_ENABLED": False, "DATA_DIR": str(tmp / "data"),
              "INSTANCE_PATH": str(tmp / "instance")}
    config.update(extra)
    return config


def migrated_app(url: str, tmp: Path, **extra):
    """An app on `url`, its schema built by the migrations."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(app_config(url, tmp, **extra))
    with app.app_context():
        upgrade(revision="heads")
    return app


def seed_stream_world(app) -> dict:
    """Two councils with an agreement covering today, a technician and a clerk, their tokens."""
    import datetime as dt

    from accounts import services as accounts
    from agreements import councils
    from agreements import services as agreements
    from agreements.months import month_end, month_start, office_today
    from extensions import db

    with app.app_context():
        today = office_today()
        out: dict = {"today": today.isoformat(), "councils": []}
        for name in ("Mura", "Talamanca"):
            council = councils.create_council({"name": name, "population": 211, "population_year": 2014,
                                               "comarca": "Bages"}, actor=None)
            agreements.create_agreement(council, {
                "starts_on": month_start(dt.date(today.year - 1, 1, 1)),
                "ends_on": month_end(dt.date(today.year + 1, 12, 1)), "onsite_minutes_month": 240,
                "signed_on": dt.date(today.year - 2, 12, 1)}, actor=None)
            out["councils"].append(council.id)
        tech = accounts.create_user(email="tech@battery.example.org", name="Tech", role="technician",
                                    password="correct horse battery", actor=None)
        clerk = accounts.create_user(email="clerk@battery.example.org", name="Clerk", role="clerk",
                                     council_id=out["councils"][0], password="correct horse battery", actor=None)
        admin = accounts.create_user(email="admin@battery.example.org", name="Admin", role="admin",
                                     password="correct horse battery", actor=None)
        out["technician_token"] = accounts.create_token(tech, "battery", actor=None)[1]
        out["clerk_token"] = accounts.create_token(clerk, "battery", actor=None)[1]
        out["admin_token"] = accounts.create_token(admin, "battery", actor=None)[1]
        db.session.commit()
        db.session.remove()
    return out


# --- the route walker's extension ------------------------------------------------------------

_ANY = re.compile(r"<any\(([^)]*)\):(\w+)>")


def variants(rule: str) -> list[dict]:
    """Every value of every `any(...)` argument: `export.<any(csv, xlsx):fmt>` is two routes
    to walk (the CSV and the XLSX export; a chart's PNG and its SVG), not one sample value."""
    out = [{}]
    for options, name in _ANY.findall(rule):
        out = [{**v, name: opt.strip().strip("'\"")} for v in out for opt in options.split(",")]
    return out

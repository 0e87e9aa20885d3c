"""Leadership of the scheduler: which `flask scheduler` process is the active one.

**One active scheduler.** On PostgreSQL a session-level advisory lock
(`pg_try_advisory_lock`) held on a dedicated connection (autocommit, TCP keepalives, short
timeouts). If that connection dies, PostgreSQL releases the lock, so the active process
checks it every SCHEDULER_LOCK_CHECK_SECONDS and, when the check fails, shuts its scheduler
down at once and goes back to standby. On SQLite an exclusive `flock` on a file next to the
database, which the kernel releases when the process dies. A second process waits as
standby, trying the lock every SCHEDULER_STANDBY_POLL_SECONDS, and takes over when the
first dies. (The process that takes and guards the lock is remote.scheduler's.)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import NullPool

log = logging.getLogger("councildesk.scheduler")

LOCK_KEY = int.from_bytes(hashlib.sha256(b"councildesk.scheduler.leader").digest()[:8], "big", signed=True)


def instance_id() -> str:
    """This process in run records and in the lock file: host name and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


class PostgresLeaderLock:
    """A session advisory lock on a connection of its own, opened and checked here."""

    def __init__(self, url: str):
        self._engine = sa.create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
            # libpq: notice a dead server or network within seconds, not the kernel's hours.
            connect_args={"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                          "keepalives_count": 3, "tcp_user_timeout": 10_000,
                          "application_name": "councildesk-scheduler",
                          "options": "-c statement_timeout=5000"})
        self._conn: sa.Connection | None = None

    def describe(self) -> str:
        return "PostgreSQL advisory lock"

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            got = self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("cannot reach PostgreSQL for the scheduler lock: %s", exc.__class__.__name__)
            self._close()
            return False
        return bool(got)

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid()")).scalar()
        except sa.exc.SQLAlchemyError:
            self._close()
            return False
        return bool(held)

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def dispose(self) -> None:
        self._close()
        self._engine.dispose()


class FileLeaderLock:
    """An exclusive flock on a file; the kernel drops it when the process dies."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None

    def describe(self) -> str:
        return f"file lock {self.path}"

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{instance_id()}\n".encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        if self._fd is None:
            return False
        # A lock file deleted (or replaced) under us would let a new process lock a new file:
        # then two would be active. Same inode or we step down.
        try:
            return os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except OSError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def dispose(self) -> None:
        self.release()


def leader_lock(app: Flask):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql"):
        return PostgresLeaderLock(url)
    path = app.config.get("SCHEDULER_LOCK_FILE")
    if not path:
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            path = database + ".scheduler.lock"
        else:
            os.makedirs(app.instance_path, exist_ok=True)
            path = os.path.join(app.instance_path, "scheduler.lock")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return FileLeaderLock(path)

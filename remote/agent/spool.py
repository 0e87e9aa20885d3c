"""Bounded, crash-safe on-disk queue of reports the server has not accepted yet.

SQLite (stdlib) gives the crash safety for free: every change is one transaction in a
rollback journal with ``synchronous=FULL``, so a power cut or a kill mid-write leaves either
the old or the new state, never a torn report. ``AUTOINCREMENT`` ids never go back, so the
queue stays in collection order even after it has been emptied.

The queue is bounded by count and by bytes; beyond either bound the OLDEST reports are
dropped, because recent state is what the server's checks need, and the number dropped is
kept in the same transaction so it survives restarts and reaches the server.

``sqlite3`` is imported only once the queue file exists: an agent that never lost its
server never pays its memory.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .config import DEFAULT_SPOOL_MAX_BYTES, DEFAULT_SPOOL_MAX_REPORTS, create_private_file

# Not `from typing import TYPE_CHECKING`: importing typing costs ~0.5 MB of RSS.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

log = logging.getLogger("councildesk.agent")

_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS reports ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL, size INTEGER NOT NULL)"
    ),
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class SpoolError(Exception):
    """The queue could not be read or written (disk full, read-only folder...)."""


@contextmanager
def _spool_errors(path: str) -> Iterator[None]:
    """Turn OS and SQLite failures into SpoolError, so callers catch one precise type."""
    try:
        yield
    except OSError as exc:
        raise SpoolError(f"spool {path}: {exc}") from exc
    except Exception as exc:
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(exc, sqlite3.Error):
            raise SpoolError(f"spool {path}: {exc}") from exc
        raise


class Spool:
    def __init__(
        self,
        path: str,
        max_reports: int = DEFAULT_SPOOL_MAX_REPORTS,
        max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
    ) -> None:
        if max_reports < 1 or max_bytes < 1:
            raise ValueError("spool bounds must be positive")
        self.path = path
        self.max_reports = max_reports
        self.max_bytes = max_bytes
        self._db: sqlite3.Connection | None = None

    # --- connection -----------------------------------------------------------------------

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is not None:
            return self._db
        if not create and not os.path.exists(self.path):
            return None
        import sqlite3

        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # Created 0600 before SQLite touches it: reports carry the machine's inventory.
        create_private_file(self.path)
        try:
            db = self._open(sqlite3)
        except sqlite3.DatabaseError as exc:
            # A corrupt queue must not stop monitoring: keep it aside for inspection.
            aside = f"{self.path}.corrupt-{int(time.time())}"
            log.error("spool %s is unreadable (%s); moved to %s", self.path, exc, aside)
            os.replace(self.path, aside)
            create_private_file(self.path)
            db = self._open(sqlite3)
        self._db = db
        return db

    def _open(self, sqlite3: Any) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("PRAGMA quick_check").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- queries --------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        with _spool_errors(self.path):
            db = self._connect(create=False)
            if db is None:
                return {"depth": 0, "dropped": 0, "rejected": 0, "bytes": 0}
            depth, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM reports"
            ).fetchone()
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        return {
            "depth": int(depth),
            "dropped": int(counters.get("dropped", 0)),
            "rejected": int(counters.get("rejected", 0)),
            "bytes": int(size),
        }

    def depth(self) -> int:
        with _spool_errors(self.path):
            db = self._connect(create=False)
            if db is None:
                return 0
            return int(db.execute("SELECT COUNT(*) FROM reports").fetchone()[0])

    def oldest(self) -> tuple[int, bytes] | None:
        with _spool_errors(self.path):
            db = self._connect(create=False)
            if db is None:
                return None
            row = db.execute("SELECT id, body FROM reports ORDER BY id LIMIT 1").fetchone()
            return (int(row[0]), bytes(row[1])) if row else None

    def items(self) -> list[tuple[int, bytes]]:
        """Everything queued, oldest first (for tests and ``status``)."""
        with _spool_errors(self.path):
            db = self._connect(create=False)
            if db is None:
                return []
            rows = db.execute("SELECT id, body FROM reports ORDER BY id").fetchall()
            return [(int(row[0]), bytes(row[1])) for row in rows]

    # --- changes --------------------------------------------------------------------------

    def push(self, body: bytes) -> int:
        """Queue ``body``; returns how many old reports were dropped to stay in bounds."""
        with _spool_errors(self.path):
            db = self._connect(create=True)
            assert db is not None
            return int(self._transaction(db, self._push, body))

    def _push(self, db: sqlite3.Connection, body: bytes) -> int:
        db.execute("INSERT INTO reports (body, size) VALUES (?, ?)", (body, len(body)))
        count, total = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM reports").fetchone()
        if count <= self.max_reports and total <= self.max_bytes:
            return 0
        last_dropped = None
        dropped = 0
        # Oldest first, never the report just added, whatever its size.
        for item_id, size in db.execute("SELECT id, size FROM reports ORDER BY id"):
            if (count <= self.max_reports and total <= self.max_bytes) or count <= 1:
                break
            last_dropped = item_id
            count -= 1
            total -= size
            dropped += 1
        if last_dropped is not None:
            db.execute("DELETE FROM reports WHERE id <= ?", (last_dropped,))
            self._bump(db, "dropped", dropped)
        return dropped

    def remove(self, item_id: int) -> None:
        """Forget a report the server accepted."""
        with _spool_errors(self.path):
            db = self._connect(create=False)
            if db is not None:
                self._transaction(db, self._remove, item_id)

    def reject(self, item_id: int) -> None:
        """Drop a report the server will never accept (poison message), counting it."""
        with _spool_errors(self.path):
            db = self._connect(create=False)
            if db is not None:
                self._transaction(db, self._reject, item_id)

    def count_rejected(self) -> None:
        """Count a fresh report the server refused, which never entered the queue."""
        with _spool_errors(self.path):
            db = self._connect(create=True)
            assert db is not None
            self._transaction(db, lambda d, _unused: self._bump(d, "rejected", 1), None)

    @staticmethod
    def _remove(db: sqlite3.Connection, item_id: int) -> None:
        db.execute("DELETE FROM reports WHERE id = ?", (item_id,))

    def _reject(self, db: sqlite3.Connection, item_id: int) -> None:
        if db.execute("DELETE FROM reports WHERE id = ?", (item_id,)).rowcount:
            self._bump(db, "rejected", 1)

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, amount: int) -> None:
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, amount),
        )

    @staticmethod
    def _transaction(db: sqlite3.Connection, work: Any, arg: Any) -> Any:
        # IMMEDIATE takes the write lock up front, so a second process (``run --once`` next to
        # the service) waits instead of failing half-way with SQLITE_BUSY.
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db, arg)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

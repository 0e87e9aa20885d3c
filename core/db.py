"""Database plumbing shared by every domain: column types, SQLite tuning, write intent.

SQLite allows one writer at a time. A transaction that starts by reading and later writes
can fail with SQLITE_BUSY at once, without honouring the busy timeout, when another writer
committed in between (its snapshot is stale). Requests that intend to write (POST, PUT, PATCH,
DELETE) therefore begin with BEGIN IMMEDIATE, which queues behind the current writer for up
to the busy timeout instead of failing; everything else keeps plain BEGIN so that reads never
wait on writers (WAL) and never block them. Background jobs that read and then write wrap
themselves in `write_intent()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator

from sqlalchemy import DateTime, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from werkzeug.routing import IntegerConverter

UTC = dt.UTC

_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "councildesk_write_intent", default=False
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on both databases.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so values are stored as naive
    UTC and given back their zone when read. A naive value handed in is taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def set_write_intent(intent: bool) -> contextvars.Token:
    return _write_intent.set(intent)


def reset_write_intent(token: contextvars.Token) -> None:
    _write_intent.reset(token)


@contextlib.contextmanager
def write_intent(intent: bool = True) -> Iterator[None]:
    token = _write_intent.set(intent)
    try:
        yield
    finally:
        _write_intent.reset(token)


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that writes, for code outside web requests (jobs, CLI, threads).

    It first ends whatever transaction the session has open, so that the next BEGIN is issued
    with write intent (IMMEDIATE on SQLite: it waits its turn instead of failing on a stale
    snapshot), and commits at the end, or rolls back on error.
    """
    from extensions import db

    db.session.commit()
    with write_intent(True):
        try:
            yield
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Per-connection pragmas and explicit transaction begins for SQLite engines."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_councildesk_configured", False):
        return
    engine._councildesk_configured = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from the sqlite3 module so that "begin" below
        # decides between BEGIN and BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # WAL lets readers proceed while one writer commits. synchronous=NORMAL is durable
        # against a killed process (the WAL is written before COMMIT returns); only a power
        # cut may lose the last transactions.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def get_or_404(model, ident):
    """Load one object by primary key through the scoped query layer, or abort with 404.

    A SELECT (not `Session.get`) so that the council scope applies even when the identity
    map already holds the object from an unrestricted load earlier in the request.
    """
    from flask import abort

    from extensions import db

    if ident is None:
        abort(404)
    obj = db.session.execute(select(model).where(model.id == ident)).scalar_one_or_none()
    if obj is None:
        abort(404)
    return obj


# Primary keys are INTEGER columns. PostgreSQL refuses a larger number even in a WHERE
# clause (the driver casts the parameter to INTEGER), so an id from outside must be checked
# against this before it reaches a query; otherwise `/things/99999999999` is a 500.
MAX_ID = 2**31 - 1


def _numbers_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers from 0 to `limit`."""
    text = str(limit)
    options = [rf"\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        low = 1 if i == 0 and len(text) > 1 else 0  # shorter numbers are the first option
        if int(digit) > low:
            rest = len(text) - i - 1
            options.append(f"{text[:i]}[{low}-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    options.append(text)
    return "(?:" + "|".join(options) + ")"


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: a number beyond MAX_ID matches no route, so it is a 404.

    In the regex, not only in `max`: werkzeug turns a converter's refusal into 405 when the
    same path exists for another method (GET and PATCH of one resource are two rules).
    """

    regex = _numbers_up_to(MAX_ID)

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)

"""The scratch database every benchmark builds its data in (not a benchmark itself: `make
bench` runs only the files whose names do not start with an underscore)."""

from __future__ import annotations

import contextlib
import os
import tempfile

import sqlalchemy as sa


@contextlib.contextmanager
def scratch_database(label: str):
    """An empty database for one benchmark, removed afterwards.

    SQLite: a file under /tmp (a million rows and their indexes do not belong in the project's
    instance/). PostgreSQL when DATABASE_URL names it: a database `<name>_bench_<label>` next
    to it, created fresh and dropped at the end.
    """
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        with tempfile.TemporaryDirectory(prefix=f"councildesk-bench-{label}-", dir="/tmp") as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    base = sa.engine.make_url(url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(f"{base.database}_bench_{label}")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    try:
        yield base.set(database=f"{base.database}_bench_{label}").render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        admin.dispose()

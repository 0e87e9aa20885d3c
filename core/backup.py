"""`flask backup [PATH]` and `flask restore PATH [--force]`: the whole database, both engines.

**SQLite** is copied with SQLite's online backup API (`sqlite3.Connection.backup`) in one
step: the copy is one read transaction, so it is a consistent snapshot even while the app
and the scheduler write (WAL lets them go on meanwhile), which a file copy of the database,
its `-wal` and its `-shm` is not. The copy is switched to a rollback journal so that it is
one self-contained file, and checked with `PRAGMA integrity_check` before it is kept.
Restoring goes through the same API the other way: it replaces the database under one write
lock, so a reader sees the old database or the new one, never a mixture.

**PostgreSQL** is dumped with `pg_dump` in its custom format (compressed, restorable with
`pg_restore`). `pg_dump` refuses servers newer than itself, and an older server is dumped
with syntax a matching `pg_restore` expects, so the client's major version must be at least
the server's (Debian: `apt-get install postgresql-client`, or `postgresql-client-NN`).
Restoring replays the dump through `psql --single-transaction` after dropping the `public`
schema: the database is replaced entirely (tables a newer schema added included) or, on any
error, left as it was.

Both refuse to restore over a database that holds data (rows in any table but the ones the
migrations seed) unless `--force` is given. The dump carries `alembic_version`, so
`flask db upgrade` takes a restored database on from the revision it was saved at.

Backups hold password and token hashes and every council's data: they are written 0600.
Stop the web workers and `flask scheduler` before a restore (a backup needs nothing stopped).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

# Tables whose rows come from the migrations themselves: a database holding only these is empty.
SEEDED_TABLES = frozenset({"alembic_version", "allowance_bands"})
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"


class BackupError(click.ClickException):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


# --- which database ------------------------------------------------------------------------

def _url() -> sa.engine.URL:
    return sa.engine.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _sqlite_path(url: sa.engine.URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database).resolve()


def _pg_env(url: sa.engine.URL) -> dict[str, str]:
    """libpq's environment for the client programs: the password never appears in argv (ps)."""
    env = dict(os.environ)
    for var, value in (("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username),
                       ("PGPASSWORD", url.password), ("PGDATABASE", url.database)):
        if value is not None:
            env[var] = str(value)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def default_backup_dir() -> Path:
    return Path(current_app.instance_path) / "backups"


def _target_file(path: str | None, suffix: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"councildesk-{stamp}{suffix}"
    if not path:
        return default_backup_dir() / name
    target = Path(path)
    if target.is_dir() or path.endswith(os.sep):
        return target / name
    return target


def _private_tempfile(directory: Path, suffix: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".councildesk-backup-", suffix=suffix, dir=directory)
    os.close(fd)
    os.chmod(name, 0o600)  # mkstemp's default, said out loud: a backup holds every hash
    return Path(name)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _keep(tmp: Path, target: Path) -> Path:
    """Only a finished, checked backup ever has the name asked for."""
    _fsync(tmp)
    os.replace(tmp, target)
    _fsync(target)
    return target


def is_empty(engine: sa.engine.Engine) -> bool:
    """True when no table of the models, but the migrations' seeded ones, holds a row.

    The models' tables only: SQLite's search index keeps bookkeeping rows in its FTS5 shadow
    tables even when nothing is indexed.
    """
    from extensions import db

    present = set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        for name in sorted(present & set(db.metadata.tables)):
            if name in SEEDED_TABLES:
                continue
            if conn.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)).first():
                return False
    return True


def _refuse_unless_empty(force: bool) -> None:
    from extensions import db

    if not force and not is_empty(db.engine):
        raise BackupError("the database already holds data; restoring would replace all of it. "
                          "Run again with --force to do so.")
    db.session.remove()
    db.engine.dispose()  # our own pooled connections must not hold locks the restore waits for


# --- SQLite --------------------------------------------------------------------------------

def _sqlite_connect(path: Path, timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=timeout_ms / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")
    return conn


def _check_sqlite_file(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            raise BackupError(f"{path} fails SQLite's integrity check: {result[:5]}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a usable SQLite database: {exc}") from exc
    finally:
        conn.close()
    if "alembic_version" not in tables:
        raise BackupError(f"{path} is not a CouncilDesk database (it has no alembic_version table)")


def backup_sqlite(url: sa.engine.URL, path: str | None) -> Path:
    source = _sqlite_path(url)
    if not source.exists():
        raise BackupError(f"the database {source} does not exist")
    target = _target_file(path, ".sqlite3")
    tmp = _private_tempfile(target.parent, ".sqlite3")
    try:
        src = _sqlite_connect(source, current_app.config["SQLITE_BUSY_TIMEOUT_MS"])
        dst = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            # pages=-1: one step, one read transaction, one snapshot (writers carry on in WAL).
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        _check_sqlite_file(tmp)
        return _keep(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def restore_sqlite(url: sa.engine.URL, path: Path, force: bool) -> None:
    target = _sqlite_path(url)
    _check_sqlite_file(path)
    if target.exists():
        _refuse_unless_empty(force)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    dst = _sqlite_connect(target, current_app.config["SQLITE_BUSY_TIMEOUT_MS"])
    try:
        src.backup(dst, pages=-1)
        result = dst.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            raise BackupError(f"the restored database fails SQLite's integrity check: {result[:5]}")
    finally:
        dst.close()
        src.close()


# --- PostgreSQL ----------------------------------------------------------------------------
# S603 is silenced where the client programs run: argument lists, never a shell, programs
# found on PATH by name, and paths made absolute so that none can pass for an option.

def _major(version_output: str) -> int:
    """`pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → 15."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", version_output) or re.search(r"(\d+)", version_output)
    if not match:
        raise BackupError(f"cannot read a version in {version_output!r}")
    return int(match.group(1))


def _client(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise BackupError(f"{program} is not installed; install PostgreSQL's client programs "
                          "(Debian: apt-get install postgresql-client)")
    return found


def _check_client_version(program: str) -> str:
    from extensions import db

    path = _client(program)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout  # noqa: S603
    client = _major(out)
    with db.engine.connect() as conn:
        server = int(conn.execute(sa.text("SHOW server_version_num")).scalar_one()) // 10000
    if client < server:
        raise BackupError(f"{program} is version {client} but the server is PostgreSQL {server}: "
                          f"install a client of version {server} or newer "
                          f"(Debian: apt-get install postgresql-client-{server})")
    return path


def backup_postgresql(url: sa.engine.URL, path: str | None) -> Path:
    pg_dump = _check_client_version("pg_dump")
    target = _target_file(path, ".pgdump")
    tmp = _private_tempfile(target.parent, ".pgdump")
    try:
        # One transaction, REPEATABLE READ (pg_dump's own): a consistent snapshot while the
        # app writes. Ownership and grants are left to the database restored into.
        proc = subprocess.run([pg_dump, "--format=custom", "--no-owner", "--no-privileges",  # noqa: S603
                               "--file", str(tmp)], env=_pg_env(url), capture_output=True, text=True)
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed: {proc.stderr.strip()}")
        return _keep(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def restore_postgresql(url: sa.engine.URL, path: Path, force: bool) -> None:
    pg_restore = _check_client_version("pg_restore")
    psql = _client("psql")
    _refuse_unless_empty(force)
    env = _pg_env(url)
    listing = subprocess.run([pg_restore, "--list", str(path)], env=env, capture_output=True, text=True)  # noqa: S603
    if listing.returncode != 0:
        raise BackupError(f"{path} is not a readable pg_dump archive: {listing.stderr.strip()}")
    if "alembic_version" not in listing.stdout:
        raise BackupError(f"{path} is not a CouncilDesk database (it has no alembic_version table)")
    script = subprocess.Popen(  # noqa: S603
        [pg_restore, "--no-owner", "--no-privileges", "--file", "-", str(path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # All of it in one transaction: the old schema is gone only if the new one is complete.
    apply = subprocess.run([psql, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction",  # noqa: S603
                            "--command", "SET lock_timeout = '30s'",
                            "--command", "DROP SCHEMA IF EXISTS public CASCADE",
                            "--command", "CREATE SCHEMA public",
                            "--file", "-"],
                           env=env, stdin=script.stdout, capture_output=True, text=True)
    script.stdout.close()
    dump_err = script.stderr.read().decode(errors="replace")
    script.wait()
    if script.returncode != 0 or apply.returncode != 0:
        raise BackupError("the restore failed and the database was left as it was: "
                          f"{(dump_err + apply.stderr).strip()}")


# --- the commands --------------------------------------------------------------------------

def backup(path: str | None = None) -> Path:
    url = _url()
    if url.get_backend_name() == "sqlite":
        return backup_sqlite(url, path)
    if url.get_backend_name() == "postgresql":
        return backup_postgresql(url, path)
    raise BackupError(f"no backup method for {url.get_backend_name()}")


def restore(path: str | Path, force: bool = False) -> None:
    url = _url()
    path = Path(path).resolve()
    with open(path, "rb") as fh:
        magic = fh.read(len(SQLITE_MAGIC))
    backend = url.get_backend_name()
    if magic.startswith(SQLITE_MAGIC):
        if backend != "sqlite":
            raise BackupError(f"{path} is an SQLite backup; the configured database is {backend}")
        restore_sqlite(url, path, force)
    elif magic.startswith(PG_CUSTOM_MAGIC):
        if backend != "postgresql":
            raise BackupError(f"{path} is a PostgreSQL (pg_dump) backup; the configured database is {backend}")
        restore_postgresql(url, path, force)
    else:
        raise BackupError(f"{path} is neither an SQLite database nor a pg_dump custom-format archive")


@click.command("backup")
@click.argument("path", required=False)
@with_appcontext
def backup_command(path: str | None):
    """Back up the database to PATH (a file, or a folder; default instance/backups/).

    The backup's file name is printed alone on the last line.
    """
    target = backup(path)
    click.echo(f"backup written ({target.stat().st_size} bytes):", err=True)
    click.echo(str(target))


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
@with_appcontext
def restore_command(path: str, force: bool):
    """Replace the database with the backup at PATH (stop the web and scheduler processes first)."""
    restore(path, force=force)
    click.echo(f"restored {path}; run `flask db upgrade` if this version of CouncilDesk is newer than the backup")

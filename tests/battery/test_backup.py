"""`flask backup` and `flask restore` on the suite's engine (SQLite, or PostgreSQL in CI's
second run): a round trip gives back every row of every table, a backup taken while the app
writes is a consistent snapshot, a restore refuses to overwrite data without --force, and a
restored database takes `flask db upgrade` from the revision it was saved at."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app


def _config(url: str, tmp: Path) -> dict:
    return {"ENV_NAME": "testing", "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False, "MAIL_ENABLED": False, "DATA_DIR": str(tmp / "data"),
            "INSTANCE_PATH": str(tmp / "instance")}


def _snapshot(engine: sa.engine.Engine) -> dict[str, list[tuple]]:
    from extensions import db

    out = {}
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(row) for row in conn.execute(sa.select(table).order_by(*order))]
    return out


def _cli(app, *args):
    # Its own context: `with_appcontext` keeps whatever app context is already pushed (the
    # suite's), which would send the command to the wrong database. Click 8.2+: `output` has
    # stdout and stderr as a terminal shows them, `stdout` stdout only.
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _backup(app, where: Path) -> Path:
    result = _cli(app, "backup", str(where))
    assert result.exit_code == 0, (result.output, result.exception)
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.exists() and path.stat().st_mode & 0o077 == 0, "a backup holds every hash: owner-only"
    return path


def test_round_trip_gives_back_every_row(app, db, world, tmp_path, scratch_database, api_for):
    from route_samples import samples

    samples(world, "a")
    samples(world, "b")  # every domain's objects, in both councils
    reader = api_for(world.clerk_a)  # its token hash travels with the backup
    db.session.commit()
    before = _snapshot(db.engine)
    assert sum(len(rows) for rows in before.values()) > 30, "the round trip must carry real data"

    backup = _backup(app, tmp_path / "backups")
    target_url = scratch_database("restore")
    target = create_app(_config(target_url, tmp_path))
    target.config["RATELIMIT_ENABLED"] = False

    # Into an empty database (no schema at all): no --force needed.
    result = _cli(target, "restore", str(backup))
    assert result.exit_code == 0, (result.output, result.exception)
    engine = sa.create_engine(target_url)
    try:
        assert _snapshot(engine) == before
    finally:
        engine.dispose()

    # Now it holds data: refused without --force, and nothing is touched.
    result = _cli(target, "restore", str(backup))
    assert result.exit_code != 0 and "--force" in result.output
    result = _cli(target, "restore", "--force", str(backup))
    assert result.exit_code == 0, (result.output, result.exception)

    with target.app_context():
        upgrade(revision="heads")  # a restored database is an ordinary, migratable one
        from extensions import db as target_db

        assert _snapshot(target_db.engine) == before
        target_db.session.remove()
        target_db.engine.dispose()

    # The restored database works as the app's own: the clerk's token, the council scope and
    # the ticket search (FTS5 / GIN objects are not ORM tables, they travel with the backup).
    client = target.test_client()
    headers = {"Authorization": f"Bearer {reader.token}"}
    found = client.get("/api/v1/tickets?q=sample", headers=headers)
    assert found.status_code == 200, found.get_data(as_text=True)
    titles = {item.get("title") for item in found.json["items"]}
    assert "Sample ticket a" in titles and "Sample ticket b" not in titles


def test_restore_refuses_a_file_that_is_not_a_backup(app, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a database at all" * 10)
    result = _cli(app, "restore", "--force", str(junk))
    assert result.exit_code != 0 and "neither" in result.output
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = _cli(app, "restore", "--force", str(other))
    assert result.exit_code != 0
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert "not a CouncilDesk database" in result.output
    else:
        assert "SQLite backup" in result.output


def test_restored_old_backup_is_upgraded(app, tmp_path, scratch_database):
    """A backup taken at revision 0003 restores, and `flask db upgrade` brings it to head."""
    old_url = scratch_database("old")
    old = create_app(_config(old_url, tmp_path))
    with old.app_context():
        upgrade(revision="0003")
        from extensions import db as old_db

        with old_db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO councils (name, slug, code, comarca, population, address, language, timezone, "
                "active, created_at) VALUES ('Castellfollit del Boix', 'castellfollit-del-boix', 'CBOIX', 'Bages', "
                "431, '', 'ca', 'Europe/Madrid', true, CURRENT_TIMESTAMP)"))
        old_db.session.remove()
    backup = _backup(old, tmp_path / "backups")

    new_url = scratch_database("new")
    new = create_app(_config(new_url, tmp_path))
    result = _cli(new, "restore", str(backup))
    assert result.exit_code == 0, (result.output, result.exception)
    with new.app_context():
        from extensions import db as new_db

        assert new_db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0003"
        new_db.session.remove()
        upgrade(revision="heads")
        heads = set(new_db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(new.extensions["migrate"].migrate.get_config())
        assert heads == set(script.get_heads())
        assert new_db.session.execute(sa.text("SELECT code FROM councils")).scalar() == "CBOIX"
        new_db.session.remove()
        new_db.engine.dispose()
    with old.app_context():
        from extensions import db as old_db

        old_db.engine.dispose()


@pytest.mark.slow
def test_backup_while_the_app_writes_is_a_snapshot(app, db, world, tmp_path, scratch_database, database_url):
    """A writer commits pairs of rows (one transaction each) all through two backups; every
    backup holds whole pairs only, and the writer never waited on the backup for long."""
    from core.models import Notification

    user_id = world.admin.id
    db.session.commit()
    stop = threading.Event()
    written = []
    slowest = [0.0]
    errors = []
    engine = sa.create_engine(database_url)

    def writer():
        n = 0
        try:
            while not stop.is_set():
                started = time.monotonic()
                with engine.begin() as conn:
                    for half in (0, 1):
                        conn.execute(sa.insert(Notification.__table__).values(
                            user_id=user_id, kind="battery.pair", params={"n": n, "half": half}))
                slowest[0] = max(slowest[0], time.monotonic() - started)
                written.append(n)
                n += 1
        except Exception as exc:  # the test fails on it below
            errors.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    backups = []
    try:
        while len(written) < 50:
            time.sleep(0.01)
        for i in range(2):
            backups.append(_backup(app, tmp_path / f"b{i}"))
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
        engine.dispose()
    assert not errors, errors
    assert slowest[0] < 5, f"a writer's transaction waited {slowest[0]:.1f}s on the backup"

    for backup in backups:
        url = scratch_database("snap")
        target = create_app(_config(url, tmp_path))
        result = _cli(target, "restore", str(backup))
        assert result.exit_code == 0, (result.output, result.exception)
        check = sa.create_engine(url)
        try:
            with check.connect() as conn:
                rows = conn.execute(sa.select(Notification.params).where(Notification.kind == "battery.pair")).all()
        finally:
            check.dispose()
        halves: dict[int, set] = {}
        for (params,) in rows:
            halves.setdefault(params["n"], set()).add(params["half"])
        assert halves, "the backup was taken while pairs were being written"
        torn = {n for n, h in halves.items() if h != {0, 1}}
        assert not torn, f"backup {backup.name} holds half-written transactions: {sorted(torn)[:10]}"
        # A snapshot, so a prefix of the writer's commits: 0..k with no holes.
        assert set(halves) == set(range(max(halves) + 1))
        with target.app_context():
            from extensions import db as target_db

            target_db.engine.dispose()
    assert len(written) > max(len(backups), 50)

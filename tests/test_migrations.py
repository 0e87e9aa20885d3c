"""The Alembic migrations: they build exactly the schema the models declare, and they go
down to nothing and back up again.

The shared test database was built once by the migrations (conftest `_schema`); the round
trip runs on a scratch database instead, so it cannot disturb the other tests: a temporary
SQLite file, or on PostgreSQL a database created next to the test one for the occasion.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app import create_app
from extensions import db as _db


def _outside_the_models(object_, name, type_, reflected, compare_to) -> bool:
    """False for the ticket search's full-text objects, and only for them.

    They are deliberately not ORM objects (support/tickets/search.py, migration 0005): the GIN
    expression indexes of PostgreSQL, and the FTS5 virtual table of SQLite with its shadow
    tables, which SQLAlchemy cannot declare portably. Without this filter the comparison
    would ask to drop them; everything else is compared as before."""
    from support.tickets.search import UNMODELLED_PREFIXES

    return not (reflected and name and name.startswith(UNMODELLED_PREFIXES))


def _differences(engine) -> list:
    """Autogenerate's view of models vs. database. Only the ticket search's full-text objects
    are left out (_outside_the_models); types are compared too (compare_type), and CHECK
    constraints, which autogenerate cannot compare at all, are covered by tests that insert
    rows breaking them (test_users_admin)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": _outside_the_models})
        found = compare_metadata(context, _db.metadata)
        if engine.dialect.name == "sqlite":
            found = _without_inline_foreign_keys(conn, found)
        return found


def _fk_sig(fk) -> tuple:
    return fk.table.name, tuple(c.name for c in fk.columns), tuple(e.target_fullname for e in fk.elements)


def _without_inline_foreign_keys(conn, found: list) -> list:
    """Columns added to a big table after the fact (tickets, notifications, outbox_mail) carry
    their foreign key inline (`ADD COLUMN ... REFERENCES`), since a batch rebuild of the table
    would cascade deletes; SQLAlchemy does not reflect the name or ON DELETE of such a
    column-level key, so autogenerate sees an unnamed key to drop and a named one to add. Such a
    pair is no difference when SQLite itself (PRAGMA foreign_key_list) holds the model's rule."""
    removed = {_fk_sig(d[1]): d for d in found if d[0] == "remove_fk" and d[1].name is None}
    kept = []
    for d in found:
        if d[0] == "add_fk" and _fk_sig(d[1]) in removed:
            table, columns, _targets = _fk_sig(d[1])
            rules = {row[3]: row[6] for row in conn.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')}
            if all(rules.get(c) == (d[1].ondelete or "NO ACTION") for c in columns):
                removed.pop(_fk_sig(d[1]))
                continue
        kept.append(d)
    dropped = {id(d) for d in removed.values()}
    return [d for d in kept if d[0] != "remove_fk" or d[1].name is not None or id(d) in dropped]


def test_models_and_migrations_agree(app, db):
    assert _differences(db.engine) == []


def test_one_linear_history(app):
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config(
        app.extensions["migrate"].directory))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


@pytest.fixture
def scratch_url(database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    url = sa.engine.make_url(database_url)
    name = f"{url.database}_migrations"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote(name)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        admin.dispose()


def test_downgrade_to_base_and_upgrade_again(scratch_url, tmp_path):
    app = create_app({"ENV_NAME": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": scratch_url,
                      "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        engine = _db.engine
        try:
            upgrade()
            tables = set(sa.inspect(engine).get_table_names())
            assert {t.name for t in _db.metadata.sorted_tables} <= tables

            downgrade(revision="base")
            engine.dispose()
            assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}

            upgrade()
            assert _differences(engine) == []
            with engine.connect() as conn:
                bands = conn.exec_driver_sql(
                    "SELECT min_population, max_population FROM allowance_bands ORDER BY min_population").all()
            assert [tuple(b) for b in bands] == [(0, 500), (501, 1000), (1001, 2000), (2001, None)]
        finally:
            _db.session.remove()
            engine.dispose()


def test_upgrades_past_0008_rebuild_no_table(scratch_url, tmp_path):
    """On SQLite a batch rebuild drops and copies a table, and with foreign keys on, dropping
    `tickets` deletes every comment, change and attachment that cascades from it: the later
    migrations add their columns in place."""
    app = create_app({"ENV_NAME": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": scratch_url,
                      "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        engine = _db.engine
        try:
            upgrade(revision="0008")
            before = set(sa.inspect(engine).get_table_names())
            dropped: list[str] = []

            def watch(conn, cursor, statement, parameters, context, executemany):
                words = statement.split()
                if [w.upper() for w in words[:2]] == ["DROP", "TABLE"]:
                    dropped.append(words[-1].strip('"'))

            sa.event.listen(engine, "before_cursor_execute", watch)
            try:
                upgrade()
            finally:
                sa.event.remove(engine, "before_cursor_execute", watch)
            assert not [t for t in dropped if t in before], dropped
        finally:
            _db.session.remove()
            engine.dispose()

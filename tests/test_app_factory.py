"""The application factory: configuration layers, the secret key, importing without side
effects, and the SQLite connection settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch):
    """No configuration from the environment unless the test sets it."""
    for key in list(os.environ):
        if key.startswith(("COUNCILDESK_", "FLASK_")) or key in ("DATABASE_URL", "SECRET_KEY"):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.fixture
def instance(tmp_path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


def _dispose(app):
    from extensions import db

    with app.app_context():
        db.engine.dispose()


def test_configuration_layers_in_order(clean_env, instance, tmp_path):
    (instance / "config.py").write_text(textwrap.dedent("""
        OFFICE_NAME = "Consell Comarcal del Bages"          # only here
        PUBLIC_BASE_URL = "https://from-instance.example"   # overridden by the environment
        MAIL_PORT = 2525                                    # overridden by env, then by the test
        SECRET_KEY = "from-instance"
        SQLALCHEMY_DATABASE_URI = "sqlite:///from-instance.sqlite3"
    """))
    clean_env.setenv("COUNCILDESK_ENV", "testing")
    clean_env.setenv("COUNCILDESK_PUBLIC_BASE_URL", "https://from-env.example")
    clean_env.setenv("COUNCILDESK_MAIL_PORT", "2526")
    clean_env.setenv("COUNCILDESK_MAIL_ENABLED", "true")
    clean_env.setenv("COUNCILDESK_API_PAGE_MAX", "200")
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.sqlite3'}")
    clean_env.setenv("SECRET_KEY", "from-env")

    app = create_app({"INSTANCE_PATH": str(instance), "MAIL_PORT": 2527})
    cfg = app.config
    assert cfg["ENV_NAME"] == "testing" and cfg["TESTING"] is True              # defaults of COUNCILDESK_ENV
    assert cfg["MAX_CONTENT_LENGTH"] == 11 * 1024 * 1024                       # untouched default
    assert cfg["OFFICE_NAME"] == "Consell Comarcal del Bages"                  # instance/config.py
    assert cfg["PUBLIC_BASE_URL"] == "https://from-env.example"                # environment beats instance
    assert cfg["MAIL_ENABLED"] is True and cfg["API_PAGE_MAX"] == 200          # JSON-decoded values
    assert cfg["SECRET_KEY"] == "from-env"
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'from-env.sqlite3'}"
    assert cfg["MAIL_PORT"] == 2527                                            # the test's mapping wins
    _dispose(app)


def test_default_database_and_data_dir_live_in_the_instance_folder(clean_env, instance):
    clean_env.setenv("SECRET_KEY", "k")
    app = create_app({"INSTANCE_PATH": str(instance)})
    assert app.instance_path == str(instance)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'councildesk.sqlite3'}"
    assert app.config["DATA_DIR"] == str(instance / "data")
    _dispose(app)


@pytest.mark.parametrize("env_name", [None, "production"])
def test_production_without_secret_key_refuses_to_start(clean_env, instance, env_name):
    if env_name:
        clean_env.setenv("COUNCILDESK_ENV", env_name)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert not (instance / "dev-secret-key").exists()
    clean_env.setenv("SECRET_KEY", "a-real-secret")
    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SECRET_KEY"] == "a-real-secret" and app.config["ENV_NAME"] == "production"


def test_development_keeps_a_generated_key_in_the_instance_folder(clean_env, instance):
    clean_env.setenv("COUNCILDESK_ENV", "development")
    config = {"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    first = create_app(config).config["SECRET_KEY"]
    key_file = instance / "dev-secret-key"
    assert len(first) >= 32 and key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert create_app(config).config["SECRET_KEY"] == first  # sessions survive a restart


def test_importing_and_building_the_app_connect_to_nothing(tmp_path):
    """Importing app, extensions and models, and even create_app(), open no connection: the
    database may be down while workers boot. A listening socket stands in for PostgreSQL
    and counts the connections it gets."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0)
    port = listener.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COUNCILDESK_", "FLASK_"))}
    env.update(DATABASE_URL=f"postgresql+psycopg://nobody@127.0.0.1:{port}/councildesk", SECRET_KEY="k",
               COUNCILDESK_INSTANCE_PATH=str(tmp_path))
    code = ("import app, extensions, config, accounts.models, agreements.models, core.models\n"
            "app.create_app()\n"
            "print('imported')\n")
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
        elapsed = time.monotonic() - started
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "imported"
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    assert elapsed < 30


def test_sqlite_connections_use_wal_foreign_keys_and_the_busy_timeout(clean_env, tmp_path):
    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}",
                      "SQLITE_BUSY_TIMEOUT_MS": 4321, "INSTANCE_PATH": str(tmp_path)})
    from extensions import db

    with app.app_context():
        for _ in range(2):  # the first connection, and one opened after the pool was emptied
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 4321
            db.engine.dispose()
        # Foreign keys are really enforced.
        db.create_all()
        from accounts.models import User

        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(sa.insert(User.__table__).values(
                email="x@example.org", name="x", password_hash="x", role="clerk", council_id=999,
                active=True, auth_version=0, created_at=sa.func.now()))
        db.engine.dispose()

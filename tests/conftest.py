"""Test fixtures shared by the whole suite.

The database is SQLite (a file in a temporary directory) unless TEST_DATABASE_URL points at
PostgreSQL; CI runs the suite once with each. The schema is built with the real Alembic
migrations once per session, and every test that uses the `app` fixture leaves the tables
empty for the next one (councils, users... are recreated by the fixtures it asks for).
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
# The project root for `import app`, and tests/ for shared helpers such as route_samples.
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# Timing-based health checks of hypothesis misfire on a loaded 2-core machine (CI runs the
# suite on two workers); the properties themselves are what matters.
from hypothesis import settings as _hypothesis_settings  # noqa: E402
from i18n_catalogs import login as login_client  # noqa: E402  (a client signed in, no login form)

_hypothesis_settings.register_profile("councildesk", deadline=None)
_hypothesis_settings.load_profile("councildesk")

# Tables whose rows come from migrations and must survive the per-test cleanup.
SEEDED_TABLES = {"allowance_bands", "alembic_version"}


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_root / 'test.sqlite3'}"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        # Parallel workers (pytest -n): each gets its own database next to the given one.
        url = _worker_database(url, worker)
    return url


def _server_url(url: str) -> sa.engine.URL:
    return sa.engine.make_url(url).set(database="postgres")


def _worker_database(url: str, worker: str) -> str:
    target = sa.engine.make_url(url)
    name = f"{target.database}_{worker}"
    engine = sa.create_engine(_server_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.exit(f"PostgreSQL at {url} is unreachable: {exc}", returncode=3)
    finally:
        engine.dispose()
    return target.set(database=name).render_as_string(hide_password=False)


def _drop_worker_database(url: str) -> None:
    engine = sa.create_engine(_server_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def base_config(url: str, tmp_root: Path) -> dict:
    return {
        "ENV_NAME": "testing",
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": True,
        "DATA_DIR": str(tmp_root / "data"),
        "MAIL_ENABLED": False,
        "SERVER_NAME": None,
        "SECRET_KEY": "test-secret",
        # The tests' sshd listens on loopback, which production refuses as an SSH host.
        "REMOTE_SSH_ALLOW_LOCAL_HOSTS": True,
    }


@pytest.fixture(autouse=True)
def _frozen_clock(request):
    """`@pytest.mark.frozen("2026-06-17T10:00:00+00:00")`: for tests whose pages show figures
    that depend on the day (a forecast, the month so far). Autouse fixtures start before the
    others, so fixtures reading "today" see the frozen day too."""
    marker = request.node.get_closest_marker("frozen")
    if marker is None:
        yield
        return
    import datetime as dt

    import time_machine

    with time_machine.travel(dt.datetime.fromisoformat(marker.args[0]), tick=True):
        yield


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("councildesk")


@pytest.fixture(scope="session")
def database_url(tmp_root):
    url = _database_url(tmp_root)
    yield url
    if url.startswith("postgresql") and os.environ.get("PYTEST_XDIST_WORKER"):
        _drop_worker_database(url)


@pytest.fixture(scope="session")
def is_postgres(database_url) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def _schema(database_url, tmp_root):
    """Build the schema once with the real migrations (which also proves they work)."""
    from flask_migrate import upgrade

    from app import create_app

    if database_url.startswith("postgresql"):
        engine = sa.create_engine(database_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        except sa.exc.OperationalError as exc:  # CI must fail, not skip, without PostgreSQL
            pytest.exit(f"PostgreSQL at {database_url} is unreachable: {exc}", returncode=3)
        finally:
            engine.dispose()
    app = create_app(base_config(database_url, tmp_root))
    with app.app_context():
        upgrade(revision="heads")
    return True


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as it would in production.

    Tests keep an app context pushed so that they can call services directly; without this,
    requests would reuse it, and with it `g` and the database session, so the user loaded by
    one request would still be `current_user` in the next.
    """

    def open(self, *args, **kwargs):
        from flask import has_app_context

        from extensions import db

        if has_app_context():
            # End the test's own transaction first: on SQLite a read snapshot held across a
            # request that writes would make the test's next write fail (SQLITE_BUSY_SNAPSHOT).
            db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def _session_app(_schema, database_url, tmp_root):
    from app import create_app

    app = create_app(base_config(database_url, tmp_root))
    app.test_client_class = IsolatedClient
    return app


def clean_database(app) -> None:
    """Empty every table the tests write to.

    DELETE, child tables first, rather than TRUNCATE: on PostgreSQL a TRUNCATE of a few
    dozen tables costs tens of milliseconds per test (it replaces their files), while a
    DELETE on a table that holds a handful of rows costs next to nothing. The serial ids are
    not reset; tests never depend on them.
    """
    from extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t for t in db.metadata.sorted_tables if t.name not in SEEDED_TABLES]
        engine = db.engine
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # A transaction left open elsewhere would make the cleanup wait forever: fail instead.
                conn.exec_driver_sql("SET LOCAL lock_timeout = '20s'")
            for table in reversed(tables):
                conn.execute(table.delete())


@pytest.fixture
def app(_session_app):
    """The application, with an empty database after the test."""
    from extensions import limiter

    limiter.reset()
    ctx = _session_app.app_context()
    ctx.push()
    try:
        yield _session_app
    finally:
        from extensions import db

        db.session.remove()
        ctx.pop()
        clean_database(_session_app)


@pytest.fixture
def make_app(_schema, database_url, tmp_root):
    """Another application on the same database with extra configuration (CSRF on, say)."""
    from app import create_app

    created = []

    def factory(**overrides):
        cfg = base_config(database_url, tmp_root)
        cfg.update(overrides)
        created.append(create_app(cfg))
        created[-1].test_client_class = IsolatedClient
        return created[-1]

    yield factory
    from flask import has_app_context

    from extensions import db

    if has_app_context():
        # The test's own session (the `app` fixture's context, when it outlives this one)
        # must not hold a transaction on the tables the cleanup empties.
        db.session.rollback()
    for extra in created:
        clean_database(extra)


@pytest.fixture
def db(app):
    from extensions import db as _db

    return _db


# --- people and places ----------------------------------------------------------------

class World:
    """Two councils and one user of each role (a clerk in each council)."""

    def __init__(self, app):
        from accounts import services as accounts
        from agreements import councils

        self.password = "correct horse battery"
        self.council_a = councils.create_council(
            {"name": "Mura", "population": 211, "population_year": 2014, "comarca": "Bages",
             "contact_email": "ajuntament@mura.example.cat"}, actor=None)
        self.council_b = councils.create_council(
            {"name": "Talamanca", "population": 141, "population_year": 2014, "comarca": "Bages",
             "contact_email": "ajuntament@talamanca.example.cat"}, actor=None)

        def user(email, role, council=None, name=None):
            return accounts.create_user(email=email, name=name or email.split("@")[0], role=role,
                                        password=self.password,
                                        council_id=council.id if council else None, actor=None)

        self.admin = user("admin@test.example.org", "admin")
        self.manager = user("manager@test.example.org", "manager")
        self.technician = user("tech@test.example.org", "technician")
        self.clerk_a = user("clerk.a@test.example.org", "clerk", self.council_a)
        self.clerk_b = user("clerk.b@test.example.org", "clerk", self.council_b)

    @property
    def by_role(self) -> dict:
        return {"admin": self.admin, "manager": self.manager, "technician": self.technician,
                "clerk": self.clerk_a}


@pytest.fixture
def world(app) -> World:
    return World(app)


@pytest.fixture
def english(request):
    """For tests that read English texts (the project's default language is Catalan): the
    world's users speak English unless the test says otherwise, and service calls made
    outside a request render in English too."""
    from flask_babel import force_locale

    if "world" in request.fixturenames:
        world = request.getfixturevalue("world")
        for user in (world.admin, world.manager, world.technician, world.clerk_a, world.clerk_b):
            user.preferred_language = "en"
        request.getfixturevalue("db").session.commit()
    if "app" in request.fixturenames or "world" in request.fixturenames:
        request.getfixturevalue("app")
        with force_locale("en"):
            yield
    else:
        yield


@pytest.fixture
def client_for(app):
    return lambda user: login_client(app, user)


class ApiClient:
    """A test client that sends a personal token of `user` on every request."""

    def __init__(self, app, user):
        from accounts import services

        _token, self.token = services.create_token(user, "tests", actor=None)
        self.client = app.test_client()
        self.user = user

    def _headers(self, headers):
        out = {"Authorization": f"Bearer {self.token}"}
        out.update(headers or {})
        return out

    def get(self, url, **kw):
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, url, json=None, **kw):
        return self.client.patch(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def put(self, url, json=None, **kw):
        return self.client.put(url, json=json, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def api_for(app):
    return lambda user: ApiClient(app, user)


# --- a real HTTP server on loopback ---------------------------------------------------

class LiveServer:
    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


# --- a real SMTP server on loopback ---------------------------------------------------

from mailsink import SmtpSink  # noqa: E402  (tests/ is put on sys.path above)


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def mail_app(app, smtp_sink):
    """The shared app, sending mail to the loopback SMTP sink for this test."""
    saved = {k: app.config[k] for k in ("MAIL_ENABLED", "MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_ENABLED=True, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.port)
    yield app
    app.config.update(saved)


# --- the API's error body ------------------------------------------------------------

def check_error_body(resp, status: int, code: str | None = None) -> dict:
    """Assert `resp` is the contract's error: that status, exactly {"error": {code, message,
    fields}}, a human message (not just the code). Returns the inner "error" object."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == "application/json", resp.mimetype
    body = resp.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, error
    assert isinstance(error["fields"], dict)
    assert isinstance(error["message"], str) and error["message"].strip()
    assert error["message"] != error["code"], f"message is only the code: {error}"
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.fixture
def api_error():
    return check_error_body

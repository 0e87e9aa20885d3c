"""Helpers and fixtures shared by the remote tests (import what you use from here)."""

from __future__ import annotations

import copy
import datetime as dt
import os
import uuid

import pytest

UTC = dt.UTC


def report_body(collected_at: dt.datetime | None = None, *, report_id: str | None = None, cpu: float = 12.5,
                memory: float = 41.0, disks=None, inventory=None, hostname: str = "mura-srv-01", **extra) -> dict:
    """A report as the real agent sends it (remote/agent/README.md, "What is sent")."""
    collected_at = collected_at or dt.datetime.now(UTC)
    body = {
        "collected_at": collected_at.isoformat(timespec="milliseconds"),
        "report_id": report_id or uuid.uuid4().hex,
        "metrics": {
            "cpu_percent": cpu, "memory_percent": memory, "swap_percent": 0.0,
            "disks": disks if disks is not None else [
                {"mount": "/", "total_bytes": 100 * 2**30, "used_bytes": 40 * 2**30, "fstype": "ext4"}],
            "uptime_seconds": 1255, "load_1": 0.56, "load_5": 0.58, "load_15": 0.45,
            "addresses": [{"interface": "eth0", "family": "ipv4", "address": "192.0.2.2", "up": True}],
        },
        "inventory": inventory if inventory is not None else {
            "hostname": hostname, "os": "Debian GNU/Linux 12 (bookworm)", "os_name": "Linux",
            "os_release": "6.1.0-18-amd64", "os_version": "#1 SMP", "arch": "x86_64",
            "cpu_model": "Intel(R) Xeon(R) E-2224", "cpu_cores_logical": 4, "cpu_cores_physical": 4,
            "ram_bytes": 17179869184, "manufacturer": "HPE", "model": "ProLiant MicroServer Gen10 Plus",
            "serial": "CZJ1234ABC", "ip_address": "192.0.2.2",
            "disks": [{"device": "/dev/sda2", "mount": "/", "total_bytes": 100 * 2**30, "fstype": "ext4"}]},
        "agent": {"version": "1.0.0", "spool_depth": 0, "spool_dropped": 0, "spool_rejected": 0},
    }
    body.update(extra)
    return body


class AgentClient:
    """An enrolled agent talking to the test client with its own token.

    `paced` (the default): each report is sent as if a whole interval had passed since the
    previous one, so tests that send several reports in a row are not answered 429 by the
    report-frequency rule (remote.ingest); the tests of that rule send with `paced=False`."""

    def __init__(self, client, enrolled: dict):
        self.client = client
        self.agent_id = enrolled["agent_id"]
        self.asset_id = enrolled["asset_id"]
        self.token = enrolled["token"]
        self.paced = True

    def forget_last_fresh_report(self) -> None:
        import sqlalchemy as sa

        from extensions import db
        from remote.models import Agent

        with db.engine.begin() as conn:
            conn.execute(sa.update(Agent.__table__).where(Agent.__table__.c.id == self.agent_id)
                         .values(last_fresh_report_at=None))

    def report(self, body: dict | None = None, *, paced: bool | None = None, **kwargs):
        if self.paced if paced is None else paced:
            self.forget_last_fresh_report()
        return self.client.post("/api/v1/agents/report", json=body if body is not None else report_body(**kwargs),
                                headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture
def enrollment_key(world):
    from remote import agents as services

    return services.create_enrollment_key(world.council_a, actor=world.technician)


@pytest.fixture
def enroll(app, world, enrollment_key):
    """`enroll(hostname=..., inventory=...)` → an AgentClient for council A."""

    def do(hostname: str = "mura-srv-01", key: str | None = None, **body):
        client = app.test_client()
        payload = {"enrollment_key": key or enrollment_key, "hostname": hostname,
                   "os": "Debian GNU/Linux 12 (bookworm)",
                   "inventory": copy.deepcopy(report_body(hostname=hostname)["inventory"])}
        payload.update(body)
        resp = client.post("/api/v1/agents/enroll", json=payload)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return AgentClient(client, resp.get_json())

    return do


class Recorder:
    """An alert handler that remembers what it was told."""

    def __init__(self):
        self.events = []
        self.fail = False

    def __call__(self, event):
        if self.fail:
            raise RuntimeError("ticket system down")
        self.events.append(event)

    def kinds(self):
        return [e.kind for e in self.events]


@pytest.fixture
def recorder(monkeypatch):
    """The only alert handler while the test runs (the tickets' own handler is tested there)."""
    from remote import alerts

    rec = Recorder()
    monkeypatch.setattr(alerts, "_handlers", [rec])
    return rec


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def subprocess_env(database_url: str, **extra) -> dict:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "COUNCILDESK_ENV": "testing",
                "FLASK_APP": "app", "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- language --------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

import i18n_catalogs  # noqa: E402  (tests/ is on sys.path: tests/conftest.py)

ROOT = i18n_catalogs.ROOT
SOURCES = ((ROOT / "remote", i18n_catalogs.PYTHON_TOP_LEVEL), (ROOT / "templates" / "remote", i18n_catalogs.JINJA))


@pytest.fixture(autouse=True)
def _english_unless_asked(request):
    """These tests read English texts: their users speak English unless a test says otherwise
    (the project's default language is Catalan, and the catalogs will translate these pages)."""
    from flask_babel import force_locale

    if "world" in request.fixturenames:
        world = request.getfixturevalue("world")
        for user in (world.admin, world.manager, world.technician, world.clerk_a, world.clerk_b):
            user.preferred_language = "en"
        request.getfixturevalue("db").session.commit()
    if "app" in request.fixturenames:
        with force_locale("en"):
            yield
    else:
        yield


def extract_messages() -> dict[str, str | None]:
    """remote's msgids (not the agent's: it is a separate, English-only program)."""
    return i18n_catalogs.extract_messages(SOURCES)


def pending_translations() -> dict:
    return i18n_catalogs.pending("remote")


@pytest.fixture(scope="session")
def remote_catalogs(tmp_path_factory) -> Path:
    return i18n_catalogs.build_catalogs(tmp_path_factory.mktemp("remote-translations"), extract_messages(),
                                        pending_translations())


@pytest.fixture
def translated_app(app, make_app, remote_catalogs):
    """An app whose catalogs include remote's pending entries (before they are merged)."""
    with i18n_catalogs.app_with_catalogs(make_app, remote_catalogs) as translated:
        yield translated


login = i18n_catalogs.login

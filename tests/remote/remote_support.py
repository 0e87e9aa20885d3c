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
    """An enrolled agent talking to the test client with its own token."""

    def __init__(self, client, enrolled: dict):
        self.client = client
        self.agent_id = enrolled["agent_id"]
        self.asset_id = enrolled["asset_id"]
        self.token = enrolled["token"]

    def report(self, body: dict | None = None, **kwargs):
        return self.client.post("/api/v1/agents/report", json=body if body is not None else report_body(**kwargs),
                                headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture
def enrollment_key(world):
    from remote import services

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

ROOT = Path(__file__).resolve().parents[2]
PENDING = ROOT / "translations" / "pending" / "remote.json"
SOURCES = ((ROOT / "remote", [("*.py", "python")]),
           (ROOT / "templates" / "remote", [("**.html", "jinja2.ext:babel_extract")]))


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
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file

    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
    found: dict[str, str | None] = {}

    def add(message):
        if isinstance(message, tuple | list):
            found[message[0]] = message[1]
        else:
            found.setdefault(message, None)

    for path in sorted((ROOT / "remote").glob("*.py")):
        for _line, message, _comments, _context in extract_from_file("python", str(path), keywords=keywords):
            add(message)
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "templates" / "remote"), [("**.html", "jinja2.ext:babel_extract")], keywords=keywords):
        add(message)
    return found


def pending_translations() -> dict:
    import json

    return json.loads(PENDING.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def remote_catalogs(tmp_path_factory) -> Path:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    out = tmp_path_factory.mktemp("remote-translations")
    pending = pending_translations()
    messages = extract_messages()
    for lang in ("ca", "es", "en"):
        with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for msgid, plural in messages.items():
            if msgid in catalog and catalog[msgid].string:
                continue
            if lang == "en":
                catalog.add((msgid, plural) if plural else msgid, (msgid, plural) if plural else msgid)
            elif msgid in pending:
                value = pending[msgid][lang]
                catalog.add((msgid, plural) if plural else msgid, tuple(value) if plural else value)
        target = out / lang / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / "messages.mo").open("wb") as fh:
            write_mo(fh, catalog)
    return out


@pytest.fixture
def translated_app(app, make_app, remote_catalogs):
    """An app whose catalogs include remote's pending entries (before they are merged)."""
    from extensions import babel, db

    babel.domain_instance.cache.clear()
    translated = make_app(BABEL_TRANSLATION_DIRECTORIES=str(remote_catalogs))
    yield translated
    babel.domain_instance.cache.clear()
    db.session.rollback()


def login(app, user):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
    return client

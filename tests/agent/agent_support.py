"""Support for the agent tests: a stub CouncilDesk server and helpers to run the real agent.

The stub implements only the two agent endpoints of docs/api-contract.md ("Agents and
checks"), validates the contract keys of each report and records what it received. It runs
on 127.0.0.1 only, in threads of the test process; it can be stopped and restarted on the
same port to simulate an outage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

ENROLLMENT_KEY = "KEY-bages-123"
TOKEN = "agent-token-7f3c"
MAX_BODY = 256 * 1024


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": {}}}


class StubState:
    """What the stub knows and received; shared across restarts of the server."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.enrollment_key = ENROLLMENT_KEY
        self.token = TOKEN
        self.revoked = False
        self.interval = 60
        self.enrollments: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.invalid: list[str] = []
        # Hook: return (status, body, headers) to override the answer to a report.
        self.report_override: Callable[[dict[str, Any]], tuple[int, Any, dict[str, str]] | None]
        self.report_override = lambda _report: None
        self.report_reply: dict[str, Any] = {}

    def report_ids(self) -> list[str]:
        with self.lock:
            return [r["report_id"] for r in self.reports]


def contract_problems(report: Any) -> list[str]:
    """The contract's required report keys, checked the way the server will."""
    problems = []
    if not isinstance(report, dict):
        return ["body is not an object"]
    try:
        stamp = dt.datetime.fromisoformat(report["collected_at"])
        if stamp.utcoffset() is None:
            problems.append("collected_at has no offset")
    except (KeyError, TypeError, ValueError):
        problems.append("collected_at missing or not ISO 8601")
    metrics = report.get("metrics")
    if not isinstance(metrics, dict):
        return [*problems, "metrics missing"]
    for key in ("cpu_percent", "memory_percent"):
        if not isinstance(metrics.get(key), (int, float)) or isinstance(metrics.get(key), bool):
            problems.append(f"metrics.{key} not a number")
    if not isinstance(metrics.get("uptime_seconds"), int):
        problems.append("metrics.uptime_seconds not an integer")
    disks = metrics.get("disks")
    if not isinstance(disks, list):
        problems.append("metrics.disks not a list")
    else:
        for disk in disks:
            if not isinstance(disk.get("mount"), str):
                problems.append("disk mount not a string")
            for key in ("total_bytes", "used_bytes"):
                if not isinstance(disk.get(key), int):
                    problems.append(f"disk {key} not an integer")
    if not isinstance(report.get("inventory"), dict):
        problems.append("inventory missing")
    return problems


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.conn_lock:
            self.server.open_conns.add(self.connection)
            self.server.connections += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.conn_lock:
                self.server.open_conns.discard(self.connection)

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        if length > MAX_BODY:
            self.close_connection = True
            self._reply(413, error_body("body_too_large", "Body over 256 KiB"))
            return
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            self._reply(400, error_body("malformed", "Body is not JSON"))
            return
        if self.path == "/api/v1/agents/enroll":
            self._enroll(state, body)
        elif self.path == "/api/v1/agents/report":
            self._report(state, body)
        else:
            self._reply(404, error_body("not_found", "No such route"))

    def _enroll(self, state: StubState, body: dict[str, Any]) -> None:
        if body.get("enrollment_key") != state.enrollment_key:
            self._reply(401, error_body("invalid_enrollment_key", "Unknown enrollment key"))
            return
        with state.lock:
            state.enrollments.append(body)
        self._reply(
            201,
            {
                "agent_id": 4,
                "token": state.token,
                "asset_id": 17,
                "report_interval_seconds": state.interval,
            },
        )

    def _report(self, state: StubState, body: Any) -> None:
        if self.headers.get("Authorization") != f"Bearer {state.token}" or state.revoked:
            self._reply(401, error_body("unauthorized", "Token revoked"))
            return
        problems = contract_problems(body)
        if problems:
            with state.lock:
                state.invalid.extend(problems)
            self._reply(422, error_body("validation", "; ".join(problems)))
            return
        override = state.report_override(body)
        if override is not None:
            status, reply, headers = override
            self._reply(status, reply, headers)
            return
        with state.lock:
            state.reports.append(body)
            state.headers.append(dict(self.headers.items()))
        self._reply(202, state.report_reply)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: StubState, http11: bool) -> None:
        self.state = state
        self.conn_lock = threading.Lock()
        self.open_conns: set[socket.socket] = set()
        self.connections = 0
        handler = type("Handler", (_Handler,), {"protocol_version": "HTTP/1.1" if http11 else "HTTP/1.0"})
        super().__init__(address, handler)


class StubServer:
    """Start/stop/restart a stub on a fixed port (0 picks a free one the first time)."""

    def __init__(
        self,
        state: StubState | None = None,
        ssl_context: ssl.SSLContext | None = None,
        http11: bool = False,
    ) -> None:
        self.state = state or StubState()
        self.ssl_context = ssl_context
        self.http11 = http11
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return self._server.connections if self._server else 0

    def start(self) -> StubServer:
        server = _Server(("127.0.0.1", self.port), self.state, self.http11)
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down for real: no listener and no kept-alive connection left to answer."""
        server = self._server
        if server is None:
            return
        server.shutdown()
        with server.conn_lock:
            for conn in list(server.open_conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None


# --- TLS ----------------------------------------------------------------------------------


def make_self_signed(directory: Path, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` (EC P-256: quick to make)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "councildesk-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([_san(name) for name in names]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    stem = "-".join(names)
    cert_path = directory / f"{stem}-cert.pem"
    key_path = directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _san(name: str) -> Any:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


# --- running the real agent ---------------------------------------------------------------


def agent_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNCILDESK_")}
    env.pop("JOURNAL_STREAM", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_agent(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``python -m remote.agent ARGS`` from the project root, to completion."""
    return subprocess.run(
        [sys.executable, "-m", "remote.agent", *args],
        cwd=ROOT,
        env=agent_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_agent(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "remote.agent", *args],
        cwd=ROOT,
        env=agent_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_agent(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def spool_rows(config: Path) -> list[dict[str, Any]]:
    """The reports waiting in the agent's spool, oldest first, read without locking it long."""
    path = config.with_suffix(".spool.sqlite3")
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute("SELECT body FROM reports ORDER BY id").fetchall()
    finally:
        db.close()
    return [json.loads(row[0]) for row in rows]


def write_config(stub: StubServer, config: Path, **fields: Any) -> Path:
    """An enrolled agent's config, written directly (enrollment itself has its own tests)."""
    from remote.agent.config import AgentConfig, save_config

    save_config(str(config), AgentConfig(server=stub.url, agent_id=4, token=stub.state.token, **fields))
    return config


def enroll(stub: StubServer, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_agent(
        "enroll",
        "--server",
        stub.url,
        "--enrollment-key",
        ENROLLMENT_KEY,
        "--config",
        str(config),
        *extra,
    )

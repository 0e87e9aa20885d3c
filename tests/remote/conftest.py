"""Fixtures for the SSH check engine: a real sshd, and ports that misbehave.

`sshd` is session-scoped and reusable by any test module under tests/remote (and by later
modules that need an SSH host): it yields a `sshd_harness.SshdServer` with ``host``,
``port``, ``username``, ``client_key`` (private key text), ``client_keys`` (all generated
keys by name), ``host_key_line`` / ``host_key_type`` / ``host_key_base64``,
``host_key_fingerprint``, ``host_keys`` (every host key by type), ``log_text()`` and
``exec_log_text()``. See sshd_harness.py for what CI must install.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The engine is imported from the source tree and the harness from this folder, whatever
# pytest's import mode (the same arrangement as tests/agent).
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from sshd_harness import SshdServer, free_port, start_sshd  # noqa: E402

from remote.hostkeys import HostKey  # noqa: E402
from remote.ssh_connect import SshCredentials, SshTarget  # noqa: E402
from remote.ssh_transport import SshTimeouts  # noqa: E402

FAST = SshTimeouts(connect=2.0, banner=2.0, handshake=5.0, auth=5.0, command=5.0, host_total=20.0)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_target(sshd: SshdServer) -> Callable[..., SshTarget]:
    """Build an SshTarget for the test sshd: ``make_target(key="ed25519", pinned=...)``.

    `pinned` defaults to the server's real Ed25519 host key; pass ``()`` for none, or
    any tuple of HostKey.
    """

    def build(
        key: str = "ed25519",
        pinned: tuple[HostKey, ...] | None = None,
        timeouts: SshTimeouts = FAST,
        passphrase: str | None = None,
        port: int | None = None,
    ) -> SshTarget:
        client = sshd.client_keys[key]
        pins = (HostKey.from_openssh(sshd.host_key_line),) if pinned is None else pinned
        return SshTarget(
            host=sshd.host,
            port=sshd.port if port is None else port,
            credentials=SshCredentials(
                sshd.username,
                client.private_key,
                client.passphrase if passphrase is None else passphrase,
            ),
            pinned_keys=pins,
            timeouts=timeouts,
        )

    return build


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listen queue accepts TCP connections that nobody ever answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def scripted_port() -> Iterator[Callable[[bytes | None], int]]:
    """A loopback server that sends fixed bytes (or nothing) to each client, then closes."""
    listeners: list[socket.socket] = []

    def start(payload: bytes | None) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listeners.append(listener)

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    if payload:
                        conn.sendall(payload)

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        listener.close()


# The fixtures of the health checks' tests (agents, alerts, scheduler, pages) live in
# remote_support.py with their helpers; importing them here makes them fixtures of this folder.
from remote_support import (  # noqa: E402,F401
    _english_unless_asked,
    enroll,
    enrollment_key,
    recorder,
    remote_catalogs,
    translated_app,
)

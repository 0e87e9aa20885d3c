"""Fixtures for the agent tests (helpers live in ``agent_support``, importable by tests)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The agent is imported from the source tree (``remote.agent``), as the process tests run it,
# and the helpers from this folder, whatever pytest's import mode.
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)


@pytest.fixture
def stub() -> Iterator[Any]:
    """A plain-http stub server on 127.0.0.1 (``agent_support.StubServer``)."""
    from agent_support import StubServer

    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture
def tls_stub(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """An https stub with a self-signed certificate; yields (server, certificate path)."""
    from agent_support import StubServer, make_self_signed, tls_context

    cert_path, key_path = make_self_signed(tmp_path)
    server = StubServer(ssl_context=tls_context(cert_path, key_path)).start()
    yield server, cert_path
    server.stop()

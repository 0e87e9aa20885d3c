"""Fixtures of the scale-out tests: a private RabbitMQ node (tests/scale/rabbit_harness.py),
apps wired to it, each test on queues of its own (a unique SCALE_QUEUE_PREFIX)."""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for entry in (str(ROOT), str(HERE), str(ROOT / "tests" / "remote")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import rabbit_harness  # noqa: E402


@pytest.fixture(scope="session")
def rabbit():
    if not rabbit_harness.available():
        pytest.fail("rabbitmq-server is not installed (.ci/install-system installs it)")
    # Not under pytest's temporary folder: the node runs as the `rabbitmq` user, who cannot
    # enter root's 0700 folders.
    base = Path(tempfile.mkdtemp(prefix="councildesk-rabbit-"))
    node = rabbit_harness.RabbitNode(base)
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """The remote tests' real OpenSSH sshd on loopback (tests/remote/sshd_harness.py)."""
    from sshd_harness import start_sshd

    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker_config(rabbit) -> dict:
    return {"BROKER_URL": rabbit.url, "SCALE_QUEUE_PREFIX": f"t{uuid.uuid4().hex[:10]}",
            "SCALE_RETRY_BACKOFF": 0.2, "SCALE_TASK_MAX_RETRIES": 2, "SCALE_REPORT_WAIT": 0.2,
            "SCALE_PUBLISH_TIMEOUT": 1.0}


@pytest.fixture
def broker_app(app, make_app, broker_config):
    """An app on the test database that hands its work to the private broker."""
    return make_app(**broker_config)


from remote_support import _english_unless_asked, enroll, enrollment_key  # noqa: E402, F401  (fixtures)

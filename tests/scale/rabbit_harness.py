"""A private RabbitMQ node for the scale-out tests: its own node name, port, data and logs.

Private, so that a test can stop and start it (the restart test) without touching the
machine's own broker, and so that its queues start empty. Debian's `rabbitmq-server` drops
to the `rabbitmq` user when started as root: the node's folder is handed to that user.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

SERVER = "/usr/sbin/rabbitmq-server"
CTL = "/usr/sbin/rabbitmqctl"


def available() -> bool:
    return os.path.exists(SERVER) and os.path.exists(CTL)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _two_free_ports() -> tuple[int, int]:
    # Below the ephemeral range (32768+): a port there can be taken by an outgoing connection
    # between the check and the node's bind.
    for _ in range(200):
        port = random.randrange(12000, 30000)
        if _port_free(port) and _port_free(port + 1):
            return port, port + 1
    raise RuntimeError("no free port pair for a private RabbitMQ")


class RabbitNode:
    def __init__(self, base: Path):
        self.base = base
        self.port, self.dist_port = _two_free_ports()
        self.name = f"cdscale{uuid.uuid4().hex[:8]}@localhost"
        self.proc: subprocess.Popen | None = None
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text("# private node of the scale-out tests\n")
        (base / "env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        if os.geteuid() == 0:
            shutil.chown(base, "rabbitmq", "rabbitmq")
            for child in base.iterdir():
                shutil.chown(child, "rabbitmq", "rabbitmq")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "RABBITMQ_NODENAME": self.name, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"), "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "env.conf"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
        })
        return env

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.base / "server.out", "ab")  # noqa: SIM115  (kept open for the process)
        self.proc = subprocess.Popen([SERVER], env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                subprocess.run([CTL, "-n", self.name, "await_startup", "--timeout", "30"], env=self._env(),
                               capture_output=True, timeout=40, check=True)
                return
            except (OSError, subprocess.CalledProcessError):
                time.sleep(0.3)
        raise RuntimeError(f"rabbitmq-server did not start within {timeout}s: {self.tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        subprocess.run([CTL, "-n", self.name, "shutdown"], env=self._env(), capture_output=True, timeout=60)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)
        self.proc = None

    def tail(self) -> str:
        path = self.base / "server.out"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

"""The SSH transport: TCP sockets, the banner probe, and commands on a kept connection.

Speed (lessons.md "Measured limits"): our own socket with TCP_NODELAY (paramiko leaves Nagle
on, which costs ~45 ms per command on a kept connection) and immediate ACKs (see
`_QuickAckSocket`), one shared watchdog thread for command deadlines. Logging in (pinned host
keys, key-only authentication) is remote.ssh_connect's; every wait here has a timeout.

Nothing here raises for a network or protocol problem: `probe_banner` returns a `BannerProbe`
and `SshConnection.run` a `CommandResult`.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import paramiko

MAX_STDOUT = 64 * 1024
MAX_STDERR = 8 * 1024
BANNER_LIMIT = 255  # RFC 4253 caps the identification string at 255 characters
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")


class ConnectionStatus(StrEnum):
    OK = "ok"
    HOST_KEY_PENDING = "host_key_pending"
    HOST_KEY_CHANGED = "host_key_changed"
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth_failed"
    CONNECTION_REFUSED = "connection_refused"
    UNREACHABLE = "unreachable"
    PROTOCOL_ERROR = "protocol_error"
    CLIENT_KEY_ERROR = "client_key_error"
    INTERNAL_ERROR = "internal_error"


def clean_text(text: str, limit: int = 200) -> str:
    """Text from a host or a library, fit for a detail line: no control characters, bounded."""
    cleaned = CONTROL_CHARS.sub("?", text)
    return cleaned[:limit]


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds")


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True)
class SshTimeouts:
    """Seconds allowed for each stage; `host_total` bounds everything for one host."""

    connect: float = 5.0
    banner: float = 5.0
    handshake: float = 10.0
    auth: float = 10.0
    command: float = 15.0
    host_total: float = 60.0

    def __post_init__(self) -> None:
        for name in ("connect", "banner", "handshake", "auth", "command", "host_total"):
            _positive(name, getattr(self, name))


@dataclass(frozen=True)
class CommandResult:
    exit_status: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    error: str | None = None
    duration_ms: float = 0.0


@dataclass(frozen=True)
class BannerProbe:
    """TCP connect and SSH identification string, without key exchange or login."""

    status: ConnectionStatus
    detail: str
    tcp_connect_ms: float | None = None
    banner_ms: float | None = None
    banner: str | None = None


# --------------------------------------------------------------------------- sockets


def elapsed_ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class _QuickAckSocket(socket.socket):
    """A socket that acknowledges received data at once.

    sshd keeps Nagle on until a session starts, and sends two small packets right after
    login; with our kernel delaying its ACK (~40 ms), sshd's answer to the first channel
    request waits for that ACK. Measured here: first command 50-60 ms, 6-20 ms with this.
    Linux re-enables delayed ACKs on its own, so the option is re-armed after every read.
    """

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if _TCP_QUICKACK is not None:
            with contextlib.suppress(OSError):
                self.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        return data


def open_socket(
    host: str, port: int, timeout: float
) -> tuple[socket.socket | None, ConnectionStatus, str, float]:
    started = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return None, ConnectionStatus.CONNECTION_REFUSED, "connection refused", 0.0
    except TimeoutError:
        return None, ConnectionStatus.TIMEOUT, f"TCP connect timed out after {timeout:g} s", 0.0
    except socket.gaierror as exc:
        return None, ConnectionStatus.UNREACHABLE, f"name resolution failed: {exc.strerror}", 0.0
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        return None, ConnectionStatus.UNREACHABLE, clean_text(str(reason)), 0.0
    elapsed = time.perf_counter() - started
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if _TCP_QUICKACK is not None:
        timeout_s = sock.gettimeout()
        sock = _QuickAckSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        sock.settimeout(timeout_s)
    return sock, ConnectionStatus.OK, "", elapsed


def probe_banner(host: str, port: int, timeouts: SshTimeouts | None = None) -> BannerProbe:
    """Reachability without credentials: TCP connect, then read the SSH identification."""
    limits = timeouts or SshTimeouts()
    sock, status, detail, tcp_s = open_socket(host, port, limits.connect)
    if sock is None:
        return BannerProbe(status, detail)
    started = time.perf_counter()
    deadline = started + limits.banner
    buffer = b""
    try:
        with sock:
            while True:
                for line in buffer.split(b"\n")[:-1]:
                    if line.startswith(b"SSH-"):
                        text = line.rstrip(b"\r").decode("utf-8", "replace")
                        return BannerProbe(
                            ConnectionStatus.OK,
                            "",
                            elapsed_ms(tcp_s),
                            elapsed_ms(time.perf_counter() - started),
                            clean_text(text, BANNER_LIMIT),
                        )
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError
                if len(buffer) > 8192:
                    return BannerProbe(ConnectionStatus.PROTOCOL_ERROR, "no SSH banner", elapsed_ms(tcp_s))
                sock.settimeout(remaining)
                chunk = sock.recv(1024)
                if not chunk:
                    return BannerProbe(
                        ConnectionStatus.PROTOCOL_ERROR,
                        "connection closed before the SSH banner",
                        elapsed_ms(tcp_s),
                    )
                buffer += chunk
    except TimeoutError:
        return BannerProbe(
            ConnectionStatus.TIMEOUT, f"no SSH banner within {limits.banner:g} s", elapsed_ms(tcp_s)
        )
    except OSError as exc:
        return BannerProbe(ConnectionStatus.PROTOCOL_ERROR, clean_text(str(exc)), elapsed_ms(tcp_s))


# --------------------------------------------------------------------------- running commands


class _Alarm:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Watchdog:
    """One daemon thread firing command deadlines.

    A threading.Timer per command cost ~0.3 ms of CPU here, an eighth of a command on a
    kept connection; scheduling on a shared heap costs microseconds.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, deadline: float, callback: Callable[[], None]) -> _Alarm:
        """Call `callback` at `deadline` (a time.perf_counter() value) unless cancelled."""
        alarm = _Alarm(callback)
        with self._cond:
            earliest = self._heap[0][0] if self._heap else math.inf
            heapq.heappush(self._heap, (deadline, next(self._sequence), alarm))
            if self._thread is None or not self._thread.is_alive():
                # Also covers a forked child, where the parent's thread does not exist.
                self._thread = threading.Thread(
                    target=self._loop, name="ssh-command-watchdog", daemon=True
                )
                self._thread.start()
            elif deadline < earliest:
                self._cond.notify()
        return alarm

    def _loop(self) -> None:
        while True:
            due: list[_Alarm] = []
            with self._cond:
                now = time.perf_counter()
                while self._heap and (self._heap[0][2].cancelled or self._heap[0][0] <= now):
                    alarm = heapq.heappop(self._heap)[2]
                    if not alarm.cancelled:
                        due.append(alarm)
                if not due:
                    wait = self._heap[0][0] - now if self._heap else None
                    self._cond.wait(wait)
            for alarm in due:
                try:
                    alarm.callback()
                except Exception:  # a failing kill must not stop later deadlines
                    logging.getLogger(__name__).exception("command deadline callback failed")


_WATCHDOG = _Watchdog()


class SshConnection:
    """An authenticated connection kept for all the checks of one host in a round.

    A command on a kept connection costs ~2 ms of client CPU against ~7 ms for a new
    connection (plus ~50 ms in sshd), hence one connection per host per round.
    """

    def __init__(self, client: paramiko.SSHClient, timeouts: SshTimeouts) -> None:
        self._client = client
        self._timeouts = timeouts

    def __enter__(self) -> SshConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    @property
    def active(self) -> bool:
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    def run(
        self,
        command: str,
        timeout: float | None = None,
        *,
        max_stdout: int = MAX_STDOUT,
        max_stderr: int = MAX_STDERR,
    ) -> CommandResult:
        """Run one command in its own channel; the channel is killed at the deadline."""
        limit = self._timeouts.command if timeout is None else max(timeout, 0.001)
        started = time.perf_counter()
        deadline = started + limit

        def done(
            status: int | None,
            out: bytes,
            err: bytes,
            *,
            timed_out: bool = False,
            truncated: bool = False,
            error: str | None = None,
        ) -> CommandResult:
            return CommandResult(
                status,
                out.decode("utf-8", "replace"),
                err.decode("utf-8", "replace"),
                timed_out=timed_out,
                truncated=truncated,
                error=error,
                duration_ms=elapsed_ms(time.perf_counter() - started),
            )

        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            return done(None, b"", b"", error="connection closed")
        try:
            channel = transport.open_session(timeout=limit)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            return done(None, b"", b"", error=clean_text(f"cannot open a channel: {exc}"))

        killed = threading.Event()

        def kill() -> None:
            # exec_command and recv_exit_status wait without a timeout of their own;
            # closing the channel is what wakes them up.
            killed.set()
            channel.close()

        alarm = _WATCHDOG.schedule(deadline, kill)
        stdout = bytearray()
        stderr = bytearray()
        try:
            channel.exec_command(command)
            channel.shutdown_write()
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or killed.is_set():
                    return done(None, bytes(stdout), bytes(stderr), timed_out=True)
                channel.settimeout(remaining)
                chunk = channel.recv(32768)
                if not chunk:
                    break
                room = max_stdout - len(stdout)
                stdout += chunk[:room]
                if len(chunk) > room:
                    # A host flooding us gets cut off; what we have is still parsed.
                    return done(None, bytes(stdout), bytes(stderr), truncated=True)
            while channel.recv_stderr_ready() and len(stderr) < max_stderr:
                stderr += channel.recv_stderr(max_stderr - len(stderr))
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or not channel.status_event.wait(remaining) or killed.is_set():
                return done(None, bytes(stdout), bytes(stderr), timed_out=True)
            # paramiko reports -1 when the server sent no exit status.
            status = channel.exit_status if channel.exit_status >= 0 else None
            return done(status, bytes(stdout), bytes(stderr))
        except TimeoutError:
            return done(None, bytes(stdout), bytes(stderr), timed_out=True)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if killed.is_set():
                return done(None, bytes(stdout), bytes(stderr), timed_out=True)
            return done(None, bytes(stdout), bytes(stderr), error=clean_text(str(exc) or "failed"))
        finally:
            alarm.cancel()
            channel.close()

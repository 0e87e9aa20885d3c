"""SSH connections for agentless checks: pinned host keys, bounded waits, plain results.

Security rules (DEVELOPERS.md "Security and data rules"): only pinned host keys are trusted
(`paramiko.RejectPolicy`, never ~/.ssh/known_hosts); a host without a pinned key, or with a
different one, runs nothing and reports what it offered so an admin can approve it or an
alert can be raised; no agent and no ~/.ssh key lookup; every wait has a timeout.

Speed (lessons.md "Measured limits"): our own socket with TCP_NODELAY (paramiko leaves Nagle
on, which costs ~45 ms per command on a kept connection) and immediate ACKs (see
`_QuickAckSocket`), curve25519-based key exchange (classic Diffie-Hellman groups cost 60-180 ms
of client CPU per connection), one shared watchdog thread for command deadlines.

Nothing here raises for a network or protocol problem: `connect` returns a `ConnectOutcome`
and `SshConnection.run` a `CommandResult`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import heapq
import hmac
import io
import itertools
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

SUPPORTED_HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)

DISABLED_ALGORITHMS: dict[str, list[str]] = {
    # CBC modes and 3DES have known attacks on SSH; MD5/SHA-1 MACs are obsolete.
    "ciphers": ["3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc"],
    "macs": ["hmac-md5", "hmac-md5-96", "hmac-sha1", "hmac-sha1-96"],
    # Classic finite-field DH costs 60-180 ms of client CPU per connection and the
    # group-exchange variant lets the server pick the group; every OpenSSH since 6.5 and
    # dropbear since 2013 offer curve25519, which paramiko prefers (after the ML-KEM hybrid,
    # which builds on X25519 and adds under a millisecond).
    "kex": [
        "diffie-hellman-group14-sha256",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group-exchange-sha256",
    ],
}

MAX_STDOUT = 64 * 1024
MAX_STDERR = 8 * 1024
_BANNER_LIMIT = 255  # RFC 4253 caps the identification string at 255 characters
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


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


def _clean(text: str, limit: int = 200) -> str:
    cleaned = _CONTROL.sub("?", text)
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
class HostKey:
    """A server public key as OpenSSH writes it: type and base64 blob."""

    key_type: str
    key_base64: str

    def __post_init__(self) -> None:
        if self.key_type not in SUPPORTED_HOST_KEY_TYPES:
            raise ValueError(f"unsupported host key type {_clean(str(self.key_type), 40)!r}")
        blob = self.blob
        try:
            embedded = paramiko.Message(blob).get_text()
        except Exception as exc:  # any parse failure means a bad blob
            raise ValueError("host key blob is malformed") from exc
        if embedded != self.key_type:
            raise ValueError("host key blob does not match its key type")
        try:
            paramiko.PKey.from_type_string(self.key_type, blob)
        except Exception as exc:  # paramiko raises several types here
            raise ValueError("host key blob is not a valid key") from exc

    @property
    def blob(self) -> bytes:
        if not isinstance(self.key_base64, str) or len(self.key_base64) > 16384:
            raise ValueError("host key base64 is missing or too long")
        try:
            blob = base64.b64decode(self.key_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("host key is not valid base64") from exc
        if not blob:
            raise ValueError("host key is empty")
        return blob

    @property
    def fingerprint(self) -> str:
        """OpenSSH's format: ``SHA256:`` and unpadded base64 of the blob's SHA-256."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    def openssh(self) -> str:
        return f"{self.key_type} {self.key_base64}"

    def to_pkey(self) -> paramiko.PKey:
        return paramiko.PKey.from_type_string(self.key_type, self.blob)

    @classmethod
    def from_pkey(cls, key: paramiko.PKey) -> HostKey:
        return cls(key.get_name(), key.get_base64())

    @classmethod
    def from_openssh(cls, line: str) -> HostKey:
        """Parse ``type base64 [comment]``, or a known_hosts / ssh-keyscan line."""
        if not isinstance(line, str):
            raise ValueError("a host key must be text")
        if line.lstrip().startswith("@"):
            # "@revoked" and "@cert-authority" lines name keys that must not be pinned.
            raise ValueError("marker lines (@revoked, @cert-authority) are not host keys")
        tokens = line.split()
        for index, token in enumerate(tokens[:-1]):
            if token in SUPPORTED_HOST_KEY_TYPES:
                return cls(token, tokens[index + 1])
        raise ValueError("no supported host key found in the text")


@dataclass(frozen=True)
class SshCredentials:
    """Login for the monitoring account; the key text is decrypted from the DB by the caller
    and stays in memory (never written to disk)."""

    username: str
    private_key: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.username, str) or not self.username or len(self.username) > 64:
            raise ValueError("username must be 1 to 64 characters")
        if _CONTROL.search(self.username) or " " in self.username:
            raise ValueError("username must not contain spaces or control characters")


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int = 22
    credentials: SshCredentials | None = None
    pinned_keys: tuple[HostKey, ...] = ()
    timeouts: SshTimeouts = field(default_factory=SshTimeouts)

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not 0 < len(self.host) <= 255:
            raise ValueError("host must be 1 to 255 characters")
        if _CONTROL.search(self.host) or " " in self.host or self.host.startswith("-"):
            raise ValueError("host must be a hostname or an IP address")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError("port must be an integer")
        if not 0 < self.port < 65536:
            raise ValueError("port must be between 1 and 65535")
        if not isinstance(self.pinned_keys, tuple):
            object.__setattr__(self, "pinned_keys", tuple(self.pinned_keys))
        if not all(isinstance(k, HostKey) for k in self.pinned_keys):
            raise ValueError("pinned_keys must hold HostKey values")

    @property
    def endpoint(self) -> tuple[str, int]:
        return (self.host.lower(), self.port)


@dataclass(frozen=True)
class ConnectOutcome:
    """How connecting to one host went. Only ``status == OK`` comes with a connection."""

    status: ConnectionStatus
    detail: str
    host: str
    port: int
    offered_key: HostKey | None = None
    pinned_fingerprints: tuple[str, ...] = ()
    server_banner: str | None = None
    tcp_connect_ms: float | None = None
    handshake_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is ConnectionStatus.OK

    @property
    def offered_fingerprint(self) -> str | None:
        return None if self.offered_key is None else self.offered_key.fingerprint


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


# --------------------------------------------------------------------------- client keys


class KeyLoadError(ValueError):
    """The monitoring private key cannot be used (format, passphrase or key type)."""


def load_private_key(text: str, passphrase: str | None = None) -> paramiko.PKey:
    """Parse an Ed25519, ECDSA or RSA private key (OpenSSH, PEM or PKCS#8 text) in memory.

    cryptography decrypts it once (an encrypted OpenSSH key costs a bcrypt KDF run) and
    paramiko gets the decrypted key in memory: no temporary file ever holds it.
    """
    if not isinstance(text, str) or not text.strip():
        raise KeyLoadError("the private key is empty")
    data = text.strip().encode("utf-8", "replace") + b"\n"
    password = passphrase.encode("utf-8") if passphrase else None
    key = None
    for loader in (serialization.load_ssh_private_key, serialization.load_pem_private_key):
        try:
            key = loader(data, password=password)
            break
        except TypeError as exc:
            if password is None:
                raise KeyLoadError("the private key is encrypted: a passphrase is needed") from exc
            # A passphrase stored for a key that is not encrypted is harmless.
            try:
                key = loader(data, password=None)
                break
            except (TypeError, ValueError):
                continue
        except UnsupportedAlgorithm as exc:
            raise KeyLoadError("unsupported private key algorithm") from exc
        except ValueError:
            continue
    if key is None:
        raise KeyLoadError("not a valid private key, or the passphrase is wrong")
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < 2048:
                raise KeyLoadError("RSA keys shorter than 2048 bits are refused")
            # Handing over the loaded object avoids a second parse: OpenSSL 3 checks the
            # primes of an RSA key on every load (~150 ms for 2048 bits).
            return paramiko.RSAKey(key=key)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
                raise KeyLoadError("unsupported ECDSA curve")
            return paramiko.ECDSAKey(vals=(key, key.public_key()))
        if isinstance(key, ed25519.Ed25519PrivateKey):
            # paramiko's Ed25519Key only loads OpenSSH text: give it an unencrypted copy
            # that lives in memory only.
            plain = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ).decode("ascii")
            return paramiko.Ed25519Key.from_private_key(io.StringIO(plain))
    except (paramiko.SSHException, ValueError) as exc:
        if isinstance(exc, KeyLoadError):
            raise
        raise KeyLoadError("the private key could not be loaded") from exc
    raise KeyLoadError("unsupported key type: use Ed25519, ECDSA or RSA")


# --------------------------------------------------------------------------- connecting


class _PinnedKeyPolicy(paramiko.RejectPolicy):
    """RejectPolicy that lets through only a pinned key, and remembers what was offered.

    SSHClient is given no known host keys (so ~/.ssh/known_hosts plays no part) and asks
    this policy about every server key, after the key exchange and before authentication:
    the pinned comparison is ours (constant time, any number of pins of the same type, which
    paramiko's HostKeys cannot hold), and a refused key never reaches login or exec.
    """

    def __init__(self, pins: tuple[HostKey, ...]) -> None:
        self.pins = pins
        self.offered: paramiko.PKey | None = None
        self.rejected = False

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        self.offered = key
        if self.pins and _matches_pin(key.asbytes(), self.pins):
            return
        self.rejected = True
        super().missing_host_key(client, hostname, key)


class _KeyOnly(paramiko.AuthStrategy):
    """Public-key login with the one in-memory key, nothing else.

    SSHClient's legacy login would also try an agent and ~/.ssh unless told not to, and
    falls back to keyboard-interactive for a second factor, whose default handler reads
    stdin: a misconfigured host could block a scheduler thread for good.
    """

    def __init__(self, username: str, pkey: paramiko.PKey) -> None:
        super().__init__(ssh_config=None)
        self._source = paramiko.InMemoryPrivateKey(username, pkey)

    def get_sources(self) -> Iterator[paramiko.AuthSource]:
        yield self._source


def _auth_timed_out(exc: paramiko.AuthenticationException) -> bool:
    # AuthFailure wraps the per-source exceptions; paramiko says "Authentication timeout."
    causes: list[object] = [exc]
    if isinstance(exc, paramiko.AuthFailure):
        causes.extend(result for _source, result in exc.result)
    return any(isinstance(c, Exception) and "timeout" in str(c).lower() for c in causes)


def _preferred_host_key_algorithms(pins: tuple[HostKey, ...]) -> list[str] | None:
    """Pinned key types first, so a server with several host keys shows the pinned one.

    Other types stay allowed: a server that lost the pinned key then shows another one,
    which is reported as a changed key instead of failing negotiation.
    """
    if not pins:
        return None
    first: list[str] = []
    for pin in pins:
        # An RSA key is pinned as "ssh-rsa" but signs with SHA-2 algorithms.
        names = ["rsa-sha2-512", "rsa-sha2-256"] if pin.key_type == "ssh-rsa" else [pin.key_type]
        first.extend(n for n in names if n not in first)
    return first + [n for n in paramiko.Transport._preferred_keys if n not in first]


def _matches_pin(blob: bytes, pins: tuple[HostKey, ...]) -> bool:
    # Constant time and no early exit: the comparison gates running commands.
    matched = False
    for pin in pins:
        matched |= hmac.compare_digest(blob, pin.blob)
    return matched


def _ms(seconds: float) -> float:
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


def _open_socket(
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
        return None, ConnectionStatus.UNREACHABLE, _clean(str(reason)), 0.0
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
    sock, status, detail, tcp_s = _open_socket(host, port, limits.connect)
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
                            _ms(tcp_s),
                            _ms(time.perf_counter() - started),
                            _clean(text, _BANNER_LIMIT),
                        )
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError
                if len(buffer) > 8192:
                    return BannerProbe(ConnectionStatus.PROTOCOL_ERROR, "no SSH banner", _ms(tcp_s))
                sock.settimeout(remaining)
                chunk = sock.recv(1024)
                if not chunk:
                    return BannerProbe(
                        ConnectionStatus.PROTOCOL_ERROR,
                        "connection closed before the SSH banner",
                        _ms(tcp_s),
                    )
                buffer += chunk
    except TimeoutError:
        return BannerProbe(
            ConnectionStatus.TIMEOUT, f"no SSH banner within {limits.banner:g} s", _ms(tcp_s)
        )
    except OSError as exc:
        return BannerProbe(ConnectionStatus.PROTOCOL_ERROR, _clean(str(exc)), _ms(tcp_s))


def connect(
    target: SshTarget, *, pkey: paramiko.PKey | None = None
) -> tuple[ConnectOutcome, SshConnection | None]:
    """Open an authenticated connection, but only to a host presenting a pinned key.

    `pkey` lets a caller reuse a key already loaded for other hosts. Never raises.
    """
    try:
        return _connect(target, pkey)
    except Exception as exc:  # the scheduler must get an outcome, not a crash
        return (
            ConnectOutcome(
                ConnectionStatus.INTERNAL_ERROR,
                f"unexpected {type(exc).__name__}",
                target.host,
                target.port,
            ),
            None,
        )


def _connect(
    target: SshTarget, pkey: paramiko.PKey | None
) -> tuple[ConnectOutcome, SshConnection | None]:
    limits = target.timeouts
    pins = target.pinned_keys
    pin_prints = tuple(p.fingerprint for p in pins)

    def outcome(
        status: ConnectionStatus,
        detail: str,
        *,
        offered_key: HostKey | None = None,
        server_banner: str | None = None,
        tcp_connect_ms: float | None = None,
        handshake_ms: float | None = None,
    ) -> ConnectOutcome:
        return ConnectOutcome(
            status,
            detail,
            target.host,
            target.port,
            offered_key=offered_key,
            pinned_fingerprints=pin_prints,
            server_banner=server_banner,
            tcp_connect_ms=tcp_connect_ms,
            handshake_ms=handshake_ms,
        )

    if pkey is None:
        if target.credentials is None:
            return outcome(ConnectionStatus.CLIENT_KEY_ERROR, "no credentials configured"), None
        try:
            pkey = load_private_key(target.credentials.private_key, target.credentials.passphrase)
        except KeyLoadError as exc:
            return outcome(ConnectionStatus.CLIENT_KEY_ERROR, str(exc)), None
    if target.credentials is None:
        return outcome(ConnectionStatus.CLIENT_KEY_ERROR, "no username configured"), None

    sock, status, detail, tcp_s = _open_socket(target.host, target.port, limits.connect)
    if sock is None:
        return outcome(status, detail), None
    tcp_ms = _ms(tcp_s)

    client = paramiko.SSHClient()  # host keys start empty: ~/.ssh/known_hosts is never read
    policy = _PinnedKeyPolicy(pins)
    client.set_missing_host_key_policy(policy)
    preferred = _preferred_host_key_algorithms(pins)
    transports: list[paramiko.Transport] = []

    def transport_factory(
        sock: socket.socket, disabled_algorithms: dict[str, list[str]] | None = None
    ) -> paramiko.Transport:
        transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
        # paramiko's default is 15 s; the key exchange after the banner gets its own budget.
        transport.handshake_timeout = limits.handshake
        if preferred is not None:
            transport.get_security_options().key_types = preferred
        transports.append(transport)
        return transport

    started = time.perf_counter()

    def banner() -> str | None:
        if transports and transports[0].remote_version:
            return _clean(transports[0].remote_version, _BANNER_LIMIT)
        return None

    def fail(
        status: ConnectionStatus, detail: str, offered_key: HostKey | None = None
    ) -> ConnectOutcome:
        client.close()
        if not transports:
            sock.close()
        return outcome(
            status,
            _clean(detail),
            offered_key=offered_key,
            server_banner=banner(),
            tcp_connect_ms=tcp_ms,
        )

    try:
        client.connect(
            hostname=target.host,
            port=target.port,
            username=target.credentials.username,
            sock=sock,
            timeout=limits.banner + limits.handshake,
            # Only the strategy authenticates; the two flags restate the rule for SSHClient.
            auth_strategy=_KeyOnly(target.credentials.username, pkey),
            allow_agent=False,
            look_for_keys=False,
            banner_timeout=limits.banner,
            auth_timeout=limits.auth,
            channel_timeout=limits.command,
            disabled_algorithms=DISABLED_ALGORITHMS,
            transport_factory=transport_factory,
        )
    except paramiko.AuthenticationException as exc:
        if _auth_timed_out(exc):
            return fail(
                ConnectionStatus.TIMEOUT, f"no authentication answer within {limits.auth:g} s"
            ), None
        return fail(ConnectionStatus.AUTH_FAILED, "the server refused the key"), None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        if policy.rejected and policy.offered is not None:
            offered = _host_key_or_none(policy.offered)
            if offered is None:
                # A certificate or an exotic key: nothing an admin could approve as a pin.
                return fail(
                    ConnectionStatus.PROTOCOL_ERROR,
                    f"unsupported host key type {_clean(policy.offered.get_name(), 60)}",
                ), None
            if not pins:
                return fail(
                    ConnectionStatus.HOST_KEY_PENDING,
                    f"host key {offered.fingerprint} is not approved yet",
                    offered_key=offered,
                ), None
            return fail(
                ConnectionStatus.HOST_KEY_CHANGED,
                f"host key changed: server offers {offered.fingerprint}, "
                f"pinned {', '.join(pin_prints)}",
                offered_key=offered,
            ), None
        status, detail = _classify_handshake_failure(
            exc, transports[0] if transports else None, time.perf_counter() - started, limits
        )
        return fail(status, detail), None

    transport = client.get_transport()
    offered_key = transport.get_remote_server_key() if transport is not None else None
    if transport is None or offered_key is None or not transport.is_active():
        return fail(ConnectionStatus.PROTOCOL_ERROR, "connection lost after login"), None
    if not transport.is_authenticated():
        # The key was accepted only as a first factor (sshd AuthenticationMethods).
        return fail(ConnectionStatus.AUTH_FAILED, "the server asks for more than the key"), None
    # The policy already compared the key; checking the transport's key again keeps the rule
    # "no exec without a pinned key" independent of how SSHClient calls its policy.
    accepted = _host_key_or_none(offered_key)
    if accepted is None or not pins or not _matches_pin(offered_key.asbytes(), pins):
        return fail(
            ConnectionStatus.HOST_KEY_CHANGED,
            "the server's host key is not pinned",
            offered_key=accepted,
        ), None
    handshake_ms = _ms(time.perf_counter() - started)
    result = outcome(
        ConnectionStatus.OK,
        "connected",
        offered_key=accepted,
        server_banner=banner(),
        tcp_connect_ms=tcp_ms,
        handshake_ms=handshake_ms,
    )
    return result, SshConnection(client, limits)


def _host_key_or_none(key: paramiko.PKey) -> HostKey | None:
    try:
        return HostKey.from_pkey(key)
    except ValueError:
        return None


def _classify_handshake_failure(
    exc: BaseException,
    transport: paramiko.Transport | None,
    elapsed: float,
    limits: SshTimeouts,
) -> tuple[ConnectionStatus, str]:
    message = str(exc)
    got_banner = transport is not None and bool(transport.remote_version)
    if not got_banner:
        if elapsed >= limits.banner * 0.95:
            return ConnectionStatus.TIMEOUT, f"no SSH banner within {limits.banner:g} s"
        if "Indecipherable protocol version" in message or "Invalid SSH banner" in message:
            return ConnectionStatus.PROTOCOL_ERROR, "not an SSH server"
        # sshd drops connections beyond MaxStartups before sending its banner.
        return ConnectionStatus.PROTOCOL_ERROR, "connection closed before the SSH banner"
    if isinstance(exc, paramiko.IncompatiblePeer):
        return ConnectionStatus.PROTOCOL_ERROR, f"no common algorithm: {message}"
    kex_done = transport is not None and transport.initial_kex_done
    if not kex_done and (elapsed >= limits.handshake * 0.95 or "No existing session" in message):
        return ConnectionStatus.TIMEOUT, f"key exchange not finished within {limits.handshake:g} s"
    return (
        ConnectionStatus.PROTOCOL_ERROR,
        f"SSH negotiation failed: {message or type(exc).__name__}",
    )


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
                duration_ms=_ms(time.perf_counter() - started),
            )

        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            return done(None, b"", b"", error="connection closed")
        try:
            channel = transport.open_session(timeout=limit)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            return done(None, b"", b"", error=_clean(f"cannot open a channel: {exc}"))

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
            return done(None, bytes(stdout), bytes(stderr), error=_clean(str(exc) or "failed"))
        finally:
            alarm.cancel()
            channel.close()

"""Logging in to a host over SSH: the target, the monitoring account's key, and `connect`.

Security rules (DEVELOPERS.md "Security and data rules"): only pinned host keys are trusted
(remote.hostkeys: `paramiko.RejectPolicy`, never ~/.ssh/known_hosts); a host without a pinned
key, or with a different one, runs nothing and reports what it offered so an admin can approve
it or an alert can be raised; no agent and no ~/.ssh key lookup (the private key is loaded in
memory only); every wait has a timeout.

Speed (lessons.md "Measured limits"): curve25519-based key exchange (classic Diffie-Hellman
groups cost 60-180 ms of client CPU per connection); the socket is remote.ssh_transport's.

Nothing here raises for a network or protocol problem: `connect` returns a `ConnectOutcome`,
and with it an `SshConnection` only when the host showed a pinned key and accepted the login.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from remote.hostkeys import (
    HostKey,
    PinnedKeyPolicy,
    host_key_or_none,
    matches_pin,
    preferred_host_key_algorithms,
)
from remote.ssh_transport import (
    BANNER_LIMIT,
    CONTROL_CHARS,
    ConnectionStatus,
    SshConnection,
    SshTimeouts,
    clean_text,
    elapsed_ms,
    open_socket,
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


# --------------------------------------------------------------------------- targets


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
        if CONTROL_CHARS.search(self.username) or " " in self.username:
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
        if CONTROL_CHARS.search(self.host) or " " in self.host or self.host.startswith("-"):
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

    sock, status, detail, tcp_s = open_socket(target.host, target.port, limits.connect)
    if sock is None:
        return outcome(status, detail), None
    tcp_ms = elapsed_ms(tcp_s)

    client = paramiko.SSHClient()  # host keys start empty: ~/.ssh/known_hosts is never read
    policy = PinnedKeyPolicy(pins)
    client.set_missing_host_key_policy(policy)
    preferred = preferred_host_key_algorithms(pins)
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
            return clean_text(transports[0].remote_version, BANNER_LIMIT)
        return None

    def fail(
        status: ConnectionStatus, detail: str, offered_key: HostKey | None = None
    ) -> ConnectOutcome:
        client.close()
        if not transports:
            sock.close()
        return outcome(
            status,
            clean_text(detail),
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
            offered = host_key_or_none(policy.offered)
            if offered is None:
                # A certificate or an exotic key: nothing an admin could approve as a pin.
                return fail(
                    ConnectionStatus.PROTOCOL_ERROR,
                    f"unsupported host key type {clean_text(policy.offered.get_name(), 60)}",
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
    accepted = host_key_or_none(offered_key)
    if accepted is None or not pins or not matches_pin(offered_key.asbytes(), pins):
        return fail(
            ConnectionStatus.HOST_KEY_CHANGED,
            "the server's host key is not pinned",
            offered_key=accepted,
        ), None
    handshake_ms = elapsed_ms(time.perf_counter() - started)
    result = outcome(
        ConnectionStatus.OK,
        "connected",
        offered_key=accepted,
        server_banner=banner(),
        tcp_connect_ms=tcp_ms,
        handshake_ms=handshake_ms,
    )
    return result, SshConnection(client, limits)


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

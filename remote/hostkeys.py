"""SSH host keys in the engine: the key a server shows, its fingerprint, and pinning it.

A host key is trusted only when it is pinned (an administrator approved its fingerprint:
remote.hostkey_approval keeps those decisions). During the handshake `PinnedKeyPolicy` compares
the server's key with the pins (paramiko's `RejectPolicy`, never ~/.ssh/known_hosts) and
remembers what was offered, so a host with a new or changed key runs nothing and reports the
key for approval or an alert. Nothing here touches Flask or the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import paramiko

from remote.ssh_transport import clean_text

SUPPORTED_HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)


# --------------------------------------------------------------------------- the key value


@dataclass(frozen=True)
class HostKey:
    """A server public key as OpenSSH writes it: type and base64 blob."""

    key_type: str
    key_base64: str

    def __post_init__(self) -> None:
        if self.key_type not in SUPPORTED_HOST_KEY_TYPES:
            raise ValueError(f"unsupported host key type {clean_text(str(self.key_type), 40)!r}")
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


# --------------------------------------------------------------------------- pinning


class PinnedKeyPolicy(paramiko.RejectPolicy):
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
        if self.pins and matches_pin(key.asbytes(), self.pins):
            return
        self.rejected = True
        super().missing_host_key(client, hostname, key)


def preferred_host_key_algorithms(pins: tuple[HostKey, ...]) -> list[str] | None:
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


def matches_pin(blob: bytes, pins: tuple[HostKey, ...]) -> bool:
    # Constant time and no early exit: the comparison gates running commands.
    matched = False
    for pin in pins:
        matched |= hmac.compare_digest(blob, pin.blob)
    return matched


def host_key_or_none(key: paramiko.PKey) -> HostKey | None:
    """The value of a key paramiko received, or None for a type nobody could pin (certificates)."""
    try:
        return HostKey.from_pkey(key)
    except ValueError:
        return None

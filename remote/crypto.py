"""Encryption at rest of the SSH private keys (and passphrases) the checks log in with.

Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) through MultiFernet: the first key of
SSH_KEY_ENCRYPTION_KEYS encrypts, every key decrypts. Rotating is: put a new key first, keep
the old ones after it, run `flask remote rotate-keys` (which re-encrypts every stored secret
with the first key), then drop the old keys.

The keys live in configuration, never in the database: a copy of the database (a backup, a
dump for a bug report) does not give away the councils' servers.

Development and tests may leave the setting empty: a key is then derived from SECRET_KEY
(HKDF-SHA256) with a warning, so `make run` works out of the box. Production refuses to
encrypt or decrypt without configured keys, with a message that says what to set.
"""

from __future__ import annotations

import base64
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

log = logging.getLogger("councildesk.remote")

_HKDF_INFO = b"councildesk ssh key encryption v1"


class CryptoNotConfigured(RuntimeError):
    """Production without SSH_KEY_ENCRYPTION_KEYS."""


class DecryptionFailed(RuntimeError):
    """A stored secret cannot be decrypted with any configured key."""


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def _configured_keys(value) -> list[str]:
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    return [str(k).strip() for k in (value or ()) if str(k).strip()]


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))


def _fernet() -> MultiFernet:
    app = current_app._get_current_object()
    cache = app.extensions.setdefault("councildesk_remote_crypto", {})
    if "fernet" in cache:
        return cache["fernet"]
    keys = _configured_keys(app.config.get("SSH_KEY_ENCRYPTION_KEYS"))
    if keys:
        try:
            fernets = [Fernet(k.encode("ascii")) for k in keys]
        except (ValueError, UnicodeEncodeError) as exc:
            raise CryptoNotConfigured(
                "SSH_KEY_ENCRYPTION_KEYS holds a value that is not a Fernet key "
                "(create one with `flask remote new-encryption-key`)") from exc
    elif app.config.get("ENV_NAME") in ("development", "testing"):
        log.warning("SSH_KEY_ENCRYPTION_KEYS is not set: SSH private keys are encrypted with a key "
                    "derived from SECRET_KEY. Fine for development and tests; set real keys in "
                    "production (`flask remote new-encryption-key`).")
        fernets = [Fernet(_derived_key(app.config["SECRET_KEY"]))]
    else:
        raise CryptoNotConfigured(
            "SSH_KEY_ENCRYPTION_KEYS is not set: SSH private keys cannot be stored or used. "
            "Create a key with `flask remote new-encryption-key` and set it in the environment "
            "as COUNCILDESK_SSH_KEY_ENCRYPTION_KEYS.")
    cache["fernet"] = MultiFernet(fernets)
    return cache["fernet"]


def configured() -> bool:
    try:
        _fernet()
    except CryptoNotConfigured:
        return False
    return True


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionFailed(
            "a stored SSH secret cannot be decrypted with the configured keys "
            "(was an old key removed from SSH_KEY_ENCRYPTION_KEYS too early?)") from exc


def rotate(token: str) -> str:
    """The same secret, encrypted with the first (newest) key."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionFailed("a stored SSH secret cannot be decrypted with the configured keys") from exc

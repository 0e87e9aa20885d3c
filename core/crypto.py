"""Encryption at rest of secrets the application must read back (SSH private keys, TOTP
seeds): one mechanism, one key ring per kind of secret.

Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) through MultiFernet: the first key of a
ring's setting encrypts, every key decrypts. Rotating is: put a new key first, keep the old
ones after it, re-encrypt every stored secret with `KeyRing.rotate` (each owner has a command
for it), then drop the old keys.

The keys live in configuration, never in the database: a copy of the database (a backup, a
dump for a bug report) does not give the secrets away.

Development and tests may leave a setting empty: a key is then derived from SECRET_KEY
(HKDF-SHA256, a different one per ring) with a warning, so `make run` works out of the box.
Production refuses to encrypt or decrypt without configured keys, with a message that says
what to set.
"""

from __future__ import annotations

import base64
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

log = logging.getLogger("councildesk.crypto")


class CryptoNotConfigured(RuntimeError):
    """Production without keys for a ring."""


class DecryptionFailed(RuntimeError):
    """A stored secret cannot be decrypted with any configured key."""


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def configured_keys(value) -> list[str]:
    """A list of keys, or one comma-separated string (as an environment variable gives it)."""
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    return [str(k).strip() for k in (value or ()) if str(k).strip()]


def derived_key(secret_key: str, info: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))


class KeyRing:
    """The keys of one kind of secret, read from the setting `setting`.

    `what` names the secrets in messages ("SSH private keys"); `new_key_command` is the
    command that prints a key for the setting.
    """

    def __init__(self, *, setting: str, info: bytes, cache: str, what: str, new_key_command: str,
                 logger: logging.Logger | None = None):
        self.setting = setting
        self.info = info
        self.cache = cache
        self.what = what
        self.new_key_command = new_key_command
        self.log = logger or log

    def _fernet(self) -> MultiFernet:
        app = current_app._get_current_object()
        cache = app.extensions.setdefault(self.cache, {})
        if "fernet" in cache:
            return cache["fernet"]
        keys = configured_keys(app.config.get(self.setting))
        if keys:
            try:
                fernets = [Fernet(k.encode("ascii")) for k in keys]
            except (ValueError, UnicodeEncodeError) as exc:
                raise CryptoNotConfigured(
                    f"{self.setting} holds a value that is not a Fernet key "
                    f"(create one with `{self.new_key_command}`)") from exc
        elif app.config.get("ENV_NAME") in ("development", "testing"):
            self.log.warning("%s is not set: %s are encrypted with a key derived from SECRET_KEY. "
                             "Fine for development and tests; set real keys in production (`%s`).",
                             self.setting, self.what, self.new_key_command)
            fernets = [Fernet(derived_key(app.config["SECRET_KEY"], self.info))]
        else:
            raise CryptoNotConfigured(
                f"{self.setting} is not set: {self.what} cannot be stored or used. "
                f"Create a key with `{self.new_key_command}` and set it in the environment "
                f"as COUNCILDESK_{self.setting}.")
        cache["fernet"] = MultiFernet(fernets)
        return cache["fernet"]

    def configured(self) -> bool:
        try:
            self._fernet()
        except CryptoNotConfigured:
            return False
        return True

    def encrypt(self, plaintext: str) -> str:
        return self._fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionFailed(
                f"a stored secret ({self.what}) cannot be decrypted with the configured keys "
                f"(was an old key removed from {self.setting} too early?)") from exc

    def rotate(self, token: str) -> str:
        """The same secret, encrypted with the first (newest) key."""
        try:
            return self._fernet().rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise DecryptionFailed(
                f"a stored secret ({self.what}) cannot be decrypted with the configured keys") from exc

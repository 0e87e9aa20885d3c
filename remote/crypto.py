"""Encryption at rest of the SSH private keys (and passphrases) the checks log in with.

The mechanism is `core.crypto` (Fernet keys in configuration, the first encrypts, every one
decrypts); this ring reads SSH_KEY_ENCRYPTION_KEYS. Rotating: put a new key first, keep the
old ones after it, run `flask remote rotate-keys`, then drop the old keys.
"""

from __future__ import annotations

import logging

from core.crypto import CryptoNotConfigured, DecryptionFailed, KeyRing, new_key

__all__ = ["CryptoNotConfigured", "DecryptionFailed", "configured", "decrypt", "encrypt", "new_key",
           "rotate"]

_ring = KeyRing(setting="SSH_KEY_ENCRYPTION_KEYS", info=b"councildesk ssh key encryption v1",
                cache="councildesk_remote_crypto", what="SSH private keys",
                new_key_command="flask remote new-encryption-key",
                logger=logging.getLogger("councildesk.remote"))

configured = _ring.configured
encrypt = _ring.encrypt
decrypt = _ring.decrypt
rotate = _ring.rotate

"""How an asset is reached over SSH: host, port, account and its private key, stored encrypted.

The private key (pasted, or generated here as Ed25519) is stored encrypted (remote.crypto) and
decrypted only in memory to build the engine's target (`ssh_target`), with the host keys an
admin approved (remote.hostkey_approval) as its pins. Saving the settings also creates the
asset's host key check, which follows what the host shows at each round.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from accounts.models import User
from core.db import utcnow
from core.errors import NotFound, ValidationFailed
from extensions import db
from inventory.models import Asset
from remote import alerts, crypto
from remote.hostkey_approval import pinned_keys
from remote.models import Check, SshSettings
from remote.ssh_connect import KeyLoadError, SshCredentials, SshTarget, load_private_key
from remote.ssh_transport import SshTimeouts
from remote.state_machine import disable_check

_INVALID = _l("Some fields are not valid.")
MAX_PRIVATE_KEY_CHARS = 16_384
MAX_PASSPHRASE_CHARS = 1024
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")
_USERNAME = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}")


def _label(asset: Asset) -> str:
    return f"{asset.tag} · {asset.name}"


def ssh_settings_of(asset: Asset) -> SshSettings | None:
    return db.session.scalar(select(SshSettings).where(SshSettings.asset_id == asset.id))


def _clean_host(value) -> str:
    value = (value or "").strip() if isinstance(value, str) else ""
    if not value:
        raise ValidationFailed(_INVALID, fields={"host": _l("This field is required.")})
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is None and not _HOSTNAME.fullmatch(value):
        raise ValidationFailed(_INVALID, fields={"host": _l("Enter a host name or an IP address.")})
    if _is_local(address, value) and not current_app.config["REMOTE_SSH_ALLOW_LOCAL_HOSTS"]:
        # A check aimed at the server itself or at its link-local neighbours (a cloud's
        # metadata service at 169.254.169.254) would let staff probe what councils never own.
        raise ValidationFailed(_INVALID, fields={"host": _l(
            "Loopback and link-local addresses are not allowed as SSH hosts.")})
    return str(address) if address is not None else value.lower()


def _is_local(address, name: str) -> bool:
    if address is None:
        name = name.lower().rstrip(".")
        return name == "localhost" or name.endswith(".localhost")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_link_local


def key_fingerprint(pkey) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(pkey.asbytes()).digest()).decode("ascii").rstrip("=")


def save_ssh_settings(asset: Asset, values: Mapping[str, Any], *, actor: User | None) -> SshSettings:
    """Create or change how the asset is reached. A blank key keeps the stored one."""
    errors: dict[str, object] = {}
    try:
        host = _clean_host(values.get("host"))
    except ValidationFailed as exc:
        errors.update(exc.fields)
        host = ""
    port = values.get("port") or 22
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        errors["port"] = _l("Enter a port from 1 to 65535.")
    username = (values.get("username") or "").strip()
    if not _USERNAME.fullmatch(username):
        errors["username"] = _l("Enter the monitoring account's user name (letters, digits, . _ -).")
    private_key = values.get("private_key") or ""
    passphrase = values.get("passphrase") or None
    pkey = None
    if private_key.strip():
        if len(private_key) > MAX_PRIVATE_KEY_CHARS:
            errors["private_key"] = _l("This is too long for a private key.")
        elif passphrase is not None and len(passphrase) > MAX_PASSPHRASE_CHARS:
            errors["passphrase"] = _l("Too long.")
        else:
            try:
                pkey = load_private_key(private_key, passphrase)
            except KeyLoadError as exc:
                if "passphrase" in str(exc):
                    errors["passphrase"] = _l("The key is encrypted: enter its passphrase (or check it).")
                else:
                    errors["private_key"] = _l("Not a usable private key: use Ed25519, ECDSA or RSA of 2048 bits "
                                               "or more, in OpenSSH or PEM format.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    settings = ssh_settings_of(asset)
    creating = settings is None
    if creating:
        settings = SshSettings(council_id=asset.council_id, asset_id=asset.id, host=host, port=port,
                               username=username, enabled=True)
        db.session.add(settings)
    before = {"host": settings.host, "port": settings.port, "username": settings.username,
              "key_fingerprint": settings.key_fingerprint, "enabled": settings.enabled}
    settings.host, settings.port, settings.username = host, port, username
    if "enabled" in values:
        settings.enabled = bool(values["enabled"])
    if pkey is not None:
        _store_key(settings, private_key.strip() + "\n", passphrase, pkey)
    if not settings.has_key and values.get("generate_key"):
        generate_key(settings)
    ensure_host_key_check(asset, enabled=settings.enabled)
    after = {"host": settings.host, "port": settings.port, "username": settings.username,
             "key_fingerprint": settings.key_fingerprint, "enabled": settings.enabled}
    audit.record("ssh_settings_create" if creating else "ssh_settings_update", object_type="asset",
                 object_id=asset.id, actor=actor, label=_label(asset), council_id=asset.council_id,
                 changes=audit.diff({} if creating else before, after))
    db.session.commit()
    return settings


def _store_key(settings: SshSettings, text: str, passphrase: str | None, pkey) -> None:
    settings.key_ciphertext = crypto.encrypt(text)
    settings.passphrase_ciphertext = crypto.encrypt(passphrase) if passphrase else None
    settings.key_type = pkey.get_name()
    settings.key_fingerprint = key_fingerprint(pkey)
    settings.public_key = f"{pkey.get_name()} {pkey.get_base64()} councildesk"


def generate_key(settings: SshSettings) -> None:
    """A fresh Ed25519 key pair: the private half is stored encrypted, never shown; the public
    half is what a technician puts in the monitoring account's authorized_keys."""
    private = ed25519.Ed25519PrivateKey.generate()
    text = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption()).decode("ascii")
    _store_key(settings, text, None, load_private_key(text))


def replace_key(asset: Asset, *, actor: User | None) -> SshSettings:
    settings = ssh_settings_of(asset)
    if settings is None:
        raise NotFound()
    before = settings.key_fingerprint
    generate_key(settings)
    audit.record("ssh_key_generate", object_type="asset", object_id=asset.id, actor=actor, label=_label(asset),
                 council_id=asset.council_id, changes={"key_fingerprint": [before or None, settings.key_fingerprint]})
    db.session.commit()
    return settings


def delete_ssh_settings(asset: Asset, *, actor: User | None) -> None:
    """Stop reaching the asset over SSH: the key is erased, the SSH checks are turned off."""
    settings = ssh_settings_of(asset)
    if settings is None:
        return
    now = utcnow()
    for check in db.session.scalars(select(Check).where(Check.asset_id == asset.id, Check.source == "ssh",
                                                        Check.enabled.is_(True))):
        disable_check(check, now)
    audit.record("ssh_settings_delete", object_type="asset", object_id=asset.id, actor=actor, label=_label(asset),
                 council_id=asset.council_id, changes={"host": [settings.host, None]})
    db.session.delete(settings)
    db.session.commit()
    alerts.dispatch_if_pending()


def ensure_host_key_check(asset: Asset, *, enabled: bool) -> Check:
    check = db.session.scalar(select(Check).where(Check.asset_id == asset.id, Check.key == "ssh:host_key"))
    if check is None:
        check = Check(council_id=asset.council_id, asset_id=asset.id, source="ssh", kind="host_key",
                      key="ssh:host_key", params={}, enabled=enabled, summary_params={})
        db.session.add(check)
        db.session.flush()
    elif enabled and not check.enabled:
        check.enabled = True
    return check


def host_key_check(asset_id: int) -> Check | None:
    return db.session.scalar(select(Check).where(Check.asset_id == asset_id, Check.key == "ssh:host_key"))


def ssh_timeouts() -> SshTimeouts:
    return SshTimeouts(**{k: float(v) for k, v in current_app.config["REMOTE_SSH_TIMEOUTS"].items()})


def ssh_target(settings: SshSettings) -> SshTarget:
    """The engine's target: decrypted credentials (in memory only) and the approved pins."""
    credentials = None
    if settings.key_ciphertext:
        credentials = SshCredentials(
            settings.username, crypto.decrypt(settings.key_ciphertext),
            crypto.decrypt(settings.passphrase_ciphertext) if settings.passphrase_ciphertext else None)
    return SshTarget(host=settings.host, port=settings.port, credentials=credentials,
                     pinned_keys=pinned_keys(settings.asset_id), timeouts=ssh_timeouts())

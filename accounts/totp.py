"""Two-step sign-in: an authenticator app's codes (TOTP, RFC 6238) and recovery codes.

The seed is encrypted at rest with its own key ring (TOTP_ENCRYPTION_KEYS, see core.crypto):
a copy of the database does not let anyone make codes. A code is accepted once: the time
step of the last accepted code is stored and only later steps pass, in one UPDATE so that two
requests racing with the same code cannot both win. Recovery codes are random, single-use,
and stored as SHA-256 only (like API tokens).

Required for the roles in TOTP_REQUIRED_ROLES (default: admin), optional for everyone else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time

import pyotp
import segno
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select, update

from accounts import audit
from accounts.models import RecoveryCode, TotpCredential, User
from core.crypto import CryptoNotConfigured, DecryptionFailed, KeyRing
from core.db import utcnow
from core.errors import Conflict, ValidationFailed
from extensions import db

__all__ = ["CryptoNotConfigured", "DecryptionFailed"]

log = logging.getLogger("councildesk.security")

ring = KeyRing(setting="TOTP_ENCRYPTION_KEYS", info=b"councildesk totp seed encryption v1",
               cache="councildesk_totp_crypto", what="two-step sign-in seeds",
               new_key_command="flask users new-totp-key", logger=log)

RECOVERY_CODES = 10
# No 0/o, 1/l/i: codes are read off paper and typed.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_CODE_LENGTH = 12


def required_roles() -> frozenset[str]:
    """TOTP_REQUIRED_ROLES: a list, or a comma-separated string ("admin,manager"); "" or
    "none" for nobody."""
    value = current_app.config.get("TOTP_REQUIRED_ROLES") or ()
    if isinstance(value, str):
        value = value.split(",")
    return frozenset(v.strip().lower() for v in value if v and v.strip().lower() != "none")


def credential(user: User) -> TotpCredential | None:
    return db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))


def is_enabled(user: User) -> bool:
    return db.session.scalar(select(func.count()).select_from(TotpCredential).where(
        TotpCredential.user_id == user.id, TotpCredential.enabled_at.is_not(None))) > 0


def is_required(user: User) -> bool:
    return user.role in required_roles()


def must_enrol(user: User) -> bool:
    return is_required(user) and not is_enabled(user)


# --- codes ----------------------------------------------------------------------------

def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=30)


def _matching_step(secret: str, code: str) -> int | None:
    """The time step (now, or one step either side for clock drift) whose code this is."""
    totp = _totp(secret)
    now = totp.timecode(time.time())
    found = None
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())[:40]


def _looks_like_totp(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit()


def _accept_step(cred: TotpCredential, step: int) -> bool:
    result = db.session.execute(
        update(TotpCredential)
        .where(TotpCredential.id == cred.id, or_(TotpCredential.last_step.is_(None),
                                                 TotpCredential.last_step < step))
        .values(last_step=step).execution_options(synchronize_session=False))
    db.session.expire(cred, ["last_step"])
    return (result.rowcount or 0) == 1


def _hash_code(code: str) -> str:
    return hashlib.sha256(_normalize(code).encode()).hexdigest()


def _new_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _CODE_LENGTH, 4)))
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(raw)))
    return codes


def remaining_codes(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def _use_recovery_code(user: User, code: str) -> bool:
    result = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash_code(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return (result.rowcount or 0) == 1


def verify(user: User, code: str, *, recovery: bool = True) -> str | None:
    """"totp" or "recovery" when `code` is a valid, unused code of the user (and uses it up),
    None otherwise. The caller commits (and audits a recovery code)."""
    cred = credential(user)
    if cred is None or cred.enabled_at is None:
        return None
    code = _normalize(code)
    if _looks_like_totp(code):
        step = _matching_step(ring.decrypt(cred.secret_ciphertext), code)
        return "totp" if step is not None and _accept_step(cred, step) else None
    if recovery and len(code) == _CODE_LENGTH and _use_recovery_code(user, code):
        return "recovery"
    return None


# --- enrolment ------------------------------------------------------------------------

def start_enrolment(user: User) -> str:
    """A new seed for the user's app, waiting for a first code to be confirmed; returns it."""
    cred = credential(user)
    if cred is not None and cred.enabled_at is not None:
        raise Conflict(_l("Two-step sign-in is already on."), code="totp_enabled")
    secret = pyotp.random_base32()
    ciphertext = ring.encrypt(secret)
    if cred is None:
        db.session.add(TotpCredential(user_id=user.id, secret_ciphertext=ciphertext))
    else:
        cred.secret_ciphertext, cred.created_at, cred.last_step = ciphertext, utcnow(), None
    db.session.commit()
    return secret


def pending_secret(user: User) -> str | None:
    cred = credential(user)
    if cred is None or cred.enabled_at is not None:
        return None
    return ring.decrypt(cred.secret_ciphertext)


def provisioning_uri(user: User, secret: str) -> str:
    return _totp(secret).provisioning_uri(name=user.email, issuer_name=current_app.config["TOTP_ISSUER"])


def qr_data_uri(uri: str) -> str:
    """The QR code as an SVG data URI: drawn here, shown without script, allowed by the CSP."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


def grouped(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


_WRONG_CODE = _l("This code is not right. Check the time on your phone and type the code it shows now.")


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn two-step sign-in on with the first code from the app; returns the recovery codes
    (shown once)."""
    cred = credential(user)
    if cred is None or cred.enabled_at is not None:
        raise Conflict(_l("Start the set-up again."), code="totp_not_pending")
    code = _normalize(code)
    step = _matching_step(ring.decrypt(cred.secret_ciphertext), code) if _looks_like_totp(code) else None
    if step is None or not _accept_step(cred, step):
        raise ValidationFailed(_l("Some fields are not valid."), fields={"code": _WRONG_CODE})
    cred.enabled_at = utcnow()
    codes = _new_codes(user)
    audit.record("totp_enable", object_type="user", object_id=user.id, actor=user, label=user.email)
    db.session.commit()
    return codes


def regenerate_codes(user: User) -> list[str]:
    """New recovery codes; the old ones stop working. The caller checked the password."""
    if not is_enabled(user):
        raise Conflict(_l("Two-step sign-in is off."), code="totp_disabled")
    codes = _new_codes(user)
    audit.record("recovery_codes_regenerate", object_type="user", object_id=user.id, actor=user,
                 label=user.email)
    db.session.commit()
    return codes


def disable(user: User, code: str) -> None:
    """Turn it off with a current code (or a recovery code). The caller checked the password."""
    if not is_enabled(user):
        raise Conflict(_l("Two-step sign-in is off."), code="totp_disabled")
    if verify(user, code) is None:
        db.session.rollback()
        raise ValidationFailed(_l("Some fields are not valid."), fields={"code": _WRONG_CODE})
    _remove(user)
    audit.record("totp_disable", object_type="user", object_id=user.id, actor=user, label=user.email)
    db.session.commit()


def reset(user: User, *, actor: User) -> bool:
    """An administrator removes a user's app and codes (a lost phone, the codes lost too)."""
    had = credential(user) is not None
    _remove(user)
    if had:
        audit.record("totp_reset", object_type="user", object_id=user.id, actor=actor, label=user.email)
    db.session.commit()
    return had


def _remove(user: User) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(TotpCredential).where(TotpCredential.user_id == user.id))


def record_recovery_use(user: User) -> int:
    """Audit a sign-in with a recovery code; returns how many are left. The caller commits."""
    left = remaining_codes(user)
    audit.record("recovery_code_used", object_type="user", object_id=user.id, actor=user,
                 label=user.email, changes={"recovery_codes_left": [None, left]})
    return left


def rotate_all() -> int:
    """Re-encrypt every stored seed with the first key of TOTP_ENCRYPTION_KEYS."""
    done = 0
    for cred in db.session.scalars(select(TotpCredential)):
        cred.secret_ciphertext = ring.rotate(cred.secret_ciphertext)
        done += 1
    return done

"""Users, passwords and personal tokens: the rules, free of HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.security import check_password_hash, generate_password_hash

from accounts import audit
from accounts.models import LANGUAGE_CHOICES, ROLE_CHOICES, ApiToken, User
from agreements.models import Council
from core.db import MAX_ID, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db

log = logging.getLogger("councildesk.accounts")

USER_AUDIT_FIELDS = ("email", "name", "role", "council_id", "active", "preferred_language")
TOKEN_PREFIX = "cdp"  # noqa: S105  (a label, not a secret)
# Writing last_used_at on every API call would turn reads into writes; a few minutes of
# precision is all an admin needs to spot a dead token.
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=5)


def normalize_email(email: str) -> str:
    try:
        result = validate_email((email or "").strip(), check_deliverability=False)
    except EmailNotValidError:
        raise ValidationFailed(_l("Some fields are not valid."),
                               fields={"email": _l("Enter a valid email address.")}) from None
    return result.normalized.lower()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password_rules(password: str, email: str | None = None, field: str = "password") -> None:
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if not password or len(password) < minimum:
        raise ValidationFailed(_l("Some fields are not valid."), fields={
            field: _l("Use at least %(n)d characters.", n=minimum)})
    if email and password.lower() == email.lower():
        raise ValidationFailed(_l("Some fields are not valid."), fields={
            field: _l("The password cannot be your email address.")})


def _validate_role_council(role: str, council_id: int | None) -> None:
    if role not in ROLE_CHOICES:
        raise ValidationFailed(_l("Some fields are not valid."), fields={"role": _l("Unknown role.")})
    if role == "clerk":
        if council_id is None:
            raise ValidationFailed(_l("Some fields are not valid."),
                                   fields={"council_id": _l("A council clerk needs a council.")})
        if db.session.get(Council, council_id) is None:
            raise ValidationFailed(_l("Some fields are not valid."),
                                   fields={"council_id": _l("Unknown council.")})
    elif council_id is not None:
        raise ValidationFailed(_l("Some fields are not valid."), fields={
            "council_id": _l("Only council clerks belong to a council.")})


def _validate_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGE_CHOICES:
        raise ValidationFailed(_l("Some fields are not valid."),
                               fields={"preferred_language": _l("Unknown language.")})


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))


def create_user(*, email: str, name: str, role: str, password: str,
                council_id: int | None = None, preferred_language: str | None = None,
                actor: User | None = None) -> User:
    email = normalize_email(email)
    name = (name or "").strip() or email.split("@")[0]
    _validate_role_council(role, council_id)
    _validate_language(preferred_language)
    check_password_rules(password, email)
    if get_user_by_email(email) is not None:
        raise Conflict(_l("A user with this email already exists."), code="duplicate_email",
                       fields={"email": _l("A user with this email already exists.")})
    user = User(email=email, name=name[:120], role=role, council_id=council_id,
                password_hash=hash_password(password), preferred_language=preferred_language,
                active=True, auth_version=0)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("A user with this email already exists."), code="duplicate_email",
                       fields={"email": _l("A user with this email already exists.")}) from None
    audit.record("create", object_type="user", object_id=user.id, actor=actor, label=email,
                 changes=audit.diff({}, audit.snapshot(user, USER_AUDIT_FIELDS)))
    db.session.commit()
    return user


def update_user(user: User, *, actor: User, name: str | None = None, email: str | None = None,
                role: str | None = None, council_id: int | None = None,
                preferred_language: str | None = None, active: bool | None = None) -> User:
    before = audit.snapshot(user, USER_AUDIT_FIELDS)
    new_role = role if role is not None else user.role
    new_council = council_id if new_role == "clerk" else None
    if role is not None or council_id is not None:
        _validate_role_council(new_role, new_council)
    _validate_language(preferred_language)
    if actor.id == user.id and (new_role != user.role or active is False):
        raise ValidationFailed(_l("You cannot change your own role or deactivate yourself."),
                               fields={"role": _l("You cannot change your own role or deactivate yourself.")})
    if email is not None:
        email = normalize_email(email)
        other = get_user_by_email(email)
        if other is not None and other.id != user.id:
            raise Conflict(_l("A user with this email already exists."), code="duplicate_email",
                           fields={"email": _l("A user with this email already exists.")})
        user.email = email
    if name is not None:
        user.name = name.strip()[:120] or user.name
    user.role = new_role
    user.council_id = new_council
    user.preferred_language = preferred_language
    if active is not None and active != user.active:
        user.active = active
        if not active:
            _end_sessions(user)
    changes = audit.diff(before, audit.snapshot(user, USER_AUDIT_FIELDS))
    if changes.get("role"):
        # A demoted user must not keep the rights of an open session.
        _end_sessions(user)
    if changes:
        audit.record("update", object_type="user", object_id=user.id, actor=actor,
                     label=user.email, changes=changes)
    db.session.commit()
    return user


def _end_sessions(user: User) -> None:
    user.auth_version = (user.auth_version or 0) + 1


def set_active(user: User, active: bool, *, actor: User) -> User:
    return update_user(user, actor=actor, active=active, role=user.role, council_id=user.council_id,
                       preferred_language=user.preferred_language)


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None; the same work whether or not the email exists."""
    user = get_user_by_email(email) if email else None
    if user is None:
        # Spend the time a real check costs so response time does not reveal accounts.
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    if not user.active:
        return None
    return user


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY:
        _DUMMY[method] = generate_password_hash(secrets.token_hex(8), method=method)
    return _DUMMY[method]


def record_login(user: User) -> None:
    user.last_login_at = utcnow()
    db.session.commit()


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationFailed(_l("Some fields are not valid."),
                               fields={"current_password": _l("The current password is not correct.")})
    check_password_rules(new, user.email, field="new_password")
    user.password_hash = hash_password(new)
    _end_sessions(user)
    audit.record("password_change", object_type="user", object_id=user.id, actor=user,
                 label=user.email)
    db.session.commit()


def sign_out_elsewhere(user: User) -> None:
    """Every session and remember-me cookie of the user stops working (a phone left at a
    council, a cookie copied off a shared PC); the caller starts a fresh one for this device."""
    _end_sessions(user)
    audit.record("sign_out_everywhere", object_type="user", object_id=user.id, actor=user, label=user.email)
    db.session.commit()


def set_password(user: User, new: str, *, actor: User | None) -> None:
    check_password_rules(new, user.email)
    user.password_hash = hash_password(new)
    _end_sessions(user)
    audit.record("password_reset", object_type="user", object_id=user.id, actor=actor,
                 label=user.email)
    db.session.commit()


# --- personal tokens ------------------------------------------------------------------

def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(user: User, name: str, *, actor: User | None) -> tuple[ApiToken, str]:
    """Returns the token row and the plaintext, which is shown once and never stored."""
    name = (name or "").strip()[:80] or "token"
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, secret_hash=_hash_secret(secret))
    db.session.add(token)
    db.session.flush()
    audit.record("token_create", object_type="user", object_id=user.id, actor=actor,
                 label=user.email, changes={"token": [None, name]})
    db.session.commit()
    return token, f"{TOKEN_PREFIX}_{token.id}_{secret}"


def revoke_token(token: ApiToken, *, actor: User | None) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("token_revoke", object_type="user", object_id=token.user_id, actor=actor,
                     label=token.user.email, changes={"token": [token.name, None]})
        db.session.commit()


def revoke_all_tokens(user: User, *, actor: User | None) -> int:
    result = db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    count = result.rowcount or 0
    audit.record("token_revoke_all", object_type="user", object_id=user.id, actor=actor,
                 label=user.email, changes={"tokens_revoked": [None, count]})
    db.session.commit()
    return count


def get_token(token_id: int, user: User) -> ApiToken:
    token = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if token is None:
        raise NotFound()
    return token


def user_for_token(plaintext: str) -> User | None:
    """The active user behind a personal token, or None. Compared in constant time."""
    parts = (plaintext or "").split("_", 2)
    # ASCII digits only (str.isdigit() also takes "²", which int() refuses), and an id the
    # INTEGER column can hold (PostgreSQL refuses a larger one even in a lookup).
    if (len(parts) != 3 or parts[0] != TOKEN_PREFIX or not (parts[1].isascii() and parts[1].isdigit())
            or len(parts[1]) > 10 or int(parts[1]) > MAX_ID):
        return None
    token = db.session.get(ApiToken, int(parts[1]))
    candidate = _hash_secret(parts[2])
    if token is None:
        hmac.compare_digest(candidate, "0" * 64)
        return None
    if not hmac.compare_digest(candidate, token.secret_hash):
        return None
    if token.revoked_at is not None or not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
        _touch_token(token.id, now)
    return token.user


def _touch_token(token_id: int, now: dt.datetime) -> None:
    # Its own short transaction, best effort: losing a last-used stamp to a busy database
    # must never fail the caller's request.
    try:
        db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        db.session.commit()
    except OperationalError:
        db.session.rollback()
        log.info("could not record last use of token %s (database busy)", token_id)


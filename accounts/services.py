"""Users, passwords and personal tokens: the rules, free of HTTP."""

from __future__ import annotations

import logging
import math
import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from accounts import audit, passwords, sessions, throttle, tokens
from accounts.models import LANGUAGE_CHOICES, ROLE_CHOICES, User, UserSession
from agreements.models import Council
from core import notify
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db

log = logging.getLogger("councildesk.accounts")

USER_AUDIT_FIELDS = ("email", "name", "role", "council_id", "active", "preferred_language")


def normalize_email(email: str) -> str:
    try:
        result = validate_email((email or "").strip(), check_deliverability=False)
    except EmailNotValidError:
        raise ValidationFailed(_l("Some fields are not valid."),
                               fields={"email": _l("Enter a valid email address.")}) from None
    return result.normalized.lower()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password_rules(password: str, email: str | None = None, field: str = "password",
                         name: str | None = None) -> None:
    """Long enough and hard to guess (accounts.passwords), or ValidationFailed on `field`."""
    passwords.check(password, email, name, field=field)


def wait_message(seconds: int):
    """"Try again in N minutes", in the user's language."""
    minutes = max(1, math.ceil(seconds / 60))
    return lazy_ngettext("Too many failed attempts. Try again in %(num)d minute.",
                         "Too many failed attempts. Try again in %(num)d minutes.", minutes)


def reauthenticate(user: User, password: str, *, address: str | None, field: str = "password") -> None:
    """The password typed again before a sensitive change, throttled like a sign-in: a
    session left open must not become a way to guess the password."""
    guard = throttle.LoginGuard.for_reauthentication(user.email, address)
    wait = guard.wait()
    if wait:
        raise ValidationFailed(_l("Some fields are not valid."), fields={field: wait_message(wait)})
    if not check_password_hash(user.password_hash, password or ""):
        guard.failed()
        raise ValidationFailed(_l("Some fields are not valid."),
                               fields={field: _l("The password is not correct.")})


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
                actor: User | None = None, published_password: bool = False) -> User:
    """`published_password`: the demo's accounts, whose password is printed for everyone
    (accounts.demo), skip the strength check, which would rightly refuse it; nothing else
    may."""
    email = normalize_email(email)
    name = (name or "").strip() or email.split("@")[0]
    _validate_role_council(role, council_id)
    _validate_language(preferred_language)
    if not published_password:
        check_password_rules(password, email, name=name)
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
    if user.role == "clerk" and (new_role != "clerk" or new_council != user.council_id):
        # What they read and were about to receive of the council they leave stays behind.
        notify.leave_council(user, new_council)
    user.role = new_role
    user.council_id = new_council
    user.preferred_language = preferred_language
    if active is not None and active != user.active:
        user.active = active
        if not active:
            # Nothing of theirs may keep working, and nothing may come back on reactivation.
            sessions.end_all(user, "deactivated")
            tokens.revoke_all(user, actor=actor, reason="deactivated")
    changes = audit.diff(before, audit.snapshot(user, USER_AUDIT_FIELDS))
    if changes.get("role"):
        # A demoted user must not keep the rights of an open session.
        sessions.end_all(user, "role_changed")
    if changes:
        audit.record("update", object_type="user", object_id=user.id, actor=actor,
                     label=user.email, changes=changes)
    db.session.commit()
    return user


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


def change_password(user: User, current: str, new: str, *, address: str | None = None,
                    revoke_tokens: bool = False) -> int:
    """Every session of the user ends (the caller opens a fresh one for this device); the API
    tokens too when asked (a routine change keeps the scripts working; a suspected leak
    does not). Returns the number of tokens revoked."""
    reauthenticate(user, current, address=address, field="current_password")
    check_password_rules(new, user.email, field="new_password", name=user.name)
    user.password_hash = hash_password(new)
    ended = sessions.end_all(user, "password_changed")
    revoked = tokens.revoke_all(user, actor=user, reason="password_changed") if revoke_tokens else 0
    audit.record("password_change", object_type="user", object_id=user.id, actor=user, label=user.email,
                 changes={"sessions_ended": [None, ended], "tokens_revoked": [None, revoked]})
    db.session.commit()
    return revoked


def sign_out_elsewhere(user: User, *, revoke_tokens: bool = False) -> int:
    """Every session and remember-me cookie of the user stops working (a phone left at a
    council, a cookie copied off a shared PC), and the API tokens when asked; the caller
    starts a fresh session for this device. Returns the number of tokens revoked."""
    ended = sessions.end_all(user, "signed_out_everywhere")
    revoked = tokens.revoke_all(user, actor=user, reason="signed_out_everywhere") if revoke_tokens else 0
    audit.record("sign_out_everywhere", object_type="user", object_id=user.id, actor=user, label=user.email,
                 changes={"sessions_ended": [None, ended], "tokens_revoked": [None, revoked]})
    db.session.commit()
    return revoked


def set_password(user: User, new: str, *, actor: User | None) -> None:
    check_password_rules(new, user.email, name=user.name)
    user.password_hash = hash_password(new)
    sessions.end_all(user, "password_reset")
    audit.record("password_reset", object_type="user", object_id=user.id, actor=actor,
                 label=user.email)
    db.session.commit()


def record_throttled(email: str, address: str | None, scopes: list[str]) -> None:
    """Audit the failure that put a brake on an account or an address."""
    email = (email or "").strip().lower()[:254]
    account_scopes = [s for s in scopes if s != "address"]
    if account_scopes:
        user = get_user_by_email(email) if email else None
        audit.record("login_throttled", object_type="user" if user else "login",
                     object_id=user.id if user else email[:64], actor=None, label=email,
                     changes={"scope": [None, ", ".join(account_scopes)], "address": [None, address]})
    if "address" in scopes:
        audit.record("login_throttled", object_type="address", object_id=(address or "unknown")[:64],
                     actor=None, label=address or "", changes={"scope": [None, "address"]})
    db.session.commit()


# --- sessions -------------------------------------------------------------------------

def start_session(user: User, *, remember: bool, user_agent: str, ip_address: str | None) -> str:
    """A new server-side session after a complete sign-in; returns its key."""
    key = sessions.open_session(user, remember=remember, user_agent=user_agent, ip_address=ip_address)
    user.last_login_at = utcnow()
    db.session.commit()
    return key


def end_current_session(record: UserSession | None) -> None:
    """Sign out: this browser's session ends on the server, its cookies with it."""
    if record is not None:
        record = db.session.merge(record)
        sessions.end(record, "signed_out")
        db.session.commit()


def end_session(user: User, session_id: int) -> UserSession:
    """End one of the user's own sessions from the account page (a device one no longer has)."""
    record = sessions.get_live(user, session_id)
    if record is None:
        raise NotFound()
    sessions.end(record, "ended_by_user")
    audit.record("session_end", object_type="user", object_id=user.id, actor=user, label=user.email,
                 changes={"session": [record.id, None], "ip_address": [record.ip_address, None]})
    db.session.commit()
    return record


def end_sessions_of(user: User, *, actor: User) -> int:
    """An administrator signs a user out everywhere (a lost phone reported by phone)."""
    ended = sessions.end_all(user, "ended_by_admin")
    audit.record("sessions_end", object_type="user", object_id=user.id, actor=actor, label=user.email,
                 changes={"sessions_ended": [None, ended]})
    db.session.commit()
    return ended


# --- personal tokens (accounts.tokens; here too for the callers that know them here) ----

from accounts.tokens import (  # noqa: E402
    TOKEN_PREFIX,
    create_token,
    get_token,
    revoke_all_tokens,
    revoke_token,
    user_for_token,
)

__all__ = ["TOKEN_PREFIX", "create_token", "get_token", "revoke_all_tokens", "revoke_token",
           "user_for_token"]

"""Personal API tokens: a separate credential from the password (a script holds it, no second
step applies), so it has its own life: a name, an expiry chosen at creation, a last-use time,
and revocation, one by one or all together.

The plaintext is "cdp_<id>_<secret>"; only the SHA-256 of the secret is stored, compared in
constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from accounts import audit
from accounts.models import ApiToken, User
from core.db import MAX_ID, utcnow
from core.errors import NotFound, ValidationFailed
from extensions import db

log = logging.getLogger("councildesk.accounts")

TOKEN_PREFIX = "cdp"  # noqa: S105  (a label, not a secret)
# Writing last_used_at on every API call would turn reads into writes; a few minutes of
# precision is all an admin needs to spot a dead token.
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=5)
EXPIRY_CHOICES = (30, 90, 365)


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def expiry_for(*, days: int | None = None, expires_on: dt.date | None = None,
               now: dt.datetime | None = None) -> dt.datetime:
    """When a token created now expires: in `days`, or at the end of the day `expires_on`
    (office time), by default in API_TOKEN_DEFAULT_DAYS; never past API_TOKEN_MAX_DAYS."""
    cfg = current_app.config
    now = now or utcnow()
    longest = int(cfg["API_TOKEN_MAX_DAYS"])
    if expires_on is not None:
        office = ZoneInfo(cfg["OFFICE_TIMEZONE"])
        when = dt.datetime.combine(expires_on, dt.time(23, 59, 59), tzinfo=office).astimezone(dt.UTC)
        field, too_far = "expires_on", when.date() > (now + dt.timedelta(days=longest)).date()
    else:
        days = int(cfg["API_TOKEN_DEFAULT_DAYS"]) if days is None else days
        when = now + dt.timedelta(days=days)
        field, too_far = "days", days > longest
    if when <= now:
        raise ValidationFailed(_l("Some fields are not valid."),
                               fields={field: _l("Choose a date after today.")})
    if too_far:
        raise ValidationFailed(_l("Some fields are not valid."), fields={
            field: _l("A token can last at most %(n)d days.", n=longest)})
    return when


def create_token(user: User, name: str, *, actor: User | None, days: int | None = None,
                 expires_on: dt.date | None = None) -> tuple[ApiToken, str]:
    """Returns the token row and the plaintext, which is shown once and never stored."""
    name = (name or "").strip()[:80] or "token"
    expires_at = expiry_for(days=days, expires_on=expires_on)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, secret_hash=_hash_secret(secret), expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    audit.record("token_create", object_type="user", object_id=user.id, actor=actor,
                 label=user.email, changes={"token_name": [None, name],
                                            "expires_at": [None, expires_at.isoformat(timespec="minutes")]})
    db.session.commit()
    return token, f"{TOKEN_PREFIX}_{token.id}_{secret}"


def revoke_token(token: ApiToken, *, actor: User | None) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("token_revoke", object_type="user", object_id=token.user_id, actor=actor,
                     label=token.user.email, changes={"token_name": [token.name, None]})
        db.session.commit()


def revoke_all(user: User, *, actor: User | None, reason: str | None = None) -> int:
    """Revoke every live token of the user, audited; the caller commits."""
    result = db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session="fetch")
    )
    count = result.rowcount or 0
    changes = {"tokens_revoked": [None, count]}
    if reason:
        changes["reason"] = [None, reason]
    audit.record("token_revoke_all", object_type="user", object_id=user.id, actor=actor,
                 label=user.email, changes=changes)
    return count


def revoke_all_tokens(user: User, *, actor: User | None) -> int:
    count = revoke_all(user, actor=actor)
    db.session.commit()
    return count


def get_token(token_id: int, user: User) -> ApiToken:
    token = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if token is None:
        raise NotFound()
    return token


def check_token(plaintext: str) -> tuple[User | None, str]:
    """(user, "ok") for a live token; (None, "invalid" | "expired") otherwise."""
    parts = (plaintext or "").split("_", 2)
    # ASCII digits only (str.isdigit() also takes "²", which int() refuses), and an id the
    # INTEGER column can hold (PostgreSQL refuses a larger one even in a lookup).
    if (len(parts) != 3 or parts[0] != TOKEN_PREFIX or not (parts[1].isascii() and parts[1].isdigit())
            or len(parts[1]) > 10 or int(parts[1]) > MAX_ID):
        return None, "invalid"
    token = db.session.get(ApiToken, int(parts[1]))
    candidate = _hash_secret(parts[2])
    if token is None:
        hmac.compare_digest(candidate, "0" * 64)
        return None, "invalid"
    if not hmac.compare_digest(candidate, token.secret_hash):
        return None, "invalid"
    if token.revoked_at is not None or not token.user.active:
        return None, "invalid"
    now = utcnow()
    if token.expires_at <= now:
        return None, "expired"
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
        _touch_token(token.id, now)
    return token.user, "ok"


def user_for_token(plaintext: str) -> User | None:
    """The active user behind a live personal token, or None."""
    return check_token(plaintext)[0]


def _touch_token(token_id: int, now: dt.datetime) -> None:
    # Its own short transaction, best effort: losing a last-used stamp to a busy database
    # must never fail the caller's request.
    try:
        db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        db.session.commit()
    except OperationalError:
        db.session.rollback()
        log.info("could not record last use of token %s (database busy)", token_id)

"""Server-side sessions: one record per signed-in browser.

Flask's session cookie is signed, not stored: on its own, a copy of it keeps working until it
expires, whatever the user does. So the identifier Flask-Login keeps in the session cookie,
and copies into the remember-me cookie, is the key of a `UserSession` row ("s<id>.<secret>",
of which only the SHA-256 of the secret is stored). Every request checks that row: ended,
idle for too long or past its absolute lifetime, and the request is anonymous. Signing out
ends that row, and with it both cookies of that browser, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets

from flask import current_app
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import OperationalError

from accounts.models import User, UserSession
from core.db import MAX_ID, utcnow
from extensions import db

log = logging.getLogger("councildesk.security")

# Writing last_seen_at on every request would turn every page view into a write; the idle
# timeout is hours long, a minute or two of precision is plenty.
TOUCH_INTERVAL = dt.timedelta(minutes=2)
# Ended and expired rows are kept this long (the list of past sign-ins), then removed.
KEEP_ENDED = dt.timedelta(days=30)
_KEY = re.compile(r"s([0-9]{1,10})\.([A-Za-z0-9_-]{20,100})")


def duration(value, default: dt.timedelta) -> dt.timedelta:
    """A setting given as a timedelta or as seconds (how Flask reads PERMANENT_SESSION_LIFETIME)."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return dt.timedelta(seconds=value)
    return default


def idle_timeout(remembered: bool) -> dt.timedelta:
    cfg = current_app.config
    if remembered:
        return duration(cfg.get("SESSION_REMEMBERED_IDLE_TIMEOUT"), dt.timedelta(days=7))
    return duration(cfg.get("SESSION_IDLE_TIMEOUT"), dt.timedelta(hours=8))


def lifetime(remembered: bool) -> dt.timedelta:
    cfg = current_app.config
    if remembered:
        return duration(cfg.get("REMEMBER_COOKIE_DURATION"), dt.timedelta(days=14))
    return duration(cfg.get("PERMANENT_SESSION_LIFETIME"), dt.timedelta(hours=12))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _bind(user: User, record: UserSession, key: str) -> None:
    user._session_key = key
    user._session_record = record


def current_record(user) -> UserSession | None:
    """The session the user is signed in with on this request (None for API tokens)."""
    return getattr(user, "_session_record", None)


def open_session(user: User, *, remember: bool, user_agent: str, ip_address: str | None) -> str:
    """A new session of `user`, bound to it (so that `user.get_id()` is its key); the caller
    commits. Returns the key."""
    now = utcnow()
    secret = secrets.token_urlsafe(32)
    record = UserSession(user_id=user.id, secret_hash=_hash(secret), remembered=bool(remember),
                         created_at=now, last_seen_at=now, expires_at=now + lifetime(remember),
                         user_agent=(user_agent or "")[:300], ip_address=(ip_address or None) and ip_address[:45])
    db.session.add(record)
    # Old rows of this user go now: no job needed, and the table stays the size of its use.
    db.session.execute(delete(UserSession).where(
        UserSession.user_id == user.id,
        or_(UserSession.ended_at < now - KEEP_ENDED, UserSession.expires_at < now - KEEP_ENDED)))
    db.session.flush()
    key = f"s{record.id}.{secret}"
    _bind(user, record, key)
    return key


def is_live(record: UserSession, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return (record.ended_at is None and now < record.expires_at
            and now - record.last_seen_at < idle_timeout(record.remembered))


def load(key: str, *, ip_address: str | None = None) -> User | None:
    """The user of a live session with this key, bound to it; None otherwise."""
    match = _KEY.fullmatch(key or "")
    if match is None or int(match.group(1)) > MAX_ID:
        return None
    record = db.session.get(UserSession, int(match.group(1)))
    candidate = _hash(match.group(2))
    if record is None:
        hmac.compare_digest(candidate, "0" * 64)
        return None
    if not hmac.compare_digest(candidate, record.secret_hash):
        return None
    now = utcnow()
    if not is_live(record, now) or not record.user.active:
        return None
    user = record.user
    if now - record.last_seen_at > TOUCH_INTERVAL:
        _touch(record.id, now, ip_address)
    _bind(user, record, key)
    return user


def _touch(record_id: int, now: dt.datetime, ip_address: str | None) -> None:
    # Its own short transaction, best effort: a busy database must not fail the request; the
    # session only looks idle a little earlier.
    values = {"last_seen_at": now}
    if ip_address:
        values["ip_address"] = ip_address[:45]
    try:
        db.session.execute(update(UserSession).where(UserSession.id == record_id).values(**values))
        db.session.commit()
    except OperationalError:
        db.session.rollback()
        log.info("could not record the last use of session %s (database busy)", record_id)


def end(record: UserSession, reason: str) -> None:
    """End one session; the caller commits."""
    if record.ended_at is None:
        record.ended_at = utcnow()
        record.end_reason = reason[:24]


def end_all(user: User, reason: str, *, keep: UserSession | None = None) -> int:
    """End every live session of the user (but `keep`); the caller commits."""
    stmt = update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep.id)
    result = db.session.execute(stmt.values(ended_at=utcnow(), end_reason=reason[:24]))
    return result.rowcount or 0


def live_sessions(user: User) -> list[UserSession]:
    now = utcnow()
    rows = db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None), UserSession.expires_at > now)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())).all()
    return [r for r in rows if is_live(r, now)]


def get_live(user: User, session_id: int) -> UserSession | None:
    record = db.session.scalar(select(UserSession).where(UserSession.id == session_id,
                                                         UserSession.user_id == user.id))
    return record if record is not None and is_live(record) else None


# A user asked for its session key with none bound (a test or a tool signing a client in
# without the form) gets a session of its own.
User.open_session = staticmethod(lambda user: open_session(user, remember=False, user_agent="", ip_address=None))

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
             ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_agent(user_agent: str) -> tuple[str | None, str | None]:
    """(browser, system) read from a User-Agent, each None when not recognised. A short list
    is enough to tell one's own devices apart; the full string is shown too."""
    ua = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in ua), None)
    system = next((name for marker, name in _SYSTEMS if marker in ua), None)
    return browser, system

"""Brakes on password and code guessing, by account and by address.

Counting by client address alone locks out everyone behind one address (a town hall's NAT)
and never slows down a guesser who changes address. So failed sign-ins are counted:

- per account and address (LOGIN_RATE_LIMIT_ACCOUNT_ADDRESS): the brake a guesser meets
  first, with windows that grow (5 a minute, then 10 in 15 minutes...), so that each extra
  failure costs a longer wait;
- per account, from every address (LOGIN_RATE_LIMIT_ACCOUNT): a guesser spreading over many
  addresses;
- per address, over every account (LOGIN_RATE_LIMIT): one address spraying many accounts. Its
  window is short, so a throttled address never keeps other people's correct sign-ins out
  for long;
- per known device (LOGIN_RATE_LIMIT_DEVICE): a browser where the account signed in before
  carries a signed cookie saying so (OWASP's "device cookies"). Its attempts for that account
  count against that cookie only, so neither a guesser on the account nor one behind the same
  address slows down its owner.

Only failures count; a throttled attempt checks no password and counts nothing. The counters
are moving windows of the `limits` library in Flask-Limiter's storage: memory in one process,
Redis (RATELIMIT_STORAGE_URI) when several workers must share them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from dataclasses import dataclass, field

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import RateLimitItem, parse_many
from limits.strategies import MovingWindowRateLimiter

from extensions import limiter

log = logging.getLogger("councildesk.security")

DEVICE_COOKIE = "councildesk_device"
DEVICE_COOKIE_DAYS = 365
_DEVICE_ACCOUNTS = 5  # a shared office PC: the last few accounts that signed in on it

SCOPES = {
    "account_address": "LOGIN_RATE_LIMIT_ACCOUNT_ADDRESS",
    "account": "LOGIN_RATE_LIMIT_ACCOUNT",
    "address": "LOGIN_RATE_LIMIT",
    "device": "LOGIN_RATE_LIMIT_DEVICE",
    "code": "TOTP_RATE_LIMIT",
    "token": "API_TOKEN_FAILURE_RATE_LIMIT",
}


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def _strategy() -> MovingWindowRateLimiter:
    storage = limiter.storage
    cache = current_app.extensions.setdefault("councildesk_throttle", {})
    if cache.get("storage") is not storage:
        cache["storage"] = storage
        cache["strategy"] = MovingWindowRateLimiter(storage)
    return cache["strategy"]


def _items(scope: str) -> list[RateLimitItem]:
    return parse_many(current_app.config[SCOPES[scope]])


def _ident(value: str) -> str:
    """Storage keys name accounts by a keyed hash, not by their email address."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


def _prefix() -> str:
    return "councildesk-throttle" + (current_app.config.get("RATELIMIT_KEY_PREFIX") or "")


def _swallow(exc: Exception) -> None:
    if not current_app.config.get("RATELIMIT_SWALLOW_ERRORS"):
        raise exc
    log.error("throttling storage failed (%s): attempts are not being counted", exc)


@dataclass
class Counter:
    """One scope's windows for one identity."""

    scope: str
    identity: tuple[str, ...]

    def _ids(self) -> tuple[str, ...]:
        return (_prefix(), self.scope, *self.identity)

    def wait(self) -> int:
        """Seconds until the next attempt may be made (0: now)."""
        strategy, ids, wait = _strategy(), self._ids(), 0.0
        now = time.time()
        for item in _items(self.scope):
            if not strategy.test(item, *ids):
                reset, _remaining = strategy.get_window_stats(item, *ids)
                wait = max(wait, reset - now)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def hit(self) -> bool:
        """Count a failure; True when that exhausted a window."""
        strategy, ids, exhausted = _strategy(), self._ids(), False
        for item in _items(self.scope):
            strategy.hit(item, *ids)
            exhausted = exhausted or not strategy.test(item, *ids)
        return exhausted

    def clear(self) -> None:
        strategy, ids = _strategy(), self._ids()
        for item in _items(self.scope):
            strategy.clear(item, *ids)


def counter(scope: str, *identity: str) -> Counter:
    return Counter(scope, identity)


def _safe(func, default):
    if not _enabled():
        return default
    try:
        return func()
    except Exception as exc:  # the storage (Redis down...), whatever its error type
        _swallow(exc)
        return default


# --- device cookies -------------------------------------------------------------------

def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="councildesk-device-cookie")


def _read_device() -> dict | None:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 1024:
        return None
    try:
        data = _device_serializer().loads(raw, max_age=DEVICE_COOKIE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str) or not isinstance(data.get("a"), list):
        return None
    return data


def device_cookie_for(email: str) -> str:
    """The device cookie's new value after `email` signed in on this browser."""
    data = _read_device() or {"n": secrets.token_urlsafe(12), "a": []}
    account = _ident(email)
    accounts = [account] + [a for a in data["a"] if a != account]
    return _device_serializer().dumps({"n": data["n"], "a": accounts[:_DEVICE_ACCOUNTS]})


def set_device_cookie(response, email: str) -> None:
    response.set_cookie(DEVICE_COOKIE, device_cookie_for(email), max_age=DEVICE_COOKIE_DAYS * 86400,
                        httponly=True, samesite="Lax", secure=request.is_secure, path="/")


# --- sign-in --------------------------------------------------------------------------

@dataclass
class LoginGuard:
    """The brakes that apply to one sign-in attempt (or one password typed again)."""

    email: str
    address: str
    counters: list[Counter] = field(default_factory=list)
    trusted_device: bool = False

    @classmethod
    def for_attempt(cls, email: str, address: str | None) -> LoginGuard:
        email = (email or "").strip().lower()[:254]
        address = address or "unknown"
        guard = cls(email, address)
        account = _ident(email)
        device = _read_device()
        if device is not None and account in device["a"]:
            trusted = counter("device", account, device["n"])
            if _safe(trusted.wait, 0) == 0:
                guard.trusted_device = True
                guard.counters = [trusted]
                return guard
        # A device that failed too often is just another browser again.
        guard.counters = [counter("account_address", account, address), counter("account", account),
                          counter("address", address)]
        return guard

    @classmethod
    def for_reauthentication(cls, email: str, address: str | None) -> LoginGuard:
        """The password typed again by a signed-in user: the account's own brakes."""
        email = (email or "").strip().lower()[:254]
        address = address or "unknown"
        account = _ident(email)
        return cls(email, address, [counter("account_address", account, address), counter("account", account)])

    def wait(self) -> int:
        """Seconds before this attempt may be made (0: now)."""
        return _safe(lambda: max((c.wait() for c in self.counters), default=0), 0)

    def failed(self) -> list[str]:
        """Count a failure; the scopes it exhausted (for the audit log)."""
        return _safe(lambda: [c.scope for c in self.counters if c.hit()], [])

    def succeeded(self) -> None:
        """The right password: this account's count from this address starts again."""
        if not self.trusted_device:
            _safe(counter("account_address", _ident(self.email), self.address).clear, None)


def _code_counter(user_id: int) -> Counter:
    return counter("code", str(user_id))


def code_wait(user_id: int) -> int:
    """Seconds before a second-step code of this user may be tried again (0: now)."""
    return _safe(_code_counter(user_id).wait, 0)


def code_failed(user_id: int) -> bool:
    """Count a wrong code; True when that exhausted a window."""
    return _safe(_code_counter(user_id).hit, False)


def token_wait(address: str | None) -> int:
    """Seconds before this address may present another unknown API token (0: now)."""
    return _safe(counter("token", address or "unknown").wait, 0)


def token_failed(address: str | None) -> None:
    _safe(counter("token", address or "unknown").hit, None)

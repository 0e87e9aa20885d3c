"""Configuration defaults.

`create_app` layers configuration in this order, each overriding the previous one:
these defaults, then `instance/config.py` (if present), then the environment
(`DATABASE_URL`, `SECRET_KEY` and every `COUNCILDESK_*` variable), then the mapping passed
to `create_app(config=...)` (tests).
"""

from __future__ import annotations

import os
from datetime import timedelta


class DefaultConfig:
    # "production" unless told otherwise: it is the mode that refuses to start without a
    # real SECRET_KEY, so forgetting to configure a deployment fails loudly.
    ENV_NAME = "production"
    SECRET_KEY: str | None = None

    # None means "SQLite file under instance/", resolved once the instance path is known.
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLALCHEMY_RECORD_QUERIES = False
    SQLITE_BUSY_TIMEOUT_MS = 15000

    # Attachments are capped at 10 MB; leave room for the multipart envelope.
    MAX_CONTENT_LENGTH = 11 * 1024 * 1024

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # False here means "Secure whenever the request itself came over HTTPS"
    # (see core.security.SessionInterface); set True to force it.
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_NAME = "councildesk_session"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    # Number of proxies in front of the app setting X-Forwarded-* (0: trust none).
    PROXY_FIX_X_FOR = 0
    PROXY_FIX_X_PROTO = 0

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # tied to the session, which already expires

    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "5 per minute;30 per hour"

    LANGUAGES = ("ca", "es", "en")
    BABEL_DEFAULT_LOCALE = "ca"
    BABEL_DEFAULT_TIMEZONE = "Europe/Madrid"
    OFFICE_TIMEZONE = "Europe/Madrid"
    # The office's working calendar: hours forecasts and ticket SLAs count business time on it.
    # Weekdays 0 = Monday; hours "08:00-15:00" (a split shift: "08:00-14:00, 16:00-18:00");
    # holidays as YYYY-MM-DD (movable feasts, the town's festa major) and MM-DD (fixed ones;
    # None: Catalonia's fixed public holidays).
    OFFICE_WORKDAYS = (0, 1, 2, 3, 4)
    OFFICE_HOURS = "08:00-15:00"
    OFFICE_HOLIDAYS: tuple = ()
    OFFICE_RECURRING_HOLIDAYS: tuple | None = None
    OFFICE_NAME = "Oficina comarcal d'informàtica"

    # werkzeug's default (scrypt) is right for production; tests lower the cost.
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105  (an algorithm name)
    PASSWORD_MIN_LENGTH = 10

    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_TIMEOUT = 10
    MAIL_DEFAULT_SENDER = "CouncilDesk <no-reply@councildesk.invalid>"
    # Off by default so that a demo or a test never mails anybody by accident.
    MAIL_ENABLED = False

    # Where uploaded files and generated archives live: outside the web root.
    DATA_DIR: str | None = None

    PUBLIC_BASE_URL = "http://127.0.0.1:5000"


class DevelopmentConfig(DefaultConfig):
    ENV_NAME = "development"
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:100000"  # noqa: S105  (an algorithm name)


class TestingConfig(DefaultConfig):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-not-for-production"  # noqa: S105  (tests only)
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105  (an algorithm name)
    PASSWORD_MIN_LENGTH = 8


CONFIGS = {
    "production": DefaultConfig,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}


def config_from_environment() -> dict:
    """The environment's part of the configuration.

    `DATABASE_URL` and `SECRET_KEY` are honoured as the contract says; any
    `COUNCILDESK_<KEY>` sets `<KEY>` (JSON-decoded when possible, so numbers and booleans work).
    """
    import json

    out: dict = {}
    if os.environ.get("DATABASE_URL"):
        out["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if os.environ.get("SECRET_KEY"):
        out["SECRET_KEY"] = os.environ["SECRET_KEY"]
    for key, raw in os.environ.items():
        if not key.startswith("COUNCILDESK_") or key == "COUNCILDESK_ENV":
            continue
        name = key.removeprefix("COUNCILDESK_")
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out

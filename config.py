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

    # --- sessions, sign-in, passwords, two-step sign-in, tokens (accounts/) ----------------
    # Every session is a server-side record (accounts.sessions). It ends after this long
    # without a request, and at the latest PERMANENT_SESSION_LIFETIME after sign-in; one
    # kept with "keep me signed in" after SESSION_REMEMBERED_IDLE_TIMEOUT without a request
    # (overnight and weekends must not end it) and at the latest REMEMBER_COOKIE_DURATION
    # after sign-in. A timedelta or seconds.
    SESSION_IDLE_TIMEOUT = timedelta(hours=8)
    SESSION_REMEMBERED_IDLE_TIMEOUT = timedelta(days=7)
    # Failed sign-ins (accounts.throttle), in `limits` notation; windows that grow make each
    # further failure wait longer. Per client address over every account (short: a throttled
    # address must not keep other people out for long), per account from one address, per
    # account from every address, and per browser where the account signed in before.
    LOGIN_RATE_LIMIT = "30 per 10 minutes"
    LOGIN_RATE_LIMIT_ACCOUNT_ADDRESS = "5 per minute;10 per 15 minutes;20 per hour;40 per day"
    LOGIN_RATE_LIMIT_ACCOUNT = "10 per 10 minutes;30 per hour;100 per day"
    LOGIN_RATE_LIMIT_DEVICE = "10 per 15 minutes;30 per day"
    # Wrong second-step codes, per account; unknown API tokens, per client address.
    TOTP_RATE_LIMIT = "5 per 5 minutes;10 per hour;20 per day"
    API_TOKEN_FAILURE_RATE_LIMIT = "20 per minute"  # noqa: S105  (a rate, not a secret)
    # Roles that must use two-step sign-in (a list, or "admin,manager"; "none" for nobody).
    # A user of such a role without it is sent to set it up and can do nothing else.
    TOTP_REQUIRED_ROLES: tuple | list | str = ("admin",)
    # Fernet keys for the authenticator seeds, as SSH_KEY_ENCRYPTION_KEYS (first encrypts,
    # all decrypt; `flask users new-totp-key`, `flask users rotate-totp-keys`). Empty in
    # development and tests: derived from SECRET_KEY; production refuses to store seeds without.
    TOTP_ENCRYPTION_KEYS: tuple | list | str = ()
    TOTP_ISSUER = "CouncilDesk"
    # Personal API tokens expire: this many days unless chosen otherwise, at most API_TOKEN_MAX_DAYS.
    API_TOKEN_DEFAULT_DAYS = 365
    API_TOKEN_MAX_DAYS = 730

    LANGUAGES = ("ca", "es", "en")
    BABEL_DEFAULT_LOCALE = "ca"
    BABEL_DEFAULT_TIMEZONE = "Europe/Madrid"
    OFFICE_TIMEZONE = "Europe/Madrid"
    # The office's working calendar: hours forecasts and ticket SLAs count business time on it.
    # Weekdays 0 = Monday; hours "08:00-15:00" (a split shift: "08:00-14:00, 16:00-18:00").
    # Public holidays come from the `holidays` package for OFFICE_COUNTRY and
    # OFFICE_SUBDIVISION (ISO 3166: "ES"/"CT" Catalonia, "AR"/"B" Buenos Aires province);
    # local ones are added by admins in the app (Administration > Office calendar). Extra
    # dates may still be given here: YYYY-MM-DD in OFFICE_HOLIDAYS, MM-DD yearly ones in
    # OFFICE_RECURRING_HOLIDAYS.
    OFFICE_WORKDAYS = (0, 1, 2, 3, 4)
    OFFICE_HOURS = "08:00-15:00"
    OFFICE_COUNTRY = "ES"
    OFFICE_SUBDIVISION: str | None = "CT"
    OFFICE_HOLIDAYS: tuple = ()
    OFFICE_RECURRING_HOLIDAYS: tuple | None = None
    OFFICE_NAME = "Oficina comarcal d'informàtica"

    # werkzeug's default (scrypt) is right for production; tests lower the cost.
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105  (an algorithm name)
    PASSWORD_MIN_LENGTH = 10
    # zxcvbn's score (0-4) a new password must reach: 3 is "safely unguessable" (~10^8 guesses).
    PASSWORD_MIN_SCORE = 3

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

    # --- tickets by mail (support.mail) -------------------------------------------------------
    # Messages above this size are recorded (headers only) as failed, never processed.
    MAIL_INTAKE_MAX_BYTES = 25 * 1024 * 1024
    # Domains no single council may claim: webmail providers, and the diputació's or the
    # county's own, shared by many councils. Mail from there is a council's only through a
    # clerk's account. A list, or one comma-separated string.
    MAIL_SHARED_DOMAINS: tuple | list | str = (
        "gmail.com", "googlemail.com", "hotmail.com", "hotmail.es", "outlook.com", "outlook.es", "live.com",
        "msn.com", "yahoo.com", "yahoo.es", "icloud.com", "me.com", "aol.com", "gmx.com", "gmx.es",
        "proton.me", "protonmail.com", "telefonica.net", "movistar.es", "diba.cat", "dipta.cat", "ddgi.cat",
        "diputaciolleida.cat", "dipgi.cat", "ccbages.cat", "aoc.cat", "gencat.cat")
    # An automatic "we received it" answer to a new ticket by mail, at most one per address
    # and office-local day; off unless the office wants it.
    MAIL_ACKNOWLEDGE = False
    # IMAP polling: messages per mailbox per run; alert admins when a mailbox has not been
    # read for this long, or when its OAuth refresh token expires within so many days.
    MAIL_POLL_BATCH = 50
    MAIL_POLL_TIMEOUT = 30
    MAIL_STALE_MINUTES = 30
    MAIL_TOKEN_WARN_DAYS = 7
    # Fernet keys for mailbox passwords and OAuth tokens (as SSH_KEY_ENCRYPTION_KEYS;
    # `flask mail new-encryption-key`). Empty in development and tests: derived from SECRET_KEY.
    MAIL_SECRET_KEYS: tuple | list | str = ()

    # Where uploaded files and generated archives live: outside the web root.
    DATA_DIR: str | None = None

    PUBLIC_BASE_URL = "http://127.0.0.1:5000"

    # --- remote health checks (remote/) ---------------------------------------------------
    # Fernet keys (`flask remote new-encryption-key`) for the SSH private keys stored in the
    # database: the first encrypts, every one decrypts, so a key can be rotated by putting a
    # new one first and running `flask remote rotate-keys`. A list, or one comma-separated
    # string (COUNCILDESK_SSH_KEY_ENCRYPTION_KEYS). Empty in development and tests: a key is
    # then derived from SECRET_KEY, with a warning; production refuses to store keys without.
    SSH_KEY_ENCRYPTION_KEYS: tuple | list | str = ()
    # What agents are told at enrollment and in every 202; offline after this many intervals.
    REMOTE_AGENT_REPORT_INTERVAL = 300
    REMOTE_AGENT_OFFLINE_INTERVALS = 3
    REMOTE_AGENT_MAX_BODY = 256 * 1024
    # A report collected this far ahead of the server's clock is stamped with the arrival time.
    REMOTE_AGENT_CLOCK_TOLERANCE_SECONDS = 300
    # Disk checks an agent may create on one asset: a report may name 64 mounts, and each
    # unseen one became a check (and a full one a ticket): one token could flood the office.
    REMOTE_AGENT_MAX_DISK_CHECKS = 32
    # Not below 3 agents silent at once: that is the network or this server, not the machines.
    REMOTE_OFFLINE_SUPPRESS_MIN_AGENTS = 3
    REMOTE_ENROLL_RATE_LIMIT = "30 per minute"
    # Raw results (and the report ids that make replays idempotent) are kept this long; the
    # daily roll-ups are kept for good. Roll-ups are recomputed for this many past days each
    # night, so reports an agent spooled through an outage still count.
    REMOTE_RESULTS_RETENTION_DAYS = 30
    REMOTE_ROLLUP_RECOMPUTE_DAYS = 8
    REMOTE_STATE_CHANGES_RETENTION_DAYS = 800
    # A check still critical is reported again to the alert handlers at most this often.
    REMOTE_ALERT_REPEAT_HOURS = 24
    # News of one ticket (or one asset's alerts) within this many minutes updates the unread
    # notification and the queued mail of each recipient instead of adding more (core.notify).
    NOTIFY_COALESCE_MINUTES = 10
    # SSH rounds: how often the due checks are collected, the default interval of a check,
    # the pool (lessons.md: fan-out saturates near 16 threads on 2 cores) and the connections
    # to one host:port at once (sshd's MaxStartups).
    # SSH check hosts in loopback (127/8, ::1, localhost) or link-local ranges (169.254/16,
    # fe80::/10) are refused unless the administrators allow them here (the tests' sshd
    # listens on loopback, so their configuration does).
    REMOTE_SSH_ALLOW_LOCAL_HOSTS = False
    REMOTE_SSH_ROUND_SECONDS = 60
    REMOTE_SSH_DEFAULT_INTERVAL = 300
    REMOTE_SSH_WORKERS = 16
    REMOTE_SSH_PER_HOST = 2
    REMOTE_SSH_TIMEOUTS: dict = {"connect": 5.0, "banner": 5.0, "handshake": 10.0, "auth": 10.0,
                                 "command": 15.0, "host_total": 60.0}

    # --- the scheduler process (`flask scheduler`) ----------------------------------------
    # A standby instance tries to take the lock this often; the active one checks it still
    # holds it this often (and stops scheduling at once when it does not).
    SCHEDULER_STANDBY_POLL_SECONDS = 5.0
    SCHEDULER_LOCK_CHECK_SECONDS = 2.0
    # SQLite: the lock file (default: next to the database file).
    SCHEDULER_LOCK_FILE: str | None = None
    # Extra "module:function" callables run at start to register jobs (site add-ons, tests).
    SCHEDULER_JOB_MODULES: tuple | list = ()
    # Only these job ids (None: every registered job).
    SCHEDULER_ONLY_JOBS: tuple | list | None = None
    SCHEDULER_RUNS_RETENTION_DAYS = 90
    # Staff pages warn, and health pages stop trusting the states only its jobs keep, when the
    # scheduler has started no job for this long (remote.heartbeat).
    SCHEDULER_STALE_SECONDS = 600

    # --- tickets (support/) ---------------------------------------------------------------
    # SLA targets in business minutes on the office calendar (OFFICE_*), per priority, over
    # support.tickets.sla.DEFAULT_SLA_TARGETS: {"urgent": {"first_response": 30, "resolution": 240}}
    # or {"urgent": [30, 240]}; priorities left out keep the defaults.
    SLA_TARGETS: dict = {}
    # A clock at or past this share of its target shows as a warning in the lists.
    SLA_WARNING_PERCENT = 75
    # A resolved ticket can be reopened for this many days; then the job closes it.
    TICKET_REOPEN_DAYS = 15
    # Attachments: the cap per file (MAX_CONTENT_LENGTH leaves room for the form around it).
    TICKET_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    # The new-ticket and reply forms read bodies up to this size, so that a file over the cap
    # comes back as a field error with the text kept (files are spooled to disk, not memory).
    TICKET_FORM_MAX_BYTES = 64 * 1024 * 1024
    # The catalogue's evidence files (catalogue/evidence.py): the cap per file. Its form reads
    # bodies up to TICKET_FORM_MAX_BYTES too, so a file over the cap is a field error.
    CATALOGUE_EVIDENCE_MAX_BYTES = 10 * 1024 * 1024

    # --- reports (reports/) ---------------------------------------------------------------
    # The monthly delivery runs every day at this office time and acts on the first working
    # day of the month (or the first run after it).
    REPORTS_DELIVERY_HOUR = 7
    REPORTS_DELIVERY_MINUTE = 0
    # Renewal suggestions: the monthly average plus this share of headroom (or the 75th
    # percentile, when higher), rounded up to the half hour.
    REPORTS_RENEWAL_HEADROOM_PERCENT = 10
    # Drawn charts are cached in memory (per process, bytes) and on disk, shared by workers
    # (None: DATA_DIR/cache/charts; "" : no disk cache), keeping at most this many files.
    REPORTS_CHART_CACHE_DIR: str | None = None
    REPORTS_CHART_CACHE_MEMORY_BYTES = 16 * 1024 * 1024
    REPORTS_CHART_CACHE_FILES = 2000
    # The public transparency pages (and their CSV, JSON and chart), per client address.
    REPORTS_PUBLIC_RATE_LIMIT = "120 per minute"

    # --- visits (support/visits/) -----------------------------------------------------------
    # Reminders mailed this many hours before a visit, each once (the `support.visit_reminders`
    # job runs every VISIT_REMINDER_CHECK_SECONDS). A list, or one comma-separated string.
    VISIT_REMINDER_HOURS: tuple | list | str = (48, 2)
    VISIT_REMINDER_CHECK_SECONDS = 300

    # Scale-out (issue 19). Without a broker URL nothing changes: the scheduler and the web
    # nodes do all the work themselves, as on one machine. With one (COUNCILDESK_BROKER_URL,
    # e.g. amqp://guest:guest@127.0.0.1:5672//), Celery workers (`flask worker`) take it.
    BROKER_URL: str | None = None
    SCALE_TASK_TIME_LIMIT = 300  # seconds; the soft limit is 30 s less
    SCALE_TASK_MAX_RETRIES = 5
    SCALE_RETRY_BACKOFF = 2  # seconds, doubled at each retry (capped at 10 minutes)
    SCALE_REPORT_BATCH = 200  # the report writer's batch: up to this many reports...
    SCALE_REPORT_WAIT = 0.5  # ...or what arrived within this many seconds
    SCALE_PUBLISH_TIMEOUT = 2.0  # seconds to reach the broker before an agent gets 503
    SCALE_PUBLISH_BATCH = 100  # reports a web process publishes together at most (scale.broker)
    SCALE_REPORT_DOOR = True  # accepted agent reports answered below Flask's pipeline (scale.door)
    SCALE_RETRY_AFTER = 30  # seconds an agent is told to wait when the broker is away
    SCALE_QUEUE_PREFIX = "councildesk"
    # Jobs the scheduler keeps running itself: the SSH round only hands out its hosts.
    SCALE_LOCAL_JOBS = ("remote.ssh_round",)


class DevelopmentConfig(DefaultConfig):
    ENV_NAME = "development"
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:100000"  # noqa: S105  (an algorithm name)
    # `make run` signs in as the demo admin with the published password and nothing else;
    # two-step sign-in stays available to try on the account page.
    TOTP_REQUIRED_ROLES = ()


class TestingConfig(DefaultConfig):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-not-for-production"  # noqa: S105  (tests only)
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105  (an algorithm name)
    PASSWORD_MIN_LENGTH = 8
    # Tests sign admins in without a second step; the tests of two-step sign-in turn it on.
    TOTP_REQUIRED_ROLES = ()


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

"""Remote health checks: the rules, free of HTTP.

Enrollment keys and agent tokens, the state machine every result goes through (shared by
agent reports, SSH rounds and the offline job), check configuration, SSH settings with their
encrypted keys, and host keys with their approval.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import User
from agreements.models import Council
from core.db import MAX_ID, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db
from inventory.models import Asset
from remote import alerts, crypto
from remote import checks as catalogue
from remote.models import (
    Agent,
    Check,
    EnrollmentKey,
    HostKey,
    Result,
    SshSettings,
    StateChange,
)
from remote.ssh import HostKey as SshHostKey
from remote.ssh import KeyLoadError, SshCredentials, SshTarget, SshTimeouts, load_private_key

_INVALID = _l("Some fields are not valid.")

ENROLLMENT_PREFIX = "cdenroll"
AGENT_TOKEN_PREFIX = "cdagent"  # noqa: S105  (a prefix, not a secret)
OFFLINE_SEVERITIES = ("critical", "warning")
# Kinds whose silence is an outage rather than a PC switched off for the night.
ALWAYS_ON_KINDS = ("server", "network")
MAX_PRIVATE_KEY_CHARS = 16_384
MAX_PASSPHRASE_CHARS = 1024
# Bounds of threshold overrides, by unit: a typo (950 %) is refused rather than silencing a check.
THRESHOLD_BOUNDS = {"%": (0.0, 100.0), "load/core": (0.0, 1000.0), "h": (0.0, 100_000.0), "ms": (0.0, 600_000.0)}
AGENT_UNITS = {"cpu": "%", "memory": "%", "disk": "%"}
AGENT_METRICS = {"cpu": "cpu_percent", "memory": "memory_percent", "disk": "disk_percent"}


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _split_token(plaintext: str, prefix: str) -> tuple[int, str] | None:
    parts = (plaintext or "").strip().split("_", 2)
    if (len(parts) != 3 or parts[0] != prefix or not (parts[1].isascii() and parts[1].isdigit())
            or len(parts[1]) > 10 or not 0 < int(parts[1]) <= MAX_ID or not parts[2]):
        return None
    return int(parts[1]), parts[2]


def office_timezone() -> ZoneInfo:
    return ZoneInfo(current_app.config["OFFICE_TIMEZONE"])


# --- enrollment keys ------------------------------------------------------------------------

def create_enrollment_key(council: Council, *, actor: User | None) -> str:
    """A new enrollment key for the council; the previous one stops working. Shown once."""
    secret = secrets.token_urlsafe(32)
    row = db.session.scalar(select(EnrollmentKey).where(EnrollmentKey.council_id == council.id))
    if row is None:
        row = EnrollmentKey(council_id=council.id, secret_hash=_hash_secret(secret),
                            created_by_id=actor.id if actor else None)
        db.session.add(row)
    else:
        row.secret_hash = _hash_secret(secret)
        row.created_at = utcnow()
        row.created_by_id = actor.id if actor else None
    audit.record("enrollment_key_create", object_type="council", object_id=council.id, actor=actor,
                 label=council.name, council_id=council.id)
    try:
        db.session.commit()
    except IntegrityError:  # two keys created at once: the other one won; make ours the last
        db.session.rollback()
        return create_enrollment_key(council, actor=actor)
    return f"{ENROLLMENT_PREFIX}_{council.id}_{secret}"


def council_for_enrollment_key(plaintext: str) -> Council | None:
    """The council whose current key this is, compared in constant time, or None."""
    parts = _split_token(plaintext, ENROLLMENT_PREFIX)
    candidate = _hash_secret(parts[1] if parts else "")
    row = db.session.scalar(select(EnrollmentKey).where(EnrollmentKey.council_id == parts[0])) if parts else None
    if row is None:
        hmac.compare_digest(candidate, "0" * 64)
        return None
    if not hmac.compare_digest(candidate, row.secret_hash):
        return None
    council = db.session.get(Council, row.council_id)
    return council if council is not None and council.active else None


def enrollment_key_info(council: Council) -> EnrollmentKey | None:
    return db.session.scalar(select(EnrollmentKey).where(EnrollmentKey.council_id == council.id))


# --- agents ---------------------------------------------------------------------------------

def new_agent_token(agent_id: int) -> tuple[str, str]:
    """(plaintext, hash); the plaintext goes to the agent once and is never stored."""
    secret = secrets.token_urlsafe(32)
    return f"{AGENT_TOKEN_PREFIX}_{agent_id}_{secret}", _hash_secret(secret)


@dataclass(frozen=True)
class AgentPrincipal:
    """Who an agent request is: just the ids the ingest needs (no ORM object to go stale)."""

    id: int
    council_id: int
    asset_id: int
    report_interval_seconds: int
    previous_interval_seconds: int


_TOKEN_LOOKUP = select(Agent.id, Agent.council_id, Agent.asset_id, Agent.report_interval_seconds,
                       Agent.previous_interval_seconds, Agent.token_hash, Agent.revoked_at).where(
    Agent.id == bindparam("agent_id"))


def agent_for_token(plaintext: str) -> AgentPrincipal | None:
    """The active agent behind a token, compared in constant time; None when unknown or revoked.

    No cache: a revoked token must stop working on its very next request.
    """
    parts = _split_token(plaintext, AGENT_TOKEN_PREFIX)
    candidate = _hash_secret(parts[1] if parts else "")
    row = None
    if parts:
        # Core, not the ORM: one indexed row, read on every report.
        row = db.session.connection().execute(_TOKEN_LOOKUP, {"agent_id": parts[0]}).first()
    if row is None:
        hmac.compare_digest(candidate, "0" * 64)
        return None
    if not hmac.compare_digest(candidate, row.token_hash) or row.revoked_at is not None:
        return None
    return AgentPrincipal(row.id, row.council_id, row.asset_id, row.report_interval_seconds,
                          row.previous_interval_seconds)


def get_agent(agent_id: int) -> Agent:
    if not 1 <= agent_id <= MAX_ID:
        raise NotFound()
    agent = db.session.scalar(select(Agent).where(Agent.id == agent_id))
    if agent is None:
        raise NotFound()
    return agent


def revoke_agent(agent: Agent, *, actor: User | None, commit: bool = True) -> Agent:
    """The token stops working at once; the agent's checks stop being judged (and their
    alerts close), the asset and the history stay."""
    if agent.revoked_at is not None:
        return agent
    now = utcnow()
    agent.revoked_at = now
    agent.revoked_by_id = actor.id if actor else None
    for check in db.session.scalars(select(Check).where(Check.agent_id == agent.id, Check.enabled.is_(True))):
        _disable(check, now)
    audit.record("agent_revoke", object_type="asset", object_id=agent.asset_id, actor=actor,
                 label=f"{agent.asset.tag} · {agent.asset.name}", council_id=agent.council_id,
                 changes={"agent": [agent.id, None]})
    if commit:
        db.session.commit()
        alerts.dispatch_if_pending()
    return agent


def agents_query(*, council_id: int | None = None, status: str | None = None):
    stmt = select(Agent)
    if council_id is not None:
        stmt = stmt.where(Agent.council_id == council_id)
    if status == "active":
        stmt = stmt.where(Agent.revoked_at.is_(None))
    elif status == "revoked":
        stmt = stmt.where(Agent.revoked_at.is_not(None))
    return stmt


def offline_after(agent: Agent | AgentPrincipal) -> dt.timedelta:
    interval = max(agent.report_interval_seconds, agent.previous_interval_seconds or 0)
    return dt.timedelta(seconds=interval * current_app.config["REMOTE_AGENT_OFFLINE_INTERVALS"])


def agent_status(agent: Agent, now: dt.datetime | None = None) -> str:
    """"revoked", "waiting" (never reported), "offline" or "online"."""
    if agent.revoked_at is not None:
        return "revoked"
    now = now or utcnow()
    seen = agent.last_report_at
    if seen is None:
        return "offline" if now - agent.enrolled_at > offline_after(agent) else "waiting"
    return "offline" if now - seen > offline_after(agent) else "online"


# --- the state machine ----------------------------------------------------------------------

@dataclass
class Observation:
    """One result, from whatever source: what the state machine and the series store."""

    state: str
    value: float | None = None
    unit: str = ""
    summary_key: str = ""
    summary_params: dict = field(default_factory=dict)
    output: str | None = None
    duration_ms: float | None = None

    @classmethod
    def from_check_result(cls, result: catalogue.CheckResult) -> Observation:
        return cls(state=result.state.value, value=result.value, unit=result.unit or "",
                   summary_key=result.summary_key, summary_params=dict(result.summary_params),
                   output=result.raw_output or None, duration_ms=result.duration_ms)


def apply_result(check: Check, obs: Observation, at: dt.datetime, *, store: bool = True) -> bool:
    """Store a result in the series and, unless it is older than what the check shows, make it
    the check's current state. Returns True when the state changed.

    A late result (spooled by an agent and delivered out of order) joins the series but never
    moves the current state back in time, nor records a state change in the past.
    """
    if store:
        db.session.add(Result(council_id=check.council_id, check_id=check.id, collected_at=at, state=obs.state,
                              value=obs.value, summary_key=obs.summary_key, summary_params=obs.summary_params,
                              # Output only where someone will read it: when something is wrong.
                              output=obs.output if obs.state != "ok" else None,
                              duration_ms=obs.duration_ms))
    if check.last_result_at is not None and at < check.last_result_at:
        return False
    check.last_result_at = at
    check.last_value = obs.value
    check.unit = obs.unit or check.unit
    check.summary_key = obs.summary_key
    check.summary_params = obs.summary_params
    if obs.output is not None or check.source == "ssh":
        check.last_output = obs.output
    first = check.state_since is None
    if not first and obs.state == check.state:
        if obs.state == "critical":
            alerts.still_critical(check, at)
        return False
    previous = None if first else check.state
    check.state = obs.state
    check.state_since = at
    db.session.add(StateChange(council_id=check.council_id, check_id=check.id, asset_id=check.asset_id,
                               from_state=previous, to_state=obs.state, at=at, summary_key=obs.summary_key,
                               summary_params=obs.summary_params))
    if previous is not None or obs.state == "critical":
        alerts.state_changed(check, previous, at)
    return True


def _disable(check: Check, now: dt.datetime) -> None:
    """Turn a check off: its alert closes and its state becomes unknown (it is not watched)."""
    check.enabled = False
    alerts.check_disabled(check, now)
    if check.state != "unknown" or check.state_since is None:
        previous = check.state if check.state_since is not None else None
        check.state = "unknown"
        check.state_since = now
        check.summary_key = "check_disabled"
        check.summary_params = {}
        db.session.add(StateChange(council_id=check.council_id, check_id=check.id, asset_id=check.asset_id,
                                   from_state=previous, to_state="unknown", at=now, summary_key="check_disabled",
                                   summary_params={}))


# --- checks: reading and configuring --------------------------------------------------------

def check_key(source: str, kind: str, params: Mapping) -> str:
    if source == "agent":
        return f"agent:disk:{params.get('mount', '/')}" if kind == "disk" else f"agent:{kind}"
    if kind == "host_key":
        return "ssh:host_key"
    digest = hashlib.sha256(json.dumps(dict(params), sort_keys=True).encode("utf-8")).hexdigest()[:20]
    return f"ssh:{kind}:{digest}"


def default_thresholds(check: Check) -> catalogue.Thresholds | None:
    if check.source == "agent":
        metric = AGENT_METRICS.get(check.kind)
        return catalogue.METRIC_THRESHOLDS[metric] if metric else None
    if check.kind in catalogue.CATALOGUE:
        return catalogue.CATALOGUE[check.kind].default_thresholds
    return None


def thresholds_for(check: Check) -> catalogue.Thresholds | None:
    """The defaults with the check's own overrides, each level on its own."""
    base = default_thresholds(check)
    if base is None:
        return None
    if check.warning is None and check.critical is None:
        return base
    return catalogue.Thresholds(check.warning if check.warning is not None else base.warning,
                                check.critical if check.critical is not None else base.critical,
                                base.higher_is_worse)


def check_unit(source: str, kind: str) -> str:
    if source == "agent":
        return AGENT_UNITS.get(kind, "")
    defn = catalogue.CATALOGUE.get(kind)
    return (defn.unit or "") if defn else ""


def has_thresholds(source: str, kind: str) -> bool:
    if source == "agent":
        return kind in AGENT_METRICS
    defn = catalogue.CATALOGUE.get(kind)
    return defn is not None and (defn.default_thresholds.warning is not None
                                 or defn.default_thresholds.critical is not None)


def get_check(asset: Asset, check_id: int) -> Check:
    if not 1 <= check_id <= MAX_ID:
        raise NotFound()
    check = db.session.scalar(select(Check).where(Check.id == check_id, Check.asset_id == asset.id))
    if check is None:
        raise NotFound()
    return check


_STATE_ORDER = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}


def checks_of(asset: Asset, *, enabled_only: bool = False) -> list[Check]:
    stmt = select(Check).where(Check.asset_id == asset.id)
    if enabled_only:
        stmt = stmt.where(Check.enabled.is_(True))
    rows = list(db.session.scalars(stmt.order_by(Check.id)))
    # Problems first, then agent checks before SSH ones, each in a stable order.
    rows.sort(key=lambda c: (not c.enabled, _STATE_ORDER.get(c.state, 9), c.source, c.kind, c.key))
    return rows


def results_query(check: Check, *, since: dt.datetime | None = None, until: dt.datetime | None = None):
    stmt = select(Result).where(Result.check_id == check.id)
    if since is not None:
        stmt = stmt.where(Result.collected_at >= since)
    if until is not None:
        stmt = stmt.where(Result.collected_at < until)
    return stmt


def series(check: Check, since: dt.datetime) -> list[tuple[dt.datetime, float | None, str]]:
    """(time, value, state) of a check since `since`, oldest first, for charts."""
    rows = db.session.execute(
        select(Result.collected_at, Result.value, Result.state)
        .where(Result.check_id == check.id, Result.collected_at >= since)
        .order_by(Result.collected_at, Result.id)).all()
    return [(r.collected_at, r.value, r.state) for r in rows]


def state_changes(check: Check, limit: int = 20) -> list[StateChange]:
    return list(db.session.scalars(
        select(StateChange).where(StateChange.check_id == check.id)
        .order_by(StateChange.at.desc(), StateChange.id.desc()).limit(limit)))


def _clean_thresholds(source: str, kind: str, warning, critical) -> tuple[float | None, float | None]:
    errors: dict[str, object] = {}
    if not has_thresholds(source, kind):
        if warning is not None or critical is not None:
            errors["warning"] = _l("This check has no thresholds: its state says it all.")
            raise ValidationFailed(_INVALID, fields=errors)
        return None, None
    low, high = THRESHOLD_BOUNDS.get(check_unit(source, kind), (0.0, 1e9))
    for name, value in (("warning", warning), ("critical", critical)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            errors[name] = _l("Enter a number.")
        elif not low <= value <= high:
            errors[name] = _l("Enter a number from %(low)s to %(high)s.", low=f"{low:g}", high=f"{high:g}")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    base = (catalogue.METRIC_THRESHOLDS[AGENT_METRICS[kind]] if source == "agent"
            else catalogue.CATALOGUE[kind].default_thresholds)
    try:
        catalogue.Thresholds(warning if warning is not None else base.warning,
                             critical if critical is not None else base.critical, base.higher_is_worse)
    except catalogue.CheckConfigError:
        raise ValidationFailed(_INVALID, fields={
            "warning": _l("The warning level must not be beyond the critical level.")}) from None
    return (float(warning) if warning is not None else None, float(critical) if critical is not None else None)


def _clean_interval(value) -> int:
    if value is None:
        return int(current_app.config["REMOTE_SSH_DEFAULT_INTERVAL"])
    if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 86_400:
        raise ValidationFailed(_INVALID, fields={"interval_minutes": _l("Enter a number of minutes from 1 to 1440.")})
    return value


_PARAM_MESSAGES = {
    "mount": _l("Enter an absolute path, such as / or /srv/backups."),
    "path": _l("Enter an absolute path, such as /srv/backups."),
    "window": _l("Choose 1, 5 or 15 minutes."),
    "unit": _l("Enter a systemd unit name, such as nginx.service."),
}


def _clean_params(kind: str, params: Mapping | None) -> dict:
    try:
        return catalogue.validate_params(kind, {k: v for k, v in (params or {}).items() if v not in (None, "")})
    except catalogue.CheckConfigError as exc:
        name = exc.field if exc.field in _PARAM_MESSAGES else "kind"
        message = _PARAM_MESSAGES.get(exc.field, _l("Unknown check."))
        raise ValidationFailed(_INVALID, fields={name: message}) from None


def _label(asset: Asset) -> str:
    return f"{asset.tag} · {asset.name}"


def create_ssh_check(asset: Asset, values: Mapping[str, Any], *, actor: User | None) -> Check:
    """An agentless check from the catalogue, validated (params, thresholds, interval)."""
    kind = values.get("kind")
    if kind not in catalogue.CATALOGUE:
        raise ValidationFailed(_INVALID, fields={"kind": _l("Unknown check.")})
    params = _clean_params(kind, values.get("params"))
    warning, critical = _clean_thresholds("ssh", kind, values.get("warning"), values.get("critical"))
    interval = _clean_interval(values.get("interval_seconds"))
    key = check_key("ssh", kind, params)
    if db.session.scalar(select(Check.id).where(Check.asset_id == asset.id, Check.key == key)) is not None:
        raise Conflict(_l("This asset already has that check."), code="duplicate_check",
                       fields={"kind": _l("This asset already has that check.")})
    check = Check(council_id=asset.council_id, asset_id=asset.id, source="ssh", kind=kind, key=key, params=params,
                  warning=warning, critical=critical, interval_seconds=interval, enabled=True,
                  next_due_at=utcnow(), unit=check_unit("ssh", kind), summary_params={})
    db.session.add(check)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("This asset already has that check."), code="duplicate_check") from None
    audit.record("check_create", object_type="asset", object_id=asset.id, actor=actor, label=_label(asset),
                 council_id=asset.council_id, changes={"check": [None, f"{kind} {json.dumps(params)}"]})
    db.session.commit()
    return check


def update_check(check: Check, values: Mapping[str, Any], *, actor: User | None) -> Check:
    """Thresholds, interval, on/off and (offline checks) the severity of silence."""
    before = {"warning": check.warning, "critical": check.critical, "interval_seconds": check.interval_seconds,
              "enabled": check.enabled, "params": json.dumps(check.params, sort_keys=True)}
    warning, critical = _clean_thresholds(check.source, check.kind, values.get("warning"), values.get("critical"))
    check.warning, check.critical = warning, critical
    if check.source == "ssh" and check.kind != "host_key" and "interval_seconds" in values:
        check.interval_seconds = _clean_interval(values.get("interval_seconds"))
        check.next_due_at = min(check.next_due_at or utcnow(), utcnow() + dt.timedelta(seconds=check.interval_seconds))
    if check.kind == "offline" and "severity" in values:
        severity = values.get("severity")
        if severity not in OFFLINE_SEVERITIES:
            raise ValidationFailed(_INVALID, fields={"severity": _l("Not one of the allowed values.")})
        check.params = {**(check.params or {}), "severity": severity}
        if check.state in OFFLINE_SEVERITIES and check.state != severity and check.summary_key == "agent_offline":
            apply_result(check, Observation(severity, None, "", "agent_offline", dict(check.summary_params or {})),
                         utcnow(), store=False)
    enabled = values.get("enabled", check.enabled)
    now = utcnow()
    if enabled and not check.enabled:
        if check.agent_id is not None and db.session.scalar(
                select(Agent.revoked_at).where(Agent.id == check.agent_id)) is not None:
            raise ValidationFailed(_INVALID, fields={"enabled": _l("Its agent was revoked; enroll the machine again.")})
        check.enabled = True
        check.next_due_at = now
    elif not enabled and check.enabled:
        _disable(check, now)
    after = {"warning": check.warning, "critical": check.critical, "interval_seconds": check.interval_seconds,
             "enabled": check.enabled, "params": json.dumps(check.params, sort_keys=True)}
    changes = audit.diff(before, after)
    if changes:
        audit.record("check_update", object_type="asset", object_id=check.asset_id, actor=actor,
                     label=_label(check.asset), council_id=check.council_id,
                     changes={f"{check.kind}.{k}": v for k, v in changes.items()})
    db.session.commit()
    alerts.dispatch_if_pending()
    return check


def delete_check(check: Check, *, actor: User | None) -> None:
    """SSH checks only (agent checks come back with the next report: turn them off instead).
    Its history goes with it; its alert is closed first so a ticket gets resolved."""
    if check.source != "ssh" or check.kind == "host_key":
        raise ValidationFailed(_INVALID, fields={"kind": _l("This check cannot be deleted; turn it off instead.")})
    asset = check.asset
    alerts.check_disabled(check, utcnow())
    audit.record("check_delete", object_type="asset", object_id=asset.id, actor=actor, label=_label(asset),
                 council_id=asset.council_id,
                 changes={"check": [f"{check.kind} {json.dumps(check.params)}", None]})
    db.session.delete(check)
    db.session.commit()
    alerts.dispatch_if_pending()


def open_alerts(council_id: int | None = None):
    from remote.models import Alert

    stmt = select(Alert).where(Alert.closed_at.is_(None))
    if council_id is not None:
        stmt = stmt.where(Alert.council_id == council_id)
    return stmt.order_by(Alert.opened_at.desc(), Alert.id.desc())


# --- SSH settings -----------------------------------------------------------------------------

_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")
_USERNAME = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}")


def ssh_settings_of(asset: Asset) -> SshSettings | None:
    return db.session.scalar(select(SshSettings).where(SshSettings.asset_id == asset.id))


def _clean_host(value) -> str:
    value = (value or "").strip() if isinstance(value, str) else ""
    if not value:
        raise ValidationFailed(_INVALID, fields={"host": _l("This field is required.")})
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(value):
        raise ValidationFailed(_INVALID, fields={"host": _l("Enter a host name or an IP address.")})
    return value.lower()


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
        _disable(check, now)
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


def pinned_keys(asset_id: int) -> tuple[SshHostKey, ...]:
    rows = db.session.execute(select(HostKey.key_type, HostKey.key_base64).where(
        HostKey.asset_id == asset_id, HostKey.status == "approved").order_by(HostKey.id)).all()
    keys = []
    for key_type, key_base64 in rows:
        try:
            keys.append(SshHostKey(key_type, key_base64))
        except ValueError:
            continue
    return tuple(keys)


def ssh_target(settings: SshSettings) -> SshTarget:
    """The engine's target: decrypted credentials (in memory only) and the approved pins."""
    credentials = None
    if settings.key_ciphertext:
        credentials = SshCredentials(
            settings.username, crypto.decrypt(settings.key_ciphertext),
            crypto.decrypt(settings.passphrase_ciphertext) if settings.passphrase_ciphertext else None)
    return SshTarget(host=settings.host, port=settings.port, credentials=credentials,
                     pinned_keys=pinned_keys(settings.asset_id), timeouts=ssh_timeouts())


# --- host keys -----------------------------------------------------------------------------------

def record_offered_key(settings: SshSettings, key: SshHostKey, *, changed: bool,
                       now: dt.datetime) -> tuple[HostKey, bool]:
    """The key a host offered that is not pinned: (row, True when it is news for the admins)."""
    row = db.session.scalar(select(HostKey).where(HostKey.asset_id == settings.asset_id,
                                                  HostKey.fingerprint == key.fingerprint))
    if row is None:
        row = HostKey(council_id=settings.council_id, asset_id=settings.asset_id, key_type=key.key_type,
                      key_base64=key.key_base64, fingerprint=key.fingerprint, status="pending",
                      replaces_pinned=changed, host=settings.host, port=settings.port, first_seen_at=now,
                      last_seen_at=now)
        db.session.add(row)
        db.session.flush()
        return row, True
    row.last_seen_at = now
    row.host, row.port = settings.host, settings.port
    if row.status == "replaced":
        # A key retired by an approval is back (a restored backup, a swapped disk): decide again.
        row.status = "pending"
        row.replaces_pinned = changed
        row.decided_at = row.decided_by_id = None
        return row, True
    return row, False


def get_host_key(key_id: int) -> HostKey:
    if not 1 <= key_id <= MAX_ID:
        raise NotFound()
    row = db.session.scalar(select(HostKey).where(HostKey.id == key_id))
    if row is None:
        raise NotFound()
    return row


def host_keys_query(status: str | None = "pending"):
    stmt = select(HostKey)
    if status in ("pending", "approved", "rejected", "replaced"):
        stmt = stmt.where(HostKey.status == status)
    return stmt


def approved_keys_of(asset_id: int) -> list[HostKey]:
    return list(db.session.scalars(select(HostKey).where(HostKey.asset_id == asset_id, HostKey.status == "approved")
                                   .order_by(HostKey.id)))


def approve_host_key(row: HostKey, *, actor: User, confirm_replace: bool = False) -> HostKey:
    """Pin the key. If the host had another pinned key, approving this one retires it, which
    needs `confirm_replace`: a changed key is a deliberate decision, never a click-through."""
    if row.status == "approved":
        return row
    if row.status not in ("pending", "rejected"):
        raise Conflict(_l("This key is no longer waiting for a decision."), code="host_key_decided")
    current = [k for k in approved_keys_of(row.asset_id) if k.id != row.id]
    if current and not confirm_replace:
        raise ValidationFailed(_INVALID, fields={"confirm": _l(
            "This host already has a pinned key. Confirm that you checked the new fingerprint on the machine itself.")})
    now = utcnow()
    for old in current:
        old.status = "replaced"
        old.decided_at, old.decided_by_id = now, actor.id
    row.status = "approved"
    row.decided_at, row.decided_by_id = now, actor.id
    # Run the host's checks at the next round rather than in up to an interval.
    db.session.execute(update(Check).where(Check.asset_id == row.asset_id, Check.source == "ssh",
                                           Check.enabled.is_(True)).values(next_due_at=now))
    audit.record("host_key_approve", object_type="asset", object_id=row.asset_id, actor=actor,
                 label=_label(row.asset), council_id=row.council_id,
                 changes={"host_key": [", ".join(k.fingerprint for k in current) or None, row.fingerprint]})
    db.session.commit()
    return row


def reject_host_key(row: HostKey, *, actor: User) -> HostKey:
    if row.status not in ("pending",):
        raise Conflict(_l("This key is no longer waiting for a decision."), code="host_key_decided")
    row.status = "rejected"
    row.decided_at, row.decided_by_id = utcnow(), actor.id
    audit.record("host_key_reject", object_type="asset", object_id=row.asset_id, actor=actor,
                 label=_label(row.asset), council_id=row.council_id, changes={"host_key": [row.fingerprint, None]})
    db.session.commit()
    return row


# --- the overview --------------------------------------------------------------------------

@dataclass
class AssetHealth:
    asset: Asset
    checks: list[Check]
    agent: Agent | None
    worst: str


def council_health(council_id: int | None, *, problems_only: bool = False) -> list[AssetHealth]:
    """Every asset with checks (of one council or all), worst first."""
    stmt = select(Check).join(Asset, Asset.id == Check.asset_id).where(Check.enabled.is_(True),
                                                                       Asset.status != "retired")
    if council_id is not None:
        stmt = stmt.where(Check.council_id == council_id)
    checks = list(db.session.scalars(stmt.order_by(Check.asset_id, Check.id)))
    agent_stmt = select(Agent).where(Agent.revoked_at.is_(None))
    if council_id is not None:
        agent_stmt = agent_stmt.where(Agent.council_id == council_id)
    agents = {a.asset_id: a for a in db.session.scalars(agent_stmt.order_by(Agent.id))}
    by_asset: dict[int, list[Check]] = {}
    assets: dict[int, Asset] = {}
    for check in checks:
        by_asset.setdefault(check.asset_id, []).append(check)
        assets[check.asset_id] = check.asset
    out = []
    for asset_id, rows in by_asset.items():
        rows.sort(key=lambda c: (_STATE_ORDER.get(c.state, 9), c.source, c.kind, c.key))
        worst = rows[0].state if rows else "unknown"
        if problems_only and worst == "ok":
            continue
        out.append(AssetHealth(assets[asset_id], rows, agents.get(asset_id), worst))
    out.sort(key=lambda h: (_STATE_ORDER.get(h.worst, 9), h.asset.council.name, h.asset.tag))
    return out


def state_counts(council_id: int | None = None) -> dict[str, int]:
    stmt = select(Check.state, func.count()).join(Asset, Asset.id == Check.asset_id).where(
        Check.enabled.is_(True), Asset.status != "retired")
    if council_id is not None:
        stmt = stmt.where(Check.council_id == council_id)
    counts = dict.fromkeys(("ok", "warning", "critical", "unknown"), 0)
    counts.update(dict(db.session.execute(stmt.group_by(Check.state)).all()))
    return counts


def purge_before(model, column, cutoff: dt.datetime, batch: int = 5000) -> int:
    """Delete old rows in batches: short transactions, so SQLite's single writer (the agents'
    reports) never waits long behind the nightly clean-up."""
    from core.db import write_transaction

    total = 0
    while True:
        with write_transaction():
            ids = select(model.id).where(column < cutoff).limit(batch)
            deleted = db.session.execute(delete(model).where(model.id.in_(ids))).rowcount or 0
        total += deleted
        if deleted < batch:
            return total



def state_timelines(check_ids: list[int], start: dt.datetime, end: dt.datetime) -> dict[int, list]:
    """For each check, its (from, to, state) segments between `start` and `end`."""
    from remote.charts import state_segments

    if not check_ids:
        return {}
    ranked = select(StateChange.check_id, StateChange.to_state,
                    func.row_number().over(partition_by=StateChange.check_id,
                                           order_by=(StateChange.at.desc(), StateChange.id.desc())).label("rn")
                    ).where(StateChange.check_id.in_(check_ids), StateChange.at < start).subquery()
    initial = dict(db.session.execute(select(ranked.c.check_id, ranked.c.to_state).where(ranked.c.rn == 1)).all())
    changes: dict[int, list] = {}
    for row in db.session.execute(
            select(StateChange.check_id, StateChange.at, StateChange.to_state)
            .where(StateChange.check_id.in_(check_ids), StateChange.at >= start, StateChange.at < end)
            .order_by(StateChange.check_id, StateChange.at, StateChange.id)):
        changes.setdefault(row.check_id, []).append((row.at, row.to_state))
    return {cid: state_segments(initial.get(cid), changes.get(cid, []), start, end) for cid in check_ids}


def recent_series(check_ids: list[int], since: dt.datetime) -> dict[int, list]:
    """(time, value, state) per check since `since`, in one query for a whole panel."""
    out: dict[int, list] = {cid: [] for cid in check_ids}
    if not check_ids:
        return out
    for row in db.session.execute(
            select(Result.check_id, Result.collected_at, Result.value, Result.state)
            .where(Result.check_id.in_(check_ids), Result.collected_at >= since)
            .order_by(Result.check_id, Result.collected_at, Result.id)):
        out[row.check_id].append((row.collected_at, row.value, row.state))
    return out

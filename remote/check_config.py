"""Configuring checks: their keys, units, thresholds, intervals and parameters.

Agent checks (cpu, memory, disks, offline) come with the agent; SSH checks are added from the
catalogue (remote.catalogue) by a technician. Overrides of the thresholds are validated against
the catalogue's defaults and sane bounds, parameters by the catalogue itself, and every change
is audited. What the checks say (their states and history) is remote.health's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import User
from core.db import MAX_ID, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db
from inventory.models import Asset
from remote import alerts
from remote.agents import OFFLINE_SEVERITIES
from remote.catalogue import CATALOGUE, validate_params
from remote.judging import METRIC_THRESHOLDS, CheckConfigError, Thresholds
from remote.models import Agent, Check
from remote.state_machine import Observation, apply_result, disable_check

_INVALID = _l("Some fields are not valid.")
# Bounds of threshold overrides, by unit: a typo (950 %) is refused rather than silencing a check.
THRESHOLD_BOUNDS = {"%": (0.0, 100.0), "load/core": (0.0, 1000.0), "h": (0.0, 100_000.0), "ms": (0.0, 600_000.0)}
AGENT_UNITS = {"cpu": "%", "memory": "%", "disk": "%"}
AGENT_METRICS = {"cpu": "cpu_percent", "memory": "memory_percent", "disk": "disk_percent"}


def check_key(source: str, kind: str, params: Mapping) -> str:
    if source == "agent":
        return f"agent:disk:{params.get('mount', '/')}" if kind == "disk" else f"agent:{kind}"
    if kind == "host_key":
        return "ssh:host_key"
    digest = hashlib.sha256(json.dumps(dict(params), sort_keys=True).encode("utf-8")).hexdigest()[:20]
    return f"ssh:{kind}:{digest}"


def default_thresholds(check: Check) -> Thresholds | None:
    if check.source == "agent":
        metric = AGENT_METRICS.get(check.kind)
        return METRIC_THRESHOLDS[metric] if metric else None
    if check.kind in CATALOGUE:
        return CATALOGUE[check.kind].default_thresholds
    return None


def thresholds_for(check: Check) -> Thresholds | None:
    """The defaults with the check's own overrides, each level on its own."""
    base = default_thresholds(check)
    if base is None:
        return None
    if check.warning is None and check.critical is None:
        return base
    return Thresholds(check.warning if check.warning is not None else base.warning,
                                check.critical if check.critical is not None else base.critical,
                                base.higher_is_worse)


def check_unit(source: str, kind: str) -> str:
    if source == "agent":
        return AGENT_UNITS.get(kind, "")
    defn = CATALOGUE.get(kind)
    return (defn.unit or "") if defn else ""


def has_thresholds(source: str, kind: str) -> bool:
    if source == "agent":
        return kind in AGENT_METRICS
    defn = CATALOGUE.get(kind)
    return defn is not None and (defn.default_thresholds.warning is not None
                                 or defn.default_thresholds.critical is not None)


def get_check(asset: Asset, check_id: int) -> Check:
    if not 1 <= check_id <= MAX_ID:
        raise NotFound()
    check = db.session.scalar(select(Check).where(Check.id == check_id, Check.asset_id == asset.id))
    if check is None:
        raise NotFound()
    return check


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
    base = (METRIC_THRESHOLDS[AGENT_METRICS[kind]] if source == "agent"
            else CATALOGUE[kind].default_thresholds)
    try:
        Thresholds(warning if warning is not None else base.warning,
                             critical if critical is not None else base.critical, base.higher_is_worse)
    except CheckConfigError:
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
        return validate_params(kind, {k: v for k, v in (params or {}).items() if v not in (None, "")})
    except CheckConfigError as exc:
        name = exc.field if exc.field in _PARAM_MESSAGES else "kind"
        message = _PARAM_MESSAGES.get(exc.field, _l("Unknown check."))
        raise ValidationFailed(_INVALID, fields={name: message}) from None


def _label(asset: Asset) -> str:
    return f"{asset.tag} · {asset.name}"


def create_ssh_check(asset: Asset, values: Mapping[str, Any], *, actor: User | None) -> Check:
    """An agentless check from the catalogue, validated (params, thresholds, interval)."""
    kind = values.get("kind")
    if kind not in CATALOGUE:
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
        disable_check(check, now)
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

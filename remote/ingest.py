"""Storing what agents send: enrollment and reports, each stored once.

The bodies are validated as hostile input before they get here (remote.agent_protocol); the
body is capped (REMOTE_AGENT_MAX_BODY, 413); values reach the database only as bound
parameters and the pages only through Jinja's escaping.

Reports are idempotent by `report_id` (the unique key of `remote_agent_reports`, claimed in
the same transaction as everything the report changes): a replay after an outage, or the
retry of a report whose 202 was lost, changes nothing. Spooled reports arrive late and,
rarely, out of order: each result joins the series at its `collected_at`, but a report older
than what a check (or the asset's facts) already shows never moves them back in time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from accounts import audit
from core.db import utcnow, write_intent
from core.errors import ValidationFailed
from extensions import db
from inventory import services as inventory
from inventory.models import Asset
from remote import alerts, enrollment_approval
from remote.agent_checks import agent_check as _agent_check
from remote.agent_checks import apply_facts as _apply_facts
from remote.agent_checks import attach_agent
from remote.agent_protocol import (
    AgentBusy,
    AgentRevoked,
    EnrollIn,
    EnrollmentPending,
    EnrollmentRefused,
    InventoryIn,
    MetricsIn,
    ReportAccepted,
    ReportIn,
    ReportTooSoon,
)
from remote.agents import AgentPrincipal, council_for_enrollment_key, new_agent_token, revoke_agent
from remote.check_config import check_key
from remote.judging import METRIC_THRESHOLDS, Thresholds, evaluate_metric, limit_new_disks
from remote.models import Agent, AgentReport, Check, Result
from remote.state_machine import Observation, apply_result

# --- shared helpers -------------------------------------------------------------------------

def _interval() -> int:
    return int(current_app.config["REMOTE_AGENT_REPORT_INTERVAL"])


def _clean_facts(inv: InventoryIn, hostname: str | None = None, os_name: str | None = None) -> dict:
    """The inventory facts the asset keeps, cleaned by the inventory's own rules and cut to its
    column sizes; what the agent does not know (null, blank, invalid) is left out entirely,
    so it never blanks what a technician typed."""
    raw = {"hostname": hostname or inv.hostname, "os": os_name or inv.os, "serial": inv.serial,
           "manufacturer": inv.manufacturer, "model": inv.model, "ip_address": inv.ip_address}
    out = {}
    for name, value in raw.items():
        if value is None or not value.strip():
            continue
        value = value.strip()[: inventory.TEXT_LIMITS[name]]
        try:
            cleaned = inventory.CLEANERS[name](value)
        except inventory.FieldError:
            continue
        if cleaned:
            out[name] = cleaned
    return out


def _facts_hash(facts: dict) -> str:
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode("utf-8")).hexdigest()


# --- enrollment -----------------------------------------------------------------------------

def _guess_kind(body: EnrollIn) -> str:
    text = " ".join(filter(None, (body.os, body.inventory.os, body.inventory.os_name))).lower()
    if "server" in text or body.inventory.os_name in ("Linux", "FreeBSD", "OpenBSD", "NetBSD"):
        # Council Linux machines are the file server, the NAS, the backup box; a Linux desktop
        # is rare enough that a technician can change the kind by hand.
        return "server"
    return "desktop"


def _same_machine(asset: Asset, facts: dict) -> bool:
    serial = facts.get("serial")
    return not (serial and asset.serial and serial.strip().lower() != asset.serial.strip().lower())


def enroll(body: EnrollIn, *, remote_addr: str = "", now: dt.datetime | None = None) -> tuple[Agent, str]:
    """A new agent for a council machine: its asset is found by host name, or created."""
    now = now or utcnow()
    council = council_for_enrollment_key(body.enrollment_key)
    if council is None:
        raise EnrollmentRefused()
    hostname = body.hostname.strip()
    facts = _clean_facts(body.inventory, hostname=hostname, os_name=body.os)
    if "hostname" not in facts:
        raise ValidationFailed(_l("Some fields are not valid."), fields={"hostname": _l("Not a host name.")})
    asset = inventory.find_by_hostname(council.id, facts["hostname"])
    if asset is not None and (asset.status == "retired" or not _same_machine(asset, facts)):
        # A retired asset is gone; another serial number is another machine with the same name.
        asset = None
    matched = asset is not None
    if asset is None:
        values = {"kind": _guess_kind(body), "name": facts["hostname"][:200], "status": "in_use", **facts}
        asset = inventory.create_asset(council, values, actor=None, commit=False)
    interval = _interval()
    agent = Agent(council_id=council.id, asset_id=asset.id, token_hash="", hostname=hostname[:255],
                  os=(body.os or body.inventory.os or "")[:255], version="", report_interval_seconds=interval,
                  previous_interval_seconds=interval, enrolled_at=now, enrolled_from=(remote_addr or "")[:45],
                  facts_collected_at=None, facts_hash="")
    db.session.add(agent)
    db.session.flush()
    token, agent.token_hash = new_agent_token(agent.id)
    if matched and enrollment_approval.alive_agent(asset.id, now) is not None:
        # The machine's agent is alive: a person decides (remote.enrollment_approval).
        enrollment_approval.hold(agent, asset, facts, now)
    else:
        for old in db.session.scalars(select(Agent).where(Agent.asset_id == asset.id, Agent.id != agent.id,
                                                          Agent.revoked_at.is_(None))):
            # The machine was enrolled again (reinstalled, or `enroll --force`) and its old
            # agent is silent: one agent per asset, or two would report the same checks.
            revoke_agent(old, actor=None, commit=False)
        attach_agent(agent, asset, facts, matched=matched)
    audit.record("agent_enroll", object_type="asset", object_id=asset.id, actor=None,
                 label=f"{asset.tag} · {asset.name}", council_id=council.id,
                 changes={"agent": [None, agent.id], "hostname": [None, hostname[:200]]})
    db.session.commit()
    alerts.dispatch_if_pending()
    return agent, token


# --- reports --------------------------------------------------------------------------------

def _observations(metrics: MetricsIn, overrides: dict[str, tuple[float | None, float | None]]) -> dict[str, Observation]:
    """The built-in checks' results, judged with each check's own thresholds where it has any."""
    def judged(key: str, metric: str, value: float | None) -> str:
        warning, critical = overrides.get(key, (None, None))
        override = None
        if warning is not None or critical is not None:
            base = METRIC_THRESHOLDS[metric]
            override = Thresholds(warning if warning is not None else base.warning,
                                            critical if critical is not None else base.critical)
        return evaluate_metric(metric, value, override).value

    cpu = round(metrics.cpu_percent, 1)
    memory = round(metrics.memory_percent, 1)
    out = {
        "agent:cpu": Observation(judged("agent:cpu", "cpu_percent", cpu), cpu, "%", "cpu_use", {"percent": cpu}),
        "agent:memory": Observation(judged("agent:memory", "memory_percent", memory), memory, "%", "memory_use",
                                    {"percent": memory}),
    }
    for disk in metrics.disks:
        key = check_key("agent", "disk", {"mount": disk.mount})
        if key in out:
            continue  # the same mount twice: the first one counts
        if disk.total_bytes <= 0:
            out[key] = Observation("unknown", None, "%", "disk_no_size", {"mount": disk.mount})
            continue
        percent = round(min(100.0, disk.used_bytes * 100.0 / disk.total_bytes), 1)
        out[key] = Observation(judged(key, "disk_percent", percent), percent, "%", "disk_use",
                               {"mount": disk.mount, "used_bytes": disk.used_bytes, "total_bytes": disk.total_bytes,
                                "percent": percent})
    return out


# The hot path's statements, built once with bound parameters: built per report, they cost
# more Python than the database spends running them (measured: 0.4 ms against 0.08 ms each).
_agents = Agent.__table__
_assets = Asset.__table__
_checks = Check.__table__
_CLAIM = AgentReport.__table__.insert().values(
    council_id=bindparam("b_council"), agent_id=bindparam("b_agent"), report_id=bindparam("b_report"),
    collected_at=bindparam("b_collected"), received_at=bindparam("b_received"))
_AGENT_STATE = select(_agents.c.asset_id, _agents.c.revoked_at, _agents.c.facts_hash, _agents.c.facts_collected_at,
                      _agents.c.last_report_at, _agents.c.last_collected_at, _agents.c.spool_dropped,
                      _agents.c.spool_rejected, _agents.c.clock_offset_seconds, _agents.c.report_interval_seconds,
                      _agents.c.version, _agents.c.reports_received, _agents.c.last_fresh_report_at,
                      _agents.c.pending_at).where(_agents.c.id == bindparam("b_agent"))
# Conditional on nothing having changed since the read (see ingest_report); a revocation in
# between also makes it miss, and the next read says so.
_AGENT_UPDATE = (update(_agents).where(_agents.c.id == bindparam("b_agent"),
                                       _agents.c.reports_received == bindparam("b_seen"),
                                       _agents.c.revoked_at.is_(None)).values(
    reports_received=_agents.c.reports_received + 1, previous_interval_seconds=bindparam("b_previous"),
    report_interval_seconds=bindparam("b_interval"), last_report_at=bindparam("b_last_report"),
    last_collected_at=bindparam("b_last_collected"), version=bindparam("b_version"),
    spool_depth=bindparam("b_depth"), spool_dropped=bindparam("b_dropped"), spool_rejected=bindparam("b_rejected"),
    clock_offset_seconds=bindparam("b_offset"), facts_collected_at=bindparam("b_facts_at"),
    facts_hash=bindparam("b_facts_hash"), last_fresh_report_at=bindparam("b_fresh_at")))
_CLAIMED = select(AgentReport.__table__.c.id).where(AgentReport.__table__.c.agent_id == bindparam("b_agent"),
                                                    AgentReport.__table__.c.report_id == bindparam("b_report"))
# `updated_at` kept as it is: it means "a person or the agent changed a fact", and a report
# that only proves the machine is alive must not move it.
_LAST_SEEN = (update(_assets).where(_assets.c.id == bindparam("b_asset"),
                                    or_(_assets.c.last_seen_at.is_(None), _assets.c.last_seen_at < bindparam("b_seen")))
              .values(last_seen_at=bindparam("b_seen"), updated_at=_assets.c.updated_at))
_CHECK_STATE = select(_checks.c.id, _checks.c.key, _checks.c.kind, _checks.c.enabled, _checks.c.state,
                      _checks.c.state_since, _checks.c.last_result_at, _checks.c.warning, _checks.c.critical,
                      _checks.c.summary_key, _checks.c.params).where(
    _checks.c.asset_id == bindparam("b_asset"), _checks.c.source == "agent")
_RESULTS = Result.__table__.insert()
_FAST_UPDATE = (update(_checks).where(_checks.c.id == bindparam("b_id"))
                .values(last_result_at=bindparam("b_at"), last_value=bindparam("b_value"), unit=bindparam("b_unit"),
                        summary_key=bindparam("b_key"), summary_params=bindparam("b_params")))


def prepare_report(report: ReportIn, received: dt.datetime) -> Prepared:
    """What a report is before it meets the database: its times, its id, its facts.

    Both ways of storing a report (one at a time here, in batches by the queue's writer in
    scale.batch) start from this, so they refuse and key reports alike.
    """
    config = current_app.config
    collected = report.collected_at.astimezone(dt.UTC)
    offset = int((collected - received).total_seconds())
    if collected > received + dt.timedelta(seconds=config["REMOTE_AGENT_CLOCK_TOLERANCE_SECONDS"]):
        # The machine's clock runs ahead: its "future" would outrank every real result.
        collected = received
    retention = dt.timedelta(days=config["REMOTE_RESULTS_RETENTION_DAYS"])
    if collected < received - retention:
        raise ValidationFailed(_l("Some fields are not valid."), fields={"collected_at": _l(
            "Older than the %(days)d days of results kept.", days=config["REMOTE_RESULTS_RETENTION_DAYS"])})
    # Without an id, a report is the same report only if its whole content is (two different
    # reports in the same second were answered 202 and the second dropped).
    report_id = report.report_id or "c" + hashlib.sha256(report.model_dump_json().encode()).hexdigest()[:40]
    facts = _clean_facts(report.inventory)
    return Prepared(report, received, collected, offset, _interval(), report_id, facts, _facts_hash(facts))


@dataclasses.dataclass
class Prepared:
    report: ReportIn
    received: dt.datetime
    collected: dt.datetime
    offset: int
    interval: int
    report_id: str
    facts: dict
    digest: str


@dataclasses.dataclass
class Plan:
    """What one report changes, worked out from the agent's and its checks' state: the one
    judgement both the direct path and the batch writer apply."""
    asset_id: int
    agent_values: dict
    facts_news: bool
    results: list
    fast: list
    slow: list
    new: list
    refused_mounts: list


def ingest_report(principal: AgentPrincipal, report: ReportIn, *, now: dt.datetime | None = None) -> ReportAccepted:
    """Store one report: facts, results, states; once per `report_id`.

    Read, then write. The agent's state and its checks are read without a write lock, the
    results and states are worked out, and only then does the write transaction start: on
    SQLite, whose single writer every report of every agent queues for, the lock is held for
    a handful of statements, not for the whole request (on PostgreSQL, which locks rows, the
    read and the writes share one transaction). The agent's row is updated on the
    condition that no other report of it got in between (`reports_received` unchanged);
    otherwise the report is read and judged again. (Only a retry overlapping its own first
    attempt can cause that: an agent sends one report at a time.)

    The hot path speaks SQL Core with statements built once; only what changes a state (a
    first result, a new state, a critical result, a new disk) or a fact takes the ORM's
    richer road (state changes, alerts, audit).
    """
    prepared = prepare_report(report, now or utcnow())
    for _attempt in range(3):
        outcome = _ingest_once(principal, prepared)
        if outcome is not None:
            return outcome
    raise AgentBusy()


def read_agent(conn, agent_id: int):
    return conn.execute(_AGENT_STATE, {"b_agent": agent_id}).first()


def read_state(conn, agent_id: int):
    agent = conn.execute(_AGENT_STATE, {"b_agent": agent_id}).first()
    rows = {r.key: r for r in conn.execute(_CHECK_STATE, {"b_asset": agent.asset_id})} if agent else {}
    return agent, rows


def _ingest_once(principal, prepared: Prepared):
    with write_intent(False):
        conn = db.session.connection()
        agent, rows = read_state(conn, principal.id)
    if agent is None or agent.revoked_at is not None:
        db.session.rollback()
        raise AgentRevoked()
    gate = admit(conn, agent, principal.id, prepared)
    if gate is not None:
        return gate
    plan = judge_report(principal.id, principal.council_id, agent, rows, prepared)
    if conn.dialect.name == "sqlite":
        # The read ends here; the write transaction (BEGIN IMMEDIATE, SQLite's one write lock)
        # starts below. PostgreSQL locks rows, not the database: one transaction will do.
        db.session.commit()

    # --- write ------------------------------------------------------------------------------
    conn = db.session.connection()
    try:
        # The claim comes first, so a duplicate costs one refused insert and a rollback. (Not
        # INSERT ... ON CONFLICT: SQLAlchemy cannot cache that construct, and compiling it
        # again for every report costs more than the rollback of a rare replay.)
        conn.execute(_CLAIM, claim_values(principal.council_id, principal.id, prepared))
    except IntegrityError:
        db.session.rollback()
        return ReportAccepted(status="duplicate", report_interval_seconds=prepared.interval)
    if conn.execute(_AGENT_UPDATE, plan.agent_values).rowcount != 1:
        db.session.rollback()  # another report of this agent got in between: read again
        return None
    conn.execute(_LAST_SEEN, {"b_asset": plan.asset_id, "b_seen": prepared.received})
    apply_rare(principal.id, principal.council_id, plan, prepared)
    if plan.results:
        conn.execute(_RESULTS, plan.results)
    if plan.fast:
        conn.execute(_FAST_UPDATE, plan.fast)
    apply_slow(plan)
    db.session.commit()
    alerts.dispatch_if_pending()
    return ReportAccepted(status="accepted", report_interval_seconds=prepared.interval)


def admit(conn, agent, agent_id: int, prepared: Prepared) -> ReportAccepted | None:
    """The gate a report passes before it is taken, on the direct path and before the queue
    alike: an enrolment awaiting approval is refused (403), a fresh report too soon after the
    last one waits (429 with Retry-After), except the retry of a report already taken, which
    is a duplicate (returned). None: take it."""
    if agent.pending_at is not None:
        db.session.rollback()
        raise EnrollmentPending(prepared.interval)
    wait = _too_soon(_fresh_of(agent, prepared), agent, prepared.received, prepared.collected, prepared.interval)
    if wait <= 0:
        return None
    # Read only here, off the hot path.
    seen = conn.execute(_CLAIMED, {"b_agent": agent_id, "b_report": prepared.report_id}).first()
    db.session.rollback()
    if seen is not None:
        return ReportAccepted(status="duplicate", report_interval_seconds=prepared.interval)
    raise ReportTooSoon(math.ceil(wait))


def _fresh_of(agent, prepared: Prepared) -> bool:
    info = prepared.report.agent
    live = info is not None and (info.spool_depth == 0 or prepared.offset > 0)
    known = agent.clock_offset_seconds if agent.clock_offset_seconds is not None else (
        prepared.offset if live else 0)
    return _is_fresh(prepared.offset, known, prepared.interval)


def claim_values(council_id: int, agent_id: int, prepared: Prepared) -> dict:
    return {"b_council": council_id, "b_agent": agent_id, "b_report": prepared.report_id,
            "b_collected": prepared.collected, "b_received": prepared.received}


def judge_report(agent_id: int, council_id: int, agent, rows: dict, prepared: Prepared) -> Plan:
    """Judge one report against the agent's state, taking no lock and writing nothing."""
    report, received, collected, offset = prepared.report, prepared.received, prepared.collected, prepared.offset
    info = report.agent
    facts_news = False
    facts_at, facts_hash = agent.facts_collected_at, agent.facts_hash
    if facts_at is None or collected >= facts_at:
        facts_at = collected
        if prepared.digest != facts_hash:
            facts_hash, facts_news = prepared.digest, True
    fresh = _fresh_of(agent, prepared)
    live = info is not None and (info.spool_depth == 0 or offset > 0)
    agent_values = {
        "b_agent": agent_id, "b_seen": agent.reports_received, "b_previous": agent.report_interval_seconds,
        "b_interval": prepared.interval,
        "b_last_report": max(received, agent.last_report_at) if agent.last_report_at else received,
        "b_last_collected": max(collected, agent.last_collected_at) if agent.last_collected_at else collected,
        "b_version": (info.version if info is not None and info.version else agent.version),
        "b_depth": info.spool_depth if info is not None else 0,
        "b_dropped": max(agent.spool_dropped, info.spool_dropped if info is not None else 0),
        "b_rejected": max(agent.spool_rejected, info.spool_rejected if info is not None else 0),
        "b_offset": offset if live else agent.clock_offset_seconds,
        "b_facts_at": facts_at, "b_facts_hash": facts_hash,
        "b_fresh_at": received if fresh else agent.last_fresh_report_at}
    observations = _observations(report.metrics, {k: (r.warning, r.critical) for k, r in rows.items()})
    results, fast, slow, new = [], [], [], []
    disk_cap = current_app.config["REMOTE_AGENT_MAX_DISK_CHECKS"]
    for key, obs in observations.items():
        row = rows.get(key)
        if row is None:
            new.append((key, obs))
            continue
        if not row.enabled:
            continue
        results.append(_result_row(council_id, row.id, collected, obs))
        if row.last_result_at is not None and collected < row.last_result_at:
            continue  # late: the series only
        if row.state_since is not None and obs.state == row.state and obs.state != "critical":
            fast.append({"b_id": row.id, "b_at": collected, "b_value": obs.value, "b_unit": obs.unit,
                         "b_key": obs.summary_key, "b_params": obs.summary_params})
        else:
            slow.append((row.id, obs, collected, False))
    new, refused_mounts = limit_new_disks(sum(1 for r in rows.values() if r.kind == "disk"), new, disk_cap)
    for key, row in rows.items():
        if not row.enabled:
            continue
        if row.kind == "offline":
            # Silence is judged on the server's clock (the offline job marks it at its own
            # `now`), so coming back is too: the arrival time, not the agent's collection
            # time, which a lagging clock or a spooled report would put before the detection.
            if row.state != "ok" or row.state_since is None:
                slow.append((row.id, Observation("ok", None, "", "agent_online", {}), received, True))
        elif (row.kind == "disk" and key not in observations and row.summary_key != "disk_not_reported"
              and (row.last_result_at is None or collected >= row.last_result_at)):
            # A disk the agent stopped reporting (unplugged, unmounted): say so once.
            slow.append((row.id, Observation("unknown", None, "%", "disk_not_reported",
                                             {"mount": (row.params or {}).get("mount", "")}), collected, False))
    return Plan(agent.asset_id, agent_values, facts_news, results, fast, slow, new, refused_mounts)


def apply_rare(agent_id: int, council_id: int, plan: Plan, prepared: Prepared) -> None:
    """The ORM's part of a report: facts that changed, disks refused, checks seen first."""
    if plan.facts_news:
        _apply_facts(db.session.get(Asset, plan.asset_id), prepared.facts, agent_id)
    if plan.refused_mounts:
        alerts.too_many_disks(db.session.get(Asset, plan.asset_id), plan.refused_mounts,
                              current_app.config["REMOTE_AGENT_MAX_DISK_CHECKS"])
    if plan.new:
        asset = db.session.get(Asset, plan.asset_id)
        for key, obs in plan.new:
            kind = "disk" if key.startswith("agent:disk:") else key.removeprefix("agent:")
            check = _agent_check(asset, agent_id, kind,
                                 {"mount": obs.summary_params["mount"]} if kind == "disk" else {})
            db.session.flush()
            plan.results.append(_result_row(council_id, check.id, prepared.collected, obs))
            plan.slow.append((check.id, obs, prepared.collected, False))


def apply_slow(plan: Plan) -> None:
    for check_id, obs, at, store in plan.slow:
        apply_result(db.session.get(Check, check_id), obs, at, store=store)


def _is_fresh(offset: int, known_offset: int | None, interval: int) -> bool:
    """A report collected less than half an interval before it arrived (on the server's clock,
    correcting by the agent's known clock offset) is fresh; an older one comes from the spool,
    replayed after an outage, and is never throttled: the agent collects once per interval,
    so a backlog is bounded by time, not by how fast it is sent."""
    age = (known_offset or 0) - offset
    return age < interval / 2


def _too_soon(fresh: bool, agent, received: dt.datetime, collected: dt.datetime, interval: int) -> float:
    """Seconds to wait before this report would be taken (0: take it now).

    A fresh report is judged by arrivals: a quarter of the interval after the last fresh one.
    A spooled one is judged by its place in the series: a replay brings reports collected an
    interval apart, so one that would move the agent's series forward by less than a quarter
    of the interval was not collected by the agent's schedule (a forged "old" report)."""
    quarter = interval / 4
    if fresh:
        if agent.last_fresh_report_at is None:
            return 0
        return min(quarter, quarter - (received - agent.last_fresh_report_at).total_seconds())
    last = agent.last_collected_at
    if last is not None and last < collected < last + dt.timedelta(seconds=quarter):
        return quarter
    return 0


def _result_row(council_id: int, check_id: int, at: dt.datetime, obs: Observation) -> dict:
    return {"council_id": council_id, "check_id": check_id, "collected_at": at, "state": obs.state,
            "value": obs.value, "summary_key": obs.summary_key, "summary_params": obs.summary_params,
            "output": None, "duration_ms": None}

"""The scheduler's jobs for remote checks (and the office-wide ones remote registers).

Plain functions taking `now` or `today`: the scheduler process runs them (remote.scheduler),
`flask scheduler run-job ID` runs one by hand, tests call them with frozen time. Each unit of
work is its own short transaction (`write_transaction`): SQLite has one writer, and the
agents' reports must not queue behind a nightly clean-up.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections import Counter
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, update

from accounts.models import User
from core import mail, notify
from core.db import write_transaction
from core.scope import unrestricted
from extensions import db
from inventory.models import Asset
from remote import alerts, crypto, scheduler
from remote.agents import ALWAYS_ON_KINDS, OFFLINE_SEVERITIES, offline_after
from remote.check_config import thresholds_for
from remote.health import office_timezone
from remote.hostkey_approval import record_offered_key
from remote.judging import CheckSpec
from remote.models import (
    Agent,
    AgentReport,
    Alert,
    AlertEvent,
    Check,
    HostKey,
    JobRun,
    Result,
    Rollup,
    SshSettings,
    StateChange,
)
from remote.rounds import HostJob, HostOutcome, run_round
from remote.ssh_settings import host_key_check, ssh_target
from remote.ssh_transport import ConnectionStatus
from remote.state_machine import Observation, apply_result

log = logging.getLogger("councildesk.remote.jobs")

KIND_HOST_KEY_PENDING = "remote.host_key_pending"
KIND_HOST_KEY_CHANGED = "remote.host_key_changed"


# --- SSH rounds --------------------------------------------------------------------------------

def _due_checks(now: dt.datetime) -> list[Check]:
    return list(db.session.scalars(
        select(Check)
        .join(SshSettings, SshSettings.asset_id == Check.asset_id)
        .join(Asset, Asset.id == Check.asset_id)
        .where(Check.source == "ssh", Check.kind != "host_key", Check.enabled.is_(True),
               SshSettings.enabled.is_(True), Asset.status != "retired",
               or_(Check.next_due_at.is_(None), Check.next_due_at <= now))
        .order_by(Check.asset_id, Check.id)))


def run_ssh_round(now: dt.datetime) -> dict:
    """Run every SSH check that is due, all hosts concurrently (one connection per host).

    The checks are claimed first (their next due time moves on by their interval), so a round
    that takes long never runs a check twice, and a crash costs one interval at most.

    With a broker (scale), the round is handed out instead: one task per host, which runs
    `run_host` on whichever worker takes it.
    """
    app = current_app._get_current_object()
    config = app.config
    with unrestricted():
        db.session.commit()
        with write_transaction():
            due = _due_checks(now)
            default = int(config["REMOTE_SSH_DEFAULT_INTERVAL"])
            for check in due:
                check.next_due_at = now + dt.timedelta(seconds=check.interval_seconds or default)
            hosts = [(asset_id, [c.id for c in group])
                     for asset_id, group in itertools.groupby(due, key=lambda c: c.asset_id)]
        if not due:
            return {"hosts": 0, "checks": 0}
        db.session.commit()
    dispatch = app.extensions.get("councildesk_ssh_dispatch")
    if dispatch is not None:
        dispatch(hosts, now)
        return {"hosts": len(hosts), "checks": len(due), "queued": len(hosts)}
    return _run_hosts(app, hosts, now)


def run_host(asset_id: int, check_ids: list[int], now: dt.datetime, before_store=None) -> int:
    """One host's share of a round (a worker's task): its checks, then its results stored.

    `before_store` runs first inside the transaction that stores the results (the task's
    idempotency key); what it raises aborts the store.
    """
    app = current_app._get_current_object()
    counts = _run_hosts(app, [(asset_id, check_ids)], now, before_store=before_store)
    return int(counts.get("checks", 0))


def _host_jobs(hosts: list[tuple[int, list[int]]]) -> tuple[list[HostJob], list[tuple[int, list[int], str]]]:
    with unrestricted():
        wanted = [i for _a, ids in hosts for i in ids]
        checks = {c.id: c for c in db.session.scalars(select(Check).where(Check.id.in_(wanted)))}
        settings = {s.asset_id: s for s in db.session.scalars(
            select(SshSettings).where(SshSettings.asset_id.in_({a for a, _ids in hosts})))}
        jobs: list[HostJob] = []
        unusable: list[tuple[int, list[int], str]] = []
        for asset_id, ids in hosts:
            group = [checks[i] for i in ids if i in checks]
            if not group or asset_id not in settings:
                continue
            specs = tuple(CheckSpec(c.kind, dict(c.params or {}), thresholds_for(c), ref=str(c.id))
                          for c in group)
            try:
                target = ssh_target(settings[asset_id])
            except (crypto.CryptoNotConfigured, crypto.DecryptionFailed, ValueError) as exc:
                log.error("SSH checks of asset %s cannot run: %s", asset_id, exc)
                unusable.append((asset_id, [c.id for c in group], str(exc)))
                continue
            jobs.append(HostJob(target, specs, ref=str(asset_id)))
        db.session.commit()
    return jobs, unusable


def _run_hosts(app, hosts: list[tuple[int, list[int]]], now: dt.datetime, before_store=None) -> dict:
    config = app.config
    jobs, unusable = _host_jobs(hosts)
    counts: Counter = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def store(_index: int, outcome: HostOutcome) -> None:
        # Called from the pool's threads as each host finishes: results show up while slower
        # hosts are still being waited for. Each thread gets its own app context and session.
        with app.app_context():
            try:
                stored = _store_outcome(outcome) if before_store is None else _store_outcome(outcome, before_store)
            except Exception as exc:  # re-raised below, in the caller's thread (a task's retry)
                if before_store is None:
                    raise
                errors.append(exc)
                return
            finally:
                db.session.remove()
        with lock:
            counts["hosts"] += 1
            counts["checks"] += stored
            counts[outcome.status.value] += 1

    for _asset_id, check_ids, reason in unusable:
        with unrestricted(), write_transaction():
            if before_store is not None:
                before_store()
            for check in db.session.scalars(select(Check).where(Check.id.in_(check_ids))):
                apply_result(check, Observation("unknown", None, check.unit, "not_run",
                                                {"reason": "client_key_error", "detail": reason[:160]}), now)
        counts["client_key_error"] += 1
    alerts.dispatch_if_pending()
    if jobs:
        run_round(jobs, max_workers=int(config["REMOTE_SSH_WORKERS"]),
                  per_endpoint_limit=int(config["REMOTE_SSH_PER_HOST"]), on_outcome=store)
    if errors:
        raise errors[0]
    return dict(counts)


def _host_key_observation(outcome: HostOutcome, settings: SshSettings) -> tuple[Observation | None, str | None]:
    """(what the host key check learnt, the notification it calls for)."""
    connection = outcome.connection
    offered = connection.offered_key if connection is not None else None
    if outcome.status is ConnectionStatus.OK and offered is not None:
        db.session.execute(update(HostKey).where(
            HostKey.asset_id == settings.asset_id, HostKey.fingerprint == offered.fingerprint)
            .values(last_seen_at=outcome.started_at))
        return Observation("ok", None, "", "host_key_ok", {"fingerprint": offered.fingerprint}), None
    if outcome.status is ConnectionStatus.HOST_KEY_PENDING and offered is not None:
        row, new = record_offered_key(settings, offered, changed=False, now=outcome.started_at)
        if row.status == "rejected":
            return Observation("critical", None, "", "host_key_rejected", {"fingerprint": offered.fingerprint}), None
        return (Observation("unknown", None, "", "host_key_pending", {"fingerprint": offered.fingerprint}),
                KIND_HOST_KEY_PENDING if new else None)
    if outcome.status is ConnectionStatus.HOST_KEY_CHANGED and offered is not None:
        row, new = record_offered_key(settings, offered, changed=True, now=outcome.started_at)
        pinned = ", ".join(connection.pinned_fingerprints)
        return (Observation("critical", None, "", "host_key_changed", {"offered": offered.fingerprint, "pinned": pinned}),
                KIND_HOST_KEY_CHANGED if new else None)
    return None, None


def _store_outcome(outcome: HostOutcome, before_store=None) -> int:
    asset_id = int(outcome.ref)
    stored = 0
    with unrestricted():
        with write_transaction():
            if before_store is not None:
                before_store()
            settings = db.session.scalar(select(SshSettings).where(SshSettings.asset_id == asset_id))
            if settings is None:  # removed while the round ran
                return 0
            at = outcome.started_at
            observation, notice = _host_key_observation(outcome, settings)
            if observation is not None:
                check = host_key_check(asset_id)
                if check is not None and check.enabled:
                    # The series of a host key is its changes, not a row per round.
                    news = check.state != observation.state or check.summary_params != observation.summary_params
                    apply_result(check, observation, at, store=news)
            for result in outcome.results:
                check = db.session.get(Check, int(result.ref)) if result.ref else None
                if check is None or not check.enabled:
                    continue
                apply_result(check, Observation.from_check_result(result), at)
                stored += 1
            if notice is not None:
                _notify_admins(notice, settings, outcome)
        alerts.dispatch_if_pending()
    return stored


def _notify_admins(kind: str, settings: SshSettings, outcome: HostOutcome) -> None:
    asset = db.session.get(Asset, settings.asset_id)
    connection = outcome.connection
    params = {"asset_id": asset.id, "asset": asset.name, "tag": asset.tag, "council": asset.council.name,
              "host": settings.host, "port": settings.port,
              "offered": connection.offered_fingerprint if connection else "",
              "pinned": ", ".join(connection.pinned_fingerprints) if connection else ""}
    admins = db.session.scalars(select(User).where(User.role == "admin", User.active.is_(True)).order_by(User.id)).all()
    link = notify.link_for("remote.host_keys")
    # A changed key may be an attack on a council's server: admins hear of it by mail too.
    notify.notify_users(admins, kind, params, link=link, send_mail=kind == KIND_HOST_KEY_CHANGED)


def _pending_title(p: dict) -> str:
    return _("New SSH host key to approve: %(asset)s (%(council)s)", asset=p["asset"], council=p["council"])


def _pending_body(p: dict) -> str:
    return _("%(host)s:%(port)s offered the key %(fingerprint)s. Nothing runs on it until an administrator "
             "approves the key after comparing the fingerprint with the machine's own.",
             host=p["host"], port=p["port"], fingerprint=p["offered"])


def _changed_title(p: dict) -> str:
    return _("SSH host key changed: %(asset)s (%(council)s)", asset=p["asset"], council=p["council"])


def _changed_body(p: dict) -> str:
    return _("%(host)s:%(port)s now offers %(offered)s instead of the pinned %(pinned)s. It may have been "
             "reinstalled, or someone may be impersonating it. No check runs on it until an administrator "
             "compares the new fingerprint with the machine's own and approves it.",
             host=p["host"], port=p["port"], offered=p["offered"], pinned=p["pinned"])


def register_kinds() -> None:
    notify.register_kind(KIND_HOST_KEY_PENDING, _pending_title, _pending_body)
    notify.register_kind(KIND_HOST_KEY_CHANGED, _changed_title, _changed_body)


# --- agents gone silent ------------------------------------------------------------------------

def detect_offline(now: dt.datetime) -> dict:
    """Agents silent for REMOTE_AGENT_OFFLINE_INTERVALS intervals: their offline check goes to
    its severity (critical for servers and network gear, warning for PCs switched off at night,
    as set per check).

    When every agent is silent at once (and there are enough of them to tell), the silence is
    this server's or the network's, not the machines': nothing is marked, so an outage of
    CouncilDesk itself does not open a ticket per council server. Their spooled reports will
    arrive when it is back.
    """
    config = current_app.config
    with unrestricted():
        db.session.commit()
        agents = db.session.execute(
            select(Agent.id, Agent.last_report_at, Agent.enrolled_at, Agent.report_interval_seconds,
                   Agent.previous_interval_seconds)
            .join(Asset, Asset.id == Agent.asset_id)
            .where(Agent.revoked_at.is_(None), Asset.status != "retired")).all()
        db.session.commit()
        silent = [a for a in agents if now - (a.last_report_at or a.enrolled_at) > offline_after(a)]
        if not silent:
            return {"agents": len(agents), "silent": 0}
        if len(silent) == len(agents) and len(agents) >= config["REMOTE_OFFLINE_SUPPRESS_MIN_AGENTS"]:
            log.warning("all %d agents are silent: assuming a server or network outage, marking none offline",
                        len(agents))
            return {"agents": len(agents), "silent": len(silent), "suppressed": len(silent)}
        marked = 0
        for row in silent:
            with write_transaction():
                agent = db.session.scalar(select(Agent).where(Agent.id == row.id).with_for_update())
                if agent is None or agent.revoked_at is not None:
                    continue
                since = agent.last_report_at or agent.enrolled_at
                if now - since <= offline_after(agent):
                    continue  # reported meanwhile
                check = db.session.scalar(select(Check).where(Check.asset_id == agent.asset_id,
                                                              Check.key == "agent:offline"))
                if check is None or not check.enabled:
                    continue
                severity = (check.params or {}).get("severity")
                if severity not in OFFLINE_SEVERITIES:
                    severity = "critical" if agent.asset.kind in ALWAYS_ON_KINDS else "warning"
                if check.state == severity and check.summary_key == "agent_offline":
                    continue
                apply_result(check, Observation(severity, None, "", "agent_offline",
                                                {"since": since.isoformat()}), max(now, since))
                marked += 1
        alerts.dispatch_if_pending()
    return {"agents": len(agents), "silent": len(silent), "marked": marked}


# --- alert events, mail, reminders -------------------------------------------------------------

def dispatch_alert_events(now: dt.datetime) -> dict:
    return {"delivered": alerts.dispatch_pending(now)}


def send_mail() -> dict:
    return {"sent": mail.send_pending()}


def send_expiry_reminders(today: dt.date) -> dict:
    from inventory.jobs import send_expiry_reminders as send

    return {"reminders": send(today)}


# --- daily roll-ups ----------------------------------------------------------------------------

def _day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)
    return start, end


def _minutes(seconds: dict[str, float]) -> dict[str, int]:
    """Whole minutes per state that add up to the rounded total (largest remainders first)."""
    total = round(sum(seconds.values()) / 60)
    floors = {s: int(v // 60) for s, v in seconds.items()}
    left = total - sum(floors.values())
    for state in sorted(seconds, key=lambda s: (seconds[s] / 60) - floors[s], reverse=True)[:max(0, left)]:
        floors[state] += 1
    return floors


def rollup_day(day: dt.date, tz: ZoneInfo | None = None) -> int:
    """(Re)compute every check's roll-up of one day; returns how many rows it wrote."""
    tz = tz or office_timezone()
    start, end = _day_bounds(day, tz)
    values = {r.check_id: r for r in db.session.execute(
        select(Result.check_id, func.count().label("samples"), func.min(Result.value).label("vmin"),
               func.avg(Result.value).label("vavg"), func.max(Result.value).label("vmax"))
        .where(Result.collected_at >= start, Result.collected_at < end).group_by(Result.check_id))}
    changes = db.session.execute(
        select(StateChange.check_id, StateChange.at, StateChange.to_state)
        .where(StateChange.at >= start, StateChange.at < end)
        .order_by(StateChange.check_id, StateChange.at, StateChange.id)).all()
    ranked = select(StateChange.check_id, StateChange.to_state,
                    func.row_number().over(partition_by=StateChange.check_id,
                                           order_by=(StateChange.at.desc(), StateChange.id.desc())).label("rn")
                    ).where(StateChange.at < start).subquery()
    before = dict(db.session.execute(select(ranked.c.check_id, ranked.c.to_state).where(ranked.c.rn == 1)).all())
    ids = set(values) | {c.check_id for c in changes} | set(before)
    if not ids:
        db.session.execute(delete(Rollup).where(Rollup.day == day))
        return 0
    owners = {r.id: r for r in db.session.execute(select(Check.id, Check.council_id, Check.asset_id)
                                                  .where(Check.id.in_(ids)))}
    by_check: dict[int, list] = {}
    for change in changes:
        by_check.setdefault(change.check_id, []).append(change)
    rows = []
    for check_id, owner in owners.items():
        seconds = dict.fromkeys(("ok", "warning", "critical", "unknown"), 0.0)
        state = before.get(check_id)
        since = start
        for change in by_check.get(check_id, []):
            if state is not None:
                seconds[state] += (change.at - since).total_seconds()
            state, since = change.to_state, change.at
        if state is not None:
            seconds[state] += (end - since).total_seconds()
        minutes = _minutes(seconds)
        v = values.get(check_id)
        rows.append({"council_id": owner.council_id, "check_id": check_id, "asset_id": owner.asset_id, "day": day,
                     "samples": v.samples if v else 0, "value_min": v.vmin if v else None,
                     "value_avg": float(v.vavg) if v and v.vavg is not None else None,
                     "value_max": v.vmax if v else None, "minutes_ok": minutes["ok"],
                     "minutes_warning": minutes["warning"], "minutes_critical": minutes["critical"],
                     "minutes_unknown": minutes["unknown"]})
    db.session.execute(delete(Rollup).where(Rollup.day == day))
    if rows:
        db.session.execute(Rollup.__table__.insert(), rows)
    return len(rows)


def compute_rollups(today: dt.date) -> dict:
    """Yesterday's roll-ups, and those of the days before that late reports may still change."""
    days = int(current_app.config["REMOTE_ROLLUP_RECOMPUTE_DAYS"])
    tz = office_timezone()
    written = 0
    with unrestricted():
        for back in range(days, 0, -1):
            with write_transaction():
                written += rollup_day(today - dt.timedelta(days=back), tz)
    return {"days": days, "rows": written}


# --- retention ---------------------------------------------------------------------------------

def purge_before(model, column, cutoff: dt.datetime, batch: int = 5000) -> int:
    """Delete old rows in batches: short transactions, so SQLite's single writer (the agents'
    reports) never waits long behind the nightly clean-up."""
    total = 0
    while True:
        with write_transaction():
            ids = select(model.id).where(column < cutoff).limit(batch)
            deleted = db.session.execute(delete(model).where(model.id.in_(ids))).rowcount or 0
        total += deleted
        if deleted < batch:
            return total


def purge_old_data(now: dt.datetime) -> dict:
    config = current_app.config
    raw = now - dt.timedelta(days=config["REMOTE_RESULTS_RETENTION_DAYS"])
    changes = now - dt.timedelta(days=config["REMOTE_STATE_CHANGES_RETENTION_DAYS"])
    runs = now - dt.timedelta(days=config["SCHEDULER_RUNS_RETENTION_DAYS"])
    out = {}
    with unrestricted():
        out["results"] = purge_before(Result, Result.collected_at, raw)
        out["reports"] = purge_before(AgentReport, AgentReport.collected_at, raw)
        out["job_runs"] = purge_before(JobRun, JobRun.scheduled_at, runs)
        with write_transaction():
            # Each check keeps its latest change whatever its age: the roll-ups need the state
            # a day started in.
            latest = select(func.max(StateChange.id)).group_by(StateChange.check_id)
            out["state_changes"] = db.session.execute(delete(StateChange).where(
                StateChange.at < changes, StateChange.id.not_in(latest))).rowcount or 0
            out["alerts"] = db.session.execute(delete(Alert).where(
                Alert.closed_at.is_not(None), Alert.closed_at < changes)).rowcount or 0
            out["alert_events"] = db.session.execute(delete(AlertEvent).where(
                AlertEvent.dispatched_at.is_not(None), AlertEvent.dispatched_at < runs)).rowcount or 0
    return out


# --- the registry ------------------------------------------------------------------------------

def register_jobs() -> None:
    """Remote's jobs, and the office-wide ones nobody else runs: mail and expiry reminders.

    Numbers (see remote.scheduler's docstring): every job coalesces, never misfires and runs
    one instance at a time. The daily ones catch up after downtime (within a day for the
    reminders, a week for the roll-ups and the clean-up, which are idempotent).
    """
    tz = lambda config: config["OFFICE_TIMEZONE"]  # noqa: E731
    scheduler.register_job("remote.ssh_round", run_ssh_round,
                           lambda c: scheduler.interval(c["REMOTE_SSH_ROUND_SECONDS"]),
                           description="SSH checks that are due")
    scheduler.register_job("remote.offline", detect_offline, lambda c: scheduler.interval(60),
                           description="Agents gone silent")
    scheduler.register_job("remote.alert_events", dispatch_alert_events, lambda c: scheduler.interval(60),
                           description="Alert events the handlers have not taken yet")
    scheduler.register_job("core.mail_outbox", send_mail, lambda c: scheduler.interval(60),
                           description="Queued mail")
    scheduler.register_job("inventory.expiry_reminders", send_expiry_reminders,
                           lambda c: scheduler.daily(7, 30, tz(c)), catch_up=dt.timedelta(hours=24),
                           description="Expiry reminders (certificates, licences, domains, warranties)")
    scheduler.register_job("remote.rollups", compute_rollups, lambda c: scheduler.daily(0, 20, tz(c)),
                           catch_up=dt.timedelta(days=7), description="Daily roll-ups of check results")
    scheduler.register_job("remote.retention", purge_old_data, lambda c: scheduler.daily(3, 40, tz(c)),
                           catch_up=dt.timedelta(days=7), description="Old results, reports and runs")


"""Demo health: agents on the Bages councils' PCs and servers, SSH checks on their NAS, and a
few days of history, with some warnings and one critical disk (which opens an alert).

Everything comes from `ctx.rng` and `ctx.today`, so the same seed and day give the same
history. Agents are created as rows (their tokens are never known: a demo agent cannot
report), and the history is written in bulk, except each check's newest result, which goes
through the real state machine so that states, state changes and the alert are genuine.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from flask import current_app
from sqlalchemy import func, select

from core.db import utcnow, write_transaction
from core.demo import DemoContext
from core.scope import unrestricted
from extensions import db
from inventory.models import Asset
from remote import agents, alerts, catalogue, check_config, crypto, health, jobs, judging, ssh_settings
from remote.models import Agent, Check, HostKey, Result, SshSettings, StateChange
from remote.state_machine import Observation, apply_result

DAYS = 3
RECENT_STEP = dt.timedelta(minutes=20)  # the last day, as the charts show it
OLDER_STEP = dt.timedelta(hours=2)  # the days before (roll-ups only need the shape)


def _end(ctx: DemoContext) -> dt.datetime:
    now = utcnow()
    tz = health.office_timezone()
    if now.astimezone(tz).date() == ctx.today:
        return now.replace(minute=(now.minute // 20) * 20, second=0, microsecond=0)
    return dt.datetime.combine(ctx.today, dt.time(12, 0), tz).astimezone(dt.UTC)


def _times(end: dt.datetime) -> list[dt.datetime]:
    out, t = [], end - dt.timedelta(days=DAYS)
    while t <= end:
        out.append(t)
        t += RECENT_STEP if end - t <= dt.timedelta(days=1) else OLDER_STEP
    return out


def _office_hours(t: dt.datetime) -> float:
    local = t.astimezone(health.office_timezone())
    return 1.0 if local.weekday() < 5 and 8 <= local.hour < 15 else 0.0


def _cpu(ctx, base, t):
    return round(min(100.0, max(0.5, base * (0.4 + _office_hours(t)) + ctx.rng.gauss(0, 3))), 1)


def _around(ctx, level, spread=1.5):
    return round(min(100.0, max(1.0, level + ctx.rng.gauss(0, spread))), 1)


def _public_key_line(ctx: DemoContext) -> str:
    seed = bytes(ctx.rng.getrandbits(8) for _ in range(32))
    public = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


class _History:
    """Results of many checks, written in bulk, with their state changes."""

    def __init__(self):
        self.results: list[dict] = []
        self.changes: list[dict] = []
        self.last: dict[int, tuple] = {}

    def add(self, check: Check, samples: list[tuple[dt.datetime, Observation]]) -> None:
        previous, since = None, None
        for at, obs in samples[:-1]:
            self.results.append({"council_id": check.council_id, "check_id": check.id, "collected_at": at,
                                 "state": obs.state, "value": obs.value, "summary_key": obs.summary_key,
                                 "summary_params": obs.summary_params, "output": None,
                                 "duration_ms": obs.duration_ms})
            if obs.state != previous:
                self.changes.append({"council_id": check.council_id, "check_id": check.id,
                                     "asset_id": check.asset_id, "from_state": previous, "to_state": obs.state,
                                     "at": at, "summary_key": obs.summary_key, "summary_params": obs.summary_params})
                since = at
            previous = obs.state
        if len(samples) > 1:
            at, obs = samples[-2]
            check.state, check.state_since, check.last_result_at, check.last_value = obs.state, since, at, obs.value
            check.summary_key, check.summary_params = obs.summary_key, obs.summary_params
        self.last[check.id] = samples[-1]

    def flush(self, checks: dict[int, Check]) -> None:
        if self.results:
            db.session.execute(Result.__table__.insert(), self.results)
        if self.changes:
            db.session.execute(StateChange.__table__.insert(), self.changes)
        for check_id, (at, obs) in self.last.items():
            apply_result(checks[check_id], obs, at)


def _metric(check: Check, value: float, extra: dict | None = None) -> Observation:
    metric = check_config.AGENT_METRICS[check.kind]
    state = judging.evaluate_metric(metric, value).value
    key = {"cpu": "cpu_use", "memory": "memory_use", "disk": "disk_use"}[check.kind]
    return Observation(state, value, "%", key, {"percent": value, **(extra or {})})


def _agent(asset: Asset, interval: int, enrolled: dt.datetime, windows: bool) -> tuple[Agent, list[Check]]:
    _token, digest = agents.new_agent_token(0)
    agent = Agent(council_id=asset.council_id, asset_id=asset.id, token_hash=digest, hostname=asset.hostname.lower(),
                  os=asset.os, version="1.0.0", report_interval_seconds=interval, previous_interval_seconds=interval,
                  enrolled_at=enrolled, enrolled_from="192.168.1.10", facts_hash="")
    db.session.add(agent)
    db.session.flush()
    mounts = ["C:\\"] if windows else ["/"]
    if asset.kind == "server":
        mounts.append("D:\\" if windows else "/srv")
    checks = []
    for kind, params in (("cpu", {}), ("memory", {}), *(("disk", {"mount": m}) for m in mounts),
                         ("offline", {"severity": "critical" if asset.kind == "server" else "warning"})):
        check = Check(council_id=asset.council_id, asset_id=asset.id, agent_id=agent.id, source="agent", kind=kind,
                      key=check_config.check_key("agent", kind, params), params=params, enabled=True,
                      unit=check_config.check_unit("agent", kind), summary_params={})
        db.session.add(check)
        checks.append(check)
    db.session.flush()
    return agent, checks


def seed(ctx: DemoContext) -> None:
    with unrestricted():
        if db.session.scalar(select(func.count()).select_from(Agent)):
            return  # already seeded
        end = _end(ctx)
        times = _times(end)
        interval = int(current_app.config["REMOTE_AGENT_REPORT_INTERVAL"])
        history = _History()
        all_checks: dict[int, Check] = {}
        agents = ssh_hosts = 0
        largest = max(ctx.councils, key=lambda c: c.population)
        warnings_left = 3
        offline_done = False
        keys_ok = crypto.configured()
        for council in ctx.councils:
            assets = db.session.scalars(select(Asset).where(
                Asset.council_id == council.id, Asset.status == "in_use",
                Asset.kind.in_(("desktop", "laptop", "server"))).order_by(Asset.tag)).all()
            picked = ([a for a in assets if a.kind == "server" and "NAS" not in a.hostname.upper()]
                      + [a for a in assets if a.kind == "desktop"][:2] + [a for a in assets if a.kind == "laptop"][:1])
            for asset in picked:
                windows = "windows" in asset.os.lower()
                agent, checks = _agent(asset, interval, end - dt.timedelta(days=DAYS + ctx.rng.randint(5, 200)),
                                       windows)
                agents += 1
                silent_from = None
                if not offline_done and asset.kind == "desktop" and council.population < 1000:
                    # A PC left switched off since the day before yesterday.
                    silent_from = end - dt.timedelta(days=2, hours=ctx.rng.randint(1, 5))
                    offline_done = True
                seen = [t for t in times if silent_from is None or t < silent_from]
                cpu_base = ctx.rng.uniform(4, 30 if asset.kind == "server" else 22)
                mem_level = ctx.rng.uniform(35, 72)
                for check in checks:
                    all_checks[check.id] = check
                    if check.kind == "offline":
                        continue
                    if check.kind == "cpu":
                        samples = [(t, _metric(check, _cpu(ctx, cpu_base, t))) for t in seen]
                    elif check.kind == "memory":
                        level = 87.0 if warnings_left == 1 and asset.kind == "server" else mem_level
                        if level == 87.0:
                            warnings_left -= 1
                        samples = [(t, _metric(check, _around(ctx, level))) for t in seen]
                    else:
                        mount = check.params["mount"]
                        start = ctx.rng.uniform(25, 70)
                        target = start + ctx.rng.uniform(0, 3)
                        if council.id == largest.id and asset.kind == "server" and mount in ("D:\\", "/srv"):
                            start, target = 88.5, 93.4  # the critical one: the file share is filling up
                        elif warnings_left > 1 and ctx.rng.random() < 0.15:
                            start, target = 81.0, ctx.rng.uniform(83, 88)
                            warnings_left -= 1
                        total = 256 * 2**30 if asset.kind != "server" else 2 * 2**40
                        samples = []
                        for i, t in enumerate(seen):
                            percent = round(start + (target - start) * i / max(1, len(seen) - 1)
                                            + ctx.rng.gauss(0, 0.15), 1)
                            samples.append((t, _metric(check, percent, {
                                "mount": mount, "total_bytes": total, "used_bytes": int(total * percent / 100)})))
                    if samples:
                        history.add(check, samples)
                last = seen[-1] if seen else agent.enrolled_at
                agent.last_report_at = agent.last_collected_at = agent.facts_collected_at = last
                agent.reports_received = len(seen)
                asset.last_seen_at = last
                offline = next(c for c in checks if c.kind == "offline")
                history.last[offline.id] = (seen[0] if seen else last, Observation("ok", None, "", "agent_online", {}))
                if silent_from is not None:
                    history.changes.append({"council_id": offline.council_id, "check_id": offline.id,
                                            "asset_id": offline.asset_id, "from_state": None, "to_state": "ok",
                                            "at": seen[0], "summary_key": "agent_online", "summary_params": {}})
                    offline.state, offline.state_since, offline.last_result_at = "ok", seen[0], seen[0]
                    history.last[offline.id] = (last + dt.timedelta(seconds=interval * 3 + 60), Observation(
                        "warning", None, "", "agent_offline", {"since": last.isoformat()}))
            for nas in (a for a in assets if a.kind == "server" and "NAS" in a.hostname.upper()):
                ssh_hosts += 1
                _ssh_host(ctx, nas, end, times, history, all_checks, approved=ssh_hosts != 2, keys_ok=keys_ok)
        db.session.flush()
        history.flush(all_checks)
        db.session.commit()
        # The open alert's event goes to its handlers now, as the scheduler would within a
        # minute: the demo shows the monitoring ticket it opened.
        alerts.dispatch_pending()
        today = end.astimezone(health.office_timezone()).date()
        for back in range(DAYS, 0, -1):
            with write_transaction():
                jobs.rollup_day(today - dt.timedelta(days=back))
    ctx.notes.append(f"Health: {agents} agents and {ssh_hosts} SSH hosts with {DAYS} days of history"
                     + ("" if keys_ok else " (SSH keys not stored: SSH_KEY_ENCRYPTION_KEYS is not set)") + ".")


def _ssh_host(ctx, nas: Asset, end, times, history, all_checks, *, approved: bool, keys_ok: bool) -> None:
    settings = SshSettings(council_id=nas.council_id, asset_id=nas.id, host=nas.ip_address or nas.hostname,
                           port=22, username="councildesk", enabled=True)
    db.session.add(settings)
    if keys_ok:
        ssh_settings.generate_key(settings)
    db.session.flush()
    host_key = ssh_settings.ensure_host_key_check(nas, enabled=True)
    line = _public_key_line(ctx)
    from remote.hostkeys import HostKey as SshHostKey

    offered = SshHostKey.from_openssh(line)
    first_seen = end - dt.timedelta(days=DAYS)
    db.session.add(HostKey(council_id=nas.council_id, asset_id=nas.id, key_type=offered.key_type,
                           key_base64=offered.key_base64, fingerprint=offered.fingerprint,
                           status="approved" if approved else "pending", host=settings.host, port=22,
                           first_seen_at=first_seen, last_seen_at=end, decided_at=first_seen if approved else None))
    checks = []
    for kind, params in (("disk", {"mount": "/volume1"}), ("backup_freshness", {"path": "/volume1/backups"}),
                         ("reachability", {})):
        check = Check(council_id=nas.council_id, asset_id=nas.id, source="ssh", kind=kind,
                      key=check_config.check_key("ssh", kind, params), params=params, enabled=True,
                      interval_seconds=900, next_due_at=end + dt.timedelta(minutes=15),
                      unit=check_config.check_unit("ssh", kind), summary_params={})
        db.session.add(check)
        checks.append(check)
    db.session.flush()
    all_checks[host_key.id] = host_key
    fingerprint = {"fingerprint": offered.fingerprint}
    history.last[host_key.id] = (end, Observation("ok", None, "", "host_key_ok", fingerprint) if approved
                                 else Observation("unknown", None, "", "host_key_pending", fingerprint))
    stale_backup = ctx.rng.random() < 0.5
    for check in checks:
        all_checks[check.id] = check
        samples = []
        for t in times:
            if check.kind == "reachability":
                latency = round(ctx.rng.uniform(2, 9), 1)
                samples.append((t, Observation(judging.evaluate(latency, catalogue.CATALOGUE["reachability"]
                                                                  .default_thresholds).value, latency, "ms",
                                               "reachable", {"latency_ms": latency, "banner": "SSH-2.0-OpenSSH_8.2"})))
            elif not approved:
                samples.append((t, Observation("unknown", None, check.unit, "not_run",
                                               {"reason": "host_key_pending", "detail": ""})))
            elif check.kind == "disk":
                percent = round(ctx.rng.uniform(55, 58), 1)
                samples.append((t, Observation("ok", percent, "%", "disk_use", {"mount": "/volume1", "percent": percent})))
            else:
                # Nightly backups at 01:00 local: the age grows through the day; one NAS missed a night.
                local = t.astimezone(health.office_timezone())
                hours = local.hour + local.minute / 60 + (23.0 if local.hour < 1 else -1.0)
                hours = max(0.2, hours + (24.0 if stale_backup and t > end - dt.timedelta(hours=30) else 0.0))
                hours = round(hours, 2)
                state = judging.evaluate(hours, catalogue.CATALOGUE["backup_freshness"].default_thresholds).value
                samples.append((t, Observation(state, hours, "h", "backup_age",
                                               {"path": "/volume1/backups", "age_hours": hours})))
        history.add(check, samples)

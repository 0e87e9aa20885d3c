"""What the checks say: an asset's checks worst first, the overview, and the history.

Reads only: the health overview per council (`council_health`, `state_counts`), an asset's
checks with problems first (`checks_of`), and a check's history (results, state changes,
series and state timelines for the charts), in the office's time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, func, or_, select

from extensions import db
from inventory.models import Asset
from remote import heartbeat
from remote.models import Agent, Check, Result, StateChange


def office_timezone() -> ZoneInfo:
    return ZoneInfo(current_app.config["OFFICE_TIMEZONE"])


# --- an asset's checks and their history ----------------------------------------------------

STATE_ORDER = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}


def checks_of(asset: Asset, *, enabled_only: bool = False) -> list[Check]:
    stmt = select(Check).where(Check.asset_id == asset.id)
    if enabled_only:
        stmt = stmt.where(Check.enabled.is_(True))
    rows = list(db.session.scalars(stmt.order_by(Check.id)))
    # Problems first, then agent checks before SSH ones, each in a stable order.
    rows.sort(key=lambda c: (not c.enabled, STATE_ORDER.get(c.state, 9), c.source, c.kind, c.key))
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
        rows.sort(key=lambda c: (STATE_ORDER.get(heartbeat.shown_state(c), 9), c.source, c.kind, c.key))
        worst = heartbeat.shown_state(rows[0]) if rows else "unknown"
        if problems_only and worst == "ok":
            continue
        out.append(AssetHealth(assets[asset_id], rows, agents.get(asset_id), worst))
    out.sort(key=lambda h: (STATE_ORDER.get(h.worst, 9), h.asset.council.name, h.asset.tag))
    return out


def state_counts(council_id: int | None = None) -> dict[str, int]:
    state = Check.state
    if heartbeat.status().stale:
        state = case((or_(Check.key.in_(heartbeat.SCHEDULER_JUDGED_KEYS),
                          Check.source.in_(heartbeat.SCHEDULER_JUDGED_SOURCES)), "unknown"), else_=Check.state)
    stmt = select(state, func.count()).join(Asset, Asset.id == Check.asset_id).where(
        Check.enabled.is_(True), Asset.status != "retired")
    if council_id is not None:
        stmt = stmt.where(Check.council_id == council_id)
    counts = dict.fromkeys(("ok", "warning", "critical", "unknown"), 0)
    for name, count in db.session.execute(stmt.group_by(state)).all():
        counts[name] = counts.get(name, 0) + count
    return counts


# --- charts --------------------------------------------------------------------------------

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

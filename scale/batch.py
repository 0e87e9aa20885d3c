"""The report writer: agent reports from the queue, many per transaction.

Same rules as the direct path, another way of storing. Each report is prepared
(`prepare_report`) and judged (`judge_report`) by remote.ingest's own functions; what
differs is that a batch (about SCALE_REPORT_BATCH reports, or what came within
SCALE_REPORT_WAIT seconds; a message may carry several reports, see scale.broker) is read with one query per table, claimed with one multi-row
INSERT ... ON CONFLICT DO NOTHING (the `report_id` key dedupes replays exactly as on the direct
path) and written with executemany / multi-row statements and ONE commit. Messages are
acknowledged after that commit: a writer that dies before it leaves them to another one, and
the claim key makes a report that was committed twice a no-op.

A batch that fails as a whole (a conflict the batch cannot settle) is rolled back and written
report by report through `ingest_report`; a report that fails alone lands in the dead letters
and is acknowledged, so one bad report never blocks the queue.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from kombu import Connection, Consumer
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from core.db import write_transaction
from core.scope import unrestricted
from extensions import db
from remote import alerts
from remote import ingest as direct
from remote.agent_protocol import ReportIn
from remote.agents import AgentPrincipal
from remote.models import Agent, AgentReport, Check
from scale.broker import envelope_reports, reports_queue

log = logging.getLogger("councildesk.scale.batch")

_agents = Agent.__table__
_checks = Check.__table__
_AGENTS = select(_agents.c.id, *direct._AGENT_STATE.selected_columns).where(_agents.c.id.in_(bindparam("ids", expanding=True)))
_CHECKS = select(_checks.c.asset_id, *direct._CHECK_STATE.selected_columns).where(
    _checks.c.asset_id.in_(bindparam("assets", expanding=True)), _checks.c.source == "agent")


@dataclass
class Queued:
    principal: AgentPrincipal
    report: ReportIn
    received: dt.datetime


def parse_message(body: dict) -> Queued:
    principal = AgentPrincipal(id=int(body["agent"]), council_id=int(body["council"]), asset_id=int(body["asset"]),
                               report_interval_seconds=int(body["interval"]),
                               previous_interval_seconds=int(body["previous"]))
    received = dt.datetime.fromisoformat(body["received"])
    return Queued(principal, ReportIn.model_validate_json(body["report"]), received)


def _waves(items: list[Queued]) -> list[list[Queued]]:
    """Split so that each agent appears at most once per wave (its reports in arrival order):
    a wave's agents are read once, and each report sees the one before it of its agent."""
    waves: list[list[Queued]] = []
    seen: dict[int, int] = {}
    for item in items:
        n = seen.get(item.principal.id, 0)
        seen[item.principal.id] = n + 1
        if n == len(waves):
            waves.append([])
        waves[n].append(item)
    return waves


class BatchConflict(Exception):
    """An agent's row changed under the batch: written report by report instead."""


def write_batch(items: list[Queued]) -> dict:
    """Write reports in one transaction; returns counts (accepted, duplicate, dropped)."""
    counts = {"accepted": 0, "duplicate": 0, "dropped": 0}
    if not items:
        return counts
    with unrestricted():
        try:
            with write_transaction():
                for wave in _waves(items):
                    _write_wave(wave, counts)
        except Exception:
            log.warning("batch of %d reports failed as a whole; writing them one by one", len(items), exc_info=True)
            db.session.rollback()
            return write_one_by_one(items)
        alerts.dispatch_if_pending()
    return counts


def _write_wave(wave: list[Queued], counts: dict) -> None:
    conn = db.session.connection()
    postgres = conn.dialect.name == "postgresql"
    ids = sorted({q.principal.id for q in wave})
    stmt = _AGENTS.with_for_update() if postgres else _AGENTS  # SQLite: the batch holds the one write lock
    agents = {r.id: r for r in conn.execute(stmt, {"ids": ids})}
    assets = sorted({a.asset_id for a in agents.values()})
    checks: dict[int, dict] = {}
    for row in conn.execute(_CHECKS, {"assets": assets}) if assets else ():
        checks.setdefault(row.asset_id, {})[row.key] = row
    planned = []
    for q in wave:
        agent = agents.get(q.principal.id)
        if agent is None or agent.revoked_at is not None:
            counts["dropped"] += 1  # revoked after it was accepted: as the direct path, not stored
            continue
        try:
            prepared = direct.prepare_report(q.report, q.received)
        except Exception:
            counts["dropped"] += 1
            log.warning("report of agent %s refused at writing", q.principal.id, exc_info=True)
            continue
        plan = direct.judge_report(q.principal.id, q.principal.council_id, agent, checks.get(agent.asset_id, {}), prepared)
        planned.append((q, prepared, plan))
    if not planned:
        return
    insert = postgresql.insert if postgres else sqlite.insert
    claimed = {(r.agent_id, r.report_id) for r in conn.execute(
        insert(AgentReport.__table__).values([
            {"council_id": q.principal.council_id, "agent_id": q.principal.id, "report_id": p.report_id,
             "collected_at": p.collected, "received_at": p.received} for q, p, _plan in planned])
        .on_conflict_do_nothing(index_elements=["agent_id", "report_id"])
        .returning(AgentReport.agent_id, AgentReport.report_id))}
    fresh = [(q, p, plan) for q, p, plan in planned if (q.principal.id, p.report_id) in claimed]
    counts["duplicate"] += len(planned) - len(fresh)
    if not fresh:
        return
    result = conn.execute(direct._AGENT_UPDATE, [plan.agent_values for _q, _p, plan in fresh])
    if result.rowcount not in (-1, len(fresh)):
        raise BatchConflict(f"{result.rowcount} of {len(fresh)} agents updated")
    conn.execute(direct._LAST_SEEN, sorted(({"b_asset": plan.asset_id, "b_seen": p.received}
                                            for _q, p, plan in fresh), key=lambda v: v["b_asset"]))
    results, fast = [], []
    for q, p, plan in fresh:
        direct.apply_rare(q.principal.id, q.principal.council_id, plan, p)
        results.extend(plan.results)
        fast.extend(plan.fast)
    if results:
        conn.execute(direct._RESULTS, results)
    if fast:
        conn.execute(direct._FAST_UPDATE, fast)
    for _q, _p, plan in fresh:
        direct.apply_slow(plan)
    db.session.flush()
    # The next wave reads with Core what this one wrote with Core: no ORM object may keep an
    # older copy of a check.
    db.session.expire_all()
    counts["accepted"] += len(fresh)


def write_one_by_one(items: list[Queued]) -> dict:
    from scale.services import record_dead_letter

    counts = {"accepted": 0, "duplicate": 0, "dropped": 0}
    for q in items:
        try:
            with unrestricted():
                outcome = direct.ingest_report(q.principal, q.report, now=q.received)
            counts[outcome.status] += 1
        except OperationalError:
            db.session.rollback()
            raise  # the database is away: the batch stays unacknowledged and comes back
        except Exception as exc:
            db.session.rollback()
            counts["dropped"] += 1
            log.exception("report of agent %s cannot be written", q.principal.id)
            # The whole report is kept, so that an administrator can replay it once fixed.
            record_dead_letter("scale.agent_report", "", {"agent": q.principal.id, "received": q.received.isoformat(),
                                                          "report": q.report.model_dump_json()},
                               f"{type(exc).__name__}: {exc}")
    return counts


# --- the consumer ----------------------------------------------------------------------------

def consume_reports(app: Flask, stop: threading.Event | None = None, on_batch=None) -> None:
    """`flask worker --reports`: take reports from the queue in batches until stopped.

    A lost broker connection drops what was not yet acknowledged (RabbitMQ redelivers it) and
    reconnects with a growing pause; the database away leaves the batch unacknowledged too.
    """
    stop = stop or threading.Event()
    config = app.config
    size = int(config["SCALE_REPORT_BATCH"])
    wait = float(config["SCALE_REPORT_WAIT"])
    queue = reports_queue(config)
    pause = 0.5
    while not stop.is_set():
        try:
            with Connection(config["BROKER_URL"], connect_timeout=2.0, heartbeat=0) as conn:
                conn.ensure_connection(max_retries=1, timeout=2.0)
                channel = conn.channel()
                channel.basic_qos(0, size, False)
                pending: list = []
                consumer = Consumer(channel, queues=[queue], callbacks=[_collector(pending)], accept=["json"])
                with consumer:
                    pause = 0.5
                    log.info("report writer consuming %s (batches of %d or %.1f s)", queue.name, size, wait)
                    while not stop.is_set():
                        deadline = time.monotonic() + wait
                        while sum(len(envelope_reports(b)) for b, _m in pending) < size and not stop.is_set():
                            left = deadline - time.monotonic()
                            if left <= 0:
                                break
                            try:
                                conn.drain_events(timeout=left)
                            except TimeoutError:
                                break
                        if not pending:
                            continue
                        taken, pending[:] = list(pending), []
                        _write_and_ack(app, taken, on_batch)
        except Exception as exc:
            if stop.is_set():
                break
            log.warning("report writer: %s; reconnecting in %.1f s", exc, pause)
            stop.wait(pause)
            pause = min(pause * 2, 10.0)


def _collector(pending: list):
    def collect(body, message) -> None:
        pending.append((body, message))

    return collect


def _write_and_ack(app: Flask, taken: list, on_batch) -> None:
    items = []
    with app.app_context():
        try:
            for envelope, _msg in taken:
                for body in envelope_reports(envelope):
                    try:
                        items.append(parse_message(body))
                    except Exception:  # not a report this version can read: kept for an admin
                        log.exception("unreadable report message dropped")
                        from scale.services import record_dead_letter

                        record_dead_letter("scale.agent_report", "", body if isinstance(body, dict) else str(body),
                                           "unreadable message")
            counts = write_batch(items)
        finally:
            db.session.remove()
    # After the commit: a writer killed before this line leaves them to be delivered again.
    taken[-1][1].ack(multiple=True)
    if on_batch is not None:
        on_batch(len(items), counts)

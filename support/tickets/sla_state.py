"""The SLA as stored on each ticket, and the breaches announced.

support.tickets.sla computes both clocks from a ticket's status history on the office
calendar; here that result is copied onto the ticket (due instants, breached flags,
`sla_state`, the queue's `queue_at` and `sla_next_at`, when the stored values next change on
their own) on every change, and by the `support.sla` job for the tickets whose instant has
come. A breach is recorded once per ticket and clock (a claim, support.tickets.claims) and
announced to the assignee and the managers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from core.calendar import office_calendar
from core.db import write_transaction
from core.scope import unrestricted
from extensions import db
from support.tickets import notifications
from support.tickets.claims import insert_ignoring
from support.tickets.models import Ticket, TicketChange, TicketSlaBreach
from support.tickets.queue import queue_stand_in
from support.tickets.sla import ClockPhase, ClockState, SlaTarget, sla_targets, ticket_sla


@dataclass(frozen=True)
class SlaConfig:
    targets: dict
    # The same targets cut to the warning share: their "due" instant is when a clock turns
    # to warning, which is when the stored state must next be refreshed.
    warning_targets: dict
    warning_percent: int


def sla_config() -> SlaConfig:
    """Targets from SLA_TARGETS over support.tickets.sla's defaults, validated once per configuration."""
    cfg = current_app.config
    key = (repr(cfg.get("SLA_TARGETS") or {}), int(cfg.get("SLA_WARNING_PERCENT", 75)))
    cache = current_app.extensions.setdefault("councildesk_sla_config", {})
    config = cache.get(key)
    if config is None:
        targets = sla_targets(cfg.get("SLA_TARGETS") or {})
        percent = key[1]
        warning = {p: SlaTarget(max(1, math.ceil(t.first_response_minutes * percent / 100)),
                                max(1, math.ceil(t.resolution_minutes * percent / 100))) for p, t in targets.items()}
        config = cache[key] = SlaConfig(targets, warning, percent)
    return config


def status_events(ticket_ids: Iterable[int]) -> dict[int, list[tuple[dt.datetime, str]]]:
    """The status history of some tickets, as support.tickets.sla wants it: (instant, status)."""
    ids = list(set(ticket_ids))
    out: dict[int, list[tuple[dt.datetime, str]]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = db.session.execute(select(TicketChange.ticket_id, TicketChange.at, TicketChange.new_value)
                                  .where(TicketChange.ticket_id.in_(chunk), TicketChange.field == "status")
                                  .order_by(TicketChange.id))
        for ticket_id, at, status in rows:
            out[ticket_id].append((at, status))
    return out


def evaluate_sla(ticket, events: list[tuple[dt.datetime, str]], now: dt.datetime):
    """Both clocks of a ticket as of `now` (support.tickets.sla.ticket_sla on the office calendar)."""
    config = sla_config()
    return ticket_sla(office_calendar(), created_at=ticket.created_at, priority=ticket.priority, events=events,
                      now=now, first_response_at=ticket.first_response_at, targets=config.targets,
                      warning_percent=config.warning_percent)


def apply_sla(ticket, events: list[tuple[dt.datetime, str]], now: dt.datetime) -> list[str]:
    """Store the SLA as of `now` on the ticket; returns the clocks found breached."""
    config = sla_config()
    sla = evaluate_sla(ticket, events, now)
    first, resolution = sla.first_response, sla.resolution
    ticket.first_response_due_at = first.due_at
    ticket.resolution_due_at = resolution.due_at
    ticket.first_response_breached = first.breached
    ticket.resolution_breached = resolution.breached
    running = [c for c in (first, resolution) if c.phase is ClockPhase.RUNNING]
    if resolution.phase is ClockPhase.STOPPED:
        state, queue_at = "stopped", queue_stand_in("stopped", getattr(ticket, "id", None))
    elif not running:
        state, queue_at = "paused", queue_stand_in("paused", getattr(ticket, "id", None))
    else:
        pending = first if first.phase is ClockPhase.RUNNING else resolution
        states = {c.state for c in running}
        state = ("breached" if ClockState.BREACHED in states
                 else "warning" if ClockState.WARNING in states else "ok")
        queue_at = pending.due_at
    # When the stored values next change with nobody touching the ticket: a running clock
    # reaching its warning share, or running past its due instant (breached just after it).
    upcoming = []
    if running:
        warning = ticket_sla(office_calendar(), created_at=ticket.created_at, priority=ticket.priority,
                             events=events, now=now, first_response_at=ticket.first_response_at,
                             targets=config.warning_targets, warning_percent=config.warning_percent)
        for clock, early in ((first, warning.first_response), (resolution, warning.resolution)):
            if clock.phase is not ClockPhase.RUNNING:
                continue
            if not clock.breached and clock.due_at is not None:
                upcoming.append(clock.due_at + dt.timedelta(seconds=1))
            if clock.state is ClockState.OK and early.due_at is not None and early.due_at > now:
                upcoming.append(early.due_at)
    ticket.sla_state = state
    ticket.queue_at = queue_at
    ticket.sla_next_at = min(upcoming) if upcoming else None
    return [kind for kind, clock in (("first_response", first), ("resolution", resolution)) if clock.breached]


def claim_breaches(ticket, kinds: list[str], now: dt.datetime) -> list[str]:
    """Record each breach once (the unique key decides who records it) and announce it."""
    announced = []
    for kind in kinds:
        due = ticket.first_response_due_at if kind == "first_response" else ticket.resolution_due_at
        claimed = insert_ignoring(TicketSlaBreach, {
            "ticket_id": ticket.id, "council_id": ticket.council_id, "kind": kind, "due_at": due,
            "detected_at": now}, ["ticket_id", "kind"], returning=TicketSlaBreach.id)
        if claimed is not None:
            notifications.sla_breached(ticket, kind)
            announced.append(kind)
    return announced


def refresh_sla(ticket, now: dt.datetime, events: list[tuple[dt.datetime, str]] | None = None) -> list[str]:
    """Recompute and store a ticket's SLA, and announce new breaches (in the caller's transaction)."""
    db.session.flush()
    if events is None:
        events = status_events([ticket.id])[ticket.id]
    return claim_breaches(ticket, apply_sla(ticket, events, now), now)


def refresh_due_slas(now: dt.datetime, batch: int = 200) -> dict:
    """Refresh the stored SLA of every ticket whose warning or due instant has come, and
    announce the breaches (the `support.sla` job). Returns counts."""
    refreshed = breaches = 0
    with unrestricted():
        while True:
            with write_transaction():
                tickets = list(db.session.scalars(
                    select(Ticket).where(Ticket.sla_next_at <= now).order_by(Ticket.sla_next_at, Ticket.id)
                    .limit(batch).with_for_update(skip_locked=True)))
                if not tickets:
                    break
                events = status_events(t.id for t in tickets)
                for ticket in tickets:
                    breaches += len(claim_breaches(ticket, apply_sla(ticket, events[ticket.id], now), now))
                refreshed += len(tickets)
            if len(tickets) < batch:
                break
    return {"refreshed": refreshed, "breaches": breaches}

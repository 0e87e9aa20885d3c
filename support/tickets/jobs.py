"""Tickets' background work: the scheduler's jobs (SLA refresh, closing resolved tickets) and
the `flask tickets` commands. Jobs are plain functions of `now`, so tests can freeze time.
"""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from core.db import write_transaction
from core.scope import unrestricted
from extensions import db
from remote import scheduler
from support.tickets import notifications, search
from support.tickets.models import Ticket
from support.tickets.services import audit_ticket, set_status
from support.tickets.sla_state import refresh_due_slas, refresh_sla


def close_resolved(now: dt.datetime, batch: int = 200) -> int:
    """Close the tickets resolved more than TICKET_REOPEN_DAYS ago (the reopen window is over)."""
    cutoff = now - dt.timedelta(days=int(current_app.config["TICKET_REOPEN_DAYS"]))
    closed = 0
    with unrestricted():
        while True:
            with write_transaction():
                tickets = list(db.session.scalars(
                    select(Ticket).where(Ticket.status == "resolved", Ticket.resolved_at <= cutoff)
                    .order_by(Ticket.resolved_at, Ticket.id).limit(batch).with_for_update(skip_locked=True)))
                for ticket in tickets:
                    set_status(ticket, "closed", None, now)
                    ticket.updated_at = now
                    refresh_sla(ticket, now)
                    audit_ticket("update", ticket, None, {"status": ["resolved", "closed"]})
                    notifications.status_changed(ticket, "resolved", None)
                closed += len(tickets)
            if len(tickets) < batch:
                break
    return closed


def check_sla(now: dt.datetime) -> dict:
    """The `support.sla` job: refresh the stored SLA of every ticket whose warning share or
    due instant has come (the queue sorts and filters on those columns), and announce each
    breach once to the assignee and the managers."""
    return refresh_due_slas(now)


def close_resolved_tickets(now: dt.datetime) -> int:
    """The `support.close_resolved` job: resolved tickets nobody reopened within
    TICKET_REOPEN_DAYS are closed (a clerk with the problem back opens a new one)."""
    return close_resolved(now)


def register_jobs() -> None:
    # Every minute: the finest grain a due time is shown at, and the job only touches the
    # tickets whose stored state is due to change (an indexed range on sla_next_at).
    scheduler.register_job("support.sla", check_sla, lambda c: scheduler.interval(60),
                           description="Ticket SLAs: warnings, breaches and their notifications")
    scheduler.register_job("support.close_resolved", close_resolved_tickets, lambda c: scheduler.interval(3600),
                           description="Close tickets resolved more than TICKET_REOPEN_DAYS ago")


tickets_cli = AppGroup("tickets", help="Tickets.")


@tickets_cli.command("reindex")
def reindex_command():
    """Rebuild the search text of every ticket (after a bulk import, or to repair it)."""
    with unrestricted(), write_transaction():
        count = search.rebuild()
    click.echo(f"{count} ticket(s) indexed.")

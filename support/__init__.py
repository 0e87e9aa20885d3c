"""Support: the hours ledger (time entries against the agreements' allowances), and tickets."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l

from core.access import STAFF
from core.ui import NavItem, register_home, register_nav

hours_cli = AppGroup("hours", help="The hours ledger.")


@hours_cli.command("thresholds")
def thresholds_command():
    """Announce the allowance thresholds crossed this month (and last month) not announced yet."""
    from agreements.months import office_today
    from support.jobs import check_thresholds

    click.echo(f"{check_thresholds(office_today())} threshold(s) announced.")


tickets_cli = AppGroup("tickets", help="Tickets.")


@tickets_cli.command("reindex")
def reindex_command():
    """Rebuild the search text of every ticket (after a bulk import, or to repair it)."""
    from core.db import write_transaction
    from core.scope import unrestricted
    from support import search

    with unrestricted(), write_transaction():
        count = search.rebuild()
    click.echo(f"{count} ticket(s) indexed.")


def init_app(app: Flask) -> None:
    from core.access import register_path_object
    from remote.alerts import register_alert_handler
    from support import api, jobs, monitoring, notifications, views
    from support.models import Ticket, TicketAttachment, TicketComment, TimeEntry

    register_path_object("entry_id", TimeEntry)
    register_path_object("ticket_id", Ticket)
    register_path_object("comment_id", TicketComment)
    register_path_object("attachment_id", TicketAttachment)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.cli.add_command(hours_cli)
    app.cli.add_command(tickets_cli)
    jobs.register_kinds()
    notifications.register_kinds()
    jobs.register_jobs()
    register_alert_handler(monitoring.handle_alert)
    app.jinja_env.globals.update(ticket_panel=views.asset_ticket_panel, council_tickets=views.council_ticket_panel,
                                 ticket_labels=views.ticket_labels, due_in=views.due_in)
    register_nav(
        app,
        NavItem("support.tickets", _l("Tickets"), frozenset(STAFF), "inbox", 5),
        NavItem("support.tickets", _l("Help requests"), frozenset({"clerk"}), "life-preserver", 5),
        NavItem("support.dashboard", _l("Hours"), frozenset(STAFF), "clock-history", 10),
        NavItem("support.log", _l("Log hours"), frozenset(STAFF), "plus-circle", 11),
    )
    # The office dashboard is where managers and technicians start; clerks keep their council.
    register_home(app, "support.dashboard", "manager", "technician")

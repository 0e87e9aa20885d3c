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


def init_app(app: Flask) -> None:
    from core.access import register_path_object
    from support import api, jobs, views
    from support.models import TimeEntry

    register_path_object("entry_id", TimeEntry)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.cli.add_command(hours_cli)
    jobs.register_kinds()
    register_nav(
        app,
        NavItem("support.dashboard", _l("Hours"), frozenset(STAFF), "clock-history", 10),
        NavItem("support.log", _l("Log hours"), frozenset(STAFF), "plus-circle", 11),
    )
    # The office dashboard is where managers and technicians start; clerks keep their council.
    register_home(app, "support.dashboard", "manager", "technician")

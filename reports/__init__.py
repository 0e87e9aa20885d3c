"""Reports: hour consumption per council, month, agreement year and comarca; the management
dashboard; agreements against their predecessors and renewal suggestions; the service report
(tickets, SLA, satisfaction, availability); charts; CSV, XLSX and PDF; the monthly delivery
with its archive; and the councils' public transparency pages."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

reports_cli = AppGroup("reports", help="Reports: the archive and the monthly delivery.")


def _month_option(value: str | None):
    from agreements.months import add_months, month_start, office_today, parse_month

    if value is None:
        return add_months(month_start(office_today()), -1)
    month = parse_month(value)
    if month is None:
        raise click.BadParameter("give a month as YYYY-MM")
    return month


@reports_cli.command("deliver")
@click.option("--month", help="YYYY-MM (default: last month).")
def deliver_command(month: str | None):
    """Generate, archive and mail a month's reports (once: a delivered month is not sent again)."""
    from reports import jobs

    result = jobs.deliver(_month_option(month))
    if result.get("already_done"):
        click.echo("already delivered; nothing sent")
    else:
        click.echo(f"{result['archives']} report(s) archived, {result['mails_queued']} mail(s) queued")


@reports_cli.command("generate")
@click.option("--month", help="YYYY-MM (default: last month).")
def generate_command(month: str | None):
    """Generate and archive a month's reports without mailing them."""
    from core.scope import unrestricted
    from reports import archive

    with unrestricted():
        made = archive.generate_month(_month_option(month), actor=None)
    click.echo(f"{len(made)} report(s) in the archive")


def _archive_lookup(value):
    from sqlalchemy import select

    from core.db import MAX_ID
    from extensions import db
    from reports.models import ReportArchive

    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return db.session.execute(select(ReportArchive.id).where(ReportArchive.id == value)).first()


def init_app(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from core.access import STAFF, register_path_object
    from core.ui import NavItem, register_nav
    from reports import api, audit_labels, jobs, models, views  # noqa: F401  (models: the tables)

    audit_labels.register()
    register_path_object("archive_id", lookup=_archive_lookup)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.cli.add_command(reports_cli)
    jobs.register_kinds()
    jobs.register_jobs()
    register_nav(
        app,
        NavItem("reports.index", _l("Reports"), frozenset(STAFF), "bar-chart-line", 30),
        NavItem("reports.index", _l("Reports"), frozenset({"clerk"}), "bar-chart-line", 30),
    )

"""`flask inventory ...`: expiry reminders now, and imports from the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask.cli import AppGroup

from core import mail
from core.errors import DomainError
from inventory import importer, jobs

inventory_cli = AppGroup("inventory", help="Asset inventory.")


@inventory_cli.command("reminders")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Count days from this date instead of today (YYYY-MM-DD).")
def reminders(today: dt.datetime | None):
    """Send the expiry reminders due today (the scheduler does this daily)."""
    from inventory.expiry import office_today

    day = today.date() if today else office_today()
    sent = jobs.send_expiry_reminders(day)
    delivered = mail.send_pending()
    click.echo(f"{sent} reminder(s) due on {day.isoformat()} sent; {delivered} mail(s) delivered")


@inventory_cli.command("import")
@click.argument("slug")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and write nothing.")
def import_file(slug: str, path: Path, dry_run: bool):
    """Import a CSV file into the council SLUG (all rows or none)."""
    from agreements import services as councils

    try:
        council = councils.get_council_by_slug(slug)
    except DomainError:
        raise click.ClickException(f"no council with slug {slug!r}") from None
    try:
        result = importer.import_assets(council, path.read_bytes(), actor=None, dry_run=dry_run)
    except DomainError as exc:
        raise click.ClickException(str(exc.message)) from None
    for error in result.errors:
        click.echo(f"row {error.row}: {error.field or '-'}: {error.message}", err=True)
    if not result.ok:
        raise click.ClickException(f"{result.error_count} error(s); nothing was written")
    verb = "would be" if dry_run else "were"
    click.echo(f"{result.created} asset(s) {verb} created, {result.updated} updated, "
               f"{result.unchanged} unchanged")

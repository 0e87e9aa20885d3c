"""The hours ledger's background work: catching up on allowance thresholds for every council
(`flask hours thresholds`), in case an evaluation after a write failed (support.hours.thresholds).
"""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup
from sqlalchemy import select

from agreements.models import Agreement
from agreements.months import add_months, month_start, office_today
from core.scope import unrestricted
from extensions import db
from support.hours import thresholds


def check_thresholds(today: dt.date) -> int:
    """Evaluate every council with an agreement this month (and last month, while it is open).

    Returns how many thresholds were announced. Safe to run while entries are being written
    and from several processes: announcements are claimed one by one.
    """
    total = 0
    for month in (add_months(month_start(today), -1), month_start(today)):
        with unrestricted():
            councils = db.session.scalars(select(Agreement.council_id).where(
                Agreement.starts_on <= month, Agreement.ends_on >= month).order_by(Agreement.council_id)).all()
            db.session.commit()
        for council_id in councils:
            total += len(thresholds.evaluate_thresholds(council_id, month))
    return total


hours_cli = AppGroup("hours", help="The hours ledger.")


@hours_cli.command("thresholds")
def thresholds_command():
    """Announce the allowance thresholds crossed this month (and last month) not announced yet."""
    click.echo(f"{check_thresholds(office_today())} threshold(s) announced.")

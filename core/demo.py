"""`flask seed-demo`: demo data for the whole application, domain by domain.

Each domain contributes a step `seed(ctx)` listed in STEPS, in dependency order. Steps are
idempotent enough to run on a database that already has their data (they skip it).
"""

from __future__ import annotations

import datetime as dt
import importlib
import random
from dataclasses import dataclass, field

import click
from sqlalchemy import func, select

from extensions import db

# Later domains append their own step here (module path, function name).
STEPS: list[tuple[str, str]] = []
STEPS.append(("inventory.demo", "seed"))
STEPS.append(("agreements.demo", "seed_agreements"))
STEPS.append(("support.hours.demo", "seed"))
# Tickets behind the hours; before remote's step, whose live alert opens today's monitoring ticket.
STEPS.append(("support.tickets.demo", "seed_tickets"))
# Mail after the tickets: its replies thread onto tickets it opened itself.
STEPS.append(("support.mail.demo", "seed"))
STEPS.append(("remote.demo", "seed"))
STEPS.append(("reports.demo", "seed"))
STEPS.append(("catalogue.demo", "seed"))
# Teams and visits last: their routing must not change the tickets the steps above opened.
STEPS.append(("support.visits.demo", "seed"))


@dataclass
class DemoContext:
    councils: list
    today: dt.date
    rng: random.Random
    logins: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def is_empty() -> bool:
    from agreements.models import Council

    return not db.session.scalar(select(func.count()).select_from(Council))


def run(today: dt.date | None = None, seed: int = 2026) -> DemoContext:
    from accounts import demo as accounts_demo
    from agreements import demo as agreements_demo

    councils = agreements_demo.seed()
    ctx = DemoContext(councils=councils, today=today or dt.date.today(), rng=random.Random(seed))
    ctx.logins = accounts_demo.seed(councils)
    for module, func_name in STEPS:
        getattr(importlib.import_module(module), func_name)(ctx)
        db.session.commit()
    return ctx


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has councils.")
def seed_demo_command(if_empty: bool):
    """Load the Bages demo: councils, users of every role and their history."""
    from accounts.demo import DEMO_PASSWORD

    if if_empty and not is_empty():
        click.echo("database already has data; demo not loaded")
        return
    ctx = run()
    click.echo(f"Demo loaded: {len(ctx.councils)} councils.")
    for note in ctx.notes:
        click.echo(note)
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    shown_clerks = 0
    for role, email, council in ctx.logins:
        if role == "clerk":
            shown_clerks += 1
            if shown_clerks > 3:
                continue
        click.echo(f"  {role:<10} {email}" + (f"  ({council})" if council else ""))
    if shown_clerks > 3:
        click.echo(f"  ... and {shown_clerks - 3} more clerks, secretaria.<slug>@demo.councildesk.org")

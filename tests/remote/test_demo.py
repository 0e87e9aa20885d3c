"""The demo's health: agents, SSH hosts and a few days of history, with some warnings and one
critical (whose alert is open)."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

TODAY = dt.date(2026, 3, 2)


def _seed(seed: int):
    from accounts import demo as accounts_demo
    from agreements import demo as agreements_demo
    from core.demo import DemoContext
    from inventory import demo as inventory_demo
    from remote import demo

    councils = agreements_demo.seed()
    accounts_demo.seed(councils)
    inventory_demo.seed(DemoContext(councils=councils, today=TODAY, rng=random.Random(2026)))
    ctx = DemoContext(councils=councils, today=TODAY, rng=random.Random(seed))
    demo.seed(ctx)
    return ctx


def test_demo_health(app, db):
    from remote.models import Agent, Alert, Check, HostKey, Result, Rollup

    ctx = _seed(2026)
    states = dict(db.session.execute(select(Check.state, func.count()).group_by(Check.state)).all())
    assert states["critical"] == 1 and states["warning"] >= 3 and states["ok"] > 100
    assert db.session.scalar(select(func.count()).select_from(Alert).where(Alert.closed_at.is_(None))) == 1
    critical = db.session.scalar(select(Check).where(Check.state == "critical"))
    assert critical.kind == "disk" and critical.asset.kind == "server"
    # Its alert reached the tickets: one open monitoring ticket about that server.
    from support.tickets.models import Ticket

    [ticket] = db.session.scalars(select(Ticket).where(Ticket.channel == "monitoring")).all()
    assert ticket.asset_id == critical.asset_id and ticket.open_monitoring_key is not None
    assert db.session.scalar(select(func.count()).select_from(Agent)) >= 40
    assert db.session.scalar(select(func.count()).select_from(HostKey).where(HostKey.status == "pending")) == 1
    assert db.session.scalar(select(func.count()).select_from(Result)) > 10_000
    assert db.session.scalar(select(func.count()).select_from(Rollup)) > 100
    assert db.session.scalar(select(func.count()).select_from(Check).where(
        Check.kind == "offline", Check.state == "warning")) == 1
    assert any(note.startswith("Health:") for note in ctx.notes)
    # Idempotent: a second run adds nothing.
    before = db.session.scalar(select(func.count()).select_from(Result))
    from core.demo import DemoContext
    from remote import demo

    demo.seed(DemoContext(ctx.councils, TODAY, random.Random(2026)))
    assert db.session.scalar(select(func.count()).select_from(Result)) == before

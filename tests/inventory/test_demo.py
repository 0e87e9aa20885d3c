"""Demo inventories: every Bages council, scaled with population, the same for the same seed."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

from core.demo import DemoContext
from inventory import demo
from inventory.models import Asset

TODAY = dt.date(2026, 3, 2)


def _seeded(app):
    from accounts import demo as accounts_demo
    from agreements import demo as agreements_demo

    councils = agreements_demo.seed()
    accounts_demo.seed(councils)
    ctx = DemoContext(councils=councils, today=TODAY, rng=random.Random(2026))
    demo.seed(ctx)
    return ctx


def test_every_council_gets_an_inventory_scaled_with_population(app, db):
    ctx = _seeded(app)
    per_council = {}
    for council in ctx.councils:
        assets = db.session.scalars(select(Asset).where(Asset.council_id == council.id)).all()
        per_council[council.name] = assets
        kinds = [a.kind for a in assets]
        assert kinds.count("desktop") >= 2 and "printer" in kinds and "network" in kinds
        certificates = [a for a in assets if a.kind == "certificate"]
        assert len(certificates) >= 2 and all(c.holder and c.expires_on for c in certificates)
        assert ("server" in kinds) == (council.population >= 1500)
        assert len({a.tag for a in assets}) == len(assets)
        assert all(a.tag.startswith(council.code + "-") for a in assets)
    smallest = min(ctx.councils, key=lambda c: c.population)
    largest = max(ctx.councils, key=lambda c: c.population)
    assert len(per_council[largest.name]) > 3 * len(per_council[smallest.name])
    everything = [a for assets in per_council.values() for a in assets]
    expiries = [a.expires_on for a in everything if a.kind == "certificate"]
    assert any(d < TODAY for d in expiries), "some certificate already expired"
    assert any(TODAY <= d <= TODAY + dt.timedelta(days=60) for d in expiries), "some due for a reminder"
    assert {"domain", "license"} <= {a.kind for a in everything}
    assert any(a.warranty_until for a in everything)
    assert {"retired", "repair"} <= {a.status for a in everything}
    assert any(a.holder == "Ajuntament d'Avinyó" for a in everything if a.kind == "certificate")


def test_the_demo_is_deterministic_and_idempotent(app, db):
    ctx = _seeded(app)
    first = [demo.plan_for(DemoContext(ctx.councils, TODAY, random.Random(7)), c, i) for i, c in enumerate(ctx.councils)]
    second = [demo.plan_for(DemoContext(ctx.councils, TODAY, random.Random(7)), c, i) for i, c in enumerate(ctx.councils)]
    assert first == second
    before = db.session.scalar(select(func.count()).select_from(Asset))
    demo.seed(DemoContext(ctx.councils, TODAY, random.Random(2026)))
    assert db.session.scalar(select(func.count()).select_from(Asset)) == before

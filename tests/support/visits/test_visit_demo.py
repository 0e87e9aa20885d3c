"""`flask seed-demo`'s teams and visits: route days, booked visits, a visit today on the first
technician's day plan, travel times and two routing teams, so the pages are not empty; a
second run adds nothing."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import func, select

from support.teams.models import Team
from support.visits import demo
from support.visits.models import Visit, VisitSlot

pytestmark = pytest.mark.usefixtures("english")


@pytest.mark.frozen("2027-01-12T06:00:00+00:00")
def test_demo_visits(app, db, world, client_for):
    from accounts import services as accounts
    from core.demo import DemoContext

    def user(email, role, council=None):
        made = accounts.create_user(email=email, name=email.split("@")[0], role=role, password=world.password,
                                    council_id=council.id if council else None, actor=None)
        made.preferred_language = "en"
        return made

    manager = user(demo.MANAGER, "manager")
    techs = [user(e, "technician") for e in demo.TECHNICIANS]
    user(f"secretaria.{world.council_a.slug}@demo.councildesk.org", "clerk", world.council_a)
    ctx = DemoContext(councils=[world.council_a, world.council_b], today=dt.date(2027, 1, 12), rng=random.Random(1))
    demo.seed(ctx)
    assert db.session.scalar(select(func.count()).select_from(VisitSlot)) >= 10
    assert {t.name for t in db.session.scalars(select(Team))} == {"Xarxes", "Maquinari"}
    booked = list(db.session.scalars(select(Visit).where(Visit.status == "booked").order_by(Visit.starts_at)))
    assert len(booked) == 3
    assert all(c.travel_minutes > 0 for c in ctx.councils)
    plan = client_for(techs[0]).get("/day-plan").get_data(as_text=True)
    assert "Canvi del disc" in plan and "from the office" in plan
    board = client_for(manager).get("/dispatch?week=2027-01-19").get_data(as_text=True)
    assert "free place" in board
    assert client_for(world.clerk_a).get("/book-visit").status_code == 200
    demo.seed(ctx)
    assert db.session.scalar(select(func.count()).select_from(Visit)) == 3

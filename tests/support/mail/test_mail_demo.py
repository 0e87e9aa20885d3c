"""The demo's mail: a mailbox record, and held and processed messages made by the pipeline."""

from __future__ import annotations

from sqlalchemy import select

from support.mail.models import InboundMail, Mailbox


def test_demo_has_a_mailbox_and_held_and_processed_mail(app, db):
    import datetime as dt
    import random

    from agreements import demo as agreements_demo
    from core.demo import DemoContext
    from support.mail import demo

    councils = agreements_demo.seed()
    ctx = DemoContext(councils=councils, today=dt.date(2026, 6, 17), rng=random.Random(1))
    demo.seed(ctx)
    demo.seed(ctx)  # a second run adds nothing
    assert len(db.session.scalars(select(Mailbox)).all()) == 1
    statuses = sorted(db.session.scalars(select(InboundMail.status)))
    assert statuses == ["appended", "created", "created", "held", "held", "ignored"]

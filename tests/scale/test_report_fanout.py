"""The monthly reports with a broker: the scheduler's run hands out one task per council on the
private RabbitMQ, a real Celery worker (threads of the test process) takes them, and every
council's report is archived and mailed once, the managers told once; a redelivered council
task adds nothing."""

from __future__ import annotations

import datetime as dt

from scale_support import celery_worker, wait_for
from sqlalchemy import func, select

from agreements.months import add_months, month_end, month_start


def _councils(db, world, period: dt.date) -> list:
    """Four councils an agreement covers in `period`; the last has no contact address."""
    from agreements import councils
    from agreements import services as agreements

    extra = [councils.create_council({"name": "Castellgalí", "population": 2000, "comarca": "Bages",
                                      "language": "es", "contact_email": "ajuntament@castellgali.example.cat"},
                                     actor=None),
             councils.create_council({"name": "L'Estany", "population": 400, "comarca": "Moianès",
                                      "language": "ca"}, actor=None)]
    every = [world.council_a, world.council_b, *extra]
    first = add_months(period, -2)
    for council in every:
        agreements.create_agreement(council, {
            "starts_on": first, "ends_on": month_end(add_months(period, 12)), "onsite_minutes_month": 240,
            "rollover": "none", "signed_on": first - dt.timedelta(days=10),
            "document_ref": f"CONV-{council.code}"}, actor=None, today=period)
    db.session.commit()
    return every


def _counts(db, period, delivery_id):
    db.session.commit()  # another app's session wrote it: a fresh snapshot
    from core.models import Notification, OutboxMail
    from reports.models import ReportArchive, ReportDeliveryMail

    archives = dict(db.session.execute(select(ReportArchive.council_id, func.count(ReportArchive.id))
                                       .where(ReportArchive.period_start == period,
                                              ReportArchive.kind == "council_month")
                                       .group_by(ReportArchive.council_id)).all())
    claims = dict(db.session.execute(select(ReportDeliveryMail.recipient, func.count(ReportDeliveryMail.id))
                                     .where(ReportDeliveryMail.delivery_id == delivery_id)
                                     .group_by(ReportDeliveryMail.recipient)).all())
    office = db.session.scalar(select(func.count(ReportArchive.id)).where(ReportArchive.period_start == period,
                                                                          ReportArchive.kind == "office_month"))
    outbox = db.session.scalar(select(func.count(OutboxMail.id)))
    notices = db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "reports.monthly_ready"))
    return archives, claims, office, outbox, notices


def test_monthly_reports_one_task_per_council(app, db, world, broker_app):
    from agreements.months import office_today
    from reports import jobs
    from reports.models import ReportDelivery
    from scale import tasks

    this_month = month_start(office_today())
    period = add_months(this_month, -1)
    today = jobs.first_working_day(this_month)
    councils = _councils(db, world, period)
    with_contact = [c for c in councils if c.contact_email]

    handed = []
    real_fanout = broker_app.extensions["councildesk_fanout"]

    def recording(kind, args, now):
        handed.append((kind, list(args)))
        real_fanout(kind, args, now)

    broker_app.extensions["councildesk_fanout"] = recording
    with broker_app.app_context():
        result = jobs.deliver_monthly(today)
    assert result == {"delivered": 0, "councils_queued": len(councils)}
    [(kind, args)] = handed  # one hand-out, one task per council
    assert kind == jobs.COUNCIL_FANOUT and sorted(args) == sorted(jobs.council_arg(period, c.id) for c in councils)
    db.session.commit()  # the test's session may hold a snapshot from before the run
    delivery = db.session.scalar(select(ReportDelivery).where(ReportDelivery.period_start == period))
    assert delivery.completed_at is None

    # One council's task delivered twice before the worker starts (a redelivery): it archives
    # and mails that council once, and finishes nothing while the others wait in the queue.
    arg = jobs.council_arg(period, world.council_a.id)
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC).isoformat()
    with broker_app.app_context():
        assert tasks.fanout(jobs.COUNCIL_FANOUT, arg, now) == 1
        assert tasks.fanout(jobs.COUNCIL_FANOUT, arg, now) == 0
    archives, claims, office, _outbox, notices = _counts(db, period, delivery.id)
    assert archives == {world.council_a.id: 1} and claims == {f"council:{world.council_a.id}": 1}
    assert office == 0 and notices == 0

    with celery_worker(broker_app):
        wait_for(db, lambda: db.session.scalar(select(ReportDelivery.completed_at)
                                            .where(ReportDelivery.id == delivery.id)) is not None,
              what="the delivery completed by the last council's task")
    archives, claims, office, outbox, notices = _counts(db, period, delivery.id)
    assert archives == {c.id: 1 for c in councils}
    assert claims == {**{f"council:{c.id}": 1 for c in with_contact}, f"user:{world.manager.id}": 1}
    default = app.config["BABEL_DEFAULT_LOCALE"]
    languages = {default, world.manager.preferred_language or default}
    assert office == 2 * len(languages)  # the office's PDF and XLSX in the office's and the manager's language
    assert outbox == len(with_contact) + 1 and notices == 1
    db.session.commit()
    db.session.refresh(delivery)
    assert delivery.mails == len(with_contact) + 1 and delivery.archives == len(councils) + office

    # After the end: every task delivered again, and the scheduler's next runs, change nothing.
    before = _counts(db, period, delivery.id)
    with broker_app.app_context():
        for council in councils:
            assert tasks.fanout(jobs.COUNCIL_FANOUT, jobs.council_arg(period, council.id), now) == 0
        assert jobs.deliver_monthly(today) == {"delivered": 0, "already_done": 1}
    assert _counts(db, period, delivery.id) == before


def test_a_lost_council_task_is_handed_out_again_the_next_day(app, db, world, broker_app):
    """A council's task that never ran (its worker and its message lost) leaves the month
    unfinished; the next day's run hands the councils out again and the delivery completes,
    each report still archived once."""
    from agreements.months import office_today
    from reports import jobs
    from reports.models import ReportDelivery
    from scale import tasks

    this_month = month_start(office_today())
    period = add_months(this_month, -1)
    today = jobs.first_working_day(this_month)
    councils = _councils(db, world, period)
    handed = []
    broker_app.extensions["councildesk_fanout"] = lambda kind, args, now: handed.append((kind, list(args), now))
    with broker_app.app_context():
        assert jobs.deliver_monthly(today)["councils_queued"] == len(councils)
        kind, args, now = handed[0]
        for arg in args[1:]:  # the first council's task is lost
            tasks.fanout(kind, arg, now.isoformat())
    db.session.commit()
    delivery = db.session.scalar(select(ReportDelivery).where(ReportDelivery.period_start == period))
    assert delivery.completed_at is None
    with broker_app.app_context():
        assert jobs.deliver_monthly(today + dt.timedelta(days=1))["councils_queued"] == len(councils)
        kind, args, now = handed[1]
        for arg in args:
            tasks.fanout(kind, arg, now.isoformat())
    db.session.commit()
    db.session.refresh(delivery)
    assert delivery.completed_at is not None
    archives, claims, office, _outbox, notices = _counts(db, period, delivery.id)
    assert archives == {c.id: 1 for c in councils}
    assert set(claims.values()) == {1} and notices == 1
    default = app.config["BABEL_DEFAULT_LOCALE"]
    assert office == 2 * len({default, world.manager.preferred_language or default})

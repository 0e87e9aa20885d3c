"""Scheduler jobs as Celery tasks on the private broker, taken by a real worker (in a thread of
the test process, so that the test can register its own jobs): (c) a poison task lands in the
dead letters after its retries, and the rest go on."""

from __future__ import annotations

import datetime as dt

from scale_support import celery_worker, wait_for
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

UTC = dt.UTC


def test_poison_task_lands_in_dead_letters_and_the_rest_go_on(app, db, broker_app):
    from remote import scheduler
    from remote.models import JobRun
    from scale.models import DeadLetter, TaskKey

    attempts = []

    def poison(now):
        attempts.append(now)
        raise OperationalError("SELECT 1", {}, Exception("the database went away"))

    done = []
    specs = [scheduler.register_job("test.poison", poison, scheduler.interval(60)),
             scheduler.register_job("test.good", lambda now: done.append(now) or {"n": 1}, scheduler.interval(60))]
    try:
        at = dt.datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
        with celery_worker(broker_app):
            assert scheduler.execute(broker_app, specs[0], at) == "queued"
            for minute in range(1, 4):
                assert scheduler.execute(broker_app, specs[1], at + dt.timedelta(minutes=minute)) == "queued"
            wait_for(db, lambda: db.session.scalar(select(func.count(DeadLetter.id))) == 1
                  and db.session.scalar(select(func.count(JobRun.id)).where(JobRun.outcome == "ok")) == 3,
                  what="the dead letter and the good runs")
        letter = db.session.scalar(select(DeadLetter))
        assert letter.task == "scale.run_job" and "test.poison" in letter.args
        assert "the database went away" in letter.error
        assert len(attempts) == 1 + broker_app.config["SCALE_TASK_MAX_RETRIES"]  # retried, then given up
        assert len(done) == 3
        runs = {r.job_id: r for r in db.session.scalars(select(JobRun))}
        assert runs["test.poison"].outcome == "error"
        assert db.session.scalar(select(func.count(TaskKey.id)).where(TaskKey.task == "scale.run_job")) == 3
    finally:
        scheduler.unregister_job("test.poison")
        scheduler.unregister_job("test.good")


def test_scheduler_page_shows_the_dead_letters(app, db, world):
    from i18n_catalogs import login

    from scale.services import record_dead_letter

    record_dead_letter("scale.run_job", "abc", {"args": ["test.poison"]}, "OperationalError: away")
    page = login(app, world.admin).get("/admin/scheduler").get_data(as_text=True)
    assert "dead-letters" in page and "scale.run_job" in page and "OperationalError: away" in page


def test_operations_page_with_broker(app, db, world, broker_app):
    from i18n_catalogs import login

    body = broker_app.test_client().get("/healthz").get_json()
    assert body["broker"] == "ok"
    page = login(broker_app, world.manager).get("/admin/operations")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert broker_app.config["SCALE_QUEUE_PREFIX"] + ".reports" in text or "Reachable" in text
    assert login(broker_app, world.clerk_a).get("/admin/operations").status_code in (403, 404)
    assert login(broker_app, world.technician).get("/admin/operations").status_code == 403

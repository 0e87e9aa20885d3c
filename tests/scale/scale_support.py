"""What the scale-out tests share: an in-process Celery worker on the private broker, and a
wait for what another process (a worker, a writer) commits."""

from __future__ import annotations

import contextlib
import time


@contextlib.contextmanager
def celery_worker(broker_app):
    """A threads-pool worker of `broker_app`'s Celery app, on every queue of the app."""
    from celery.contrib.testing.worker import start_worker

    celery = broker_app.extensions["councildesk_celery"]
    with start_worker(celery, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=60,
                      loglevel="WARNING", queues=[q.name for q in celery.conf.task_queues]):
        yield


def wait_for(db, predicate, timeout=90.0, what="condition"):
    """Until `predicate()` holds, each time on a fresh snapshot (another session writes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.commit()
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")

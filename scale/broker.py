"""The broker side: the Celery app built from the Flask app, and the agent reports' queue.

**Celery settings, and why.** `task_acks_late` with `task_reject_on_worker_lost`: a task is
acknowledged when it has finished, so a worker that dies (SIGKILL, power cut) leaves its task
unacknowledged and RabbitMQ gives it to another worker; the task's key (scale.services)
makes the second run record nothing if the first had committed. `worker_prefetch_multiplier=1`:
a worker holds one task per slot, not a backlog a dead worker would sit on. Time limits: a
task stuck past SCALE_TASK_TIME_LIMIT is ended (prefork pool), its soft limit 30 s before.
Results are not kept (the database is where results go).

**Agent reports** do not go through Celery: a web node publishes each report, durably
(persistent message, durable queue, publisher confirms), and answers 202 once RabbitMQ has
confirmed it; reports that arrive together travel in one message (ReportPublisher);
`flask worker --reports` consumes them in batches (scale.batch). A plain kombu queue, because
a batch of 200 reports in one transaction is the point, and Celery's unit is the single task.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import Celery
from flask import Flask
from kombu import Connection, Exchange, Queue

from scale.taskbase import TASK_FANOUT, TASK_RUN_JOB, TASK_SSH_HOST, FlaskTask

log = logging.getLogger("councildesk.scale")

def queue_names(config) -> dict[str, str]:
    prefix = config["SCALE_QUEUE_PREFIX"]
    return {"checks": f"{prefix}.checks", "jobs": f"{prefix}.jobs", "reports": f"{prefix}.reports"}


def reports_queue(config) -> Queue:
    name = queue_names(config)["reports"]
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


def make_celery(app: Flask) -> Celery:
    config = app.config
    names = queue_names(config)
    limit = int(config["SCALE_TASK_TIME_LIMIT"])
    celery = Celery(app.import_name, task_cls=FlaskTask, set_as_current=False)
    celery.conf.update(
        broker_url=config["BROKER_URL"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"confirm_publish": True},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=limit,
        task_soft_time_limit=max(1, limit - 30),
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=names["jobs"],
        task_queues=[Queue(names["checks"], durable=True), Queue(names["jobs"], durable=True)],
        task_routes={TASK_SSH_HOST: {"queue": names["checks"]}, TASK_FANOUT: {"queue": names["jobs"]},
                     TASK_RUN_JOB: {"queue": names["jobs"]}},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    celery.flask_app = app
    import scale.tasks

    scale.tasks.register(celery)
    return celery


def celery_for(app: Flask) -> Celery | None:
    return app.extensions.get("councildesk_celery")


# --- publishing agent reports -----------------------------------------------------------------

# Set in the WSGI environ when the report door (scale.door) found the broker away, so that
# the view (scale.accept) answers 503 at once instead of trying a second time.
BROKER_AWAY = "councildesk.broker_away"


class BrokerUnavailable(Exception):
    """The broker could not take (or confirm) a message."""


class _Waiting:
    """One request's report, waiting to be published."""

    __slots__ = ("message", "finished", "error")

    def __init__(self, message: dict):
        self.message = message
        self.finished = False
        self.error: str | None = None


class ReportPublisher:
    """A web process's publishing of agent reports: group publishing.

    Reports that arrive while an envelope is waiting for its confirm are published together,
    as ONE persistent message (up to SCALE_PUBLISH_BATCH reports), by the first of their
    requests to find the channel free; the others wait for it and answer 202 when it has
    the broker's confirm. The broker's cost is per message (its disk sync above all: measured
    0.43 ms of RabbitMQ CPU per confirmed persistent message on a 2-core machine), so reports
    arriving together share it. Nothing waits for company: a lone report goes at once, and
    reports gather only while the previous envelope waits for its confirm, the way a database
    groups the commits that arrive during a disk flush. (A request thread publishes, not a
    thread of our own: handing every report to another thread and back cost more CPU than
    the publish itself.)

    This is not a queue of our own: a report is held here only while its request waits for
    the answer, and no request is answered 202 before the broker has confirmed its report. A
    request that gives up (SCALE_PUBLISH_TIMEOUT) answers 503; if its report is published
    after all, the agent's retry carries the same report_id and the writer stores it once.
    """

    def __init__(self, app: Flask):
        self.app = app
        self.batch = int(app.config["SCALE_PUBLISH_BATCH"])
        self.timeout = float(app.config["SCALE_PUBLISH_TIMEOUT"])
        self.queue = reports_queue(app.config)
        self._cond = threading.Condition()
        self._pending: list[_Waiting] = []
        self._busy = False
        self._pid = os.getpid()
        self._conn = None
        self._producer = None

    def publish(self, message: dict) -> None:
        """Return once the broker has confirmed the report; BrokerUnavailable otherwise."""
        waiting = _Waiting(message)
        # Twice the timeout: the envelope before ours may be waiting for its own confirm.
        deadline = time.monotonic() + 2 * self.timeout + 1.0
        with self._cond:
            if self._pid != os.getpid():
                # gunicorn forks its workers: a connection belongs to the process that made it.
                self._pid, self._conn, self._producer, self._busy, self._pending = os.getpid(), None, None, False, []
            self._pending.append(waiting)
        while True:
            with self._cond:
                while self._busy and not waiting.finished:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        if waiting in self._pending:
                            self._pending.remove(waiting)
                        raise BrokerUnavailable("no confirm from the broker in time")
                    self._cond.wait(left)
                if waiting.finished:
                    break
                self._busy = True
                group, self._pending = self._pending[:self.batch], self._pending[self.batch:]
            error = None
            try:
                self._send([w.message for w in group])
            except BrokerUnavailable as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # the others waiting must hear of it too
                log.exception("publishing %d agent reports", len(group))
                error = f"{type(exc).__name__}: {exc}"
            with self._cond:
                for w in group:
                    w.error, w.finished = error, True
                self._busy = False
                self._cond.notify_all()
        if waiting.error is not None:
            raise BrokerUnavailable(waiting.error)

    def _send(self, messages: list[dict]) -> None:
        body = {"reports": messages}
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = Connection(self.app.config["BROKER_URL"], connect_timeout=self.timeout,
                                            transport_options={"confirm_publish": True})
                    self._producer = self._conn.Producer(serializer="json")
                self._conn.ensure_connection(max_retries=1, timeout=self.timeout)
                self._producer.publish(body, exchange=self.queue.exchange, routing_key=self.queue.routing_key,
                                       declare=[self.queue], delivery_mode=2, retry=False, timeout=self.timeout)
                return
            except Exception as exc:
                self._close()
                # A kept connection may have died with a broker restart since the last
                # envelope: one more try on a new one before the agents are told to come back.
                if attempt == 2 or not reused:
                    raise BrokerUnavailable(str(exc)) from exc

    def _close(self) -> None:
        conn, self._conn, self._producer = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # already broken; nothing to release cleanly
                log.debug("closing a broken broker connection", exc_info=True)


def publish_report(app: Flask, message: dict) -> None:
    """Publish one report, persistent, and return once the broker has confirmed it.

    Raises BrokerUnavailable when the broker cannot be reached or does not confirm.
    """
    publisher = app.extensions.get("councildesk_report_publisher")
    if publisher is None:
        publisher = app.extensions.setdefault("councildesk_report_publisher", ReportPublisher(app))
    publisher.publish(message)


def envelope_reports(body) -> list:
    """The reports of one message: an envelope of several, or (from a web node of an older
    version still in the queue) a single one."""
    if isinstance(body, dict) and isinstance(body.get("reports"), list):
        return body["reports"]
    return [body]


def broker_status(app: Flask) -> str:
    """"ok", "unavailable" or "not configured", for /healthz and the operations page."""
    if not app.config.get("BROKER_URL"):
        return "not configured"
    try:
        with Connection(app.config["BROKER_URL"], connect_timeout=1.0) as conn:
            conn.ensure_connection(max_retries=1, timeout=1.0)
        return "ok"
    except Exception:
        return "unavailable"


def queue_depths(app: Flask) -> dict[str, int | None]:
    """Messages waiting in each queue (a passive declare: it creates nothing)."""
    out: dict[str, int | None] = {}
    try:
        with Connection(app.config["BROKER_URL"], connect_timeout=1.0) as conn:
            conn.ensure_connection(max_retries=1, timeout=1.0)
            for name in queue_names(app.config).values():
                channel = conn.channel()
                try:
                    out[name] = channel.queue_declare(queue=name, passive=True).message_count
                except Exception:  # not declared yet (no worker or publisher has run)
                    out[name] = 0
                finally:
                    try:
                        channel.close()
                    except Exception:
                        log.debug("closing a channel", exc_info=True)
    except Exception:
        return dict.fromkeys(queue_names(app.config).values())
    return out

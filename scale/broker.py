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
confirmed it; `flask worker --reports` consumes them in batches (scale.batch). A plain kombu
queue, because a batch of 200 reports in one transaction is the point, and Celery's unit is
the single task.
"""

from __future__ import annotations

import logging
import threading

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

class BrokerUnavailable(Exception):
    """The broker could not take (or confirm) a message."""


_local = threading.local()


def _producer(app: Flask):
    """This thread's connection and producer (kombu connections are not thread-safe); a web
    process keeps one for its life, so a report costs one publish and one confirm."""
    held = getattr(_local, "held", None)
    if held is not None and held[0] is app:
        return held[1], held[2]
    url = app.config["BROKER_URL"]
    conn = Connection(url, connect_timeout=float(app.config["SCALE_PUBLISH_TIMEOUT"]),
                      transport_options={"confirm_publish": True})
    producer = conn.Producer(serializer="json")
    _local.held = (app, conn, producer)
    return conn, producer


def _drop() -> None:
    held = getattr(_local, "held", None)
    _local.held = None
    if held is not None:
        try:
            held[1].release()
        except Exception:  # already broken; nothing to release cleanly
            log.debug("closing a broken broker connection", exc_info=True)


def publish_report(app: Flask, message: dict) -> None:
    """Publish one report, persistent, and return once the broker has confirmed it.

    Raises BrokerUnavailable when the broker cannot be reached or does not confirm.
    """
    queue = reports_queue(app.config)
    timeout = float(app.config["SCALE_PUBLISH_TIMEOUT"])
    for attempt in (1, 2):
        reused = getattr(_local, "held", None) is not None
        try:
            conn, producer = _producer(app)
            conn.ensure_connection(max_retries=1, timeout=timeout)
            producer.publish(message, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue],
                             delivery_mode=2, retry=False, timeout=timeout)
            return
        except Exception as exc:
            _drop()
            # A kept connection may have died with a broker restart since the last report:
            # one more try on a new one before the agent is told to come back later.
            if attempt == 2 or not reused:
                raise BrokerUnavailable(str(exc)) from exc


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

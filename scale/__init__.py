"""Scale-out past one machine (issue 19): Celery workers on a broker (RabbitMQ, or Redis).

Only when COUNCILDESK_BROKER_URL is set. Then the scheduler stays the single clock and hands
work out (SSH rounds per host, mail per mailbox, the other jobs as tasks), web nodes queue agent
reports durably and answer 202 once the broker confirmed them, and `flask worker` processes on
any machine take the work. Without a broker, nothing here is wired in and everything runs as on
one machine. The hooks are entries in `app.extensions` that the scheduler, the mail poller and
the report endpoint look up: those packages never import this one.

Modules: `broker` (the Celery app, publishing, queue depths), `tasks` (the Celery tasks),
`batch` (the report writer), `accept` (the report endpoint's queued path), `services` (keys of
work done, dead letters, figures), `views` (the operations page), `cli` (`flask worker`).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from core.access import MANAGERS
    from core.ui import NavItem, register_nav
    from scale import models, services, views  # noqa: F401  (models: the tables)
    from scale.cli import worker_command

    app.register_blueprint(views.bp)
    app.cli.add_command(worker_command)
    app.jinja_env.globals["scale_dead_letters"] = lambda: services.dead_letters(limit=10)
    app.extensions["councildesk_broker_status"] = _status_probe(app)
    register_nav(app, NavItem("scale.operations", _l("Operations"), frozenset(MANAGERS), "speedometer2", 925,
                              menu="admin"))
    if app.config.get("BROKER_URL"):
        wire(app)


def _status_probe(app: Flask):
    """/healthz's broker field, probed at most every 5 s (load balancers ask often)."""
    import threading
    import time

    from scale.broker import broker_status

    cache = {"at": -1e9, "value": "not configured"}
    lock = threading.Lock()

    def probe() -> str:
        if not app.config.get("BROKER_URL"):
            return "not configured"
        with lock:
            if time.monotonic() - cache["at"] > 5:
                cache["value"], cache["at"] = broker_status(app), time.monotonic()
            return cache["value"]

    return probe


def wire(app: Flask) -> None:
    """Hand the scheduler's work and the agents' reports to the broker."""
    import datetime as dt

    from celery.signals import worker_process_init

    from scale.accept import queue_requested_report
    from scale.broker import make_celery
    from scale.taskbase import TASK_FANOUT, TASK_RUN_JOB, TASK_SSH_HOST

    celery = make_celery(app)
    app.extensions["councildesk_celery"] = celery

    def ssh_dispatch(hosts: list[tuple[int, list[int]]], now: dt.datetime) -> None:
        due = now.astimezone(dt.UTC).isoformat()
        with celery.producer_or_acquire() as producer:
            for asset_id, check_ids in hosts:
                celery.send_task(TASK_SSH_HOST, args=(asset_id, check_ids, due), producer=producer)

    def job_dispatch(job_id: str, scheduled_at: dt.datetime, run_id: int) -> None:
        celery.send_task(TASK_RUN_JOB, args=(job_id, scheduled_at.astimezone(dt.UTC).isoformat(), run_id))

    def fanout(kind: str, args: list, now: dt.datetime) -> None:
        at = now.astimezone(dt.UTC).isoformat()
        with celery.producer_or_acquire() as producer:
            for arg in args:
                celery.send_task(TASK_FANOUT, args=(kind, arg, at), producer=producer)

    app.extensions["councildesk_ssh_dispatch"] = ssh_dispatch
    app.extensions["councildesk_job_dispatch"] = job_dispatch
    app.extensions["councildesk_fanout"] = fanout
    app.extensions["councildesk_report_queue"] = queue_requested_report
    if app.config["SCALE_REPORT_DOOR"]:
        from scale import door

        door.install(app)

    @worker_process_init.connect(weak=False)
    def _forked(**_kwargs):
        # A prefork child must not share the parent's database connections.
        from extensions import db

        with app.app_context():
            db.engine.dispose(close=False)

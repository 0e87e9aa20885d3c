"""`flask worker`: a Celery worker of this installation, or (`--reports`) the report writer."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from scale.broker import celery_for, queue_names


@click.command("worker", help="Run a worker that takes the scheduler's tasks (SSH checks per host, mail per "
                              "mailbox, reminders, SLA sweeps) from the broker, or with --reports the agent "
                              "reports' batch writer. Needs COUNCILDESK_BROKER_URL.")
@click.option("--queues", "-Q", default="checks,jobs", show_default=True,
              help="Which queues to take tasks from: checks, jobs.")
@click.option("--concurrency", "-c", type=int, default=None, help="Tasks at once (default: one per core).")
@click.option("--pool", type=click.Choice(["prefork", "threads", "solo"]), default="prefork", show_default=True)
@click.option("--reports", is_flag=True, help="Write agent reports from their queue in batches instead.")
@click.option("--hostname", "-n", default=None, help="This worker's name (default: celery@<host>).")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@with_appcontext
def worker_command(queues: str, concurrency: int | None, pool: str, reports: bool, hostname: str | None,
                   loglevel: str):
    app = current_app._get_current_object()
    celery = celery_for(app)
    if celery is None:
        raise click.ClickException("no broker is configured (set COUNCILDESK_BROKER_URL): without one the "
                                   "scheduler and the web processes do all the work themselves")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if reports:
        from scale.batch import consume_reports

        stop = threading.Event()
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), lambda *_a: stop.set())
        consume_reports(app, stop)
        return
    names = queue_names(app.config)
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in wanted if q not in names or q == "reports"]
    if unknown or not wanted:
        raise click.BadParameter(f"unknown queue(s): {', '.join(unknown) or '(none)'}; use checks, jobs",
                                 param_hint="--queues")
    argv = ["worker", f"--queues={','.join(names[q] for q in wanted)}", f"--pool={pool}", f"--loglevel={loglevel}",
            "--without-gossip", "--without-mingle"]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery.worker_main(argv=argv)

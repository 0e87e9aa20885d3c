"""The Celery tasks: each calls the same service function the scheduler calls without a broker.

- `scale.ssh_host`: one host's due SSH checks (remote.jobs.run_host), keyed
  "ssh:<asset>:<due time>" in the transaction that stores the results.
- `scale.run_job`: one trigger of a scheduler job (reminders, SLA sweeps, reports...), keyed
  "job:<run id>"; the run's record (scheduler_job_runs) gets its outcome as today.
- `scale.fanout`: one unit of a job split per object (mail polling per mailbox, the monthly
  reports per council).

Transient errors (the database away, a timeout, a refused connection) are retried with an
exponential backoff; a task that still fails after SCALE_TASK_MAX_RETRIES, or fails with
anything else, lands in the dead letters (scale_dead_letters), shown on the scheduler page.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback

from sqlalchemy.exc import OperationalError

from scale.taskbase import TASK_FANOUT, TASK_RUN_JOB, TASK_SSH_HOST, FlaskTask

log = logging.getLogger("councildesk.scale.tasks")

TRANSIENT = (OperationalError, TimeoutError, ConnectionError)


class ScaleTask(FlaskTask):
    abstract = True

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except TRANSIENT as exc:
            config = self.app.flask_app.config
            retries = self.request.retries
            countdown = min(600.0, float(config["SCALE_RETRY_BACKOFF"]) * (2 ** retries))
            # With `exc`, retry() re-raises it once the retries are spent: on_failure follows.
            raise self.retry(exc=exc, countdown=countdown, max_retries=int(config["SCALE_TASK_MAX_RETRIES"])) from exc

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from scale.services import record_dead_letter

        error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))
        with self.app.flask_app.app_context():
            try:
                record_dead_letter(self.name, task_id, {"args": list(args), "kwargs": kwargs}, error)
                if self.name == TASK_RUN_JOB and len(args) == 3:
                    _job_failed(int(args[2]), error)
            except Exception:  # the database is away too: the log is all that is left
                log.exception("cannot record the dead letter of %s %s", self.name, task_id)
        log.error("%s %s failed for good: %s", self.name, task_id, exc)


def _job_failed(run_id: int, error: str) -> None:
    """The run's record says the job failed for good (it would say "running" for ever)."""
    from sqlalchemy import update

    from core.db import utcnow, write_transaction
    from extensions import db
    from remote.models import JobRun

    with write_transaction():
        db.session.execute(update(JobRun).where(JobRun.id == run_id, JobRun.outcome == "running").values(
            outcome="error", error=error[-4000:], finished_at=utcnow()))


def _parse(at: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(at)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def ssh_host(asset_id: int, check_ids: list[int], due: str) -> int:
    from remote.jobs import run_host
    from scale.services import AlreadyDone, claim_key, is_done

    key = f"ssh:{asset_id}:{due}"
    if is_done(key):  # a redelivery after the commit: nothing to run again
        return 0
    try:
        return run_host(asset_id, check_ids, _parse(due), before_store=lambda: claim_key(key, TASK_SSH_HOST))
    except AlreadyDone:
        return 0


def run_job(job_id: str, scheduled_at: str, run_id: int) -> str:
    from remote import scheduler
    from scale.services import AlreadyDone, claim_key, is_done

    key = f"job:{run_id}"
    if is_done(key):
        return "duplicate"
    spec = next((s for s in scheduler.registered_jobs() if s.id == job_id), None)
    if spec is None:
        raise LookupError(f"no job {job_id!r} in this worker")
    try:
        return scheduler.finish_run(spec, _parse(scheduled_at), run_id,
                                    before_record=lambda: claim_key(key, TASK_RUN_JOB))
    except AlreadyDone:
        return "duplicate"


FANOUTS = {}


def fanout(kind: str, arg, now: str) -> int:
    from scale.services import AlreadyDone, claim_key

    if kind not in FANOUTS:
        raise LookupError(f"no fan-out {kind!r}")
    result = FANOUTS[kind](arg, _parse(now))
    from core.db import write_transaction

    try:
        with write_transaction():
            claim_key(f"{kind}:{arg}:{now}", TASK_FANOUT)
    except AlreadyDone:
        pass
    return int(result or 0)


def _poll_mailbox(mailbox_id, now):
    from support.mail.imap import poll_mailbox

    return poll_mailbox(int(mailbox_id), now)


FANOUTS["mail.poll_mailbox"] = _poll_mailbox


def _monthly_council(arg, now):
    # Idempotent by the report archive's unique key and the delivery's mail claims, not by the
    # fan-out key: the next day's run hands an unfinished month out again under another `now`.
    from reports.jobs import deliver_council

    return deliver_council(str(arg))


FANOUTS["reports.monthly_council"] = _monthly_council


def register(celery) -> None:
    for name, func in ((TASK_SSH_HOST, ssh_host), (TASK_RUN_JOB, run_job), (TASK_FANOUT, fanout)):
        celery.task(name=name, base=ScaleTask, bind=False)(func)

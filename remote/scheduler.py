"""`flask scheduler`: the process that runs the periodic jobs, one active at a time.

**Which APScheduler.** APScheduler 3's `BackgroundScheduler`: its own thread fires the jobs,
and the main thread is left for what only the main thread can do well here: guard the
leadership (check every SCHEDULER_LOCK_CHECK_SECONDS that the lock is still held, and stop
scheduling at once when it is not) and handle SIGTERM/SIGINT. `BlockingScheduler` would take
the main thread for itself and leave the lock unguarded between jobs.

**Numbers, against lessons.md** ("APScheduler 3 defaults, 10 threads and a misfire grace of
1 s, silently skipped 40 of 50 checks due in the same second"):

- Checks are not APScheduler jobs. One job, `remote.ssh_round`, ticks every
  REMOTE_SSH_ROUND_SECONDS (60) and collects *every* check that is due from the database, then
  runs them through remote.rounds' bounded pool (16 threads, one connection per host).
  200 checks due in the same second are 200 rows of one round: nothing can misfire
  (bench/scheduler_due.py counts them).
- The jobs themselves are few (about ten with the tickets' and reports' own), each with
  `max_instances=1` (a second SSH round while the first still runs would double every check;
  the skipped trigger is recorded as `skipped`), and the pool has one thread per registered
  job: a job never waits for a thread, so it never starts late because of another one.
- `misfire_grace_time=None` for every job of ours: a run that starts late is still right
  (each job takes its own `now`/`today` and works out what is due), while a run skipped for
  being late is work silently lost, which is the failure the lesson describes.
- `coalesce=True` for every job of ours: after a stall, one run catches up (the SSH round
  checks everything due, the mail job sends the whole outbox); ten back-to-back runs would
  only repeat that. A job that must see each trigger (the tests' probe) sets False.

**One active scheduler.** A leader lock (remote.leadership: a PostgreSQL advisory lock, or a
`flock` next to the SQLite database) decides which process runs the jobs; the others wait as
standby and take over when it dies. The active one checks the lock every
SCHEDULER_LOCK_CHECK_SECONDS and stops scheduling at once when it is lost.

**Exactly once per trigger, across a failover.** Each run is recorded in
`scheduler_job_runs` under the unique key (job id, scheduled fire time), inserted *before* the
job runs: only the process whose insert succeeds runs that trigger. Fire times are the same
in every process because interval triggers are anchored at a fixed epoch (not at process
start) and cron triggers at the wall clock. On taking over, the new leader marks the runs
the dead one left `running` as interrupted (never re-running them: the unique key forbids
it), and replays the triggers that fell in the gap for jobs that ask for it (`catch_up`):
coalesced into one run for ours, each of them for a job with `coalesce=False`.

Jobs come from a registry: `register_job(id, func, trigger, **options)`, called by each
domain's `init_app` (remote registers its own, the inventory's reminders and the mail
outbox; tickets and reports add theirs). A job function takes any of the keyword arguments
`now` (UTC, at start), `today` (the office's date) and `scheduled_at` (the trigger's time),
so tests call it with frozen values. What it returns (an int, or a dict of counts) is
recorded with the run.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import inspect
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import click
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.db import utcnow, write_transaction
from extensions import db
from remote.leadership import instance_id, leader_lock
from remote.models import JobRun

log = logging.getLogger("councildesk.scheduler")

UTC = dt.UTC
# Interval triggers count from here, not from when a process started: every process computes
# the same fire times, which is what makes (job, fire time) a key two processes agree on.
EPOCH = dt.datetime(2000, 1, 1, tzinfo=UTC)
INTERRUPTED = "interrupted: the scheduler process stopped during the run"


# --- the registry ------------------------------------------------------------------------------

TriggerSpec = BaseTrigger | Callable[[Mapping[str, Any]], BaseTrigger | None]


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[..., Any]
    trigger: TriggerSpec
    coalesce: bool = True
    misfire_grace_time: int | None = None
    max_instances: int = 1
    # On start or takeover, run the triggers missed since the last recorded run, if they fell
    # within this window (None: start from the next trigger).
    catch_up: dt.timedelta | None = None
    description: str = ""

    def build_trigger(self, config: Mapping[str, Any]) -> BaseTrigger | None:
        if isinstance(self.trigger, BaseTrigger):
            return self.trigger
        return self.trigger(config)


_registry: dict[str, JobSpec] = {}


def register_job(id: str, func: Callable[..., Any], trigger: TriggerSpec, **options) -> JobSpec:
    """Add (or replace) a job. `trigger` is an APScheduler trigger, or a function of the app's
    config returning one (None disables the job), so intervals can come from settings.

    Options: coalesce (True), misfire_grace_time (None: never skipped for being late),
    max_instances (1), catch_up (a timedelta, or None), description.
    """
    unknown = set(options) - {"coalesce", "misfire_grace_time", "max_instances", "catch_up", "description"}
    if unknown:
        raise TypeError(f"unknown job options: {sorted(unknown)}")
    if not id or len(id) > 80:
        raise ValueError("a job id is 1 to 80 characters")
    spec = JobSpec(id=id, func=func, trigger=trigger, **options)
    _registry[id] = spec
    return spec


def unregister_job(id: str) -> None:
    _registry.pop(id, None)


def registered_jobs() -> list[JobSpec]:
    return sorted(_registry.values(), key=lambda s: s.id)


def interval(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, start_date=EPOCH, timezone=UTC)


def daily(hour: int, minute: int, timezone: str) -> CronTrigger:
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(timezone))


def active_jobs(app: Flask) -> list[tuple[JobSpec, BaseTrigger]]:
    """The jobs this app runs: registered, not disabled by configuration, with their triggers."""
    for entry in app.config.get("SCHEDULER_JOB_MODULES") or ():
        module_name, _, function = str(entry).partition(":")
        module = __import__(module_name, fromlist=["_"])
        getattr(module, function or "register")()
    only = app.config.get("SCHEDULER_ONLY_JOBS")
    jobs = []
    for spec in registered_jobs():
        if only is not None and spec.id not in only:
            continue
        trigger = spec.build_trigger(app.config)
        if trigger is not None:
            jobs.append((spec, trigger))
    return jobs


# --- running one trigger ---------------------------------------------------------------------

def _insert():
    return postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert


def claim_run(job_id: str, scheduled_at: dt.datetime, instance: str, *, outcome: str = "running",
              error: str | None = None) -> int | None:
    """Insert the run's row; its id when this process got the trigger, None when another did."""
    now = utcnow()
    values = {"job_id": job_id, "scheduled_at": scheduled_at, "started_at": now, "outcome": outcome,
              "instance": instance, "counts": {}, "error": error}
    if outcome != "running":
        values["finished_at"] = now
    with write_transaction():
        row = db.session.execute(
            _insert()(JobRun).values(**values)
            .on_conflict_do_nothing(index_elements=["job_id", "scheduled_at"])
            .returning(JobRun.id)).first()
    return row[0] if row else None


def _call_kwargs(func: Callable, scheduled_at: dt.datetime) -> dict[str, Any]:
    try:
        names = set(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        names = set()
    kwargs: dict[str, Any] = {}
    if "now" in names:
        kwargs["now"] = utcnow()
    if "today" in names:
        kwargs["today"] = dt.datetime.now(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).date()
    if "scheduled_at" in names:
        kwargs["scheduled_at"] = scheduled_at
    return kwargs


def _counts(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, bool):
        return {"done": int(result)}
    if isinstance(result, int):
        return {"count": result}
    if isinstance(result, Mapping):
        return {str(k)[:40]: v for k, v in result.items() if isinstance(v, int | float | str | bool) or v is None}
    return {"result": str(result)[:200]}


def execute(app: Flask, spec: JobSpec, scheduled_at: dt.datetime, instance: str | None = None) -> str:
    """Run one trigger of a job, recorded: "ok", "error", "duplicate", "queued" (to a worker)."""
    instance = instance or instance_id()
    scheduled_at = scheduled_at.astimezone(UTC)
    with app.app_context():
        try:
            run_id = claim_run(spec.id, scheduled_at, instance)
        except Exception:  # the database is away: nothing ran, the next trigger tries again
            log.exception("cannot record the run of %s at %s; not running it", spec.id, scheduled_at.isoformat())
            db.session.remove()
            return "error"
        if run_id is None:
            log.info("%s at %s already ran elsewhere; skipped here", spec.id, scheduled_at.isoformat())
            db.session.remove()
            return "duplicate"
        try:
            if (dispatch := app.extensions.get("councildesk_job_dispatch")) and spec.id not in app.config["SCALE_LOCAL_JOBS"]:
                dispatch(spec.id, scheduled_at, run_id)  # a worker runs it and records its outcome
                return "queued"
            return finish_run(spec, scheduled_at, run_id)
        except Exception as exc:  # the broker is away: the run says so
            _record_outcome(spec, scheduled_at, run_id, "error", f"not queued to the workers: {exc}"[:4000], {})
            return "error"
        finally:
            db.session.remove()


def finish_run(spec: JobSpec, scheduled_at: dt.datetime, run_id: int, before_record: Callable | None = None) -> str:
    """Run a claimed trigger, record its outcome; a worker's task key goes in with `before_record`."""
    outcome, error, counts = "ok", None, {}
    try:
        counts = _counts(spec.func(**_call_kwargs(spec.func, scheduled_at)))
    except Exception as exc:
        db.session.rollback()
        outcome, error = "error", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))[-4000:]
        log.exception("job %s (scheduled at %s) failed", spec.id, scheduled_at.isoformat())
        if before_record is not None:
            raise  # a worker's task: retried, then a dead letter
    _record_outcome(spec, scheduled_at, run_id, outcome, error, counts, before_record)
    return outcome


def _record_outcome(spec, scheduled_at, run_id, outcome, error, counts, before_record=None) -> None:
    if counts and outcome == "ok":
        log.info("%s: %s", spec.id, ", ".join(f"{k}={v}" for k, v in counts.items()))
    try:
        with write_transaction():
            (before_record or (lambda: None))()
            db.session.execute(update(JobRun).where(JobRun.id == run_id).values(
                outcome=outcome, error=error, counts=counts, finished_at=utcnow()))
    except Exception:
        if before_record is not None:
            raise
        log.exception("cannot record the outcome of %s at %s", spec.id, scheduled_at.isoformat())


def run_trigger(app: Flask, spec: JobSpec, instance: str, scheduled_at: dt.datetime | None = None) -> str:
    """What APScheduler calls: `scheduled_at` comes from RecordingExecutor."""
    if scheduled_at is None:  # only when called some other way than through our executor
        scheduled_at = dt.datetime.now(UTC).replace(microsecond=0)
    return execute(app, spec, scheduled_at, instance)


def _run_job(job, jobstore_alias, run_times, logger_name):
    """APScheduler's executors.base.run_job, passing each trigger's time to the job.

    (APScheduler 3 does not tell a job which trigger it runs for, and the run record's key
    needs it.) Misfire handling is kept as it is, for jobs that set a grace time.
    """
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent

    events = []
    logger = logging.getLogger(logger_name)
    for run_time in run_times:
        if job.misfire_grace_time is not None:
            late = dt.datetime.now(UTC) - run_time
            if late > dt.timedelta(seconds=job.misfire_grace_time):
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, jobstore_alias, run_time))
                logger.warning('Run time of job "%s" was missed by %s', job, late)
                continue
        try:
            retval = job.func(*job.args, scheduled_at=run_time, **job.kwargs)
        except BaseException:
            exc, tb = sys.exc_info()[1:]
            events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, jobstore_alias, run_time, exception=exc,
                                            traceback="".join(traceback.format_tb(tb))))
            logger.exception('Job "%s" raised an exception', job)
            traceback.clear_frames(tb)
            del tb
        else:
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, jobstore_alias, run_time, retval=retval))
    return events


class RecordingExecutor(BasePoolExecutor):
    """A thread pool executor whose jobs learn their trigger time (see `_run_job`)."""

    def __init__(self, max_workers: int):
        super().__init__(concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="scheduler-job"))

    def _do_submit_job(self, job, run_times):
        def callback(future):
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(_run_job, job, job._jobstore_alias, run_times, self._logger.name)
        future.add_done_callback(callback)


# --- the process ----------------------------------------------------------------------------------

def first_fire_after(trigger: BaseTrigger, moment: dt.datetime) -> dt.datetime | None:
    return trigger.get_next_fire_time(moment, moment + dt.timedelta(microseconds=1))


def catch_up_start(spec: JobSpec, trigger: BaseTrigger, last: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """The first trigger to run on taking over, when triggers were missed; None otherwise."""
    if spec.catch_up is None or last is None:
        return None
    start = first_fire_after(trigger, last)
    if start is None or start > now:
        return None
    horizon = trigger.get_next_fire_time(None, now - spec.catch_up)
    if horizon is not None and horizon > start:
        start = horizon
    return start if start <= now else None


def mark_interrupted(instance: str) -> int:
    with write_transaction():
        result = db.session.execute(update(JobRun).where(JobRun.outcome == "running", JobRun.instance != instance)
                                    .values(outcome="error", error=INTERRUPTED, finished_at=utcnow()))
    return result.rowcount or 0


def last_runs() -> dict[str, dt.datetime]:
    rows = db.session.execute(select(JobRun.job_id, func.max(JobRun.scheduled_at)).group_by(JobRun.job_id)).all()
    db.session.commit()
    return {job_id: (at if at.tzinfo else at.replace(tzinfo=UTC)) for job_id, at in rows}


class SchedulerProcess:
    def __init__(self, app: Flask, stop: threading.Event | None = None):
        self.app = app
        self.stop = stop or threading.Event()
        self.instance = instance_id()
        self.poll = float(app.config["SCHEDULER_STANDBY_POLL_SECONDS"])
        self.check = float(app.config["SCHEDULER_LOCK_CHECK_SECONDS"])

    def install_signals(self) -> None:
        def handle(signum, _frame):
            log.info("scheduler stopping (%s)", signal.Signals(signum).name)
            self.stop.set()

        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), handle)

    def run(self) -> int:
        lock = leader_lock(self.app)
        jobs = active_jobs(self.app)
        log.info("scheduler %s starting with %d job(s): %s; leadership by %s", self.instance, len(jobs),
                 ", ".join(s.id for s, _t in jobs) or "none", lock.describe())
        announced = False
        try:
            while not self.stop.is_set():
                if lock.try_acquire():
                    announced = False
                    lost = self._lead(lock, jobs)
                    lock.release()
                    if lost:
                        # Do not grab it back in the same breath: a standby may be taking over.
                        self.stop.wait(self.poll)
                    continue
                if not announced:
                    log.info("another scheduler is active; %s waits as standby (trying every %g s)",
                             self.instance, self.poll)
                    announced = True
                self.stop.wait(self.poll)
        finally:
            lock.dispose()
        log.info("scheduler %s stopped", self.instance)
        return 0

    def _build(self, jobs: list[tuple[JobSpec, BaseTrigger]]) -> BackgroundScheduler:
        # One thread per job: with max_instances=1 no job can ever wait for a thread.
        workers = max(4, len(jobs))
        scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": RecordingExecutor(workers)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1})
        with self.app.app_context():
            interrupted = mark_interrupted(self.instance)
            if interrupted:
                log.warning("%d run(s) left unfinished by the previous scheduler marked interrupted", interrupted)
            previous = last_runs()
            db.session.remove()
        now = dt.datetime.now(UTC)
        for spec, trigger in jobs:
            options: dict[str, Any] = {}
            start = catch_up_start(spec, trigger, previous.get(spec.id), now)
            if start is not None:
                options["next_run_time"] = start
                log.info("%s: catching up from %s", spec.id, start.isoformat())
            scheduler.add_job(run_trigger, trigger, args=(self.app, spec, self.instance), id=spec.id, name=spec.description or spec.id, coalesce=spec.coalesce,
                              misfire_grace_time=spec.misfire_grace_time, max_instances=spec.max_instances,
                              replace_existing=True, **options)
        scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        return scheduler

    def _skipped(self, event) -> None:
        times = getattr(event, "scheduled_run_times", None) or [getattr(event, "scheduled_run_time", None)]
        reason = ("the previous run was still going (max_instances)" if event.code == EVENT_JOB_MAX_INSTANCES
                  else "started too late (misfire_grace_time)")
        with self.app.app_context():
            try:
                for at in filter(None, times):
                    claim_run(event.job_id, at.astimezone(UTC), self.instance, outcome="skipped", error=reason)
            except Exception:
                log.exception("cannot record a skipped run of %s", event.job_id)
            finally:
                db.session.remove()

    def _lead(self, lock, jobs) -> bool:
        """Run the jobs while the lock holds; True when it was lost (not stopped)."""
        log.info("scheduler %s is active", self.instance)
        scheduler = self._build(jobs)
        scheduler.start()
        try:
            while not self.stop.wait(self.check):
                if not lock.still_held():
                    log.error("scheduler %s lost its lock (%s): it stops scheduling now and waits as standby",
                              self.instance, lock.describe())
                    scheduler.shutdown(wait=False)
                    return True
        finally:
            if scheduler.running:
                # Stopped by a signal: let the running jobs finish, so their runs are recorded.
                scheduler.shutdown(wait=True)
        return False


# --- command line ---------------------------------------------------------------------------------

@click.group("scheduler", cls=AppGroup, invoke_without_command=True,
             help="Run the scheduler process (health checks, reminders, mail, reports) until stopped.")
@click.pass_context
@with_appcontext
def scheduler_cli(ctx: click.Context):
    if ctx.invoked_subcommand is not None:
        return
    app = current_app._get_current_object()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every run at INFO; our own run records say more, once.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    process = SchedulerProcess(app)
    process.install_signals()
    sys.exit(process.run())


@scheduler_cli.command("jobs")
def jobs_command():
    """List the jobs this installation runs, with their next fire time."""
    app = current_app._get_current_object()
    now = dt.datetime.now(UTC)
    for spec, trigger in active_jobs(app):
        following = trigger.get_next_fire_time(None, now)
        click.echo(f"{spec.id:<28} next {following.isoformat() if following else '-':<32} {trigger}")


@scheduler_cli.command("run-job")
@click.argument("job_id")
def run_job_command(job_id: str):
    """Run one job now (recorded like a scheduled run)."""
    app = current_app._get_current_object()
    specs = {spec.id: spec for spec, _t in active_jobs(app)}
    if job_id not in specs:
        raise click.ClickException(f"no job {job_id!r}; see `flask scheduler jobs`")
    outcome = execute(app, specs[job_id], dt.datetime.now(UTC).replace(microsecond=0))
    click.echo(f"{job_id}: {outcome}")
    if outcome == "error":
        sys.exit(1)

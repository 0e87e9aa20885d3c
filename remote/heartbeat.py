"""Is the scheduler alive? Read from its runs, for the banner on staff pages and the health pages.

The scheduler has no heartbeat table: every trigger it fires is a `scheduler_job_runs` row
inserted before the job runs (remote.scheduler), and two of its jobs tick every minute. So the
newest `started_at` *is* its heartbeat, and it is the same thing /admin/scheduler reads. No run
for SCHEDULER_STALE_SECONDS (10 minutes) means no process is leading.

While it is stale, some states in the database stop being true: the agent-silence check
("agent:offline") and the SSH checks are judged only by its jobs, so they keep their last
state while the agent list (which is computed from the last report at read time) already says
"offline". The demo showed "Agent: offline" beside "Agent reports: OK". Pages therefore show
those states as unknown, with the reason, instead of two answers that contradict.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app, has_request_context, request
from sqlalchemy import func, select

from core.db import utcnow
from extensions import db
from remote.models import JobRun

DEFAULT_STALE_SECONDS = 600

# The checks whose state only scheduler jobs move (remote.jobs.detect_offline, run_ssh_round).
SCHEDULER_JUDGED_KEYS = ("agent:offline",)
SCHEDULER_JUDGED_SOURCES = ("ssh",)
_KEY = "councildesk.scheduler_status"


@dataclass(frozen=True)
class SchedulerStatus:
    last_run: dt.datetime | None
    stale: bool


def last_run() -> dt.datetime | None:
    """When the newest job run started (any job, any process)."""
    # The newest rows by scheduled time (indexed) are the newest started; max() over started_at
    # would scan the whole table.
    newest = db.session.scalar(select(func.max(JobRun.scheduled_at)))
    if newest is None:
        return None
    started = db.session.scalar(select(func.max(JobRun.started_at)).where(
        JobRun.scheduled_at >= newest - dt.timedelta(days=1)))
    return started or newest


def status(now: dt.datetime | None = None) -> SchedulerStatus:
    """The scheduler's status, computed once per request (kept on the request, not on `g`: an
    app context, and its `g`, can outlive one request)."""
    cached = has_request_context() and now is None
    if cached and _KEY in request.environ:
        return request.environ[_KEY]
    moment = now or utcnow()
    limit = dt.timedelta(seconds=current_app.config.get("SCHEDULER_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    last = last_run()
    result = SchedulerStatus(last, last is None or moment - last > limit)
    if cached:
        request.environ[_KEY] = result
    return result


def shown_summary(check) -> str:
    from flask_babel import gettext as _

    from remote.texts import summary

    if scheduler_judged(check) and status().stale:
        return _("Unknown: monitoring is not running (the scheduler has stopped).")
    return summary(check.summary_key, check.summary_params)


def scheduler_judged(check) -> bool:
    return check.key in SCHEDULER_JUDGED_KEYS or check.source in SCHEDULER_JUDGED_SOURCES


def shown_state(check) -> str:
    """The state a page shows: "unknown" for a state nobody is keeping up to date."""
    if scheduler_judged(check) and status().stale:
        return "unknown"
    return check.state


def shown_agent_status(value: str | None) -> str | None:
    """While the scheduler is stopped an agent's "offline" cannot be told from CouncilDesk's own
    monitoring being down, and its silence check beside it is unknown: say unknown, with the
    reason (its last report time is still shown: that is a fact)."""
    if value == "offline" and status().stale:
        return "stalled"
    return value

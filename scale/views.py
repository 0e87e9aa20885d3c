"""The operations page: the broker, its queues, the workers, the tasks (admins and managers)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from core.access import MANAGERS, allow
from scale import broker, services

bp = Blueprint("scale", __name__)


def _workers(app) -> list[str]:
    celery = broker.celery_for(app)
    if celery is None:
        return []
    try:
        # A short wait: the page must come back even when no worker is there to answer.
        replies = celery.control.inspect(timeout=0.5).ping() or {}
    except Exception:
        return []
    return sorted(replies)


@bp.get("/admin/operations")
@allow(*MANAGERS)
def operations():
    app = current_app._get_current_object()
    status = broker.broker_status(app)
    depths = broker.queue_depths(app) if status == "ok" else {}
    workers = _workers(app) if status == "ok" else []
    dead_count, _rows = services.dead_letters(limit=0)
    return render_template("scale/operations.html", broker=status, depths=depths, workers=workers,
                           figures=services.task_figures(), dead_count=dead_count)

"""What the broker module and the tasks share: the task names and the Flask-aware task class."""

from __future__ import annotations

from celery import Task

TASK_SSH_HOST = "scale.ssh_host"
TASK_RUN_JOB = "scale.run_job"
TASK_FANOUT = "scale.fanout"


class FlaskTask(Task):
    """Every task runs inside the Flask app's context (its database session, config, babel)."""

    abstract = True

    def __call__(self, *args, **kwargs):
        from extensions import db

        with self.app.flask_app.app_context():
            try:
                return super().__call__(*args, **kwargs)
            finally:
                db.session.remove()

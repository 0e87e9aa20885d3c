"""Remote health checks: agents that report in, agentless SSH checks, alerts that open
tickets, and the scheduler process that runs every periodic job (`flask scheduler`).

One subject per module. The checks, free of Flask and the database: `judging` (states,
thresholds, results), `catalogue` (the SSH checks: parameters, commands, defaults), `parsers`
(reading what a host printed). The SSH engine, likewise: `ssh_transport` (sockets, banner probe,
commands on a kept connection), `hostkeys` (host key values, fingerprints, pinning),
`ssh_connect` (logging in), `rounds` (many hosts at once). The rules: `agents` (enrollment keys,
tokens, liveness), `agent_protocol` and `ingest` (what agents send, and storing it),
`state_machine` (every result's way to a check's state), `check_config`, `ssh_settings`,
`hostkey_approval`, `alerts`, `health` (overview and history). The scheduler: `scheduler` (the
process and its jobs' runs), `leadership` (which process is active), `jobs` (remote's jobs).
Then the usual `models`, `views`, `api`, `forms`, `cli`, `texts`, `charts`, `crypto`, `demo`.

Nothing is imported at module level: `python -m remote.agent` imports this package first,
and the agent on a council machine must not pay for Flask and SQLAlchemy (measured: 22 MB of
RSS and 0.2 s to start without them, 55 MB and 0.8 s with them; bench/agent_footprint.py).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flask import Flask


def _agent():
    """The agent behind `Authorization: Bearer <agent token>`, for `@agent_only` routes."""
    from flask import g, request

    from core.db import write_intent
    from extensions import login_manager
    from remote.agents import agent_for_token

    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    principal = None
    if scheme.lower() == "bearer" and credentials.strip():
        # A read (no write lock on SQLite): the report reads on in the same transaction and
        # takes the lock only for its writes (remote.ingest.ingest_report).
        with write_intent(False):
            principal = agent_for_token(credentials.strip())
    # Agents are not users: nothing on these routes may pick a user up from a cookie.
    g._login_user = login_manager.anonymous_user()
    g.remote_agent = principal
    return principal


def _lookup(model):
    def lookup(value):
        from sqlalchemy import select

        from core.db import MAX_ID
        from extensions import db

        if not isinstance(value, int) or not 0 < value <= MAX_ID:
            return None
        return db.session.execute(select(model.id).where(model.id == value)).first()

    return lookup


def init_app(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from core.access import ADMIN, ALL_ROLES, register_authenticator, register_path_object
    from core.ui import NavItem, register_nav
    from inventory.models import Asset
    from remote import alerts, api, audit_labels, heartbeat, jobs, texts, views
    from remote.cli import agents_cli, remote_cli
    from remote.models import Agent, Check, HostKey
    from remote.scheduler import scheduler_cli

    audit_labels.register()
    register_authenticator("agent", _agent)
    register_path_object("asset_id", lookup=_lookup(Asset))
    register_path_object("check_id", lookup=_lookup(Check))
    register_path_object("agent_id", lookup=_lookup(Agent))
    register_path_object("key_id", lookup=_lookup(HostKey))
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.cli.add_command(agents_cli)
    app.cli.add_command(remote_cli)
    app.cli.add_command(scheduler_cli)
    alerts.register_kinds()
    jobs.register_kinds()
    jobs.register_jobs()
    app.jinja_env.globals.update(
        remote_panel=views.panel,
        remote_summary=texts.summary,
        remote_check_label=texts.check_label,
        remote_state_label=texts.state_label,
        remote_source_label=texts.source_label,
        remote_reason_label=texts.reason_label,
        scheduler_job_label=texts.job_label,
        remote_check_state=heartbeat.shown_state,
        remote_check_summary=heartbeat.shown_summary,
        remote_agent_status=heartbeat.shown_agent_status,
        scheduler_status=heartbeat.status,
    )
    register_nav(app, NavItem("remote.overview", _l("Health"), frozenset(ALL_ROLES), "heart-pulse", 50),
                 NavItem("remote.job_runs", _l("Scheduler"), frozenset(ADMIN), "stopwatch", 920, menu="admin"))

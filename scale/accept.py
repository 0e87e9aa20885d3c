"""The web node's side of agent reports with a broker: check, publish, answer 202.

The report is validated and authenticated exactly as on the direct path (the same body
model, the same token check, the same `prepare_report` refusals); then it is published
persistently and the 202 goes out only once RabbitMQ has confirmed it. A broker that cannot
take it gets the agent a 503 `unavailable` with Retry-After: the agent keeps the report in
its spool and sends it again, so nothing answered 202 is ever lost, and nothing else is
promised.
"""

from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l

from core.db import utcnow
from core.errors import DomainError
from extensions import db
from remote.agent_protocol import AgentRevoked, ReportAccepted, ReportIn
from remote.ingest import admit, prepare_report, read_agent
from scale.broker import BROKER_AWAY, BrokerUnavailable, publish_report


class BrokerAway(DomainError):
    status = 503
    code = "unavailable"
    default_message = _l("Reports cannot be taken just now; send this one again later.")

    def __init__(self, retry_after: int):
        super().__init__()
        self.headers = {"Retry-After": str(int(retry_after))}


def report_message(principal, report: ReportIn, received) -> dict:
    return {"agent": principal.id, "council": principal.council_id, "asset": principal.asset_id,
            "interval": principal.report_interval_seconds, "previous": principal.previous_interval_seconds,
            "received": received.isoformat(), "report": report.model_dump_json()}


def queue_report(principal, report: ReportIn, *, broker_away: bool = False) -> ReportAccepted:
    """Gate, publish, and say what the agent hears; `broker_away`: the broker was just found
    away (by the report door) and is not tried again."""
    app = current_app._get_current_object()
    received = utcnow()
    prepared = prepare_report(report, received)
    # The same gate as the direct path (enrolment awaiting approval, too frequent), read here
    # so the agent hears it now; the writer judges the rest. (Its "last fresh report" moves
    # when the writer stores a report, so a burst faster than the writer can slip a few by.)
    agent = read_agent(db.session.connection(), principal.id)
    if agent is None or agent.revoked_at is not None:
        db.session.rollback()
        raise AgentRevoked()
    gate = admit(db.session.connection(), agent, principal.id, prepared)
    # Nothing is written here: the read ends before the wait for the broker's confirm.
    db.session.rollback()
    if gate is not None:
        return gate
    if not broker_away:
        try:
            publish_report(app, report_message(principal, report, received))
            return ReportAccepted(status="accepted", report_interval_seconds=prepared.interval)
        except BrokerUnavailable as exc:
            current_app.logger.warning("agent report refused with 503: the broker is away (%s)", exc)
    raise BrokerAway(app.config["SCALE_RETRY_AFTER"])


def queue_requested_report(principal, report: ReportIn) -> ReportAccepted:
    """The report endpoint's hook (app.extensions["councildesk_report_queue"])."""
    return queue_report(principal, report, broker_away=BROKER_AWAY in request.environ)

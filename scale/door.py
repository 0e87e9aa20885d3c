"""The report door: with a broker, an accepted agent report is answered below Flask's pipeline.

An agent report is the one request a fleet sends all day (250,000 agents at a 120 s interval
are 2,100 a second), and with a broker its work is small: check the token, validate, gate,
publish. Flask's request pipeline around it (request and session objects, the access,
CSRF, NUL, enrolment, mail and header hooks, the error handlers, the JSON response) cost
more than that work itself (measured: bench/scale_out.py). So the door, a WSGI layer in
front of the app, serves the *accepted* case with the very functions the Flask view calls:
`ReportIn` for validation, `agent_for_token` for the token, and `scale.accept.queue_report`
for the gate and the broker (the view's own queued path). Everything else is
not decided here: a body over the cap or of another type, a missing or bad token, invalid
fields, a pending enrolment, a report too soon, a duplicate, the broker away: the request goes
on, untouched (its body put back), to the Flask view, which answers it as it always has. So
there is one set of rules and one set of error answers; the door only has a shorter way to
say 202.

The answer carries the headers the app's own API answers carry (core.security).
"""

from __future__ import annotations

import io

from flask import Flask

from core.errors import DomainError
from remote.agent_protocol import ReportIn
from scale.broker import BROKER_AWAY

PATH = "/api/v1/agents/report"


class ReportDoor:
    def __init__(self, app: Flask, inner):
        from core.security import api_headers

        self.app = app
        self.inner = inner
        self.headers = api_headers()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.inner(environ, start_response)
        answer = self._accept(environ)
        if answer is None:
            return self.inner(environ, start_response)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(answer))), *self.headers]
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(("Strict-Transport-Security", "max-age=31536000"))
        start_response("202 ACCEPTED", headers)
        return [answer]

    def _accept(self, environ) -> bytes | None:
        """The 202's body when the report is taken here; None: the Flask view decides."""
        if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if not 0 < length <= self.app.config["REMOTE_AGENT_MAX_BODY"]:
            return None  # no length (chunked), or over the cap: the view's 413 and 400s
        body = environ["wsgi.input"].read(length)
        # Whatever happens next, the view may have to read the body again.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if len(body) != length:
            return None
        scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return None
        try:
            report = ReportIn.model_validate_json(body)
        except (ValueError, UnicodeDecodeError):  # pydantic's ValidationError is a ValueError
            return None
        return self._take(environ, credentials.strip(), report)

    def _take(self, environ, token: str, report: ReportIn) -> bytes | None:
        from core.db import write_intent
        from extensions import db
        from remote.agents import agent_for_token
        from scale.accept import BrokerAway, queue_report

        with self.app.app_context():
            try:
                with write_intent(False):
                    principal = agent_for_token(token)
                    outcome = queue_report(principal, report) if principal is not None else None
            except BrokerAway:
                # The view answers 503 at once: trying the broker a second time would only
                # double the agent's wait.
                environ[BROKER_AWAY] = "1"
                return None
            except DomainError:
                return None  # the view answers with the contract's error
            finally:
                db.session.remove()
        if outcome is None or outcome.status != "accepted":
            return None  # a duplicate: the view gives its answer
        return outcome.model_dump_json().encode()


def install(app: Flask) -> None:
    """Put the door in front of the Flask app, behind ProxyFix when there is one (so that the
    scheme it sees is the client's)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    if isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app.app = ReportDoor(app, app.wsgi_app.app)
    else:
        app.wsgi_app = ReportDoor(app, app.wsgi_app)

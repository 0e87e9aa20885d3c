"""Error responses for both kinds of caller: the page a browser gets, and the handlers that
answer every error either with it or, on the API, with the contract's JSON body (`core.api`).

The UI helpers (`core.ui`) and the API plumbing (`core.api`) both sit below this module and
neither imports the other: this is where they meet.
"""

from __future__ import annotations

from flask import Flask, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from core.access import is_api_request
from core.api import HTTP_CODES, HTTP_MESSAGES, ApiAbort, error_response
from core.errors import DomainError

ERROR_TITLES = {
    400: _l("The request could not be understood"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("This action is not allowed here"),
    409: _l("This conflicts with the current state"),
    413: _l("The file or form is too large"),
    422: _l("Some data is not valid"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong"),
}

ERROR_HINTS = {
    403: _l("Your role does not give access to this page. If you think it should, ask the office."),
    404: _l("It may have been moved, or the address is wrong."),
    413: _l("Files can be up to 10 MB."),
    429: _l("Wait a minute and try again."),
    500: _l("The office has been told. Nothing you saved before was lost; please try again."),
}


def render_error_page(status: int, message=None, exc=None):
    title = ERROR_TITLES.get(status, ERROR_TITLES[500] if status >= 500 else ERROR_TITLES[400])
    hint = message or ERROR_HINTS.get(status)
    resp = current_app.make_response(
        (render_template("errors/error.html", status=status, title=title, hint=hint), status)
    )
    if exc is not None and hasattr(exc, "get_response"):
        for name in ("Allow", "Retry-After"):
            value = exc.get_response().headers.get(name)
            if value:
                resp.headers[name] = value
    return resp


def handle_errors(app: Flask) -> None:
    """Every error, answered in the caller's terms: the contract's JSON body on the API, the
    error page elsewhere."""

    @app.errorhandler(ApiAbort)
    def _api_abort(exc: ApiAbort):
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        if is_api_request():
            resp = error_response(exc.status, exc.code, exc.message, exc.fields)
            # An error may say when to come back (the agents' 429, a broker's 503): Retry-After kept.
            for name, value in (getattr(exc, "headers", None) or {}).items():
                resp.headers[name] = value
            return resp
        # Without a message of its own, the page's usual hint reads better than a generic line.
        return render_error_page(exc.status, exc.message if exc.has_message else None)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if is_api_request():
            status = exc.code or 500
            resp = error_response(status, HTTP_CODES.get(status, "error"),
                                  HTTP_MESSAGES.get(status, exc.description or ""))
            # Keep the headers werkzeug or Flask-Limiter put on the error (Allow, Retry-After).
            for name in ("Allow", "Retry-After"):
                value = exc.get_response().headers.get(name)
                if value:
                    resp.headers[name] = value
            return resp
        from flask_wtf.csrf import CSRFError

        if isinstance(exc, CSRFError):
            # Usually a session that expired while the form was open: say so, and what to do.
            return render_error_page(400, _l("The form expired. Go back, reload the page and submit it again."), exc)
        return render_error_page(exc.code or 500, None, exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if is_api_request():
            return error_response(500, "internal_error", HTTP_MESSAGES[500])
        return render_error_page(500, None)


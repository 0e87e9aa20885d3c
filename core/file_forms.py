"""Forms that carry a file, and the body size they may have.

Their body may exceed MAX_CONTENT_LENGTH (up to TICKET_FORM_MAX_BYTES) so that an oversized
file becomes a field error with everything typed kept, not a bare 413 page that loses a
clerk's whole request (lessons.md). Domains name their endpoints; one hook raises the limit.
"""

from __future__ import annotations

from flask import Flask, current_app, request

_KEY = "councildesk_file_forms"


def allow_large_bodies(app: Flask, *endpoints: str) -> None:
    """Let these endpoints' POST bodies reach TICKET_FORM_MAX_BYTES."""
    known = app.extensions.get(_KEY)
    if known is None:
        known = app.extensions[_KEY] = set()
        # First of all before-request functions: CSRF protection reads the form, and would
        # meet the app-wide size limit before a view could raise it.
        app.before_request_funcs.setdefault(None, []).insert(0, _raise_limit)
    known.update(endpoints)


def _raise_limit() -> None:
    if request.method == "POST" and request.endpoint in current_app.extensions[_KEY]:
        request.max_content_length = max(current_app.config["TICKET_FORM_MAX_BYTES"],
                                         current_app.config["MAX_CONTENT_LENGTH"] or 0)

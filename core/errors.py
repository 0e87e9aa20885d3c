"""Domain errors raised by services.

Services know nothing of HTTP; each error nevertheless carries the status the API maps it
to and a stable snake_case code from the contract. Messages are lazy strings so that they
come out in the language of whoever reads them.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    status = 400
    code = "bad_request"
    # What the API says (and a page shows) when the service gave no message of its own: the
    # contract's `message` is human text, never just the code.
    default_message = _l("The request could not be understood.")
    has_message = True  # until __init__ says otherwise

    def __init__(self, message=None, *, code: str | None = None, fields: dict | None = None):
        super().__init__(str(message) if message is not None else self.code)
        self.has_message = message is not None
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        self.fields = dict(fields or {})


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = _l("Not found.")


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"
    default_message = _l("Your role does not allow this.")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = _l("The request conflicts with the current state.")


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"
    default_message = _l("Some fields are not valid.")

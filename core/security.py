"""HTTP-level protections: security headers, the session cookie's Secure flag, NUL in input."""

from __future__ import annotations

from flask import Flask, abort, request
from flask.sessions import SecureCookieSessionInterface

# No inline script anywhere: templates load /static/js/*.js only. Inline style attributes
# are refused too; widths of progress bars and the like come from classes or <progress>.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# SVG charts carry matplotlib's own <style>; opened directly they still must not run script.
CSP_SVG = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


class SessionInterface(SecureCookieSessionInterface):
    """Secure cookies whenever the request itself came over HTTPS (or when forced)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        try:
            return request.is_secure
        except RuntimeError:
            return False


_STATIC_HEADERS = (("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
                   ("Referrer-Policy", "same-origin"), ("Cross-Origin-Opener-Policy", "same-origin"),
                   ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"))


def api_headers() -> list[tuple[str, str]]:
    """What `_headers` gives an API answer over plain HTTP, for an answer made outside Flask's
    pipeline (scale.door); HTTPS adds Strict-Transport-Security."""
    return [("Content-Security-Policy", CSP), *_STATIC_HEADERS, ("Cache-Control", "no-store")]


def _headers(response):
    headers = response.headers
    if response.mimetype == "image/svg+xml":
        headers.setdefault("Content-Security-Policy", CSP_SVG)
    else:
        headers.setdefault("Content-Security-Policy", CSP)
    for name, value in _STATIC_HEADERS:
        headers.setdefault(name, value)
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # Flask-Login's remember-me cookie has a fixed Secure setting; like the session
        # cookie, it must be Secure whenever the request came over HTTPS.
        cookies = headers.getlist("Set-Cookie")
        if any(c.startswith("remember_token=") and "; Secure" not in c for c in cookies):
            headers.remove("Set-Cookie")
            for c in cookies:
                headers.add("Set-Cookie", c + "; Secure" if c.startswith("remember_token=") and "; Secure" not in c else c)
    if response.mimetype == "text/html" or request.path.startswith("/api/"):
        # Pages and API answers show data of one user; no cache may keep them (an archived
        # report's file, immutable and private, says so itself).
        headers.setdefault("Cache-Control", "no-store")
    return response


_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse_nul():
    """NUL has no place in anything a person types, and PostgreSQL cannot store it in text:
    refuse it as bad input here, once, instead of as a 500 wherever it reaches a query.
    (JSON bodies are checked field by field by the API models, core.api.)"""
    if "\x00" in request.path:
        abort(404)
    pairs = list(request.args.items(multi=True))
    if request.mimetype in _FORM_TYPES:
        pairs += request.form.items(multi=True)
        # File names reach the database (attachments) as much as field values do.
        pairs += [(key, upload.filename) for key, upload in request.files.items(multi=True)]
    # A malformed multipart part can come without a name (key None): nothing to refuse there.
    if any("\x00" in (key or "") or "\x00" in (value or "") for key, value in pairs):
        abort(400)


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    app.before_request(_refuse_nul)
    app.after_request(_headers)
    if app.config["PROXY_FIX_X_FOR"] or app.config["PROXY_FIX_X_PROTO"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"],
                                x_proto=app.config["PROXY_FIX_X_PROTO"])

"""Users, roles, sign-in, personal tokens and the audit log."""

from __future__ import annotations

import logging

from flask import Flask, current_app, flash, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from core import access
from core.ui import NavItem, register_nav
from extensions import login_manager

log = logging.getLogger("councildesk.security")

# What a user who must set up two-step sign-in may still reach (and the static files).
ENROLMENT_ENDPOINTS = frozenset({
    "accounts.two_factor", "accounts.two_factor_start", "accounts.two_factor_confirm",
    "accounts.logout", "accounts.password_check", "core.set_language", "static",
})


def _load_user(session_key: str):
    from accounts import sessions

    # Ended, idle for too long, past its lifetime, or its user deactivated: the request is
    # anonymous, and the session (and its remember-me cookie) is over.
    return sessions.load(session_key, ip_address=request.remote_addr)


def _api_user():
    from accounts import throttle, tokens
    from core.api import ApiAbort

    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    user = None
    policy = access.policy_for(current_app, request.endpoint)
    # Public routes (the OpenAPI document, agent enrolment) only want to know who calls, if
    # anyone: a bad token there is ignored, as it always was.
    strict = policy is not None and policy.kind != "public"
    g._login_user = login_manager.anonymous_user()  # until a token proves otherwise
    if scheme.lower() == "bearer" and credentials.strip():
        user, status = tokens.check_token(credentials.strip())
        if user is None and strict:
            # Valid tokens are never held up (they cannot be guessed); an address that keeps
            # sending unknown ones is told to wait.
            wait = throttle.token_wait(request.remote_addr)
            if wait:
                raise TooManyRequests(retry_after=wait)
            throttle.token_failed(request.remote_addr)
            if status == "expired":
                raise ApiAbort(401, "unauthorized", _l("This token has expired; create a new one."))
    # Flask-Login reads the user from here: on the API `current_user` is the token's user or
    # anonymous, and a session cookie a browser may send is never looked at.
    g._login_user = user if user is not None else login_manager.anonymous_user()
    return user


def _enrolment_gate():
    """A user whose role requires two-step sign-in and who has not set it up does that first,
    and nothing else (API tokens are a separate credential and are not concerned)."""
    from accounts import totp

    if access.is_api_request() or request.endpoint in ENROLMENT_ENDPOINTS or request.endpoint is None:
        return None
    policy = access.policy_for(current_app, request.endpoint)
    if policy is None or policy.kind != "roles":  # public pages (health, transparency) stay public
        return None
    if not current_user.is_authenticated or not totp.required_roles():
        return None
    if totp.must_enrol(current_user):
        if request.method == "GET":
            flash(_l("Your role requires two-step sign-in. Set it up to continue."), "warning")
        return redirect(url_for("accounts.two_factor"))
    return None


def init_app(app: Flask) -> None:
    from accounts import account_views, admin_views, api, passwords, sessions, views  # noqa: F401  (routes; sessions sets User.open_session)
    from accounts.cli import tokens_cli, users_cli
    from accounts.models import User

    access.register_path_object("user_id", User)
    login_manager.user_loader(_load_user)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    access.register_authenticator("api_user", _api_user)
    app.jinja_env.globals.update(password_rules=passwords.rules_text, password_length_rule=passwords.length_rule)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    # After the access hook (registered earlier), which has already sent anonymous users away.
    app.before_request(_enrolment_gate)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    from accounts import audit_labels

    audit_labels.register()
    register_nav(
        app,
        NavItem("accounts.users", _l("Users"), frozenset({"admin"}), "people", 900, menu="admin"),
        NavItem("accounts.audit_log", _l("Audit log"), frozenset({"admin"}), "journal-text", 910, menu="admin"),
    )
    with app.app_context():
        _warn_unconfigured(app)


def _warn_unconfigured(app: Flask) -> None:
    from accounts import totp

    if app.config.get("ENV_NAME") == "production" and totp.required_roles() and not totp.ring.configured():
        log.error("TOTP_ENCRYPTION_KEYS is not set: users of the roles %s must set up two-step "
                  "sign-in and cannot. Set COUNCILDESK_TOTP_ENCRYPTION_KEYS (`flask users new-totp-key`).",
                  ", ".join(sorted(totp.required_roles())))


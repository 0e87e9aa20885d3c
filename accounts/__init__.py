"""Users, roles, sign-in, personal tokens and the audit log."""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import lazy_gettext as _l

from core import access
from core.ui import NavItem, register_nav
from extensions import db, login_manager


def _load_user(session_id: str):
    from accounts.models import User

    user_id, _, version = (session_id or "").partition(".")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    # A deactivated user, or one whose password changed, has an outdated session: treat the
    # request as anonymous so it ends right here.
    if user is None or not user.active or user.auth_version != int(version):
        return None
    return user


def _api_user():
    from accounts.services import user_for_token

    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and credentials.strip():
        user = user_for_token(credentials.strip())
    # Flask-Login reads the user from here: on the API `current_user` is the token's user or
    # anonymous, and a session cookie a browser may send is never looked at.
    g._login_user = user if user is not None else login_manager.anonymous_user()
    return user


def init_app(app: Flask) -> None:
    from accounts import api, views
    from accounts.cli import tokens_cli, users_cli
    from accounts.models import User

    access.register_path_object("user_id", User)
    login_manager.user_loader(_load_user)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    access.register_authenticator("api_user", _api_user)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    register_nav(
        app,
        NavItem("accounts.users", _l("Users"), frozenset({"admin"}), "people", 900),
        NavItem("accounts.audit_log", _l("Audit log"), frozenset({"admin"}), "journal-text", 910),
    )

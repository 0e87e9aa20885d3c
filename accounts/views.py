"""Signing in (password, then a code when two-step sign-in is on) and out."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from accounts import services, sessions, throttle, totp
from accounts.forms import CodeForm, ConfirmForm, LoginForm
from accounts.models import User
from core.access import ALL_ROLES, allow, public, safe_next_url
from extensions import db

bp = Blueprint("accounts", __name__)
log = logging.getLogger("councildesk.security")

# Between the password and the code: who, since when, and what to do after.
PENDING = "_pending_login"
PENDING_SECONDS = 600


def _fresh_session() -> None:
    """A new session at every step of signing in defeats session fixation; the language the
    visitor chose stays."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def _complete_login(user: User, *, remember: bool, next_url: str, email: str):
    _fresh_session()
    services.start_session(user, remember=remember, user_agent=request.headers.get("User-Agent", ""),
                           ip_address=request.remote_addr)
    login_user(user, remember=remember)
    response = redirect(safe_next_url(next_url, url_for("core.home")))
    # This browser is now known to the account: a guesser elsewhere no longer slows it down.
    throttle.set_device_cookie(response, email)
    return response


def _throttled(template: str, wait: int, **context):
    response = current_app.make_response((render_template(template, wait=wait,
                                                          wait_message=services.wait_message(wait),
                                                          **context), 429))
    response.headers["Retry-After"] = str(wait)
    return response


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next"), url_for("core.home")))
    form = LoginForm(next=request.args.get("next", ""))
    failed = False
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        guard = throttle.LoginGuard.for_attempt(email, request.remote_addr)
        wait = guard.wait()
        if wait:
            # No password is checked while the brake is on, right or wrong.
            return _throttled("accounts/login.html", wait, form=form, failed=False)
        user = services.authenticate(email, form.password.data)
        if user is not None:
            guard.succeeded()
            if totp.is_enabled(user):
                _fresh_session()
                session[PENDING] = {"uid": user.id, "at": int(time.time()), "email": email,
                                    "remember": bool(form.remember.data), "next": form.next.data or ""}
                return redirect(url_for("accounts.login_code"))
            return _complete_login(user, remember=bool(form.remember.data), next_url=form.next.data,
                                   email=email)
        failed = True
        log.warning("failed login for %r from %s", email[:254], request.remote_addr)
        exhausted = guard.failed()
        if exhausted:
            log.warning("sign-in throttled (%s) for %r from %s", ", ".join(exhausted), email[:254],
                        request.remote_addr)
            services.record_throttled(email, request.remote_addr, exhausted)
    elif request.method == "POST":
        failed = True
    # One message whatever went wrong, so the page never tells which accounts exist.
    return render_template("accounts/login.html", form=form, failed=failed)


def _pending_user() -> tuple[User | None, dict]:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None, {}
    user = db.session.get(User, pending.get("uid"))
    if user is None or not user.active or not totp.is_enabled(user):
        return None, {}
    return user, pending


@bp.route("/login/code", methods=["GET", "POST"])
@public
def login_code():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    user, pending = _pending_user()
    if user is None:
        session.pop(PENDING, None)
        flash(_("Sign in again: the page to type the code was open for too long."), "info")
        return redirect(url_for("accounts.login"))
    form = CodeForm()
    if form.validate_on_submit():
        wait = throttle.code_wait(user.id)
        if wait:
            return _throttled("accounts/login_code.html", wait, form=form)
        kind = totp.verify(user, form.code.data)
        if kind is not None:
            if kind == "recovery":
                left = totp.record_recovery_use(user)
                flash(_("You signed in with a recovery code. %(n)d left: if you lost your phone, "
                        "set up two-step sign-in again on your account page.", n=left), "warning")
            db.session.commit()
            return _complete_login(user, remember=pending["remember"], next_url=pending["next"],
                                   email=pending["email"])
        db.session.rollback()
        log.warning("wrong sign-in code for %r from %s", user.email, request.remote_addr)
        if throttle.code_failed(user.id):
            services.record_throttled(user.email, request.remote_addr, ["code"])
        form.code.errors.append(_("This code is not right. Type the code your app shows now, "
                                  "or one of your recovery codes."))
    return render_template("accounts/login_code.html", form=form)


@bp.post("/logout")
@allow(*ALL_ROLES)
def logout():
    form = ConfirmForm()
    if form.validate_on_submit():
        record = sessions.current_record(current_user._get_current_object())
        # Clear first: logout_user() leaves "forget the remember-me cookie" in the session,
        # and clearing after it would drop that, keeping the user signed in on this device.
        session.clear()
        logout_user()
        # Ended on the server too: a copy of this browser's cookies is worth nothing now.
        services.end_current_session(record)
        flash(_("You have signed out."), "info")
    return redirect(url_for("accounts.login"))

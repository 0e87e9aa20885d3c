"""A user's own account: details, password, sessions, two-step sign-in, API tokens."""

from __future__ import annotations

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import select

from accounts import passwords, services, sessions, tokens, totp
from accounts.forms import (
    CodeForm,
    ConfirmForm,
    ElsewhereForm,
    PasswordAgainForm,
    PasswordChangeForm,
    ProfileForm,
    TokenForm,
    TwoFactorDisableForm,
)
from accounts.models import ApiToken
from accounts.views import bp
from core.access import ALL_ROLES, allow
from core.crypto import CryptoNotConfigured
from core.errors import DomainError
from core.ui import apply_errors
from extensions import db, limiter


def _me():
    return current_user._get_current_object()


def _account_page(**forms):
    user = _me()
    forms.setdefault("profile", ProfileForm(prefix="profile", obj=user))
    forms.setdefault("password", PasswordChangeForm(prefix="pw"))
    forms.setdefault("elsewhere", ElsewhereForm(prefix="elsewhere"))
    current = sessions.current_record(user)
    return render_template("accounts/account.html", live=sessions.live_sessions(user),
                           current_id=current.id if current is not None else None,
                           describe=sessions.describe_agent, confirm=ConfirmForm(),
                           totp_on=totp.is_enabled(user), totp_required=totp.is_required(user), **forms)


@bp.route("/account", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def account():
    user = _me()
    profile = ProfileForm(prefix="profile", obj=user)
    password = PasswordChangeForm(prefix="pw")
    elsewhere = ElsewhereForm(prefix="elsewhere")
    if request.method == "GET":
        profile.preferred_language.data = user.preferred_language or ""
    if "profile-name" in request.form and profile.validate_on_submit():
        try:
            services.update_user(user, actor=user, name=profile.name.data,
                                 preferred_language=profile.preferred_language.data or None,
                                 role=user.role, council_id=user.council_id)
        except DomainError as exc:
            apply_errors(profile, exc)
        else:
            session.pop("lang", None)
            flash(_("Your details were saved."), "success")
            return redirect(url_for("accounts.account"))
    if "pw-current_password" in request.form and password.validate_on_submit():
        try:
            revoked = services.change_password(user, password.current_password.data, password.new_password.data,
                                               address=request.remote_addr,
                                               revoke_tokens=password.revoke_tokens.data)
        except DomainError as exc:
            db.session.rollback()
            apply_errors(password, exc)
        else:
            _continue_here(user)
            flash(_("Your password was changed. Other devices have been signed out."), "success")
            if revoked:
                flash(_("%(n)d API tokens were revoked.", n=revoked), "info")
            return redirect(url_for("accounts.account"))
    if "elsewhere-submit" in request.form and elsewhere.validate_on_submit():
        revoked = services.sign_out_elsewhere(user, revoke_tokens=elsewhere.revoke_tokens.data)
        _continue_here(user)
        flash(_("You have been signed out on every other device."), "success")
        if revoked:
            flash(_("%(n)d API tokens were revoked.", n=revoked), "info")
        return redirect(url_for("accounts.account"))
    return _account_page(profile=profile, password=password, elsewhere=elsewhere)


def _continue_here(user):
    """Every session of the user has just ended: keep this device going on a fresh session,
    remembered if it was (its old cookies no longer work)."""
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    services.start_session(user, remember=remember, user_agent=request.headers.get("User-Agent", ""),
                           ip_address=request.remote_addr)
    login_user(user, remember=remember)


@bp.post("/account/sessions/<int:session_id>/end")
@allow(*ALL_ROLES)
def end_session(session_id: int):
    if ConfirmForm().validate_on_submit():
        current = sessions.current_record(_me())
        if current is not None and current.id == session_id:
            # This browser: that is signing out, with its own button.
            return redirect(url_for("accounts.account"))
        services.end_session(_me(), session_id)
        flash(_("That session was ended: the device is signed out."), "success")
    return redirect(url_for("accounts.account") + "#sessions")


@bp.post("/account/password-check")
@allow(*ALL_ROLES)
@limiter.limit("60 per minute")
def password_check():
    """Live feedback on a new password as it is typed (static/js/password.js): the same
    judgement as on submission, in the user's language. Email and name, when the form has
    them (an administrator creating a user), count as the user's own details."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("password"), str):
        abort(400)
    email = data.get("email") if isinstance(data.get("email"), str) else None
    name = data.get("name") if isinstance(data.get("name"), str) else None
    user = _me()
    if data.get("self"):
        email, name = user.email, user.name
    verdict = passwords.assess(data["password"][:200], (email or "")[:254] or None, (name or "")[:120] or None)
    return jsonify(verdict)


# --- two-step sign-in -----------------------------------------------------------------

def _two_factor_page(status: int = 200, **context):
    user = _me()
    secret = uri = None
    try:
        secret = totp.pending_secret(user)
    except (CryptoNotConfigured, totp.DecryptionFailed):
        context.setdefault("crypto_error", True)
    if secret:
        uri = totp.provisioning_uri(user, secret)
    context.setdefault("confirm_form", CodeForm(prefix="confirm"))
    context.setdefault("disable_form", TwoFactorDisableForm(prefix="disable"))
    context.setdefault("codes_form", PasswordAgainForm(prefix="codes"))
    return render_template(
        "accounts/two_factor.html", enabled=totp.is_enabled(user), required=totp.is_required(user),
        secret=totp.grouped(secret) if secret else None, qr=totp.qr_data_uri(uri) if uri else None,
        uri=uri, codes_left=totp.remaining_codes(user), start_form=ConfirmForm(),
        configured=totp.ring.configured(), **context), status


@bp.get("/account/two-factor")
@allow(*ALL_ROLES)
def two_factor():
    return _two_factor_page()


@bp.post("/account/two-factor/start")
@allow(*ALL_ROLES)
def two_factor_start():
    if ConfirmForm().validate_on_submit():
        try:
            totp.start_enrolment(_me())
        except CryptoNotConfigured:
            db.session.rollback()
            return _two_factor_page(503, crypto_error=True)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "info")
    return redirect(url_for("accounts.two_factor"))


def _show_codes(codes: list[str]):
    return render_template("accounts/recovery_codes.html", codes=codes)


@bp.post("/account/two-factor/confirm")
@allow(*ALL_ROLES)
def two_factor_confirm():
    form = CodeForm(prefix="confirm")
    if form.validate_on_submit():
        try:
            codes = totp.confirm_enrolment(_me(), form.code.data)
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            return _show_codes(codes)
    return _two_factor_page(confirm_form=form)


@bp.post("/account/two-factor/recovery-codes")
@allow(*ALL_ROLES)
def two_factor_codes():
    form = PasswordAgainForm(prefix="codes")
    if form.validate_on_submit():
        try:
            services.reauthenticate(_me(), form.password.data, address=request.remote_addr)
            codes = totp.regenerate_codes(_me())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            return _show_codes(codes)
    return _two_factor_page(codes_form=form)


@bp.post("/account/two-factor/disable")
@allow(*ALL_ROLES)
def two_factor_disable():
    form = TwoFactorDisableForm(prefix="disable")
    if form.validate_on_submit():
        try:
            services.reauthenticate(_me(), form.password.data, address=request.remote_addr)
            totp.disable(_me(), form.code.data)
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Two-step sign-in is off."), "success")
            return redirect(url_for("accounts.two_factor"))
    return _two_factor_page(disable_form=form)


# --- personal API tokens --------------------------------------------------------------

@bp.route("/account/tokens", methods=["GET", "POST"], endpoint="tokens")
@allow(*ALL_ROLES)
def tokens_page():
    user = _me()
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        days = None if form.expires.data == "date" else int(form.expires.data)
        if days is None and form.expires_on.data is None:
            form.expires_on.errors.append(_("Choose the expiry date."))
        else:
            try:
                # Re-authentication: an open session alone must not be enough to mint a
                # credential that outlives it.
                services.reauthenticate(user, form.password.data, address=request.remote_addr)
                _token, new_token = tokens.create_token(user, form.name.data, actor=user, days=days,
                                                        expires_on=form.expires_on.data if days is None else None)
            except DomainError as exc:
                db.session.rollback()
                apply_errors(form, exc)
            else:
                form = TokenForm(formdata=None)
    rows = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ).all()
    return render_template("accounts/tokens.html", form=form, tokens=rows, new_token=new_token,
                           confirm=ConfirmForm(), max_days=current_app.config["API_TOKEN_MAX_DAYS"])


@bp.post("/account/tokens/<int:token_id>/revoke")
@allow(*ALL_ROLES)
def revoke_token(token_id: int):
    if ConfirmForm().validate_on_submit():
        user = _me()
        token = tokens.get_token(token_id, user)
        tokens.revoke_token(token, actor=user)
        flash(_("The token was revoked."), "success")
    return redirect(url_for("accounts.tokens"))

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import or_, select

from accounts import services
from accounts.forms import AuditFilterForm, ConfirmForm, LoginForm, PasswordChangeForm, ProfileForm, TokenForm, UserForm
from accounts.models import ApiToken, AuditEntry, User
from agreements.models import Council
from core.access import ADMIN, ALL_ROLES, allow, public, safe_next_url
from core.db import get_or_404
from core.errors import DomainError
from core.ui import apply_errors, ui_page
from extensions import db, limiter

bp = Blueprint("accounts", __name__)
log = logging.getLogger("councildesk.security")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@public
# Only failed attempts count (a success redirects), so a clerk who mistypes once and then
# signs in is not locked out, while a guessing script is.
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda resp: resp.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next"), url_for("core.home")))
    form = LoginForm(next=request.args.get("next", ""))
    failed = False
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            lang = session.get("lang")
            # A fresh session at every login defeats session fixation.
            session.clear()
            if lang:
                session["lang"] = lang
            login_user(user, remember=form.remember.data)
            services.record_login(user)
            return redirect(safe_next_url(form.next.data, url_for("core.home")))
        failed = True
        log.warning("failed login for %r from %s", (form.email.data or "")[:254], request.remote_addr)
    elif request.method == "POST":
        failed = True
    # One message whatever went wrong, so the page never tells which accounts exist.
    return render_template("accounts/login.html", form=form, failed=failed)


@bp.post("/logout")
@allow(*ALL_ROLES)
def logout():
    form = ConfirmForm()
    if form.validate_on_submit():
        # Clear first: logout_user() leaves "forget the remember-me cookie" in the session,
        # and clearing after it would drop that, keeping the user signed in on this device.
        session.clear()
        logout_user()
        flash(_("You have signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def account():
    user = current_user._get_current_object()
    profile = ProfileForm(prefix="profile", obj=user)
    password = PasswordChangeForm(prefix="pw")
    elsewhere = ConfirmForm(prefix="elsewhere")
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
            services.change_password(user, password.current_password.data, password.new_password.data)
        except DomainError as exc:
            apply_errors(password, exc)
        else:
            _continue_here(user)
            flash(_("Your password was changed. Other devices have been signed out."), "success")
            return redirect(url_for("accounts.account"))
    if "elsewhere-submit" in request.form and elsewhere.validate_on_submit():
        services.sign_out_elsewhere(user)
        _continue_here(user)
        flash(_("You have been signed out on every other device."), "success")
        return redirect(url_for("accounts.account"))
    return render_template("accounts/account.html", profile=profile, password=password, elsewhere=elsewhere)


def _continue_here(user):
    """Every session of the user has just ended: keep this one going on a fresh session,
    remembered on this device if it was (its old remember-me cookie no longer works)."""
    remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    login_user(user, remember=remember)


@bp.route("/account/tokens", methods=["GET", "POST"])
@allow(*ALL_ROLES)
def tokens():
    user = current_user._get_current_object()
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        _token, new_token = services.create_token(user, form.name.data, actor=user)
        form = TokenForm(formdata=None)
    rows = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ).all()
    return render_template("accounts/tokens.html", form=form, tokens=rows, new_token=new_token,
                           confirm=ConfirmForm())


@bp.post("/account/tokens/<int:token_id>/revoke")
@allow(*ALL_ROLES)
def revoke_token(token_id: int):
    if ConfirmForm().validate_on_submit():
        user = current_user._get_current_object()
        token = services.get_token(token_id, user)
        services.revoke_token(token, actor=user)
        flash(_("The token was revoked."), "success")
    return redirect(url_for("accounts.tokens"))


# --- administration -------------------------------------------------------------------

def _councils():
    return db.session.scalars(select(Council).order_by(Council.name)).all()


@bp.get("/admin/users")
@allow(*ADMIN)
def users():
    role = request.args.get("role") or None
    q = (request.args.get("q") or "").strip()
    status = request.args.get("status") or "active"
    stmt = select(User)
    if role in ("admin", "manager", "technician", "clerk"):
        stmt = stmt.where(User.role == role)
    if status == "active":
        stmt = stmt.where(User.active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(User.active.is_(False))
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(User.email.like(like), User.name.ilike(like)))
    page = ui_page(stmt, [User.name, User.id])
    return render_template("accounts/users.html", page=page, role=role, q=q, status=status,
                           confirm=ConfirmForm())


def _save_user(form: UserForm, user: User | None):
    actor = current_user._get_current_object()
    data = {"email": form.email.data, "name": form.name.data, "role": form.role.data,
            "council_id": form.council_id.data if form.role.data == "clerk" else None,
            "preferred_language": form.preferred_language.data or None}
    if user is None:
        if not form.password.data:
            form.password.errors.append(_("Set an initial password."))
            return None
        return services.create_user(password=form.password.data, actor=actor, **data)
    services.update_user(user, actor=actor, **data)
    if form.password.data:
        services.set_password(user, form.password.data, actor=actor)
    return user


@bp.route("/admin/users/new", methods=["GET", "POST"])
@allow(*ADMIN)
def user_new():
    form = UserForm(councils=_councils())
    if form.validate_on_submit():
        try:
            user = _save_user(form, None)
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            if user is not None:
                flash(_("User %(email)s created.", email=user.email), "success")
                return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@allow(*ADMIN)
def user_edit(user_id: int):
    user = get_or_404(User, user_id)
    form = UserForm(obj=user, councils=_councils())
    if request.method == "GET":
        form.preferred_language.data = user.preferred_language or ""
        form.council_id.data = user.council_id
    if form.validate_on_submit():
        try:
            _save_user(form, user)
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("User %(email)s saved.", email=user.email), "success")
            return redirect(url_for("accounts.users"))
    history = db.session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "user", AuditEntry.object_id == str(user.id))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(20)
    ).all()
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc())).all()
    return render_template("accounts/user_form.html", form=form, user=user, history=history,
                           tokens=tokens, confirm=ConfirmForm())


@bp.post("/admin/users/<int:user_id>/deactivate")
@allow(*ADMIN)
def user_deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.post("/admin/users/<int:user_id>/activate")
@allow(*ADMIN)
def user_activate(user_id: int):
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool):
    user = get_or_404(User, user_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.set_active(user, active, actor=current_user._get_current_object())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("%(email)s can sign in again.", email=user.email) if active else
                  _("%(email)s was deactivated; their sessions and tokens no longer work.", email=user.email),
                  "success")
    return redirect(url_for("accounts.user_edit", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/tokens/revoke")
@allow(*ADMIN)
def user_revoke_tokens(user_id: int):
    user = get_or_404(User, user_id)
    if ConfirmForm().validate_on_submit():
        n = services.revoke_all_tokens(user, actor=current_user._get_current_object())
        flash(_("%(n)d tokens revoked.", n=n), "success")
    return redirect(url_for("accounts.user_edit", user_id=user.id))


@bp.get("/admin/audit")
@allow(*ADMIN)
def audit_log():
    form = AuditFilterForm(request.args)
    stmt = select(AuditEntry)
    if form.validate():
        if form.object_type.data:
            stmt = stmt.where(AuditEntry.object_type == form.object_type.data.strip())
        if form.action.data:
            stmt = stmt.where(AuditEntry.action == form.action.data.strip())
        if form.actor.data:
            stmt = stmt.where(AuditEntry.actor_label.ilike(f"%{form.actor.data.strip()}%"))
        object_id = request.args.get("object_id")
        if object_id:
            stmt = stmt.where(AuditEntry.object_id == object_id[:64])
    page = ui_page(stmt, [AuditEntry.created_at, AuditEntry.id], descending=True)
    return render_template("accounts/audit.html", page=page, form=form)

"""User administration and the audit log (admins)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from accounts import services, sessions, totp
from accounts.forms import AuditFilterForm, ConfirmForm, NewUserForm, UserForm
from accounts.models import ApiToken, AuditEntry, User
from accounts.views import bp
from agreements.models import Council
from core import audit_labels
from core.access import ADMIN, allow
from core.db import get_or_404
from core.errors import DomainError
from core.ui import apply_errors, ui_page
from extensions import db


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
        return services.create_user(password=form.password.data, actor=actor, **data)
    services.update_user(user, actor=actor, **data)
    if form.password.data:
        services.set_password(user, form.password.data, actor=actor)
    return user


@bp.route("/admin/users/new", methods=["GET", "POST"])
@allow(*ADMIN)
def user_new():
    form = NewUserForm(councils=_councils())
    if form.validate_on_submit():
        try:
            user = _save_user(form, None)
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
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
                           tokens=tokens, confirm=ConfirmForm(),
                           live_sessions=len(sessions.live_sessions(user)),
                           totp_on=totp.is_enabled(user), totp_required=totp.is_required(user))


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
    form.object_type.choices = [("", _("Every object type")), *audit_labels.choices("object_type")]
    form.action.choices = [("", _("Every action")), *audit_labels.choices("action")]
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


@bp.post("/admin/users/<int:user_id>/sessions/end")
@allow(*ADMIN)
def user_end_sessions(user_id: int):
    user = get_or_404(User, user_id)
    if ConfirmForm().validate_on_submit():
        n = services.end_sessions_of(user, actor=current_user._get_current_object())
        flash(_("%(email)s was signed out everywhere (%(n)d sessions).", email=user.email, n=n), "success")
    return redirect(url_for("accounts.user_edit", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/two-factor/reset")
@allow(*ADMIN)
def user_reset_two_factor(user_id: int):
    """For a user who lost both the phone and the recovery codes: their app is forgotten and
    they set it up again (at once, when their role requires it)."""
    user = get_or_404(User, user_id)
    if ConfirmForm().validate_on_submit() and totp.reset(user, actor=current_user._get_current_object()):
        flash(_("Two-step sign-in of %(email)s was reset.", email=user.email), "success")
    return redirect(url_for("accounts.user_edit", user_id=user.id))

"""Routes that belong to no domain: the home page, the language switcher, health."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import select, text, update

from accounts.forms import ConfirmForm
from core.access import ALL_ROLES, allow, public, safe_next_url
from core.db import MAX_ID, utcnow
from core.models import Notification
from core.ui import ui_page
from extensions import db

bp = Blueprint("core", __name__)


@bp.get("/")
@allow(*ALL_ROLES)
def home():
    endpoint = current_app.extensions.get("councildesk_home", {}).get(current_user.role)
    return redirect(url_for(endpoint or "agreements.councils"))


@bp.post("/language")
@public
def set_language():
    lang = request.form.get("lang", "")
    target = safe_next_url(request.form.get("next"), url_for("core.home"))
    if ConfirmForm().validate_on_submit() and lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.preferred_language = lang
            db.session.commit()
    return redirect(target)


@bp.get("/healthz")
@public
def healthz():
    # For load balancers and the scheduler's standby: is the database answering? And the
    # broker, where one is configured (scale): "ok", "unavailable" or "not configured".
    db.session.execute(text("SELECT 1"))
    probe = current_app.extensions.get("councildesk_broker_status")
    return jsonify(status="ok", broker=probe() if probe is not None else "not configured")


@bp.get("/notifications")
@allow(*ALL_ROLES)
def notifications():
    stmt = select(Notification).where(Notification.user_id == current_user.id)
    page = ui_page(stmt, [Notification.id], descending=True)
    return render_template("core/notifications.html", page=page, confirm=ConfirmForm())


@bp.post("/notifications/read")
@allow(*ALL_ROLES)
def notifications_read():
    if ConfirmForm().validate_on_submit():
        note_id = request.form.get("id", type=int)
        if note_id is not None and not 0 < note_id <= MAX_ID:
            note_id = None
        stmt = update(Notification).where(Notification.user_id == current_user.id,
                                          Notification.read_at.is_(None))
        if note_id:
            stmt = stmt.where(Notification.id == note_id)
        db.session.execute(stmt.values(read_at=utcnow()))
        db.session.commit()
        if note_id:
            note = db.session.scalar(select(Notification).where(Notification.id == note_id,
                                                                Notification.user_id == current_user.id))
            if note is not None and note.link:
                return redirect(safe_next_url(note.link, url_for("core.notifications")))
    return redirect(url_for("core.notifications"))

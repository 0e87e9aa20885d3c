"""Page furniture shared by every domain: navigation by role, the home page per role, the
notifications in the page header, form errors next to their fields, and keyset pagination
for pages (the API's, `core.keyset`, with links instead of cursors).

The error pages are in `core.errorpages`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request
from flask_login import current_user


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # lazy string
    roles: frozenset[str]
    icon: str = ""
    order: int = 100


def register_nav(app: Flask, *items: NavItem) -> None:
    app.extensions.setdefault("councildesk_nav", []).extend(items)


def register_home(app: Flask, endpoint: str, *roles: str) -> None:
    """The page `/` leads each role to (the last registration wins)."""
    homes = app.extensions.setdefault("councildesk_home", {})
    for role in roles:
        homes[role] = endpoint


def nav_items() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    items = current_app.extensions.get("councildesk_nav", [])
    return sorted((i for i in items if current_user.role in i.roles), key=lambda i: i.order)


def _unread_notifications() -> int:
    from sqlalchemy import func, select

    from core.models import Notification
    from extensions import db

    if not current_user.is_authenticated:
        return 0
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None))) or 0


def init_app(app: Flask) -> None:
    from core.notify import render_body, render_title

    app.jinja_env.globals.update(
        nav_items=nav_items,
        notification_title=lambda n: render_title(n.kind, n.params or {}),
        notification_body=lambda n: render_body(n.kind, n.params or {}),
    )

    @app.context_processor
    def _inject():
        return {"office_name": current_app.config["OFFICE_NAME"], "request_path": request.path,
                "unread_notifications": _unread_notifications}


def apply_errors(form, exc) -> None:
    """Show a domain error's per-field messages next to the fields; the rest above the form."""
    placed = False
    for name, message in (getattr(exc, "fields", None) or {}).items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            if not isinstance(field.errors, list):
                field.errors = list(field.errors)
            field.errors.append(str(message))
            placed = True
    if not placed:
        form.form_errors.append(str(exc.message))


@dataclass
class UiPage:
    items: list
    next_url: str | None
    first_url: str | None


def ui_page(stmt, order_by, *, descending: bool = False, limit: int = 50, session=None,
            param: str = "after") -> UiPage:
    """Keyset pagination for pages: the same mechanism as the API, with links instead of cursors."""
    from flask import url_for

    from core.api import ApiAbort
    from core.keyset import keyset_page
    from extensions import db

    cursor = request.args.get(param) or None
    try:
        page = keyset_page(session or db.session, stmt, order_by, limit, cursor, descending)
    except ApiAbort:  # a stale or edited link: start again from the first page
        page = keyset_page(session or db.session, stmt, order_by, limit, None, descending)
        cursor = None
    args = {k: v for k, v in request.args.items() if k != param}
    view_args = dict(request.view_args or {})
    next_url = url_for(request.endpoint, **view_args, **args, **{param: page.next_cursor}) if page.next_cursor else None
    first_url = url_for(request.endpoint, **view_args, **args) if cursor else None
    return UiPage(list(page.items), next_url, first_url)

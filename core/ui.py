"""Page furniture shared by every domain: navigation by role and error pages."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

ERROR_TITLES = {
    400: _l("The request could not be understood"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("This action is not allowed here"),
    409: _l("This conflicts with the current state"),
    413: _l("The file or form is too large"),
    422: _l("Some data is not valid"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong"),
}

ERROR_HINTS = {
    403: _l("Your role does not give access to this page. If you think it should, ask the office."),
    404: _l("It may have been moved, or the address is wrong."),
    413: _l("Files can be up to 10 MB."),
    429: _l("Wait a minute and try again."),
    500: _l("The office has been told. Nothing you saved before was lost; please try again."),
}


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


def render_error_page(status: int, message=None, exc=None):
    title = ERROR_TITLES.get(status, ERROR_TITLES[500] if status >= 500 else ERROR_TITLES[400])
    hint = message or ERROR_HINTS.get(status)
    resp = current_app.make_response(
        (render_template("errors/error.html", status=status, title=title, hint=hint), status)
    )
    if exc is not None and hasattr(exc, "get_response"):
        for name in ("Allow", "Retry-After"):
            value = exc.get_response().headers.get(name)
            if value:
                resp.headers[name] = value
    return resp


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

    from core.api import ApiAbort, keyset_page
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

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
    """A link of the main navigation.

    `key` names an item that others can sit under (`menu=` that key): the item then opens a
    menu holding its own page first, then theirs. An item without an endpoint is only a menu
    (Management, Administration), shown when its role sees something in it. Menus keep the
    bar within a 1366-pixel laptop for every role and language (an admin's dozen links did not
    fit even at 1600 pixels in Catalan).
    """

    endpoint: str | None
    label: object  # lazy string
    roles: frozenset[str]
    icon: str = ""
    order: int = 100
    key: str | None = None
    menu: str | None = None


@dataclass(frozen=True)
class NavEntry:
    """What the bar shows for one role: a link, or a menu of links."""

    label: object
    icon: str
    href: str  # the link, or the menu's first page (where a browser without JS goes)
    children: tuple[NavItem, ...]
    hrefs: tuple[str, ...]

    @property
    def active_href(self) -> str | None:
        path = request.path
        matches = [h for h in self.hrefs if h != "/" and (path == h or path.startswith(h.rstrip("/") + "/"))]
        return max(matches, key=len) if matches else None


def register_nav(app: Flask, *items: NavItem) -> None:
    app.extensions.setdefault("councildesk_nav", []).extend(items)


def register_home(app: Flask, endpoint: str, *roles: str) -> None:
    """The page `/` leads each role to (the last registration wins)."""
    homes = app.extensions.setdefault("councildesk_home", {})
    for role in roles:
        homes[role] = endpoint


def nav_items() -> list[NavItem]:
    """Every item the current user's role sees, menus and their members alike, in order."""
    if not current_user.is_authenticated:
        return []
    items = current_app.extensions.get("councildesk_nav", [])
    return sorted((i for i in items if current_user.role in i.roles), key=lambda i: i.order)


def nav_entries() -> list[NavEntry]:
    """The bar for the current user: top items, each with the members of its menu."""
    from flask import url_for

    visible = nav_items()
    members: dict[str, list[NavItem]] = {}
    for item in visible:
        if item.menu:
            members.setdefault(item.menu, []).append(item)
    entries = []
    for item in visible:
        if item.menu:
            continue
        children = tuple(([item] if item.endpoint else []) + members.get(item.key or "", []))
        if not children:
            continue
        hrefs = tuple(url_for(child.endpoint) for child in children)
        entries.append(NavEntry(item.label, item.icon, hrefs[0], children if len(children) > 1 else (), hrefs))
    return entries


def _unread_notifications() -> int:
    from sqlalchemy import func, select

    from core.models import Notification
    from extensions import db

    if not current_user.is_authenticated:
        return 0
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None))) or 0


def init_app(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from core.access import ADMIN, MANAGERS
    from core.notify import render_body, render_title

    # The two menus that hold the office's settings; domains put their pages in them.
    register_nav(app, NavItem(None, _l("Management"), frozenset(MANAGERS), "briefcase", 800, key="manage"),
                 NavItem(None, _l("Administration"), frozenset(ADMIN), "gear", 900, key="admin"))

    app.jinja_env.globals.update(
        nav_items=nav_items,
        nav_entries=nav_entries,
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
            param: str = "after", carry=None) -> UiPage:
    """Keyset pagination for pages: the same mechanism as the API, with links instead of cursors.

    The links keep the page's query arguments: those named in `carry` (the filters the page
    reads) when given, and never one that `url_for` would take as its own or as a path
    argument (`endpoint`, `_method`, `slug`...: each was a 500)."""
    from flask import url_for

    from core.api import ApiAbort
    from core.inputs import url_args
    from core.keyset import keyset_page
    from extensions import db

    cursor = request.args.get(param) or None
    try:
        page = keyset_page(session or db.session, stmt, order_by, limit, cursor, descending)
    except ApiAbort:  # a stale or edited link: start again from the first page
        page = keyset_page(session or db.session, stmt, order_by, limit, None, descending)
        cursor = None
    path_args = {a for rule in current_app.url_map.iter_rules(request.endpoint) for a in rule.arguments}
    args = url_args(request.args, carry, path_args=path_args | {param})
    view_args = dict(request.view_args or {})
    next_url = url_for(request.endpoint, **view_args, **args, **{param: page.next_cursor}) if page.next_cursor else None
    first_url = url_for(request.endpoint, **view_args, **args) if cursor else None
    return UiPage(list(page.items), next_url, first_url)

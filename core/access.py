"""Access policies: every route says who may use it, and one hook enforces it.

A view declares its policy with `@allow(...)`, `@public` or `@agent_only`. The hook
installed by `init_app` runs before every request: it authenticates (session for pages,
Bearer token for `/api/v1`), checks the role against the policy, and sets the council scope
(`core.scope`) for clerks. An endpoint without a policy is refused, and the test suite fails
on it (tests/test_access_policy.py), so a forgotten decorator cannot open a side channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_login import current_user

from core.db import reset_write_intent, set_write_intent
from core.scope import Scope, reset_scope, set_scope

ROLES = ("admin", "manager", "technician", "clerk")
ALL_ROLES = ROLES
STAFF = ("admin", "manager", "technician")
MANAGERS = ("admin", "manager")
ADMIN = ("admin",)

API_PREFIX = "/api/v1"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Policy:
    kind: str  # "public" | "roles" | "agent"
    roles: frozenset[str] = frozenset()

    def admits(self, role: str | None) -> bool:
        return self.kind == "public" or (role is not None and role in self.roles)


def allow(*roles: str) -> Callable:
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles in policy: {sorted(unknown) or 'none given'}")

    def decorate(view):
        view.access_policy = Policy("roles", frozenset(roles))
        return view

    return decorate


def public(view):
    view.access_policy = Policy("public")
    return view


def agent_only(view):
    """Authenticated by an agent token (see remote), never by a user session or token."""
    view.access_policy = Policy("agent")
    return view


# Endpoints whose view functions are not ours to decorate.
_EXTRA_POLICIES = {"static": Policy("public")}

# kind -> callable returning the authenticated principal or None; registered by the
# packages that own those credentials (accounts for personal tokens, remote for agents).
_authenticators: dict[str, Callable[[], object | None]] = {}


def register_authenticator(kind: str, func: Callable[[], object | None]) -> None:
    _authenticators[kind] = func


# Path argument name -> callable(value) returning the object it names, or None when it is
# not visible in the current scope. Domains register the arguments their routes use.
_path_objects: dict[str, Callable[[object], object | None]] = {}


def register_path_object(arg: str, model=None, *, lookup: Callable[[object], object | None] | None = None) -> None:
    """Say which object a path argument names (`council_id` → Council, `slug` → Council...).

    Used when a clerk is refused a route by role: if the object the URL names is not theirs,
    the answer is 404 as for any other view of another council's object, never 403, so that a
    refusal does not confirm that the object exists.
    """
    if lookup is None:
        def lookup(value, _model=model):
            from sqlalchemy import select

            from extensions import db

            return db.session.execute(select(_model.id).where(_model.id == value)).first()
    _path_objects[arg] = lookup


def _clerk_can_see_path_objects(council_id: int) -> bool:
    for arg, value in (request.view_args or {}).items():
        lookup = _path_objects.get(arg)
        if lookup is None:
            continue
        token = set_scope(Scope(council_id))
        try:
            if lookup(value) is None:
                return False
        finally:
            reset_scope(token)
    return True


def policy_for(app: Flask, endpoint: str | None) -> Policy | None:
    if endpoint is None:
        return None
    if endpoint in _EXTRA_POLICIES:
        return _EXTRA_POLICIES[endpoint]
    view = app.view_functions.get(endpoint)
    return getattr(view, "access_policy", None)


def is_api_request() -> bool:
    path = request.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def safe_next_url(target: str | None, fallback: str) -> str:
    """Only same-site relative paths: an open redirect would make a phishing link look ours."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target:
        return fallback
    return target


def _enforce():
    g.write_intent_token = set_write_intent(request.method not in SAFE_METHODS)
    g.scope_token = set_scope(None)
    if request.endpoint is None:
        return None  # routing failed; the 404/405 handlers answer
    policy = policy_for(current_app, request.endpoint)
    if policy is None:
        current_app.logger.error("route %s has no access policy; refused", request.endpoint)
        abort(403)
    api = is_api_request()
    if policy.kind == "public":
        if api:
            # Public API routes still see who is calling when a valid token is sent.
            _authenticators.get("api_user", lambda: None)()
        return None
    if policy.kind == "agent":
        agent = _authenticators["agent"]() if "agent" in _authenticators else None
        if agent is None:
            abort(401)
        return None

    if api:
        user = _authenticators["api_user"]() if "api_user" in _authenticators else None
    else:
        user = current_user if current_user.is_authenticated else None
    if user is None:
        if api:
            abort(401)
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if not policy.admits(user.role):
        if user.role == "clerk" and not _clerk_can_see_path_objects(user.council_id):
            abort(404)
        abort(403)
    if user.role == "clerk":
        set_scope(Scope(user.council_id))
    return None


def _teardown(_exc):
    token = g.pop("scope_token", None)
    if token is not None:
        reset_scope(token)
    token = g.pop("write_intent_token", None)
    if token is not None:
        reset_write_intent(token)


def init_app(app: Flask) -> None:
    app.before_request(_enforce)
    app.teardown_request(_teardown)

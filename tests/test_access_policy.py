"""Every route declares who may use it, and every role gets exactly that.

- `test_every_route_declares_a_policy` enumerates app.url_map: a route without a policy
  fails the suite (and is refused at runtime, see `test_route_without_policy_is_refused`).
- `test_route_as_every_role` walks each route × method as anonymous and as each role, and
  checks the answer against the declared policy; it also asks every route that takes a path
  argument, as the clerk of council A, for council B's objects: 404, always.
"""

from __future__ import annotations

import re

import pytest
from flask import Blueprint
from route_samples import samples

from core.access import _path_objects, policy_for

ROLES = ("anonymous", "clerk", "technician", "manager", "admin")
_ARG = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>")


def _collection_app():
    """An app built only to read its url_map at collection time (it connects to nothing)."""
    from app import create_app

    return create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                       "SECRET_KEY": "collect"})


def _routes():
    app = _collection_app()
    out = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append(pytest.param(rule.rule, rule.endpoint, method, id=f"{method} {rule.rule}"))
    return out


ROUTES = _routes()


def test_every_route_declares_a_policy():
    app = _collection_app()
    missing = sorted(r.endpoint for r in app.url_map.iter_rules() if policy_for(app, r.endpoint) is None)
    assert not missing, f"routes without an access policy: {missing}"


def test_route_without_policy_is_refused(make_app, world):
    app = make_app()
    bp = Blueprint("undeclared", __name__)
    bp.add_url_rule("/undeclared", "undeclared", lambda: "open")
    app.register_blueprint(bp)
    assert policy_for(app, "undeclared.undeclared") is None
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = world.admin.get_id()
    assert client.get("/undeclared").status_code == 403


def _url(rule: str, values: dict) -> str:
    def repl(m):
        name = m.group(1)
        if name not in values:
            raise AssertionError(
                f"no sample value for path argument {name!r} of {rule}: add it to a provider "
                "in tests/samples/")
        return str(values[name])

    return _ARG.sub(repl, rule)


def _request(client, method, url, api: bool, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"headers": headers}
    if method in ("POST", "PUT", "PATCH") and api:
        kwargs["json"] = {}
    elif method in ("POST", "PUT", "PATCH"):
        kwargs["data"] = {}
    return client.open(url, method=method, **kwargs)


@pytest.mark.parametrize(("rule", "endpoint", "method"), ROUTES)
def test_route_as_every_role(app, world, rule, endpoint, method):
    from accounts import services

    policy = policy_for(app, endpoint)
    assert policy is not None, f"{endpoint} has no access policy"
    api = rule.startswith("/api/v1")
    own = samples(world, "a")
    other = samples(world, "b")
    url = _url(rule, own)

    for role in ROLES:
        user = None if role == "anonymous" else world.by_role[role]
        client = app.test_client()
        token = None
        if user is not None and api:
            token = services.create_token(user, "matrix", actor=None)[1]
        elif user is not None:
            with client.session_transaction() as sess:
                sess["_user_id"] = user.get_id()
        resp = _request(client, method, url, api, token)
        status = resp.status_code
        assert status < 500, f"{method} {url} as {role}: {status}"

        if policy.kind == "public":
            assert status not in (401, 403), f"public {method} {url} refused {role}: {status}"
            continue
        if policy.kind == "agent":
            # Agent routes take agent tokens only: no user, of any role, gets in.
            assert status == 401, f"agent route {method} {url} as {role}: {status}"
            continue
        if user is None:
            if api:
                assert status == 401, f"{method} {url} anonymous: {status}"
                assert resp.json["error"]["code"] == "unauthorized"
            else:
                assert status == 302 and "/login" in resp.headers["Location"], f"{method} {url} anonymous: {status}"
            continue
        if role not in policy.roles:
            assert status == 403, f"{method} {url} as {role} (not in {sorted(policy.roles)}): {status}"
            if api:
                assert resp.json["error"]["code"] == "forbidden"
            continue
        if method == "GET":
            # With their own council's objects, the page or resource is there.
            assert status in (200, 302), f"{method} {url} as allowed {role}: {status}"
        else:
            assert status not in (401, 403), f"{method} {url} as allowed {role}: {status}"

    # The other council's objects, as the clerk of council A: they do not exist, also on
    # routes a clerk may not use (404, never a 403 that would confirm the object exists).
    if policy.kind == "roles" and _ARG.search(rule) and (
            "clerk" in policy.roles or set(_ARG.findall(rule)) & set(_path_objects)):
        cross_url = _url(rule, other)
        if cross_url != url:
            client = app.test_client()
            token = None
            if api:
                token = services.create_token(world.clerk_a, "matrix", actor=None)[1]
            else:
                with client.session_transaction() as sess:
                    sess["_user_id"] = world.clerk_a.get_id()
            resp = _request(client, method, cross_url, api, token)
            where = resp.headers.get("Location", "")
            assert resp.status_code == 404, f"clerk A got {resp.status_code} for {method} {cross_url} {where}"
            if api:
                assert resp.json["error"]["code"] == "not_found"

"""Every form refuses a request without its CSRF token, and changes nothing; the API needs none.

The routes come from the URL map, so a new form is covered the day it is added. Each is
posted, without a token, by a user its policy admits (public ones by a signed-in admin, who
has the most to lose), with data that would change something if the token were not checked.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from route_samples import samples

from core.access import policy_for

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
FORM_EXPIRED = _l("The form expired. Go back, reload the page and submit it again.")
ROLE_ORDER = ("admin", "manager", "technician", "clerk")
_ARG = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>")
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _collection_app():
    from app import create_app

    return create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "collect"})


def _form_routes():
    app = _collection_app()
    return [pytest.param(rule.rule, rule.endpoint, method, id=f"{method} {rule.rule}")
            for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
            if not rule.rule.startswith("/api/")
            for method in sorted(rule.methods & UNSAFE)]


FORM_ROUTES = _form_routes()


def _form_data(endpoint: str, world) -> dict:
    """What each form would change if it accepted the request."""
    council = {"name": "Renamed", "population": "999", "comarca": "Bages", "language": "ca",
               "timezone": "Europe/Madrid", "active": "y"}
    user = {"email": "csrf.victim@test.example.org", "name": "Changed", "role": "manager", "council_id": "",
            "preferred_language": "es", "password": "a good long password"}
    return {
        "accounts.login": {"email": world.manager.email, "password": world.password},
        "accounts.account": {"profile-name": "Changed", "profile-preferred_language": "es"},
        "accounts.tokens": {"name": "planted token"},
        "accounts.user_new": user,
        "accounts.user_edit": user,
        "agreements.council_new": {**council, "name": "Planted council"},
        "agreements.council_edit": council,
        "agreements.bands_edit": {"bands-0-min_population": "0", "bands-0-remote_minutes_month": "1",
                                  "bands-0-onsite_default_minutes_month": "90"},
        "core.set_language": {"lang": "es", "next": "/"},
    }.get(endpoint, {"name": "changed", "id": "1"})


def _snapshot(db) -> dict:
    """Every row of every table, in primary-key order."""
    out = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


@pytest.fixture
def csrf_app(make_app):
    return make_app(WTF_CSRF_ENABLED=True)


def _signed_in(app, user):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
    return client


def test_the_forms_are_found():
    endpoints = {p.values[1] for p in FORM_ROUTES}
    assert {"accounts.login", "accounts.logout", "agreements.council_edit", "accounts.user_deactivate",
            "agreements.bands_edit", "core.set_language"} <= endpoints


@pytest.mark.parametrize(("rule", "endpoint", "method"), FORM_ROUTES)
def test_a_form_without_csrf_token_is_refused_and_changes_nothing(csrf_app, world, db, rule, endpoint, method):
    policy = policy_for(csrf_app, endpoint)
    assert policy is not None
    if policy.kind == "public":
        role = "admin"
    else:
        role = next(r for r in ROLE_ORDER if r in policy.roles)
    user = world.by_role[role]
    values = samples(world, "a")
    url = _ARG.sub(lambda m: str(values[m.group(1)]), rule)
    client = _signed_in(csrf_app, user)
    db.session.commit()
    before = _snapshot(db)

    resp = client.open(url, method=method, data=_form_data(endpoint, world))

    assert resp.status_code == 400, f"{method} {url} as {role} without a CSRF token: {resp.status_code}"
    assert resp.mimetype == "text/html"
    # The page says what happened (usually a session that expired with the form open).
    with csrf_app.app_context(), force_locale("ca"):
        assert str(FORM_EXPIRED) in resp.get_data(as_text=True)
    assert _snapshot(db) == before, f"{method} {url} changed the database without a CSRF token"
    # Still signed in, as before (logout and login without a token do nothing either).
    with client.session_transaction() as sess:
        assert sess.get("_user_id") == user.get_id()
        assert "lang" not in sess


def test_with_its_token_the_same_form_works(csrf_app, world, db):
    """The control for the test above: the refusal is the token's doing."""
    client = _signed_in(csrf_app, world.manager)
    page = client.get(f"/councils/{world.council_a.slug}/edit").get_data(as_text=True)
    token = _TOKEN.search(page).group(1)
    data = {**_form_data("agreements.council_edit", world), "csrf_token": token}
    resp = client.post(f"/councils/{world.council_a.slug}/edit", data=data)
    assert resp.status_code == 302
    db.session.expire_all()
    assert world.council_a.name == "Renamed"

    admin = _signed_in(csrf_app, world.admin)
    page = admin.get(f"/admin/users/{world.clerk_b.id}").get_data(as_text=True)
    assert admin.post(f"/admin/users/{world.clerk_b.id}/deactivate",
                      data={"csrf_token": _TOKEN.search(page).group(1)}).status_code == 302
    db.session.expire_all()
    assert world.clerk_b.active is False


def test_a_token_from_another_session_is_refused(csrf_app, world, db):
    attacker = _signed_in(csrf_app, world.technician)
    token = _TOKEN.search(attacker.get("/account").get_data(as_text=True)).group(1)
    victim = _signed_in(csrf_app, world.manager)
    data = {**_form_data("agreements.council_edit", world), "csrf_token": token}
    assert victim.post(f"/councils/{world.council_a.slug}/edit", data=data).status_code == 400
    db.session.expire_all()
    assert world.council_a.name == "Mura"


def test_login_through_the_real_form(csrf_app, world):
    client = csrf_app.test_client()
    token = _TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    resp = client.post("/login", data={"email": world.admin.email, "password": world.password, "csrf_token": token})
    assert resp.status_code == 302
    assert client.get("/account").status_code == 200


def test_the_api_needs_no_csrf_token(csrf_app, world):
    from accounts import services

    _t, token = services.create_token(world.manager, "csrf", actor=None)
    client = csrf_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    resp = client.post("/api/v1/councils", json={"name": "Rajadell", "population": 520}, headers=headers)
    assert resp.status_code == 201, resp.json
    resp = client.patch(f"/api/v1/councils/{resp.json['id']}", json={"population": 521}, headers=headers)
    assert resp.status_code == 200 and resp.json["population"] == 521

"""Signing in and out: redirects, sessions, remember-me, generic failures, rate limits."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import pytest
from flask_babel import force_locale, gettext

from accounts import services
from core.errorpages import ERROR_TITLES

SESSION_COOKIE = "councildesk_session"
REMEMBER_COOKIE = "remember_token"


def login(client, email, password, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


def location_path(resp) -> str:
    parts = urlsplit(resp.headers["Location"])
    assert parts.netloc in ("", "localhost"), resp.headers["Location"]
    return parts.path + (f"?{parts.query}" if parts.query else "")


def signed_in(client) -> bool:
    resp = client.get("/account")
    if resp.status_code == 200:
        return True
    assert resp.status_code == 302 and location_path(resp).startswith("/login"), resp.status_code
    return False


def translated(msgid: str, lang: str) -> str:
    with force_locale(lang):
        text = gettext(msgid)
    assert text != msgid, f"no {lang} translation of {msgid!r}: compile the catalogs (make translations)"
    return text


def set_cookie_headers(resp, name) -> list[str]:
    return [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]


# --- signing in -----------------------------------------------------------------------

def test_login_redirects_to_the_start_page(app, world):
    client = app.test_client()
    assert client.get("/login").status_code == 200
    resp = login(client, world.technician.email, world.password)
    assert resp.status_code == 302 and location_path(resp) == "/"
    assert signed_in(client)


def test_login_follows_a_safe_next(app, world):
    client = app.test_client()
    assert location_path(client.get("/admin/users")) == "/login?next=/admin/users"
    resp = login(client, world.admin.email, world.password, next="/admin/users?role=clerk")
    assert location_path(resp) == "/admin/users?role=clerk"


@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/path", "https://evil.example", "http:/evil.example",
    "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "javascript:alert(1)", "evil.example",
    " //evil.example",
])
def test_login_refuses_open_redirects(app, world, target):
    client = app.test_client()
    resp = login(client, world.clerk_a.email, world.password, next=target)
    assert resp.status_code == 302 and location_path(resp) == "/"
    # Already signed in, /login?next=... redirects at once: just as safely.
    resp = client.get("/login", query_string={"next": target})
    assert resp.status_code == 302 and location_path(resp) == "/"


def test_login_starts_a_fresh_session_but_keeps_the_language(app, world):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        sess["lang"] = "es"
    login(client, world.manager.email, world.password)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["lang"] == "es"
        key = sess["_user_id"]
    # What the cookie holds is the key of a new server-side session of the manager.
    from accounts import sessions

    assert sessions.load(key) == world.manager


def test_one_generic_message_whatever_went_wrong(app, world):
    services.set_active(world.technician, False, actor=world.admin)
    cases = {
        "wrong password": (world.manager.email, "not the password"),
        "unknown email": ("nobody.at.all@test.example.org", world.password),
        "deactivated": (world.technician.email, world.password),
    }
    pages = {}
    for name, (email, password) in cases.items():
        resp = login(app.test_client(), email, password)
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        html = html.replace(email, "EMAIL")
        pages[name] = re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", html)
    assert pages["wrong password"] == pages["unknown email"] == pages["deactivated"]
    assert 'role="alert"' in pages["unknown email"]


def test_failed_logins_are_logged_without_the_password(app, world, caplog):
    with caplog.at_level(logging.WARNING, logger="councildesk.security"):
        login(app.test_client(), world.manager.email, "Sup3r-secret-guess")
        login(app.test_client(), "ghost@test.example.org", "another-guess")
    records = [r for r in caplog.records if r.name == "councildesk.security"]
    assert len(records) == 2
    text = "\n".join(r.getMessage() for r in records)
    assert world.manager.email in text and "ghost@test.example.org" in text
    assert "Sup3r-secret-guess" not in text and "another-guess" not in text


def test_email_case_does_not_matter_at_login(app, world):
    client = app.test_client()
    resp = login(client, "  Manager@TEST.Example.org ", world.password)
    assert resp.status_code == 302 and signed_in(client)


# --- signing out ----------------------------------------------------------------------

def test_logout_is_post_only(world, client_for):
    client = client_for(world.clerk_a)
    assert client.get("/logout").status_code == 405
    assert signed_in(client)
    resp = client.post("/logout")
    assert resp.status_code == 302 and location_path(resp) == "/login"
    assert not signed_in(client)


def test_logout_also_ends_a_remember_me_login(app, world):
    client = app.test_client()
    login(client, world.technician.email, world.password, remember="y")
    assert client.get_cookie(REMEMBER_COOKIE) is not None
    client.post("/logout")
    assert client.get_cookie(REMEMBER_COOKIE) is None
    assert not signed_in(client)


# --- sessions that must end -----------------------------------------------------------

def test_a_deactivated_users_session_and_tokens_stop_at_once(app, world, client_for, api_error):
    client = client_for(world.technician)
    _t, token = services.create_token(world.technician, "script", actor=None)
    assert signed_in(client)
    services.set_active(world.technician, False, actor=world.admin)
    assert not signed_in(client)
    api_error(app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
              401, "unauthorized")


def test_password_change_ends_other_sessions_but_keeps_this_one(app, world):
    here, elsewhere = app.test_client(), app.test_client()
    login(here, world.clerk_a.email, world.password)
    login(elsewhere, world.clerk_a.email, world.password)
    old_cookie = here.get_cookie(SESSION_COOKIE).value
    new_password = "a brand new passphrase"
    resp = here.post("/account", data={"pw-current_password": world.password,
                                       "pw-new_password": new_password, "pw-confirm": new_password})
    assert resp.status_code == 302
    assert signed_in(here)
    assert not signed_in(elsewhere)
    stale = app.test_client()
    stale.set_cookie(SESSION_COOKIE, old_cookie)
    assert not signed_in(stale)
    assert login(app.test_client(), world.clerk_a.email, world.password).status_code == 200
    assert login(app.test_client(), world.clerk_a.email, new_password).status_code == 302


def test_password_change_keeps_this_device_remembered(app, world):
    client = app.test_client()
    login(client, world.clerk_a.email, world.password, remember="y")
    old_cookie = client.get_cookie(REMEMBER_COOKIE).value
    new_password = "a brand new passphrase"
    client.post("/account", data={"pw-current_password": world.password, "pw-new_password": new_password,
                                  "pw-confirm": new_password})
    new_cookie = client.get_cookie(REMEMBER_COOKIE).value
    assert new_cookie != old_cookie
    for cookie, works in ((new_cookie, True), (old_cookie, False)):
        device = app.test_client()
        device.set_cookie(REMEMBER_COOKIE, cookie)
        assert signed_in(device) is works


def test_sign_out_on_every_other_device_keeps_this_one(app, world, db):
    """A technician who left a session open on a council PC, and a remember-me cookie on a
    lost phone, ends both from the account page; the device in hand stays signed in, and
    stays remembered if it was."""
    from accounts.models import AuditEntry

    here, council_pc, phone = app.test_client(), app.test_client(), app.test_client()
    login(here, world.technician.email, world.password, remember="y")
    login(council_pc, world.technician.email, world.password)
    login(phone, world.technician.email, world.password, remember="y")
    phone_cookie = phone.get_cookie(REMEMBER_COOKIE).value
    page = here.get("/account").get_data(as_text=True)
    assert 'name="elsewhere-submit"' in page
    resp = here.post("/account", data={"elsewhere-submit": "1"})
    assert resp.status_code == 302 and location_path(resp) == "/account"
    assert signed_in(here)
    assert not signed_in(council_pc)
    stolen = app.test_client()
    stolen.set_cookie(REMEMBER_COOKIE, phone_cookie)
    assert not signed_in(stolen)
    remembered = app.test_client()
    remembered.set_cookie(REMEMBER_COOKIE, here.get_cookie(REMEMBER_COOKIE).value)
    assert signed_in(remembered)
    entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "sign_out_everywhere")).one()
    assert entry.object_id == str(world.technician.id) and entry.actor_id == world.technician.id


def test_wrong_current_password_changes_nothing(app, world, client_for):
    client = client_for(world.clerk_a)
    resp = client.post("/account", data={"pw-current_password": "wrong one", "pw-new_password": "x" * 12,
                                         "pw-confirm": "x" * 12})
    assert resp.status_code == 200 and "is-invalid" in resp.get_data(as_text=True)
    assert login(app.test_client(), world.clerk_a.email, world.password).status_code == 302


def test_remember_me_cookie_is_protected_and_dies_on_deactivation(app, world):
    client = app.test_client()
    resp = login(client, world.manager.email, world.password, remember="y")
    (header,) = set_cookie_headers(resp, REMEMBER_COOKIE)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    remembered = client.get_cookie(REMEMBER_COOKIE).value

    def device():
        fresh = app.test_client()  # no session: only the remember-me cookie
        fresh.set_cookie(REMEMBER_COOKIE, remembered)
        return fresh

    assert signed_in(device())
    services.set_active(world.manager, False, actor=world.admin)
    assert not signed_in(device())
    services.set_active(world.manager, True, actor=world.admin)
    assert not signed_in(device())  # reactivation does not revive old cookies


# --- rate limiting --------------------------------------------------------------------

def test_repeated_failed_logins_get_429(app, world):
    client = app.test_client()
    for _ in range(5):
        assert login(client, world.manager.email, "wrong").status_code == 200
    resp = login(client, world.manager.email, "wrong")
    assert resp.status_code == 429
    assert "Retry-After" in resp.headers
    # Even the right password waits now.
    assert login(client, world.manager.email, world.password).status_code == 429
    # Reading the form is not limited.
    assert client.get("/login").status_code == 200


def test_only_failed_attempts_count(app, world):
    client = app.test_client()
    for _ in range(4):
        assert login(client, world.manager.email, "wrong").status_code == 200
    assert login(client, world.manager.email, world.password).status_code == 302
    client.post("/logout")
    # Successful sign-ins never use up the allowance.
    for _ in range(6):
        other = app.test_client()
        assert login(other, world.technician.email, world.password).status_code == 302


@pytest.mark.parametrize("lang", ["ca", "es", "en"])
def test_the_429_page_speaks_the_users_language(app, world, lang):
    client = app.test_client()
    headers = {"Accept-Language": lang}
    for _ in range(5):
        login(client, world.manager.email, "wrong")
    resp = client.post("/login", data={"email": world.manager.email, "password": "wrong"}, headers=headers)
    assert resp.status_code == 429
    html = resp.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    if lang == "en":
        with force_locale("en"):
            title = str(ERROR_TITLES[429])
    else:
        title = translated("Too many attempts", lang)
    assert title in html

"""Server-side sessions (ASVS V7): signing out ends that browser's session on the server,
cookies copied before included; idle and absolute timeouts; the list of one's sessions."""

from __future__ import annotations

import datetime as dt
import re

import time_machine
from account_support import REMEMBER_COOKIE, SESSION_COOKIE, location_path, post_login, signed_in
from sqlalchemy import select

from accounts import services
from accounts.models import AuditEntry, UserSession

START = dt.datetime(2026, 6, 17, 8, 0, tzinfo=dt.UTC)
UA_PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
UA_DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _copy(app, client, *names):
    """A new browser holding copies of these cookies of `client` (a stolen cookie)."""
    thief = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, name
        thief.set_cookie(name, cookie.value)
    return thief


def test_logout_ends_that_session_and_its_copies_but_not_other_devices(app, world):
    laptop, phone = app.test_client(), app.test_client()
    assert post_login(laptop, world.technician.email, world.password, remember="y").status_code == 302
    assert post_login(phone, world.technician.email, world.password, remember="y").status_code == 302
    session_copy = _copy(app, laptop, SESSION_COOKIE)
    remember_copy = _copy(app, laptop, REMEMBER_COOKIE)
    assert signed_in(session_copy) and signed_in(remember_copy)

    assert laptop.post("/logout").status_code == 302
    assert not signed_in(laptop)
    # The copies taken before the logout are worth nothing now (they used to work for 12
    # hours and 14 days)...
    assert not signed_in(session_copy)
    assert not signed_in(remember_copy)
    # ...and the technician's phone was not signed out.
    assert signed_in(phone)


def test_idle_timeout_ends_a_session(app, world):
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        post_login(client, world.clerk_a.email, world.password)
        # Used now and then, it lives on...
        for _ in range(3):
            clock.shift(dt.timedelta(hours=3))
            assert signed_in(client)
        # ...left for more than 8 hours, it is over.
        clock.shift(dt.timedelta(hours=8, minutes=5))
        assert not signed_in(client)


def test_absolute_lifetime_holds_even_for_a_busy_session(app, world):
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        post_login(client, world.clerk_a.email, world.password)
        for _ in range(11):
            clock.shift(dt.timedelta(hours=1))
            assert signed_in(client)
        clock.shift(dt.timedelta(hours=1, minutes=1))  # 12 h after signing in
        assert not signed_in(client)


def test_a_remembered_session_survives_the_night_but_not_its_lifetime(app, world):
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        post_login(client, world.technician.email, world.password, remember="y")
        remembered = client.get_cookie(REMEMBER_COOKIE).value
        clock.shift(dt.timedelta(hours=16))  # overnight, the browser closed
        device = app.test_client()
        device.set_cookie(REMEMBER_COOKIE, remembered)
        assert signed_in(device)
        for _ in range(12):  # used every day...
            clock.shift(dt.timedelta(days=1))
            assert signed_in(device)
        clock.shift(dt.timedelta(days=1, hours=9))  # ...until 14 days after signing in
        assert not signed_in(device)


def test_a_remembered_session_left_unused_ends_after_its_idle_timeout(app, world):
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        post_login(client, world.technician.email, world.password, remember="y")
        clock.shift(dt.timedelta(days=7, minutes=5))
        assert not signed_in(client)


def test_the_idle_timeout_is_a_setting(app, world, configure):
    configure(SESSION_IDLE_TIMEOUT=dt.timedelta(minutes=30))
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        post_login(client, world.clerk_a.email, world.password)
        clock.shift(dt.timedelta(minutes=25))
        assert signed_in(client)
        clock.shift(dt.timedelta(minutes=31))
        assert not signed_in(client)
    configure(SESSION_IDLE_TIMEOUT=1800)  # seconds, as Flask's own lifetimes
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        post_login(client, world.clerk_a.email, world.password)
        clock.shift(dt.timedelta(minutes=31))
        assert not signed_in(client)


def test_the_account_page_lists_sessions_and_signs_one_out(app, world, db):
    here, phone = app.test_client(), app.test_client()
    post_login(here, world.technician.email, world.password, headers={"User-Agent": UA_DESKTOP})
    phone.post("/login", data={"email": world.technician.email, "password": world.password},
               headers={"User-Agent": UA_PHONE}, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    page = here.get("/account", headers={"User-Agent": UA_DESKTOP}).get_data(as_text=True)
    assert "Firefox" in page and "Windows" in page and "Chrome" in page and "Android" in page
    assert "198.51.100.7" in page
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == world.technician.id)
                              .order_by(UserSession.id)).all()
    mine, theirs = rows
    # This browser has no "sign out" button of its own in the list (that is the sign-out button).
    assert f"/account/sessions/{theirs.id}/end" in page
    assert f"/account/sessions/{mine.id}/end" not in page

    resp = here.post(f"/account/sessions/{theirs.id}/end")
    assert resp.status_code == 302
    assert not signed_in(phone)
    assert signed_in(here)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "session_end")).one()
    assert entry.actor_id == world.technician.id and entry.changes["ip_address"][0] == "198.51.100.7"
    assert f"/account/sessions/{theirs.id}/end" not in here.get("/account").get_data(as_text=True)


def test_nobody_ends_someone_elses_session(app, world, db):
    victim = app.test_client()
    post_login(victim, world.clerk_b.email, world.password)
    record = db.session.scalars(select(UserSession).where(UserSession.user_id == world.clerk_b.id)).one()
    attacker = app.test_client()
    post_login(attacker, world.manager.email, world.password)
    assert attacker.post(f"/account/sessions/{record.id}/end").status_code == 404
    assert signed_in(victim)


def test_password_change_can_revoke_the_api_tokens(app, world, api_for):
    kept, revoked = api_for(world.clerk_a), api_for(world.manager)
    for user, tick in ((world.clerk_a, {}), (world.manager, {"pw-revoke_tokens": "y"})):
        client = app.test_client()
        post_login(client, user.email, world.password)
        new = "a quiet harbour at dawn"
        resp = client.post("/account", data={"pw-current_password": world.password, "pw-new_password": new,
                                             "pw-confirm": new, **tick})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
        assert signed_in(client)
    assert kept.get("/api/v1/me").status_code == 200   # a routine change keeps scripts working
    assert revoked.get("/api/v1/me").status_code == 401


def test_sign_out_everywhere_revokes_tokens_when_ticked_and_keeps_this_device(app, world, db, api_for):
    api = api_for(world.technician)
    here, other = app.test_client(), app.test_client()
    post_login(here, world.technician.email, world.password)
    post_login(other, world.technician.email, world.password)
    page = here.get("/account").get_data(as_text=True)
    # Offered ticked: the button is for a suspected compromise.
    (box,) = re.findall(r'<input[^>]*name="elsewhere-revoke_tokens"[^>]*>', page)
    assert " checked" in box
    resp = here.post("/account", data={"elsewhere-submit": "1", "elsewhere-revoke_tokens": "y"})
    assert resp.status_code == 302 and location_path(resp) == "/account"
    assert signed_in(here) and not signed_in(other)
    assert api.get("/api/v1/me").status_code == 401
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "sign_out_everywhere")).one()
    assert entry.changes["tokens_revoked"] == [None, 1] and entry.changes["sessions_ended"][1] >= 2


def test_sign_out_everywhere_unticked_keeps_the_tokens(app, world, api_for):
    api = api_for(world.technician)
    here = app.test_client()
    post_login(here, world.technician.email, world.password)
    assert here.post("/account", data={"elsewhere-submit": "1"}).status_code == 302
    assert api.get("/api/v1/me").status_code == 200


def test_an_admin_signs_a_user_out_everywhere(app, world, db, client_for):
    victim = app.test_client()
    post_login(victim, world.clerk_a.email, world.password, remember="y")
    admin = client_for(world.admin)
    assert f"/admin/users/{world.clerk_a.id}/sessions/end" in admin.get(f"/admin/users/{world.clerk_a.id}").get_data(as_text=True)
    assert admin.post(f"/admin/users/{world.clerk_a.id}/sessions/end").status_code == 302
    assert not signed_in(victim)
    assert not signed_in(_copy(app, victim, REMEMBER_COOKIE))
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "sessions_end")).one()
    assert entry.actor_id == world.admin.id and entry.object_id == str(world.clerk_a.id)


def test_deactivation_revokes_tokens_and_reactivation_revives_nothing(app, world, api_for, api_error):
    api = api_for(world.technician)
    client = app.test_client()
    post_login(client, world.technician.email, world.password)
    services.set_active(world.technician, False, actor=world.admin)
    api_error(api.get("/api/v1/me"), 401, "unauthorized")
    assert not signed_in(client)
    services.set_active(world.technician, True, actor=world.admin)
    api_error(api.get("/api/v1/me"), 401, "unauthorized")
    assert not signed_in(client)


def test_old_rows_are_cleaned_up_at_the_next_sign_in(app, world, db):
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        post_login(client, world.clerk_a.email, world.password)
        client.post("/logout")
        clock.shift(dt.timedelta(days=31))
        post_login(app.test_client(), world.clerk_a.email, world.password)
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == world.clerk_a.id)).all()
    assert len(rows) == 1 and rows[0].ended_at is None


def test_a_forged_or_malformed_session_key_is_anonymous(app, world):
    client = app.test_client()
    post_login(client, world.clerk_a.email, world.password)
    with client.session_transaction() as sess:
        key = sess["_user_id"]
    for forged in (key[:-2] + "xx", "s1.short", f"{world.clerk_a.id}.0", "s99999999999.aaaaaaaaaaaaaaaaaaaaaaaa", ""):
        other = app.test_client()
        with other.session_transaction() as sess:
            sess["_user_id"] = forged
        assert not signed_in(other), forged

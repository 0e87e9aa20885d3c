"""Two-step sign-in (ASVS V6.5, V6.6): enrolment with a QR code, codes at sign-in that work
once, recovery codes, the roles that must use it, and the seed encrypted at rest."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
import time_machine
from account_support import code, enrol, location_path, post_login, signed_in
from sqlalchemy import select

from accounts import totp
from accounts.models import AuditEntry, RecoveryCode, TotpCredential

START = dt.datetime(2026, 6, 17, 8, 0, 10, tzinfo=dt.UTC)


def _actions(db, action):
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def test_enrolment_shows_a_qr_code_and_the_key_then_asks_for_a_code(app, world, db, client_for):
    client = client_for(world.technician)
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "/account/two-factor/start" in page
    assert client.post("/account/two-factor/start").status_code == 302
    page = client.get("/account/two-factor").get_data(as_text=True)
    # The QR code is drawn on the server, as an SVG image the page needs no script to show...
    (src,) = re.findall(r'<img class="cd-qr" src="([^"]+)"', page)
    assert src.startswith("data:image/svg+xml")
    assert "<script" not in src and "%3Cscript" not in src.lower()
    # ...and the key is there as text for an app that cannot scan.
    secret = totp.pending_secret(world.technician)
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in page
    assert f"otpauth://totp/CouncilDesk:{world.technician.email.replace('@', '%40')}" in page
    assert not totp.is_enabled(world.technician)  # not before a first code

    wrong = client.post("/account/two-factor/confirm", data={"confirm-code": "000000"})
    assert wrong.status_code == 200 and "is-invalid" in wrong.get_data(as_text=True)
    resp = client.post("/account/two-factor/confirm", data={"confirm-code": code(secret)})
    assert resp.status_code == 200
    codes = re.findall(r"<code class=\"user-select-all\">([a-z2-9-]{14})</code>", resp.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert totp.is_enabled(world.technician)
    # Only hashes of the recovery codes are kept; they are never shown again.
    stored = " ".join(db.session.scalars(select(RecoveryCode.code_hash)).all())
    assert not any(c.replace("-", "") in stored or c in stored for c in codes)
    assert codes[0] not in client.get("/account/two-factor").get_data(as_text=True)
    assert len(_actions(db, "totp_enable")) == 1


def test_the_seed_is_encrypted_at_rest(app, world, db):
    secret, _codes = enrol(world.manager)
    row = db.session.execute(select(TotpCredential.__table__)).one()
    assert secret not in " ".join(str(v) for v in row)
    assert totp.ring.decrypt(row.secret_ciphertext) == secret


def test_production_without_keys_refuses_to_store_seeds(app, world, configure):
    configure(ENV_NAME="production", TOTP_ENCRYPTION_KEYS=())
    app.extensions.pop("councildesk_totp_crypto", None)
    try:
        with pytest.raises(totp.CryptoNotConfigured, match="TOTP_ENCRYPTION_KEYS"):
            totp.start_enrolment(world.manager)
    finally:
        app.extensions.pop("councildesk_totp_crypto", None)


def test_keys_rotate(app, world, db, configure):
    from cryptography.fernet import Fernet

    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    try:
        configure(TOTP_ENCRYPTION_KEYS=first)
        app.extensions.pop("councildesk_totp_crypto", None)
        secret, _codes = enrol(world.manager)
        configure(TOTP_ENCRYPTION_KEYS=f"{second},{first}")
        app.extensions.pop("councildesk_totp_crypto", None)
        db.session.commit()
        result = app.test_cli_runner().invoke(args=["users", "rotate-totp-keys"])
        assert result.exit_code == 0 and "1 seed(s)" in result.output, result.output
        configure(TOTP_ENCRYPTION_KEYS=[second])
        app.extensions.pop("councildesk_totp_crypto", None)
        db.session.expire_all()
        assert totp.pending_secret(world.manager) is None and totp.verify(world.manager, code(secret, 1)) == "totp"
    finally:
        app.extensions.pop("councildesk_totp_crypto", None)


def test_sign_in_asks_for_the_code_after_the_password(app, world, db):
    secret, _codes = enrol(world.technician)
    client = app.test_client()
    resp = post_login(client, world.technician.email, world.password, next="/account")
    assert resp.status_code == 302 and location_path(resp) == "/login/code"
    assert not signed_in(client)  # the password alone is not a session
    assert client.post("/login/code", data={"code": "123456"}).status_code == 200
    resp = client.post("/login/code", data={"code": code(secret)})
    assert resp.status_code == 302 and location_path(resp) == "/account"
    assert signed_in(client)


def test_a_code_is_not_accepted_twice(app, world):
    secret, _codes = enrol(world.technician)
    first, second = app.test_client(), app.test_client()
    post_login(first, world.technician.email, world.password)
    post_login(second, world.technician.email, world.password)
    used = code(secret)
    assert first.post("/login/code", data={"code": used}).status_code == 302
    # The same code, seen over a shoulder or replayed, a second later.
    assert second.post("/login/code", data={"code": used}).status_code == 200
    assert not signed_in(second)


def test_codes_of_the_neighbouring_steps_pass_older_ones_do_not(app, world):
    with time_machine.travel(START, tick=False) as clock:
        secret, _codes = enrol(world.clerk_a)  # confirmed with the previous step's code
        clock.shift(dt.timedelta(seconds=60))
        client = app.test_client()
        post_login(client, world.clerk_a.email, world.password)
        assert client.post("/login/code", data={"code": code(secret, -2)}).status_code == 200  # 60-90 s old
        assert client.post("/login/code", data={"code": code(secret, -1)}).status_code == 302  # clock drift
        client.post("/logout")
        post_login(client, world.clerk_a.email, world.password)
        assert client.post("/login/code", data={"code": code(secret, 1)}).status_code == 302  # drift ahead
        client.post("/logout")
        post_login(client, world.clerk_a.email, world.password)
        # Inside the window, but not later than the last code used: refused.
        assert client.post("/login/code", data={"code": code(secret, 0)}).status_code == 200
        assert client.post("/login/code", data={"code": code(secret, 1)}).status_code == 200
        clock.shift(dt.timedelta(seconds=30))
        assert client.post("/login/code", data={"code": code(secret, 1)}).status_code == 302


def test_a_recovery_code_works_once_and_is_audited(app, world, db):
    _secret, codes = enrol(world.technician)
    client = app.test_client()
    post_login(client, world.technician.email, world.password)
    assert client.post("/login/code", data={"code": codes[3].upper().replace("-", " ")}).status_code == 302
    client.post("/logout")
    post_login(client, world.technician.email, world.password)
    assert client.post("/login/code", data={"code": codes[3]}).status_code == 200
    assert client.post("/login/code", data={"code": codes[4]}).status_code == 302
    entries = _actions(db, "recovery_code_used")
    assert [e.changes["recovery_codes_left"][1] for e in entries] == [9, 8]


def test_the_code_step_is_throttled(app, world, db):
    secret, _codes = enrol(world.technician)
    client = app.test_client()
    post_login(client, world.technician.email, world.password)
    statuses = [client.post("/login/code", data={"code": f"{n:06d}"}).status_code for n in range(6)]
    assert statuses == [200] * 5 + [429]
    resp = client.post("/login/code", data={"code": code(secret)})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert not signed_in(client)
    assert [e.changes["scope"][1] for e in _actions(db, "login_throttled")] == ["code"]


def test_the_code_page_does_not_wait_forever(app, world):
    with time_machine.travel(START, tick=False) as clock:
        secret, _codes = enrol(world.technician)
        client = app.test_client()
        post_login(client, world.technician.email, world.password)
        clock.shift(dt.timedelta(minutes=11))
        resp = client.post("/login/code", data={"code": code(secret)})
        assert resp.status_code == 302 and location_path(resp) == "/login"
        assert not signed_in(client)


def test_the_code_page_without_a_password_first_sends_to_login(app, world):
    resp = app.test_client().get("/login/code")
    assert resp.status_code == 302 and location_path(resp) == "/login"


# --- the roles that must use it ---------------------------------------------------------

def test_an_admin_without_it_is_sent_to_set_it_up_and_can_do_nothing_else(app, world, db, totp_required,
                                                                           api_for):
    client = app.test_client()
    resp = post_login(client, world.admin.email, world.password, next="/admin/users")
    assert resp.status_code == 302
    for url in ("/admin/users", "/councils", "/account", "/account/tokens", "/admin/audit"):
        resp = client.get(url)
        assert resp.status_code == 302 and location_path(resp) == "/account/two-factor", url
    assert client.post("/admin/users/new", data={}).status_code == 302
    # API tokens are a separate credential: a script of the admin's keeps working.
    assert api_for(world.admin).get("/api/v1/me").status_code == 200
    # Setting it up is possible, and then everything is.
    assert client.get("/account/two-factor").status_code == 200
    client.post("/account/two-factor/start")
    secret = totp.pending_secret(world.admin)
    assert client.post("/account/two-factor/confirm", data={"confirm-code": code(secret)}).status_code == 200
    assert client.get("/admin/users").status_code == 200


def test_a_required_user_can_still_sign_out_before_setting_it_up(app, world, totp_required):
    client = app.test_client()
    post_login(client, world.admin.email, world.password)
    assert client.post("/logout").status_code == 302
    assert client.get("/account/two-factor").status_code == 302  # signed out: to the login page


def test_managers_too_when_the_setting_says_so(app, world, configure):
    configure(TOTP_REQUIRED_ROLES="admin, manager")
    manager, tech = app.test_client(), app.test_client()
    post_login(manager, world.manager.email, world.password)
    post_login(tech, world.technician.email, world.password)
    assert location_path(manager.get("/councils")) == "/account/two-factor"
    assert tech.get("/councils").status_code == 200  # optional for the others
    configure(TOTP_REQUIRED_ROLES="none")
    assert manager.get("/councils").status_code == 200


def test_the_production_default_requires_it_of_admins():
    from config import DefaultConfig, DevelopmentConfig

    assert tuple(DefaultConfig.TOTP_REQUIRED_ROLES) == ("admin",)
    assert tuple(DevelopmentConfig.TOTP_REQUIRED_ROLES) == ()  # `make run` with the demo admin


# --- turning it off, new codes, a reset by an admin -------------------------------------

def test_turning_it_off_needs_the_password_and_a_code(app, world, db, client_for):
    secret, _codes = enrol(world.technician)
    client = client_for(world.technician)
    resp = client.post("/account/two-factor/disable", data={"disable-password": "wrong", "disable-code": code(secret)})
    assert resp.status_code == 200 and totp.is_enabled(world.technician)
    resp = client.post("/account/two-factor/disable", data={"disable-password": world.password, "disable-code": "000000"})
    assert resp.status_code == 200 and totp.is_enabled(world.technician)
    resp = client.post("/account/two-factor/disable", data={"disable-password": world.password,
                                                             "disable-code": code(secret)})
    assert resp.status_code == 302
    db.session.expire_all()
    assert not totp.is_enabled(world.technician)
    assert db.session.scalars(select(RecoveryCode)).all() == []
    assert len(_actions(db, "totp_disable")) == 1
    assert post_login(app.test_client(), world.technician.email, world.password).headers["Location"].endswith("/")


def test_new_recovery_codes_replace_the_old_ones(app, world, db, client_for):
    _secret, old = enrol(world.technician)
    client = client_for(world.technician)
    assert client.post("/account/two-factor/recovery-codes", data={"codes-password": "wrong"}).status_code == 200
    resp = client.post("/account/two-factor/recovery-codes", data={"codes-password": world.password})
    new = re.findall(r"<code class=\"user-select-all\">([a-z2-9-]{14})</code>", resp.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    login = app.test_client()
    post_login(login, world.technician.email, world.password)
    assert login.post("/login/code", data={"code": old[0]}).status_code == 200
    assert login.post("/login/code", data={"code": new[0]}).status_code == 302
    assert len(_actions(db, "recovery_codes_regenerate")) == 1


def test_an_admin_resets_it_for_a_user_who_lost_everything(app, world, db, client_for):
    enrol(world.manager)
    admin = client_for(world.admin)
    page = admin.get(f"/admin/users/{world.manager.id}").get_data(as_text=True)
    assert f"/admin/users/{world.manager.id}/two-factor/reset" in page
    assert admin.post(f"/admin/users/{world.manager.id}/two-factor/reset").status_code == 302
    db.session.expire_all()
    assert not totp.is_enabled(world.manager)
    entry = _actions(db, "totp_reset")[0]
    assert entry.actor_id == world.admin.id and entry.object_id == str(world.manager.id)
    client = app.test_client()
    assert location_path(post_login(client, world.manager.email, world.password)) == "/"


def test_the_authenticator_format_is_the_standard_one(world):
    secret, _codes = enrol(world.clerk_a)
    # RFC 6238 defaults that every app understands: base32 seed, SHA-1, 6 digits, 30 s.
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    uri = totp.provisioning_uri(world.clerk_a, secret)
    assert pyotp.parse_uri(uri).interval == 30 and pyotp.parse_uri(uri).digits == 6

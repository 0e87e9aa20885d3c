"""Throttling of password and code guessing by account and by address (ASVS V6.3, V6.1.1):
a guesser behind a town hall's NAT does not lock its clerks out, and the account guessed at
waits longer after each round of failures."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time

import pytest
import time_machine
from account_support import DEVICE_COOKIE, post_login, signed_in
from flask_babel import force_locale, ngettext
from sqlalchemy import select

from accounts.models import AuditEntry

START = dt.datetime(2026, 6, 17, 8, 0, tzinfo=dt.UTC)
TOWN_HALL = "203.0.113.10"


def _fail(app, email, times, address=TOWN_HALL):
    statuses = []
    for _ in range(times):
        statuses.append(post_login(app.test_client(), email, "wrong guess", address=address).status_code)
    return statuses


def test_a_guesser_behind_the_nat_does_not_lock_out_a_colleague(app, world):
    """Behind one address, failures on X stop X, not Y with the right password."""
    assert _fail(app, world.clerk_a.email, 12) == [200] * 5 + [429] * 7
    colleague = app.test_client()
    resp = post_login(colleague, world.manager.email, world.password, address=TOWN_HALL)
    assert resp.status_code == 302 and signed_in(colleague)


def test_the_guessed_account_waits_longer_after_each_round(app, world):
    with time_machine.travel(START, tick=False) as clock:
        assert _fail(app, world.clerk_a.email, 5) == [200] * 5
        resp = post_login(app.test_client(), world.clerk_a.email, "another guess", address=TOWN_HALL)
        assert resp.status_code == 429
        first_wait = int(resp.headers["Retry-After"])
        assert 0 < first_wait <= 60
        # Even the right password waits: a brake that let it through would tell the guesser.
        assert post_login(app.test_client(), world.clerk_a.email, world.password,
                          address=TOWN_HALL).status_code == 429
        clock.shift(dt.timedelta(seconds=first_wait + 1))
        assert _fail(app, world.clerk_a.email, 5) == [200] * 5
        resp = post_login(app.test_client(), world.clerk_a.email, "guess", address=TOWN_HALL)
        assert resp.status_code == 429
        second_wait = int(resp.headers["Retry-After"])
        assert second_wait > 5 * first_wait
        clock.shift(dt.timedelta(seconds=second_wait + 1))
        ok = app.test_client()
        assert post_login(ok, world.clerk_a.email, world.password, address=TOWN_HALL).status_code == 302


def test_an_account_guessed_from_many_addresses_is_braked_too(app, world):
    for i in range(10):
        assert post_login(app.test_client(), world.technician.email, "guess",
                          address=f"198.51.100.{i + 1}").status_code == 200
    resp = post_login(app.test_client(), world.technician.email, world.password, address="198.51.100.99")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0


def test_spraying_from_one_address_is_braked_but_not_for_long(app, world):
    with time_machine.travel(START, tick=False) as clock:
        for i in range(30):
            post_login(app.test_client(), f"nobody{i}@test.example.org", "Summer2026", address=TOWN_HALL)
        resp = post_login(app.test_client(), world.manager.email, world.password, address=TOWN_HALL)
        assert resp.status_code == 429
        assert int(resp.headers["Retry-After"]) <= 600
        clock.shift(dt.timedelta(minutes=10, seconds=1))
        assert post_login(app.test_client(), world.manager.email, world.password,
                          address=TOWN_HALL).status_code == 302


def test_a_known_device_is_not_held_up_by_guessers(app, world):
    """The clerk's own browser (it signed in there before) gets in while a guesser has the
    account braked from the same address and the address braked for everyone else."""
    own = app.test_client()
    assert post_login(own, world.clerk_a.email, world.password, address=TOWN_HALL).status_code == 302
    assert own.get_cookie(DEVICE_COOKIE) is not None
    own.post("/logout")
    _fail(app, world.clerk_a.email, 12)
    for i in range(30):
        post_login(app.test_client(), f"nobody{i}@test.example.org", "Summer2026", address=TOWN_HALL)
    assert post_login(app.test_client(), world.clerk_a.email, world.password, address=TOWN_HALL).status_code == 429
    assert post_login(own, world.clerk_a.email, world.password, address=TOWN_HALL).status_code == 302
    own.post("/logout")
    # The cookie counts for that account only, and cannot be made up.
    assert post_login(own, world.technician.email, world.password, address=TOWN_HALL).status_code == 429
    forged = app.test_client()
    forged.set_cookie(DEVICE_COOKIE, "eyJuIjoieCIsImEiOltdfQ.forged.signature")
    assert post_login(forged, world.clerk_a.email, world.password, address=TOWN_HALL).status_code == 429


def test_a_known_device_has_its_own_brake(app, world):
    own = app.test_client()
    post_login(own, world.clerk_a.email, world.password)
    own.post("/logout")
    statuses = [post_login(own, world.clerk_a.email, "guess").status_code for _ in range(10)]
    assert statuses == [200] * 10
    # Its allowance used up, the browser is like any other one: the account's brakes apply.
    assert post_login(own, world.clerk_a.email, "guess").status_code == 200
    assert [post_login(own, world.clerk_a.email, "guess").status_code for _ in range(5)][-1] == 429


@pytest.mark.parametrize("lang", ["ca", "es", "en"])
def test_the_message_says_when_to_try_again_in_the_users_language(app, world, lang):
    with time_machine.travel(START, tick=False):
        _fail(app, world.clerk_a.email, 5)
        resp = app.test_client().post("/login", data={"email": world.clerk_a.email, "password": "x"},
                                      headers={"Accept-Language": lang}, environ_base={"REMOTE_ADDR": TOWN_HALL})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "60"
    html = resp.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    with force_locale(lang):
        expected = ngettext("Too many failed attempts. Try again in %(num)d minute.",
                            "Too many failed attempts. Try again in %(num)d minutes.", 1)
    assert lang == "en" or expected != "Too many failed attempts. Try again in 1 minute."
    assert expected in html


def test_a_brake_is_audited_once(app, world, db):
    _fail(app, world.clerk_a.email, 9)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "login_throttled")).all()
    assert len(entries) == 1
    (entry,) = entries
    assert entry.object_type == "user" and entry.object_id == str(world.clerk_a.id)
    assert "account_address" in entry.changes["scope"][1] and entry.changes["address"][1] == TOWN_HALL


def test_the_api_answers_429_with_retry_after_to_a_token_guesser(app, world, api_for, api_error):
    good = api_for(world.technician)
    client = app.test_client()
    for _ in range(20):
        api_error(client.get("/api/v1/me", headers={"Authorization": "Bearer cdp_1_guess"}), 401, "unauthorized")
    resp = client.get("/api/v1/me", headers={"Authorization": "Bearer cdp_1_guess"})
    api_error(resp, 429, "too_many_requests")
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    # A valid token from the same address is never held up (it cannot have been guessed).
    assert good.get("/api/v1/me").status_code == 200
    # No token at all is not a guess.
    api_error(client.get("/api/v1/me"), 401, "unauthorized")


def test_throttling_can_be_switched_off(app, world, configure):
    configure(RATELIMIT_ENABLED=False)
    assert _fail(app, world.clerk_a.email, 8) == [200] * 8


# --- shared by every worker: Redis -----------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of our own on a loopback port, gone after the test."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: .ci/install-system installs it"
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def restore_limiter(app):
    """Flask-Limiter's object is shared by every app of the process and takes the storage of
    the last one bound: give the shared test app its own back afterwards."""
    from extensions import limiter

    yield
    limiter.init_app(app)


def test_two_workers_share_the_counts_through_redis(make_app, world, redis_url, restore_limiter):
    """Two apps (two gunicorn workers) on one Redis: failures counted by one brake the other."""
    first = make_app(RATELIMIT_STORAGE_URI=redis_url)
    second = make_app(RATELIMIT_STORAGE_URI=redis_url)
    for app in (first, second, first, second, first):
        with app.app_context():
            assert post_login(app.test_client(), world.clerk_a.email, "guess", address=TOWN_HALL).status_code == 200
    with second.app_context():
        resp = post_login(second.test_client(), world.clerk_a.email, world.password, address=TOWN_HALL)
        assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
        assert post_login(second.test_client(), world.manager.email, world.password,
                          address=TOWN_HALL).status_code == 302

"""Helpers of the accounts tests: signing in through the form, authenticator codes
(tests/accounts is put on sys.path by its conftest)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pyotp

SESSION_COOKIE = "councildesk_session"
REMEMBER_COOKIE = "remember_token"
DEVICE_COOKIE = "councildesk_device"


def post_login(client, email, password, *, address=None, headers=None, **extra):
    """The login form posted, from `address` (REMOTE_ADDR) when given."""
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post("/login", data={"email": email, "password": password, **extra}, environ_base=environ,
                       headers=headers or {})


def location_path(resp) -> str:
    parts = urlsplit(resp.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def signed_in(client) -> bool:
    resp = client.get("/account")
    if resp.status_code == 200:
        return True
    assert resp.status_code == 302, resp.status_code
    return False


def code(secret: str, steps: int = 0) -> str:
    """The authenticator's code now, or `steps` time steps (30 s) away."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(time.time()) + steps)


def enrol(user) -> tuple[str, list[str]]:
    """Two-step sign-in turned on for `user` as the set-up page does it: (seed, recovery codes).
    The code used to confirm is the previous step's, so that the current one is still unused."""
    from accounts import totp

    totp.start_enrolment(user)
    secret = totp.pending_secret(user)
    return secret, totp.confirm_enrolment(user, code(secret, -1))

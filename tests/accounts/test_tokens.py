"""Personal API tokens: named, expiring (chosen at creation, at most two years), last use
shown, created only with the password typed again; expired ones get the contract's 401."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from flask_babel import force_locale, gettext
from sqlalchemy import select

from accounts import services, tokens
from accounts.models import ApiToken, AuditEntry

START = dt.datetime(2026, 6, 17, 8, 0, tzinfo=dt.UTC)


def _new_token(client, **fields):
    data = {"name": "inventory script", "expires": "365", "expires_on": "", "password": "correct horse battery"}
    data.update(fields)
    resp = client.post("/account/tokens", data=data)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    match = re.search(r'<code[^>]*id="new-token">([^<]+)</code>', page)
    return (match.group(1) if match else None), page


def test_creating_a_token_asks_for_the_password_again(app, world, db, client_for):
    client = client_for(world.technician)
    token, page = _new_token(client, password="not my password")
    assert token is None and "is-invalid" in page
    assert db.session.scalars(select(ApiToken)).all() == []
    token, _page = _new_token(client)
    assert token and app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_expiry_is_chosen_at_creation(app, world, db, client_for):
    with time_machine.travel(START, tick=False):
        client = client_for(world.technician)
        for choice, days in (("30", 30), ("90", 90), ("365", 365)):
            assert _new_token(client, name=f"t{choice}", expires=choice)[0]
            row = db.session.scalars(select(ApiToken).where(ApiToken.name == f"t{choice}")).one()
            assert row.expires_at == START + dt.timedelta(days=days)
        assert _new_token(client, name="dated", expires="date", expires_on="2027-03-31")[0]
        row = db.session.scalars(select(ApiToken).where(ApiToken.name == "dated")).one()
        # The end of that day, office time (Europe/Madrid, summer time).
        assert row.expires_at == dt.datetime(2027, 3, 31, 21, 59, 59, tzinfo=dt.UTC)
        for bad in ("2029-01-01", "2026-06-01"):
            token, page = _new_token(client, name="bad", expires="date", expires_on=bad)
            assert token is None and "is-invalid" in page, bad
        token, page = _new_token(client, name="bad", expires="date", expires_on="")
        assert token is None and "is-invalid" in page
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "token_create").order_by(AuditEntry.id)).first()
        assert entry.changes["expires_at"][1].startswith("2026-07-17")


def test_an_expired_token_is_refused_with_the_contracts_401(app, world, api_error):
    with time_machine.travel(START, tick=False) as clock:
        _row, token = tokens.create_token(world.technician, "short", actor=None, days=30)
        client = app.test_client()
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        clock.shift(dt.timedelta(days=30, seconds=1))
        error = api_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}",
                                                            "Accept-Language": "en"}), 401, "unauthorized")
        assert "expired" in error["message"]


def test_the_tokens_page_shows_expiry_last_use_and_state(app, world, db, client_for):
    with time_machine.travel(START, tick=False) as clock:
        _used, used = tokens.create_token(world.technician, "used one", actor=None, days=90)
        tokens.create_token(world.technician, "short one", actor=None, days=30)
        app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {used}"})
        clock.shift(dt.timedelta(days=40))
        page = client_for(world.technician).get("/account/tokens").get_data(as_text=True)
    rows = {r.split("</td>")[0].split(">")[-1]: r for r in page.split("<tr>")[2:]}
    assert "badge text-bg-warning" in rows["short one"]          # expired
    assert "badge text-bg-success" in rows["used one"]           # still active
    with force_locale("ca"):
        never = gettext("Never")
    assert never in rows["short one"] and never not in rows["used one"]   # last used: a date
    assert "/revoke" in rows["used one"] and "/revoke" not in rows["short one"]


def test_a_token_cannot_outlive_the_maximum(app, world):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        tokens.create_token(world.technician, "forever", actor=None, days=731)
    assert tokens.create_token(world.technician, "two years", actor=None, days=730)[1]


def test_cli_tokens_create_takes_days_and_keeps_the_token_alone_on_the_last_line(app, world, db):
    db.session.commit()
    with time_machine.travel(START, tick=False):
        result = app.test_cli_runner().invoke(args=["tokens", "create", world.manager.email, "--days", "30",
                                                    "--name", "backup script"])
    assert result.exit_code == 0, result.output
    token = result.stdout.rstrip("\n").split("\n")[-1]
    assert token.startswith("cdp_") and " " not in token
    db.session.expire_all()
    row = db.session.scalars(select(ApiToken).where(ApiToken.user_id == world.manager.id)).one()
    assert (row.name, row.expires_at) == ("backup script", START + dt.timedelta(days=30))
    result = app.test_cli_runner().invoke(args=["tokens", "create", world.manager.email, "--days", "9999"])
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_cli_new_totp_key_prints_a_fernet_key(app):
    from cryptography.fernet import Fernet

    result = app.test_cli_runner().invoke(args=["users", "new-totp-key"])
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())


def test_services_keep_their_token_functions(world):
    """Other packages and tools call the token functions through accounts.services."""
    _row, token = services.create_token(world.clerk_a, "compat", actor=None)
    assert services.user_for_token(token) == world.clerk_a
    assert services.revoke_all_tokens(world.clerk_a, actor=None) == 1
    assert services.user_for_token(token) is None

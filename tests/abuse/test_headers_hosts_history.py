"""API answers are never cached; SSH checks cannot aim at loopback or link-local hosts unless
allowed; a clerk's view of an asset's history shows no SSH settings nor host keys (issue 14,
items 7 and 10)."""

from __future__ import annotations

import re

import pytest
from route_samples import samples


def test_api_answers_say_no_store(app, world, api_for):
    api = api_for(world.technician)
    for url in ("/api/v1/tickets", "/api/v1/assets", "/api/v1/tickets/999999", "/api/v1/openapi.json"):
        resp = api.get(url)
        assert "no-store" in resp.headers.get("Cache-Control", ""), (url, resp.status_code, resp.headers)
    assert "no-store" in app.test_client().get("/api/v1/tickets").headers["Cache-Control"]  # a 401 too


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1",
                                  "::ffff:127.0.0.1", "localhost", "db.localhost"])
def test_ssh_hosts_in_loopback_or_link_local_ranges_are_refused(app, world, host):
    from core.errors import ValidationFailed
    from inventory import services as inventory
    from remote import ssh_settings

    asset = inventory.create_asset(world.council_a, {"kind": "server", "name": "NAS"}, actor=None)
    values = {"host": host, "port": 22, "username": "monitor", "generate_key": True}
    app.config["REMOTE_SSH_ALLOW_LOCAL_HOSTS"] = False
    try:
        with pytest.raises(ValidationFailed) as caught:
            ssh_settings.save_ssh_settings(asset, values, actor=world.technician)
        assert "host" in caught.value.fields
        # An ordinary address of the council's network is fine.
        ssh_settings.save_ssh_settings(asset, {**values, "host": "192.0.2.10"}, actor=world.technician)
    finally:
        app.config["REMOTE_SSH_ALLOW_LOCAL_HOSTS"] = True
    # The tests' configuration allows them explicitly (their sshd listens on loopback).
    assert ssh_settings.save_ssh_settings(asset, values, actor=world.technician).host


def test_ssh_host_form_shows_the_refusal(app, world, client_for, english):
    asset_id = samples(world, "a")["asset_id"]
    app.config["REMOTE_SSH_ALLOW_LOCAL_HOSTS"] = False
    try:
        resp = client_for(world.technician).post(f"/assets/{asset_id}/ssh", data={
            "host": "169.254.169.254", "port": "22", "username": "monitor", "generate_key": "y"})
    finally:
        app.config["REMOTE_SSH_ALLOW_LOCAL_HOSTS"] = True
    assert resp.status_code in (200, 422)
    assert "link-local" in resp.get_data(as_text=True)


def test_clerk_history_of_an_asset_hides_ssh_settings_and_host_keys(app, db, world, client_for):
    from accounts.models import AuditEntry
    from remote import hostkey_approval
    from remote.models import HostKey

    values = samples(world, "a")  # the asset has SSH settings, a generated key and a pending host key
    row = db.session.get(HostKey, values["key_id"])
    hostkey_approval.approve_host_key(row, actor=world.technician)
    db.session.commit()
    actions = set(db.session.scalars(db.select(AuditEntry.action).where(
        AuditEntry.object_type == "asset", AuditEntry.object_id == str(values["asset_id"]))))
    assert any(a.startswith("ssh_") for a in actions), actions
    staff_page = client_for(world.technician).get(f"/assets/{values['asset_id']}").get_data(as_text=True)
    clerk_page = client_for(world.clerk_a).get(f"/assets/{values['asset_id']}").get_data(as_text=True)
    assert "192.0.2.10" in staff_page
    # The SSH user is "monitor": as a word, so that "monitoring is not running" is no leak.
    for secret in (r"192\.0\.2\.10", r"\bmonitor\b", "SHA256:"):
        assert not re.search(secret, clerk_page), secret

    from inventory import services
    from inventory.models import Asset

    asset = db.session.get(Asset, values["asset_id"])
    shown = {e.action for e in db.session.scalars(services.history(asset, world.clerk_a))}
    assert shown and not any(a.startswith(("ssh_", "host_key_")) for a in shown), shown
    assert {e.action for e in db.session.scalars(services.history(asset, world.technician))} == actions

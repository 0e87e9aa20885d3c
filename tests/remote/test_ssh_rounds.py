"""SSH checks through the scheduler's job (remote.jobs.run_ssh_round) against the real OpenSSH
sshd of tests/remote/conftest.py: host keys pinned, pending, changed; a silent port; keys
encrypted at rest."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select

UTC = dt.UTC
FAST = {"connect": 2.0, "banner": 1.0, "handshake": 5.0, "auth": 5.0, "command": 5.0, "host_total": 20.0}


@pytest.fixture
def fast_ssh(app, monkeypatch):
    monkeypatch.setitem(app.config, "REMOTE_SSH_TIMEOUTS", FAST)
    return app


def _server(db, world, sshd, *, port=None, key="audited", name="Servidor de fitxers"):
    from inventory import services as inventory
    from remote import check_config
    from remote import ssh_settings as services

    asset = inventory.create_asset(world.council_a, {"kind": "server", "name": name}, actor=world.technician)
    client = sshd.client_keys[key]
    services.save_ssh_settings(asset, {"host": sshd.host, "port": port or sshd.port, "username": sshd.username,
                                       "private_key": client.private_key, "passphrase": client.passphrase},
                               actor=world.technician)
    for kind, params in (("disk", {"mount": "/"}), ("memory", {}), ("load", {"window": 1}), ("reachability", {})):
        check_config.create_ssh_check(asset, {"kind": kind, "params": params}, actor=world.technician)
    return asset


def _checks(db, asset):
    from remote.models import Check

    db.session.expire_all()
    return {c.kind: c for c in db.session.scalars(select(Check).where(Check.asset_id == asset.id))}


def _round(at=None):
    from remote import jobs

    return jobs.run_ssh_round(at or dt.datetime.now(UTC) + dt.timedelta(seconds=1))


def _make_due(db, asset):
    from remote.models import Check

    for check in db.session.scalars(select(Check).where(Check.asset_id == asset.id)):
        check.next_due_at = dt.datetime.now(UTC) - dt.timedelta(seconds=1)
    db.session.commit()


def _other_key_line() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_first_contact_pends_runs_nothing_then_approval_runs_checks(fast_ssh, db, world, sshd, client_for):
    from core.models import Notification
    from remote.models import HostKey, Result

    before = sshd.exec_log_text()
    asset = _server(db, world, sshd)
    counts = _round()
    assert counts["hosts"] == 1 and counts["host_key_pending"] == 1
    row = db.session.scalar(select(HostKey).where(HostKey.asset_id == asset.id))
    assert row.status == "pending" and not row.replaces_pinned
    assert row.fingerprint == sshd.host_fingerprints[row.key_type]  # what ssh-keygen -l says
    assert sshd.exec_log_text() == before, "a host without an approved key must run nothing"
    checks = _checks(db, asset)
    assert checks["host_key"].state == "unknown" and checks["host_key"].summary_key == "host_key_pending"
    assert checks["disk"].state == "unknown" and checks["disk"].summary_params["reason"] == "host_key_pending"
    assert checks["reachability"].state == "ok"  # the banner answered
    notes = db.session.scalars(select(Notification).where(Notification.kind == "remote.host_key_pending")).all()
    assert [n.user_id for n in notes] == [world.admin.id]

    # The admin sees the fingerprint on the page and approves it (audited).
    page = client_for(world.admin).get("/health/host-keys").get_data(as_text=True)
    assert row.fingerprint in page
    resp = client_for(world.admin).post(f"/health/host-keys/{row.id}/approve", data={})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(HostKey, row.id).status == "approved"
    from accounts.models import AuditEntry

    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "host_key_approve")).actor_id == world.admin.id

    counts = _round()
    assert counts["ok"] == 1 and counts["checks"] == 4
    checks = _checks(db, asset)
    assert checks["host_key"].state == "ok"
    assert checks["disk"].summary_key == "disk_use" and checks["disk"].last_value is not None
    assert checks["memory"].summary_key == "memory_use"
    assert checks["load"].summary_key == "load_per_core"
    assert "df -P -k" in sshd.exec_log_text()
    assert db.session.scalar(select(func.count()).select_from(Result).where(
        Result.check_id == checks["disk"].id)) == 2
    # Not due again before their interval.
    assert _round()["checks"] == 0


def test_changed_key_raises_the_alert_and_runs_nothing(fast_ssh, db, world, sshd, recorder, client_for):
    from core.models import OutboxMail
    from remote import hostkey_approval
    from remote import ssh_settings as services
    from remote.hostkeys import HostKey as SshHostKey
    from remote.models import HostKey

    asset = _server(db, world, sshd)
    settings = services.ssh_settings_of(asset)
    old = SshHostKey.from_openssh(_other_key_line())
    row, _new = hostkey_approval.record_offered_key(settings, old, changed=False, now=dt.datetime.now(UTC))
    row.status = "approved"
    db.session.commit()
    before = sshd.exec_log_text()

    counts = _round()
    assert counts["host_key_changed"] == 1
    assert sshd.exec_log_text() == before
    checks = _checks(db, asset)
    assert checks["host_key"].state == "critical" and checks["host_key"].summary_key == "host_key_changed"
    assert checks["host_key"].summary_params["pinned"] == old.fingerprint
    assert checks["disk"].state == "unknown"
    # Only the host key's events: on a loaded machine a slow sshd can add a timeout of its own.
    assert [e.kind for e in recorder.events if e.check == "host_key"] == ["opened"]
    # The admins are told, by mail too.
    assert db.session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.kind == "remote.host_key_changed", OutboxMail.to_address == world.admin.email)) == 1
    new = db.session.scalar(select(HostKey).where(HostKey.asset_id == asset.id, HostKey.status == "pending"))
    assert new.replaces_pinned and new.fingerprint == sshd.host_fingerprints[new.key_type]
    # The page shows both fingerprints; approving needs the explicit confirmation.
    page = client_for(world.admin).get("/health/host-keys").get_data(as_text=True)
    assert old.fingerprint in page and new.fingerprint in page
    client_for(world.admin).post(f"/health/host-keys/{new.id}/approve", data={})
    db.session.expire_all()
    assert db.session.get(HostKey, new.id).status == "pending"
    client_for(world.admin).post(f"/health/host-keys/{new.id}/approve", data={"confirm": "y"})
    db.session.expire_all()
    assert db.session.get(HostKey, new.id).status == "approved"
    assert db.session.get(HostKey, row.id).status == "replaced"
    assert _round()["ok"] == 1
    assert _checks(db, asset)["host_key"].state == "ok"
    assert [e.kind for e in recorder.events if e.check == "host_key"] == ["opened", "recovered"]
    assert "df -P -k" in sshd.exec_log_text()


def test_silent_port_times_out_without_holding_up_others(fast_ssh, db, world, sshd, silent_port, monkeypatch):
    from remote import hostkey_approval as services
    from remote import jobs
    from remote.models import HostKey

    good = _server(db, world, sshd, key="ed25519", name="Good")
    services.approve_host_key(_pending_for(db, good, sshd), actor=world.admin)
    silent = _server(db, world, sshd, port=silent_port, key="ed25519", name="Silent")
    _make_due(db, good)
    finished = {}
    original = jobs._store_outcome

    def timed(outcome):
        stored = original(outcome)
        finished[int(outcome.ref)] = time.monotonic()
        return stored

    monkeypatch.setattr(jobs, "_store_outcome", timed)
    started = time.monotonic()
    counts = _round()
    elapsed = time.monotonic() - started
    assert counts["hosts"] == 2 and counts["ok"] == 1 and counts["timeout"] == 1
    assert finished[good.id] - started < 0.9, "the good host waited for the silent one"
    assert 0.9 <= finished[silent.id] - started <= 3.5  # its banner timeout is 1 s
    assert elapsed < 4
    checks = _checks(db, silent)
    assert checks["reachability"].state == "critical"
    assert checks["disk"].summary_key == "not_run" and checks["disk"].summary_params["reason"] == "timeout"
    assert db.session.scalar(select(func.count()).select_from(HostKey).where(HostKey.asset_id == silent.id)) == 0
    assert _checks(db, good)["disk"].summary_key == "disk_use"


def _pending_for(db, asset, sshd):
    from remote.models import HostKey

    _round()
    return db.session.scalar(select(HostKey).where(HostKey.asset_id == asset.id, HostKey.status == "pending"))


def test_private_keys_are_encrypted_at_rest_and_rotate(app, db, world, sshd, monkeypatch):
    from cryptography.fernet import Fernet

    from remote import crypto
    from remote import ssh_settings as services
    from remote.models import SshSettings

    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    cache = app.extensions.setdefault("councildesk_remote_crypto", {})
    monkeypatch.setitem(app.config, "SSH_KEY_ENCRYPTION_KEYS", first)
    cache.clear()
    try:
        asset = _server(db, world, sshd, key="encrypted")
        settings = db.session.scalar(select(SshSettings).where(SshSettings.asset_id == asset.id))
        secret = sshd.client_keys["encrypted"]
        assert secret.private_key.strip() not in settings.key_ciphertext
        assert secret.passphrase not in (settings.passphrase_ciphertext or "")
        assert crypto.decrypt(settings.key_ciphertext).strip() == secret.private_key.strip()
        assert settings.key_fingerprint.startswith("SHA256:") and settings.public_key.startswith("ssh-ed25519 ")
        # Rotation: the new key first, the old one still decrypting...
        monkeypatch.setitem(app.config, "SSH_KEY_ENCRYPTION_KEYS", f"{second},{first}")
        cache.clear()
        assert crypto.decrypt(settings.key_ciphertext).strip() == secret.private_key.strip()
        result = app.test_cli_runner().invoke(args=["remote", "rotate-keys"])
        assert result.exit_code == 0, result.output
        # ...then the old key can go.
        monkeypatch.setitem(app.config, "SSH_KEY_ENCRYPTION_KEYS", [second])
        cache.clear()
        db.session.expire_all()
        settings = db.session.scalar(select(SshSettings).where(SshSettings.asset_id == asset.id))
        assert crypto.decrypt(settings.key_ciphertext).strip() == secret.private_key.strip()
        assert services.ssh_target(settings).credentials.passphrase == secret.passphrase
        monkeypatch.setitem(app.config, "SSH_KEY_ENCRYPTION_KEYS", [first])
        cache.clear()
        with pytest.raises(crypto.DecryptionFailed):
            crypto.decrypt(settings.key_ciphertext)
    finally:
        cache.clear()


def test_production_refuses_to_store_keys_without_configured_encryption(app, monkeypatch):
    from remote import crypto

    cache = app.extensions.setdefault("councildesk_remote_crypto", {})
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    monkeypatch.setitem(app.config, "SSH_KEY_ENCRYPTION_KEYS", ())
    cache.clear()
    try:
        with pytest.raises(crypto.CryptoNotConfigured, match="SSH_KEY_ENCRYPTION_KEYS"):
            crypto.encrypt("secret")
        assert not crypto.configured()
    finally:
        cache.clear()


def test_ssh_settings_form_never_shows_the_key(app, db, world, sshd, client_for):
    from remote import ssh_settings as services

    asset = _server(db, world, sshd, key="ed25519")
    settings = services.ssh_settings_of(asset)
    html = client_for(world.technician).get(f"/assets/{asset.id}/monitoring").get_data(as_text=True)
    secret = sshd.client_keys["ed25519"].private_key
    body_line = secret.strip().splitlines()[1]
    assert body_line not in html
    assert settings.key_fingerprint in html and settings.public_key in html
    # A wrong key is refused with the error next to the field, and not echoed back.
    resp = client_for(world.technician).post(f"/assets/{asset.id}/ssh", data={
        "host": sshd.host, "port": sshd.port, "username": sshd.username, "private_key": "-----BEGIN nonsense-----",
        "enabled": "y"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "BEGIN nonsense" not in page and "is-invalid" in page
    # Generating a key pair shows its public half only.
    before = settings.key_fingerprint
    client_for(world.technician).post(f"/assets/{asset.id}/ssh/new-key", data={})
    db.session.expire_all()
    fresh = services.ssh_settings_of(asset)
    assert fresh.key_fingerprint != before and fresh.public_key.startswith("ssh-ed25519 ")

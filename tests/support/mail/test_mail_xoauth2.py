"""XOAUTH2 (Microsoft 365 and Gmail's way in) against Dovecot's oauth2 passdb, with a local
token endpoint playing the provider: the access token is refreshed with the refresh token,
the rotated refresh token is saved (the old one stops working, as providers do), and admins
are told when the refresh token is about to expire."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dovecot_harness import Dovecot, available
from sqlalchemy import select

from core.models import Notification
from support.mail import imap, services
from support.mail.models import InboundMail, Mailbox

pytestmark = pytest.mark.skipif(not available(), reason="dovecot-imapd is not installed (.ci/install-system)")


class Provider:
    """An OAuth 2 token endpoint and introspection endpoint on loopback."""

    def __init__(self):
        self.refresh = "refresh-1"
        self.access: set[str] = set()
        self.token_calls = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                value = lambda k: (form.get(k) or [""])[0]  # noqa: E731
                if self.path == "/token":
                    provider.token_calls += 1
                    if value("grant_type") != "refresh_token" or value("refresh_token") != provider.refresh \
                            or value("client_id") != "desk-client" or value("client_secret") != "client-secret":
                        return self._json(400, {"error": "invalid_grant"})
                    n = provider.token_calls
                    provider.refresh = f"refresh-{n + 1}"
                    provider.access.add(f"access-{n}")
                    return self._json(200, {"access_token": f"access-{n}", "token_type": "Bearer", "expires_in": 3600,
                                            "refresh_token": provider.refresh,
                                            "refresh_token_expires_in": 3 * 86400})
                if self.path == "/introspect":
                    if value("token") in provider.access:
                        return self._json(200, {"active": True, "username": "oauthuser"})
                    return self._json(200, {"active": False})
                return self._json(404, {})

            def _json(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def provider():
    p = Provider()
    yield p
    p.stop()


@pytest.fixture
def dovecot(provider):
    root = Path(tempfile.mkdtemp(prefix="councildesk-dovecot-"))
    os.chmod(root, 0o755)  # noqa: S103  (a throwaway directory of the test)
    server = Dovecot(root / "dovecot", {"oauthuser": "unused-password"},
                     oauth2_introspection_url=f"{provider.url}/introspect").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_xoauth2_login_refresh_and_rotated_token_saved(db, domains, mail, dovecot, provider, world):
    dovecot.append("oauthuser", mail(subject="Per OAuth"))
    box = services.save_mailbox({
        "name": "Microsoft 365", "host": "127.0.0.1", "port": dovecot.port, "security": "none",
        "username": "oauthuser", "auth": "xoauth2", "oauth_token_url": f"{provider.url}/token",
        "oauth_client_id": "desk-client", "oauth_client_secret": "client-secret", "refresh_token": "refresh-1",
        "oauth_scope": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"}, actor=None)
    now = dt.datetime.now(dt.UTC)
    assert imap.poll_mailbox(box.id, now) == 1, db.session.get(Mailbox, box.id).last_error
    box = db.session.get(Mailbox, box.id)
    assert box.consecutive_failures == 0
    assert imap.ring.decrypt(box.refresh_token_encrypted) == "refresh-2"  # the rotated one, saved
    assert "refresh-2" not in box.refresh_token_encrypted
    assert db.session.scalars(select(InboundMail.status)).all() == ["created"]
    # Within the access token's life: no call to the provider.
    dovecot.append("oauthuser", mail(subject="Segon"))
    assert imap.poll_mailbox(box.id, now + dt.timedelta(minutes=1)) == 1
    assert provider.token_calls == 1
    # Two hours later the access token has expired: refreshed with the rotated refresh token
    # (the first one no longer works at the provider).
    dovecot.append("oauthuser", mail(subject="Tercer"))
    assert imap.poll_mailbox(box.id, now + dt.timedelta(hours=2)) == 1
    db.session.refresh(box)
    assert provider.token_calls == 2 and imap.ring.decrypt(box.refresh_token_encrypted) == "refresh-3"
    # The refresh token expires in 3 days, within the warning window: the admins hear it once.
    imap.alert(now + dt.timedelta(hours=2))
    imap.alert(now + dt.timedelta(hours=3))
    notes = db.session.scalars(select(Notification).where(Notification.kind == imap.KIND_TOKEN)).all()
    assert [n.user_id for n in notes] == [world.admin.id]


def test_a_refused_token_is_a_failure_of_that_mailbox(db, domains, dovecot, provider):
    box = services.save_mailbox({
        "name": "Gmail", "host": "127.0.0.1", "port": dovecot.port, "security": "none", "username": "oauthuser",
        "auth": "xoauth2", "oauth_token_url": f"{provider.url}/token", "oauth_client_id": "desk-client",
        "oauth_client_secret": "client-secret", "refresh_token": "revoked-refresh"}, actor=None)
    assert imap.poll_mailbox(box.id) == 0
    box = db.session.get(Mailbox, box.id)
    assert box.consecutive_failures == 1 and "invalid_grant" in box.last_error

"""A real Dovecot IMAP server on a free loopback port, with its own configuration, a
throwaway maildir and a passwd-file of users; messages are placed with IMAP APPEND."""

from __future__ import annotations

import contextlib
import imaplib
import os
import socket
import subprocess
import time
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def available() -> bool:
    return os.path.exists(DOVECOT)


class Dovecot:
    def __init__(self, root: Path, users: dict[str, str], oauth2_introspection_url: str | None = None):
        """`oauth2_introspection_url`: also accept XOAUTH2/OAUTHBEARER, the token checked
        at that endpoint (RFC 7662 introspection, POST) by Dovecot's oauth2 passdb."""
        self.root = root
        self.introspection_url = oauth2_introspection_url
        self.port = free_port()
        self.users = users
        self.process: subprocess.Popen | None = None

    def _conf(self) -> str:
        root = self.root
        # Mail is owned by an unprivileged uid (Dovecot refuses uid 0 for mail); when the
        # tests do not run as root, that is the tests' own uid.
        uid = 65534 if os.getuid() == 0 else os.getuid()
        gid = 65534 if os.getuid() == 0 else os.getgid()
        user = "nobody" if os.getuid() == 0 else os.environ.get("USER") or str(os.getuid())
        oauth = ""
        mechanisms = "plain login"
        if self.introspection_url:
            (root / "oauth2.conf.ext").write_text(
                f"introspection_mode = post\nintrospection_url = {self.introspection_url}\n"
                "force_introspection = yes\nusername_attribute = username\n"
                "active_attribute = active\nactive_value = true\n")
            mechanisms += " xoauth2 oauthbearer"
            oauth = (f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                     f"  args = {root}/oauth2.conf.ext\n}}\n")
        return oauth + f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_location = maildir:{root}/mail/%u
default_internal_user = {user}
default_login_user = {user}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""

    def start(self) -> Dovecot:
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            os.chmod(self.root / sub, 0o777)  # noqa: S103  (Dovecot's unprivileged mail uid writes here)
        os.chmod(self.root, 0o755)  # noqa: S103  (its processes must reach the passwd-file)
        (self.root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        (self.root / "dovecot.conf").write_text(self._conf())
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("dovecot did not start: " + self.log())

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def client(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, self.users[user])
        return client

    def append(self, user: str, *messages: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            for message in messages:
                typ, data = client.append(folder, None, None, message)
                assert typ == "OK", data
        finally:
            client.logout()


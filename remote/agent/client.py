"""HTTP(S) client for the two agent endpoints, on ``http.client`` (no third-party stack).

- TLS is always verified: ``ssl.create_default_context`` with the system store, or with only
  the given CA file when the office runs its own CA. There is deliberately no way to turn
  verification off. The context is built once: loading the CA store costs more CPU than a
  whole report.
- Redirects are not followed: a redirect could send the token elsewhere, or a POST would
  silently turn into a GET; a redirect is reported as a misconfigured server URL.
- One connection is kept for the duration of a delivery burst (spool replay), then closed:
  between reports (minutes) the server would have dropped it anyway.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import platform
import ssl
import sys
from urllib.parse import urlsplit

from . import __version__
from .config import ConfigError

# Not `from typing import TYPE_CHECKING`: importing typing costs ~0.5 MB of RSS.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger("councildesk.agent")

DEFAULT_TIMEOUT = 15.0
MAX_RESPONSE_BYTES = 64 * 1024

ENROLL_PATH = "/api/v1/agents/enroll"
REPORT_PATH = "/api/v1/agents/report"

# Outcomes of one delivery attempt.
DELIVERED = "delivered"
UNAUTHORIZED = "unauthorized"
RETRY = "retry"
REJECTED = "rejected"

USER_AGENT = (
    f"councildesk-agent/{__version__} ({platform.system()}; "
    f"Python {sys.version_info.major}.{sys.version_info.minor})"
)


class TransportError(Exception):
    """No HTTP answer at all: refused, timed out, DNS, TLS handshake or verification."""

    def __init__(self, message: str, tls_verification: bool = False) -> None:
        super().__init__(message)
        self.tls_verification = tls_verification


class _StaleConnection(Exception):
    """The peer dropped the connection before answering."""


class Response:
    __slots__ = ("body", "location", "retry_after", "status")

    def __init__(
        self, status: int, body: bytes, retry_after: float | None, location: str | None
    ) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.location = location

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def error_text(self) -> str:
        """The contract's ``error.message`` (and code), or a short excerpt of the body."""
        data = self.json()
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            error = data["error"]
            text = f"{error.get('code', '?')}: {error.get('message', '')}"
            fields = error.get("fields")
            if isinstance(fields, dict) and fields:
                text += " " + json.dumps(fields, ensure_ascii=False)
        else:
            text = self.body[:200].decode("utf-8", "replace")
        return f"HTTP {self.status} {text}".strip()[:500]


def classify(status: int) -> str:
    """What a status means for the report that got it.

    - 2xx: accepted.
    - 401: the token is revoked or unknown; retrying cannot help.
    - 408, 429, 5xx: the server is busy or down; keep the report and retry later.
    - 3xx, 403, 404, 405: the endpoint itself is wrong (server URL, proxy, deployment), not
      this report; every report would get the same answer, so dropping them as "poison"
      would empty the queue over a fixable misconfiguration. Keep and retry.
    - Any other 4xx (400, 413, 422, ...): this report is unacceptable; drop it (poison
      message) so that it does not block the queue forever.
    """
    if 200 <= status < 300:
        return DELIVERED
    if status == 401:
        return UNAUTHORIZED
    if 400 <= status < 500 and status not in (403, 404, 405, 408, 429):
        return REJECTED
    return RETRY


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context: the given CA only, or the system's trust store.

    On Linux the system store is used through its hashed directory when there is one
    (Debian, Ubuntu, Alpine keep it in step with the bundle): OpenSSL then loads only the CA
    a server actually chains to, instead of parsing the ~150-certificate bundle up front,
    which costs ~60 ms of CPU and ~2 MB of the agent's memory budget. SSL_CERT_FILE and
    SSL_CERT_DIR keep their usual meaning.
    """
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    paths = ssl.get_default_verify_paths()
    if (
        sys.platform.startswith("linux")
        and paths.capath
        and not os.environ.get(paths.openssl_cafile_env)
        and not os.environ.get(paths.openssl_capath_env)
        and _hashed_ca_dir(paths.capath)
    ):
        return ssl.create_default_context(capath=paths.capath)
    return ssl.create_default_context()


def _hashed_ca_dir(path: str, wanted: int = 20) -> bool:
    """True if ``path`` holds OpenSSL subject-hash links (``1a2b3c4d.0``), as c_rehash makes."""
    found = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                name = entry.name
                if len(name) == 10 and name.endswith(".0") and _is_hex(name[:8]):
                    found += 1
                    if found >= wanted:
                        return True
    except OSError:
        return False
    return False


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdef" for ch in text)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # the HTTP-date form: rare from an API, and the backoff still applies
    return seconds if seconds > 0 else None


class Client:
    def __init__(
        self,
        server: str,
        token: str | None = None,
        ca_file: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        parts = urlsplit(server)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._context: ssl.SSLContext | None = None
        if self._https:
            try:
                self._context = tls_context(ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load CA file {ca_file}: {exc}") from None
        elif ca_file:
            log.debug("ca_file ignored for a plain http:// loopback server")

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=self._context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def post(self, path: str, body: bytes, auth: bool = True) -> Response:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        reused = self._conn is not None
        try:
            return self._attempt(path, body, headers)
        except _StaleConnection as exc:
            if not reused:
                raise TransportError(f"connection lost: {exc}") from None
        # The server closed an idle kept-alive connection: one fresh attempt is the standard
        # answer, and ``report_id`` makes a rare duplicate harmless.
        try:
            return self._attempt(path, body, headers)
        except _StaleConnection as exc:
            raise TransportError(f"connection lost: {exc}") from None

    def _attempt(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        try:
            return self._exchange(path, body, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            self.close()
            raise _StaleConnection(str(exc) or exc.__class__.__name__) from None
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise TransportError(
                f"TLS certificate verification failed for {self._host}: "
                f"{exc.verify_message or exc.reason}",
                tls_verification=True,
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError(_describe(exc)) from None

    def _exchange(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        conn.request("POST", self._base + path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read(MAX_RESPONSE_BYTES)
        if not reply.isclosed() or reply.will_close:
            # Unread remainder or the server wants to close: the connection is not reusable.
            self.close()
        return Response(
            reply.status,
            data,
            _retry_after(reply.getheader("Retry-After")),
            reply.getheader("Location"),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc) or exc.__class__.__name__
    return text[:300]

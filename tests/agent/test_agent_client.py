"""HTTP client: status classification, keep-alive, redirects, TLS verification."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from agent_support import TOKEN, StubServer, make_self_signed, tls_context

from remote.agent import client as client_module
from remote.agent.client import (
    DELIVERED,
    REJECTED,
    REPORT_PATH,
    RETRY,
    UNAUTHORIZED,
    USER_AGENT,
    Client,
    Response,
    TransportError,
    classify,
)
from remote.agent.collect import Collector, build_report, encode_report
from remote.agent.config import ConfigError


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, DELIVERED),
        (202, DELIVERED),
        (401, UNAUTHORIZED),
        (408, RETRY),
        (429, RETRY),
        (500, RETRY),
        (502, RETRY),
        (503, RETRY),
        (301, RETRY),
        (307, RETRY),
        (403, RETRY),
        (404, RETRY),
        (405, RETRY),
        (400, REJECTED),
        (409, REJECTED),
        (413, REJECTED),
        (422, REJECTED),
    ],
)
def test_classification(status: int, outcome: str) -> None:
    assert classify(status) == outcome


def _body() -> bytes:
    metrics, inventory = Collector().snapshot()
    return encode_report(build_report(metrics, inventory, {}))


def test_report_carries_bearer_token_user_agent_and_json(stub: StubServer) -> None:
    client = Client(stub.url, TOKEN)
    response = client.post(REPORT_PATH, _body())
    client.close()
    assert response.status == 202
    headers = stub.state.headers[0]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Content-Type"] == "application/json"


def test_one_connection_serves_a_replay_burst() -> None:
    stub = StubServer(http11=True).start()
    try:
        client = Client(stub.url, TOKEN)
        for _ in range(5):
            assert client.post(REPORT_PATH, _body()).status == 202
        client.close()
        assert stub.connections == 1
    finally:
        stub.stop()


def test_a_kept_alive_connection_closed_by_the_server_is_retried_once() -> None:
    stub = StubServer(http11=True).start()
    try:
        client = Client(stub.url, TOKEN)
        assert client.post(REPORT_PATH, _body()).status == 202
        stub.stop()  # closes the idle kept-alive connection
        stub.start()
        assert client.post(REPORT_PATH, _body()).status == 202
        assert len(stub.state.reports) == 2
    finally:
        stub.stop()


def test_redirects_are_not_followed(stub: StubServer) -> None:
    stub.state.report_override = lambda _r: (307, {}, {"Location": "http://evil.example/x"})
    response = Client(stub.url, TOKEN).post(REPORT_PATH, _body())
    assert response.status == 307
    assert response.location == "http://evil.example/x"
    assert classify(response.status) == RETRY


def test_retry_after_is_read(stub: StubServer) -> None:
    stub.state.report_override = lambda _r: (429, {}, {"Retry-After": "42"})
    assert Client(stub.url, TOKEN).post(REPORT_PATH, _body()).retry_after == 42.0


def test_error_text_uses_the_contract_error_body() -> None:
    body = {"error": {"code": "validation", "message": "bad disks", "fields": {"disks": "x"}}}
    response = Response(422, json.dumps(body).encode(), None, None)
    assert response.error_text() == 'HTTP 422 validation: bad disks {"disks": "x"}'
    assert Response(502, b"<html>Bad gateway</html>", None, None).error_text().startswith("HTTP 502 <html>")


def test_connection_refused_is_a_transport_error(stub: StubServer) -> None:
    url = stub.url
    stub.stop()
    with pytest.raises(TransportError, match="refused"):
        Client(url, TOKEN).post(REPORT_PATH, _body())


def test_self_signed_certificate_is_refused_without_its_ca(
    tls_stub: tuple[StubServer, Path],
) -> None:
    server, cert = tls_stub
    with pytest.raises(TransportError) as caught:
        Client(server.url, TOKEN).post(REPORT_PATH, _body())
    assert caught.value.tls_verification
    assert "certificate" in str(caught.value)
    assert Client(server.url, TOKEN, ca_file=str(cert)).post(REPORT_PATH, _body()).status == 202


def test_hostname_is_verified_even_with_the_right_ca(tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path, names=("desk.example.cat",))
    server = StubServer(ssl_context=tls_context(cert, key)).start()
    try:
        with pytest.raises(TransportError, match="certificate"):
            Client(server.url, TOKEN, ca_file=str(cert)).post(REPORT_PATH, _body())
        assert server.state.reports == []
    finally:
        server.stop()


def test_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CA file"):
        Client("https://127.0.0.1:1", TOKEN, ca_file=str(tmp_path / "absent.pem"))


def _subject_hash(cert: Path) -> str:
    result = subprocess.run(
        ["openssl", "x509", "-subject_hash", "-noout", "-in", str(cert)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_system_store_is_used_through_its_hashed_directory(
    tls_stub: tuple[StubServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lazy CA loading (memory and start-up CPU) must still verify against the system store."""
    server, cert = tls_stub
    store = tmp_path / "certs"
    store.mkdir()
    for n in range(25):  # unrelated CAs, never read: only the needed hash is looked up
        (store / f"{n:08x}.0").write_text("not a certificate")
    defaults = ssl.get_default_verify_paths()
    monkeypatch.setattr(
        client_module.ssl,
        "get_default_verify_paths",
        lambda: defaults._replace(capath=str(store)),
    )
    monkeypatch.delenv(defaults.openssl_cafile_env, raising=False)
    monkeypatch.delenv(defaults.openssl_capath_env, raising=False)

    context = client_module.tls_context(None)
    assert context.cert_store_stats()["x509"] == 0, "nothing loaded up front"
    with pytest.raises(TransportError, match="certificate"):
        Client(server.url, TOKEN).post(REPORT_PATH, _body())

    (store / f"{_subject_hash(cert)}.0").write_bytes(cert.read_bytes())
    assert Client(server.url, TOKEN).post(REPORT_PATH, _body()).status == 202

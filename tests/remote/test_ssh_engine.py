"""The SSH engine against a real OpenSSH sshd on loopback (see conftest.py)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sshd_harness import SshdServer, start_sshd

from remote import rounds as sshpool
from remote import ssh_transport as ssh_module
from remote.catalogue import CATALOGUE
from remote.hostkeys import HostKey
from remote.judging import CheckSpec, State
from remote.rounds import HostJob, run_host, run_round
from remote.ssh_connect import KeyLoadError, SshCredentials, SshTarget, connect, load_private_key
from remote.ssh_transport import ConnectionStatus, SshTimeouts, probe_banner

Target = Callable[..., SshTarget]

ALL_CHECKS = (
    CheckSpec("disk", {"mount": "/"}, ref="disk"),
    CheckSpec("load", {"window": 1}, ref="load"),
    CheckSpec("memory", ref="memory"),
    CheckSpec("reachability", ref="reach"),
)


def _other_ed25519() -> HostKey:
    line = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return HostKey.from_openssh(line.decode())


def _log_since(sshd: SshdServer, offset: int) -> str:
    # sshd's children write their lines as they go; give the last ones a moment.
    time.sleep(0.1)
    return sshd.log_text()[offset:]


# ---------------------------------------------------------------- host keys


def test_fingerprint_matches_ssh_keygen(sshd: SshdServer) -> None:
    for line in sshd.host_keys.values():
        key = HostKey.from_openssh(line)
        assert key.fingerprint == sshd.host_fingerprints[key.key_type]


def test_pinned_key_runs_checks_and_parses(make_target: Target, tmp_path: Path) -> None:
    backup = tmp_path / "backups"
    backup.mkdir()
    old = backup / "monday.tar"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 3 * 3600, time.time() - 3 * 3600))
    checks = (
        *ALL_CHECKS,
        CheckSpec("backup_freshness", {"path": str(backup)}, ref="backup"),
        CheckSpec("systemd_unit", {"unit": "ssh.service"}, ref="unit"),
    )
    outcome = run_host(HostJob(make_target(), checks, ref="host-1"))

    assert outcome.status is ConnectionStatus.OK
    assert outcome.ref == "host-1"
    results = {r.ref: r for r in outcome.results}
    assert [r.ref for r in outcome.results] == [c.ref for c in checks]

    usage = shutil.disk_usage("/")
    expected = usage.used * 100 / (usage.used + usage.free)
    assert results["disk"].value == pytest.approx(expected, abs=1.0)
    assert results["disk"].state in (State.OK, State.WARNING, State.CRITICAL)
    assert results["disk"].message()["key"] == "disk_use"

    assert results["load"].summary_params["cores"] == os.cpu_count()
    assert results["load"].state is not State.UNKNOWN

    with open("/proc/meminfo") as handle:
        info = dict(line.split(":", 1) for line in handle)
    total = int(info["MemTotal"].split()[0])
    available = int(info["MemAvailable"].split()[0])
    assert results["memory"].value == pytest.approx((total - available) * 100 / total, abs=5)

    assert results["backup"].value == pytest.approx(3.0, abs=0.05)
    assert results["backup"].state is State.OK
    # systemd may or may not run where the tests do; either way the result is a clean state.
    assert results["unit"].state in tuple(State)
    assert results["reach"].state is State.OK
    assert results["reach"].value is not None and results["reach"].value < 250
    assert all(r.raw_output for r in outcome.results if r.ref != "reach")
    for r in outcome.results:
        assert r.unit == (CATALOGUE[r.check].unit if r.value is not None else None), r
    assert outcome.connection is not None
    assert outcome.connection.server_banner and outcome.connection.server_banner.startswith(
        "SSH-2.0-OpenSSH"
    )


def test_audited_key_logs_commands(make_target: Target, sshd: SshdServer) -> None:
    # Positive control for the two tests below: with the audited key, exec.log does record.
    before = sshd.exec_log_text()
    outcome = run_host(HostJob(make_target(key="audited"), (CheckSpec("memory"),)))
    assert outcome.status is ConnectionStatus.OK
    assert outcome.results[0].state is not State.UNKNOWN
    assert "/proc/meminfo" in sshd.exec_log_text()[len(before) :]


def test_unknown_host_key_pends_and_runs_nothing(make_target: Target, sshd: SshdServer) -> None:
    exec_before = sshd.exec_log_text()
    log_offset = len(sshd.log_text())
    outcome = run_host(HostJob(make_target(key="audited", pinned=()), ALL_CHECKS))

    assert outcome.status is ConnectionStatus.HOST_KEY_PENDING
    assert outcome.connection is not None
    offered = outcome.connection.offered_key
    assert offered is not None
    assert offered.openssh() == sshd.host_key_line
    assert outcome.connection.offered_fingerprint == sshd.host_key_fingerprint
    by_ref = {r.ref: r for r in outcome.results}
    for ref in ("disk", "load", "memory"):
        assert by_ref[ref].state is State.UNKNOWN
        assert by_ref[ref].summary_params["reason"] == "host_key_pending"
    # The port answered with an SSH banner: reachability is judged on that alone.
    assert by_ref["reach"].state is State.OK

    assert sshd.exec_log_text() == exec_before
    log = _log_since(sshd, log_offset)
    assert "Accepted publickey" not in log
    assert "Starting session" not in log


def test_changed_host_key_runs_nothing(make_target: Target, sshd: SshdServer) -> None:
    stranger = _other_ed25519()
    exec_before = sshd.exec_log_text()
    log_offset = len(sshd.log_text())
    outcome = run_host(HostJob(make_target(key="audited", pinned=(stranger,)), ALL_CHECKS))

    assert outcome.status is ConnectionStatus.HOST_KEY_CHANGED
    connection = outcome.connection
    assert connection is not None
    assert connection.offered_fingerprint == sshd.host_key_fingerprint
    assert connection.pinned_fingerprints == (stranger.fingerprint,)
    assert sshd.host_key_fingerprint in outcome.detail and stranger.fingerprint in outcome.detail
    assert all(
        r.summary_params.get("reason") == "host_key_changed"
        for r in outcome.results
        if r.check != "reachability"
    )
    assert sshd.exec_log_text() == exec_before
    log = _log_since(sshd, log_offset)
    assert "Accepted publickey" not in log
    assert "Starting session" not in log


def test_pinned_type_not_offered_counts_as_changed(make_target: Target) -> None:
    rsa_line = (
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    outcome, connection = connect(make_target(pinned=(HostKey.from_openssh(rsa_line.decode()),)))
    assert connection is None
    assert outcome.status is ConnectionStatus.HOST_KEY_CHANGED


def test_pinned_ecdsa_key_is_negotiated(make_target: Target, sshd: SshdServer) -> None:
    ecdsa = HostKey.from_openssh(sshd.host_keys["ecdsa-sha2-nistp256"])
    outcome, connection = connect(make_target(pinned=(ecdsa,)))
    assert outcome.status is ConnectionStatus.OK, outcome.detail
    assert connection is not None
    with connection:
        assert outcome.offered_key == ecdsa
        assert connection.run("echo pinned").stdout == "pinned\n"


def test_several_pins_any_one_matches(make_target: Target, sshd: SshdServer) -> None:
    # Key rotation: old and new keys of the same type pinned together, in either order.
    real = HostKey.from_openssh(sshd.host_key_line)
    ecdsa = HostKey.from_openssh(sshd.host_keys["ecdsa-sha2-nistp256"])
    for pins in ((_other_ed25519(), real), (real, _other_ed25519()), (ecdsa, _other_ed25519())):
        outcome, connection = connect(make_target(pinned=pins))
        assert outcome.status is ConnectionStatus.OK, (pins, outcome.detail)
        assert connection is not None
        connection.close()
    # As with OpenSSH: the first pinned type is the one asked for, and a different key of
    # that type is a changed key even if another pinned type would have matched.
    outcome, _ = connect(make_target(pinned=(_other_ed25519(), ecdsa)))
    assert outcome.status is ConnectionStatus.HOST_KEY_CHANGED


# ---------------------------------------------------------------- client keys and auth


@pytest.mark.parametrize("key", ["ecdsa", "rsa", "encrypted"])
def test_client_key_types(make_target: Target, key: str) -> None:
    outcome, connection = connect(make_target(key=key))
    assert outcome.status is ConnectionStatus.OK, outcome.detail
    assert connection is not None
    with connection:
        result = connection.run("echo $((6 * 7))")
    assert (result.exit_status, result.stdout) == (0, "42\n")


def test_wrong_passphrase_is_a_client_key_error(make_target: Target, sshd: SshdServer) -> None:
    log_offset = len(sshd.log_text())
    outcome, connection = connect(make_target(key="encrypted", passphrase="hunter2-guess"))
    assert connection is None
    assert outcome.status is ConnectionStatus.CLIENT_KEY_ERROR
    assert "hunter2" not in outcome.detail  # the passphrase never shows up in messages
    assert "Connection from" not in _log_since(sshd, log_offset)  # the host was not contacted


def test_unauthorised_client_key_fails_auth(sshd: SshdServer) -> None:
    stranger = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )
    target = SshTarget(
        sshd.host,
        sshd.port,
        SshCredentials(sshd.username, stranger),
        (HostKey.from_openssh(sshd.host_key_line),),
    )
    outcome = run_host(HostJob(target, (CheckSpec("memory"),)))
    assert outcome.status is ConnectionStatus.AUTH_FAILED
    assert outcome.results[0].summary_params["reason"] == "auth_failed"


def test_load_private_key_formats() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP384R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    assert load_private_key(ec_pem).get_name() == "ecdsa-sha2-nistp384"
    pkcs8 = (
        rsa.generate_private_key(65537, 2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
        .decode()
    )
    assert load_private_key(pkcs8, "s3cret").get_name() == "ssh-rsa"
    with pytest.raises(KeyLoadError):
        load_private_key(pkcs8)
    with pytest.raises(KeyLoadError):
        load_private_key(pkcs8, "nope")
    weak = (
        rsa.generate_private_key(65537, 1024)  # noqa: S505 - the weak key is the point
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(KeyLoadError, match="2048"):
        load_private_key(weak)
    for garbage in ("", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", "hello"):
        with pytest.raises(KeyLoadError):
            load_private_key(garbage)


def test_host_key_validation() -> None:
    good = _other_ed25519()
    assert good.fingerprint.startswith("SHA256:") and "=" not in good.fingerprint
    assert HostKey.from_openssh(f"[10.0.0.5]:2222 {good.openssh()} comment") == good
    with pytest.raises(ValueError):
        HostKey("ssh-ed25519", "not base64!")
    with pytest.raises(ValueError):
        HostKey("ecdsa-sha2-nistp256", good.key_base64)  # blob says ssh-ed25519
    with pytest.raises(ValueError):
        HostKey("ssh-dss", good.key_base64)
    with pytest.raises(ValueError):
        HostKey.from_openssh("no key here")
    with pytest.raises(ValueError):
        HostKey.from_openssh(f"@revoked * {good.openssh()}")


# ---------------------------------------------------------------- failures and timeouts


def test_closed_port_is_refused_fast(make_target: Target, closed_port: int) -> None:
    started = time.perf_counter()
    outcome = run_host(HostJob(make_target(port=closed_port), ALL_CHECKS))
    assert time.perf_counter() - started < 0.5
    assert outcome.status is ConnectionStatus.CONNECTION_REFUSED
    reach = next(r for r in outcome.results if r.check == "reachability")
    assert (reach.state, reach.summary_key) == (State.CRITICAL, "unreachable")


def test_silent_host_times_out_without_holding_up_others(
    make_target: Target, silent_port: int
) -> None:
    slow = SshTimeouts(connect=1.0, banner=1.5, handshake=2.0, auth=2.0, command=2.0)
    jobs = [HostJob(make_target(port=silent_port, timeouts=slow), ALL_CHECKS, ref="silent")]
    jobs += [HostJob(make_target(), ALL_CHECKS, ref=f"ok{i}") for i in range(4)]
    finished: dict[str | None, float] = {}
    started = time.perf_counter()
    outcomes = run_round(
        jobs,
        max_workers=4,
        per_endpoint_limit=2,
        on_outcome=lambda _, o: finished.setdefault(o.ref, time.perf_counter() - started),
    )
    wall = time.perf_counter() - started

    silent, *healthy = outcomes
    assert silent.status is ConnectionStatus.TIMEOUT
    assert "banner" in silent.detail
    assert 1400 <= silent.duration_ms < 3000
    for outcome in healthy:
        assert outcome.status is ConnectionStatus.OK
        assert outcome.duration_ms < 1000, outcome
        # Every healthy host was done while the silent one was still waiting for its banner.
        assert finished[outcome.ref] < finished["silent"]
    assert wall < 3.5


def test_closed_before_banner_and_not_ssh(
    make_target: Target, scripted_port: Callable[[bytes | None], int]
) -> None:
    dropped, _ = connect(make_target(port=scripted_port(None)))
    assert dropped.status is ConnectionStatus.PROTOCOL_ERROR
    web, _ = connect(make_target(port=scripted_port(b"HTTP/1.1 400 Bad Request\r\n\r\n")))
    assert web.status is ConnectionStatus.PROTOCOL_ERROR
    probe = probe_banner("127.0.0.1", scripted_port(b"SSH-2.0-Fake_1.0\r\n"))
    assert (probe.status, probe.banner) == (ConnectionStatus.OK, "SSH-2.0-Fake_1.0")


def test_probe_banner_without_credentials(sshd: SshdServer, silent_port: int) -> None:
    target = SshTarget(sshd.host, sshd.port)
    outcome = run_host(HostJob(target, (CheckSpec("reachability"),)))
    assert outcome.status is ConnectionStatus.OK and outcome.connection is None
    assert outcome.results[0].state is State.OK
    quiet = probe_banner("127.0.0.1", silent_port, SshTimeouts(banner=0.3))
    assert quiet.status is ConnectionStatus.TIMEOUT
    no_login = run_host(HostJob(target, (CheckSpec("memory"),)))
    assert no_login.status is ConnectionStatus.CLIENT_KEY_ERROR


def test_unreachable_network_is_reported(
    make_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No traffic may leave loopback here, so the kernel's answer is simulated.
    def no_route(*args: object, **kwargs: object) -> socket.socket:
        raise OSError(errno.EHOSTUNREACH, os.strerror(errno.EHOSTUNREACH))

    monkeypatch.setattr(ssh_module.socket, "create_connection", no_route)
    outcome, _ = connect(make_target())
    assert outcome.status is ConnectionStatus.UNREACHABLE
    assert outcome.detail == os.strerror(errno.EHOSTUNREACH)


def test_command_timeout_kills_the_channel(make_target: Target) -> None:
    outcome, connection = connect(make_target())
    assert connection is not None, outcome.detail
    with connection:
        started = time.perf_counter()
        result = connection.run("echo started; sleep 5", timeout=0.5)
        elapsed = time.perf_counter() - started
        assert result.timed_out and result.exit_status is None
        assert 0.45 <= elapsed < 1.5
        assert result.stdout == "started\n"
        # The connection itself survives for the next check.
        assert connection.run("echo next").stdout == "next\n"


def test_flooding_output_is_cut(make_target: Target) -> None:
    outcome, connection = connect(make_target())
    assert connection is not None, outcome.detail
    with connection:
        result = connection.run("head -c 1000000 /dev/zero", max_stdout=4096)
    assert result.truncated and len(result.stdout) == 4096


def test_host_deadline_skips_remaining_checks(make_target: Target) -> None:
    budget = SshTimeouts(
        connect=2.0, banner=2.0, handshake=2.0, auth=2.0, command=2.0, host_total=0.001
    )
    outcome = run_host(HostJob(make_target(timeouts=budget), ALL_CHECKS[:3]))
    # Logging in alone outlasts the budget, so no command may start.
    assert outcome.status is ConnectionStatus.OK
    assert [r.summary_params.get("reason") for r in outcome.results] == ["host_deadline"] * 3


def test_hostile_parameters_do_not_execute(make_target: Target, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = [
        f"/nonexistent'; touch {marker}; '",
        f"/nonexistent$(touch {marker})",
        f"/nonexistent`touch {marker}`",
        f'/nonexistent"; touch {marker}; "',
    ]
    checks = tuple(CheckSpec("backup_freshness", {"path": p}, ref=p) for p in hostile)
    checks += tuple(CheckSpec("disk", {"mount": p}, ref=p) for p in hostile)
    outcome = run_host(HostJob(make_target(), checks))
    assert outcome.status is ConnectionStatus.OK
    assert not marker.exists()
    assert all(r.state is State.CRITICAL for r in outcome.results), [
        (r.check, r.summary) for r in outcome.results
    ]
    invalid = run_host(HostJob(make_target(), (CheckSpec("systemd_unit", {"unit": "a;b"}),)))
    assert invalid.results[0].summary_key == "invalid_params"


def test_burst_to_one_endpoint_is_limited_and_ordered(make_target: Target) -> None:
    jobs = [HostJob(make_target(), (CheckSpec("load"),), ref=str(i)) for i in range(12)]
    seen: list[int] = []
    outcomes = run_round(
        jobs, max_workers=8, per_endpoint_limit=3, on_outcome=lambda index, _: seen.append(index)
    )
    assert [o.ref for o in outcomes] == [str(i) for i in range(12)]
    assert all(o.status is ConnectionStatus.OK for o in outcomes)
    assert sorted(seen) == list(range(12))
    with pytest.raises(ValueError):
        run_round(jobs, max_workers=0)
    assert run_round([]) == []


def test_modern_key_exchange_is_negotiated(
    make_target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG", logger="paramiko.transport"):
        outcome, connection = connect(make_target())
    assert connection is not None, outcome.detail
    connection.close()
    agreed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Kex: ")]
    # OpenSSH 9.2 has no ML-KEM hybrid yet; newer servers may agree on it instead.
    assert agreed and agreed[0] in (
        "Kex: curve25519-sha256@libssh.org",
        "Kex: mlkem768x25519-sha256",
    )
    assert not any(
        "diffie-hellman" in r.getMessage() and "Kex:" in r.getMessage() for r in caplog.records
    )


def test_command_watchdog_fires_and_cancels() -> None:
    # The watchdog is what unblocks paramiko's untimed waits (exec request, exit status).
    fired: list[str] = []
    start = time.perf_counter()
    kept = ssh_module._WATCHDOG.schedule(start + 0.05, lambda: fired.append("late"))
    ssh_module._WATCHDOG.schedule(start + 0.02, lambda: fired.append("early"))
    skipped = ssh_module._WATCHDOG.schedule(start + 0.03, lambda: fired.append("cancelled"))
    skipped.cancel()
    deadline = time.perf_counter() + 2
    while len(fired) < 2 and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert fired == ["early", "late"]
    assert not kept.cancelled


def test_round_limits_each_endpoint_but_not_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    lock = threading.Lock()
    active: dict[tuple[str, int], int] = {}
    peak_per_endpoint: dict[tuple[str, int], int] = {}
    peak_total = [0]

    def fake_run_host(job: HostJob, *, keys: object = None) -> object:
        endpoint = job.target.endpoint
        with lock:
            active[endpoint] = active.get(endpoint, 0) + 1
            peak_per_endpoint[endpoint] = max(peak_per_endpoint.get(endpoint, 0), active[endpoint])
            peak_total[0] = max(peak_total[0], sum(active.values()))
        time.sleep(0.02)
        with lock:
            active[endpoint] -= 1
        return job.ref

    monkeypatch.setattr(sshpool, "run_host", fake_run_host)
    jobs = [
        HostJob(SshTarget(f"10.0.0.{i % 4}", 22), (CheckSpec("load"),), ref=str(i))
        for i in range(40)
    ]
    outcomes = run_round(jobs, max_workers=8, per_endpoint_limit=2)
    assert outcomes == [str(i) for i in range(40)]  # input order, whatever the finish order
    assert max(peak_per_endpoint.values()) == 2
    assert peak_total[0] == 8


def test_private_key_loaded_once_per_round(
    monkeypatch: pytest.MonkeyPatch, sshd: SshdServer, closed_port: int
) -> None:
    calls: list[int] = []
    real = sshpool.load_private_key

    def counting(text: str, passphrase: str | None = None) -> object:
        calls.append(1)
        return real(text, passphrase)

    monkeypatch.setattr(sshpool, "load_private_key", counting)
    credentials = SshCredentials(sshd.username, sshd.client_key)
    jobs = [
        HostJob(SshTarget("127.0.0.1", closed_port, credentials), (CheckSpec("memory"),))
        for _ in range(6)
    ]
    outcomes = run_round(jobs, max_workers=3)
    assert {o.status for o in outcomes} == {ConnectionStatus.CONNECTION_REFUSED}
    assert len(calls) == 1


def test_second_factor_is_refused_without_prompting(tmp_path: Path) -> None:
    # paramiko's legacy login would answer keyboard-interactive by reading stdin.
    server = start_sshd(
        tmp_path / "sshd-2fa",
        client_keys={"ed25519": ("ed25519", None, None, False)},
        extra_config=(
            "KbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive"
        ),
    )
    try:
        target = SshTarget(
            server.host,
            server.port,
            SshCredentials(server.username, server.client_key),
            (HostKey.from_openssh(server.host_key_line),),
        )
        started = time.perf_counter()
        outcome, connection = connect(target)
        assert connection is None
        assert outcome.status is ConnectionStatus.AUTH_FAILED
        assert "more than the key" in outcome.detail
        assert time.perf_counter() - started < 2
    finally:
        server.stop()

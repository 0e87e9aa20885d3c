"""Config file: owner-only from the first byte, atomic, validated; server URL rules."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from remote.agent import config as config_module
from remote.agent.config import (
    AgentConfig,
    ConfigError,
    clamp_interval,
    default_config_path,
    load_config,
    save_config,
    validate_server_url,
)


def _config() -> AgentConfig:
    return AgentConfig(server="https://desk.example.cat", agent_id=4, token="secret-token", asset_id=17)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: the file mode must not depend on the caller's umask."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_config_is_written_0600_in_a_new_0700_folder(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "councildesk-agent" / "agent.json"
    save_config(str(path), _config())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["token"] == "secret-token"
    assert os.listdir(path.parent) == ["agent.json"], "no temp file left behind"


@pytest.mark.usefixtures("open_umask")
def test_config_is_never_readable_by_others_even_while_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.json"
    path.write_text("{}")
    os.chmod(path, 0o644)  # an old, too-open file is replaced, not reused
    modes: list[int] = []
    real_write = os.write

    def watching_write(fd: int, data: bytes) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(config_module.os, "write", watching_write)
    save_config(str(path), _config())
    assert modes and set(modes) == {0o600}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_previous_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.json"
    save_config(str(path), _config())
    before = path.read_bytes()

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_module.os, "fsync", disk_full)
    with pytest.raises(OSError):
        save_config(str(path), AgentConfig("https://other.example", 5, "other"))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["agent.json"]


def test_round_trip_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    save_config(str(path), _config())
    loaded = load_config(str(path))
    assert loaded.to_dict() == _config().to_dict()
    assert loaded.spool_max_reports == 10_000
    assert loaded.spool_max_bytes == 50 * 1024 * 1024
    assert loaded.max_backoff_seconds == 900


def test_loose_permissions_are_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "agent.json"
    save_config(str(path), _config())
    os.chmod(path, 0o644)
    logger = logging.getLogger("councildesk.agent")
    logger.addHandler(caplog.handler)
    try:
        load_config(str(path))
    finally:
        logger.removeHandler(caplog.handler)
    assert "chmod 600" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"server": "https://x.example", "agent_id": 4}', "missing token"),
        ('{"server": "http://x.example", "agent_id": 4, "token": "t"}', "refusing plain http"),
        ('{"server": "https://x.example", "agent_id": "4", "token": "t"}', "agent_id"),
        (
            '{"server": "https://x.example", "agent_id": 4, "token": "t", "spool_max_reports": 0}',
            "spool_max_reports",
        ),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "agent.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(str(path))


def test_missing_config_says_how_to_enroll(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not enrolled.*enroll"):
        load_config(str(tmp_path / "absent.json"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://desk.example.cat/", "https://desk.example.cat"),
        ("https://desk.example.cat:8443/councildesk/", "https://desk.example.cat:8443/councildesk"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://localhost:5000/", "http://localhost:5000"),
        ("http://[::1]:5000", "http://[::1]:5000"),
        ("HTTPS://Desk.Example.Cat", "https://desk.example.cat"),
    ],
)
def test_valid_server_urls(url: str, expected: str) -> None:
    assert validate_server_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://desk.example.cat", "refusing plain http"),
        ("http://192.168.1.10", "refusing plain http"),
        ("http://127.0.0.2", "refusing plain http"),
        ("ftp://desk.example.cat", "https://"),
        ("https://user:pw@desk.example.cat", "user name or password"),
        ("https://desk.example.cat/?x=1", "query"),
        ("https://", "no host"),
        ("https://desk.example.cat:99999", "invalid"),
    ],
)
def test_unsafe_server_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_server_url(url)


def test_default_paths() -> None:
    windows = default_config_path(system="Windows", env={"ProgramData": r"D:\PD"})
    assert windows == r"D:\PD\CouncilDesk\agent.json"
    assert default_config_path(system="linux", env={}, euid=0) == "/etc/councildesk-agent/agent.json"
    user = default_config_path(system="linux", env={"HOME": "/home/tec"}, euid=1000)
    if not os.access("/etc/councildesk-agent/agent.json", os.R_OK):
        assert user == "/home/tec/.config/councildesk-agent/agent.json"
    xdg = default_config_path(system="linux", env={"XDG_CONFIG_HOME": "/x"}, euid=1000)
    if not os.access("/etc/councildesk-agent/agent.json", os.R_OK):
        assert xdg == "/x/councildesk-agent/agent.json"
    override = {"COUNCILDESK_AGENT_CONFIG": "/srv/a.json"}
    assert default_config_path(system="linux", env=override, euid=0) == "/srv/a.json"


def test_server_interval_is_clamped() -> None:
    assert clamp_interval(300) == 300
    assert clamp_interval(0) == 10
    assert clamp_interval(10**9) == 86_400
    assert clamp_interval("60") == 300
    assert clamp_interval(True) == 300

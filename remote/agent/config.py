"""Agent configuration: where it lives, how it is validated, and how it is written safely.

The config file holds the agent token, so it is created 0600 from the first byte (``os.open``
with a mode, never ``open`` + ``chmod``) and replaced atomically (temp file + fsync + rename),
so a crash never leaves a half-written or briefly world-readable token behind.

Windows has no POSIX modes: ``os.open(..., 0o600)`` only controls the read-only flag and the
file inherits the ACL of its folder (``%ProgramData%`` lets every local user read by default).
On Windows the file's ACL is therefore narrowed with ``icacls`` to SYSTEM, Administrators and
the file's owner; if that fails a warning says so (see README, "Windows").
"""

from __future__ import annotations

import contextlib
import json
import logging
import ntpath
import os
import posixpath
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

# Not `from typing import TYPE_CHECKING`: importing typing costs ~0.5 MB of RSS.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger("councildesk.agent")

ENV_CONFIG = "COUNCILDESK_AGENT_CONFIG"
SYSTEM_CONFIG_DIR = "/etc/councildesk-agent"
CONFIG_NAME = "agent.json"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

DEFAULT_INTERVAL = 300
# A misconfigured server must not be able to turn a fleet of agents into a request storm.
MIN_SERVER_INTERVAL = 10
MAX_SERVER_INTERVAL = 86_400
DEFAULT_SPOOL_MAX_REPORTS = 10_000
DEFAULT_SPOOL_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_BACKOFF = 900.0

# Well-known SIDs, so the command works whatever the language of the Windows installation:
# LocalSystem, BUILTIN\Administrators, OWNER RIGHTS.
_WINDOWS_ACL_GRANTS = ("*S-1-5-18:(F)", "*S-1-5-32-544:(F)", "*S-1-3-4:(F)")


class ConfigError(Exception):
    """The configuration or a command-line setting is unusable; the message says why."""


def default_config_path(
    system: str | None = None,
    env: Mapping[str, str] | None = None,
    euid: int | None = None,
) -> str:
    """Where the config lives when ``--config`` is not given.

    Linux: ``/etc/councildesk-agent/agent.json`` for root, and also for the dedicated service
    user once that file is readable to it; other users get ``~/.config`` so that trying the
    agent out needs no root.
    """
    env = os.environ if env is None else env
    override = env.get(ENV_CONFIG)
    if override:
        return override
    system = system or ("Windows" if os.name == "nt" else sys.platform)
    if system == "Windows":
        base = env.get("ProgramData") or env.get("PROGRAMDATA") or r"C:\ProgramData"
        return ntpath.join(base, "CouncilDesk", CONFIG_NAME)
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else -1
    system_path = posixpath.join(SYSTEM_CONFIG_DIR, CONFIG_NAME)
    if euid == 0 or os.access(system_path, os.R_OK):
        return system_path
    base = env.get("XDG_CONFIG_HOME") or posixpath.join(
        env.get("HOME") or posixpath.expanduser("~"), ".config"
    )
    return posixpath.join(base, "councildesk-agent", CONFIG_NAME)


def state_path(config_path: str, suffix: str) -> str:
    """A state file next to the config, named after it so two configs in one folder coexist."""
    base, _ext = os.path.splitext(os.path.abspath(config_path))
    return f"{base}.{suffix}"


def validate_server_url(url: str) -> str:
    """Normalise the server URL, refusing anything that would expose the token.

    https is always verified; plain http is accepted only for the loopback names used by
    tests and local development, so there is no switch that sends a token in clear text.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid server URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ConfigError(f"server URL must start with https:// (got {url!r})")
    host = parts.hostname
    if not host:
        raise ConfigError(f"server URL has no host name: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("server URL must not contain a user name or password")
    if parts.query or parts.fragment:
        raise ConfigError("server URL must not contain a query string or fragment")
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"refusing plain http:// for {host}: use https:// (certificates are always "
            "verified; pass --ca-file for a private CA). http:// is only allowed for "
            "127.0.0.1, localhost and ::1."
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def clamp_interval(value: object) -> int:
    """The server's report interval, kept within sane bounds (a bad value gets the default)."""
    if isinstance(value, bool) or not isinstance(value, int):
        log.warning(
            "server sent an invalid report interval %r; using %d s", value, DEFAULT_INTERVAL
        )
        return DEFAULT_INTERVAL
    return max(MIN_SERVER_INTERVAL, min(MAX_SERVER_INTERVAL, value))


class AgentConfig:
    """The enrolled agent's settings, as stored in the JSON config file."""

    __slots__ = (
        "agent_id",
        "asset_id",
        "ca_file",
        "enrolled_at",
        "hardware",
        "max_backoff_seconds",
        "report_interval_seconds",
        "server",
        "spool_max_bytes",
        "spool_max_reports",
        "token",
    )

    def __init__(
        self,
        server: str,
        agent_id: int,
        token: str,
        report_interval_seconds: int = DEFAULT_INTERVAL,
        asset_id: int | None = None,
        ca_file: str | None = None,
        enrolled_at: str | None = None,
        hardware: dict[str, str] | None = None,
        spool_max_reports: int = DEFAULT_SPOOL_MAX_REPORTS,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        max_backoff_seconds: float = DEFAULT_MAX_BACKOFF,
    ) -> None:
        self.server = server
        self.agent_id = agent_id
        self.token = token
        self.report_interval_seconds = report_interval_seconds
        self.asset_id = asset_id
        self.ca_file = ca_file
        self.enrolled_at = enrolled_at
        self.hardware = hardware or {}
        self.spool_max_reports = spool_max_reports
        self.spool_max_bytes = spool_max_bytes
        self.max_backoff_seconds = max_backoff_seconds

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> AgentConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object")
        missing = [key for key in ("server", "agent_id", "token") if not data.get(key)]
        if missing:
            raise ConfigError(f"{source}: missing {', '.join(missing)}; enroll the agent again")
        token = data["token"]
        if not isinstance(token, str):
            raise ConfigError(f"{source}: token must be a string")
        ca_file = data.get("ca_file")
        if ca_file is not None and not isinstance(ca_file, str):
            raise ConfigError(f"{source}: ca_file must be a path or null")
        hardware = data.get("hardware")
        asset_id = data.get("asset_id")
        enrolled_at = data.get("enrolled_at")
        return cls(
            server=validate_server_url(str(data["server"])),
            agent_id=_int(data, "agent_id", source, minimum=0),
            token=token,
            report_interval_seconds=clamp_interval(data.get("report_interval_seconds")),
            asset_id=asset_id if isinstance(asset_id, int) else None,
            ca_file=ca_file,
            enrolled_at=enrolled_at if isinstance(enrolled_at, str) else None,
            hardware=(
                {k: v for k, v in hardware.items() if isinstance(v, str)}
                if isinstance(hardware, dict)
                else {}
            ),
            spool_max_reports=_int(
                data, "spool_max_reports", source, minimum=1, default=DEFAULT_SPOOL_MAX_REPORTS
            ),
            spool_max_bytes=_int(
                data, "spool_max_bytes", source, minimum=1024, default=DEFAULT_SPOOL_MAX_BYTES
            ),
            max_backoff_seconds=float(
                _int(data, "max_backoff_seconds", source, minimum=1, default=DEFAULT_MAX_BACKOFF)
            ),
        )


def _int(
    data: Mapping[str, Any], key: str, source: str, minimum: int, default: float | None = None
) -> int:
    value = data.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{source}: {key} must be an integer >= {minimum} (got {value!r})")
    return value


def load_config(path: str) -> AgentConfig:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = handle.read()
    except FileNotFoundError:
        hint = ""
        system_path = posixpath.join(SYSTEM_CONFIG_DIR, CONFIG_NAME)
        if os.name == "posix" and path != system_path and os.path.exists(system_path):
            hint = f" ({system_path} exists but this user cannot read it: use sudo or --config)"
        raise ConfigError(
            f"not enrolled: {path} does not exist; run "
            f"'python -m remote.agent enroll --server URL --enrollment-key KEY' first{hint}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if os.name == "posix":
        mode = os.stat(path).st_mode
        if mode & 0o077:
            log.warning(
                "%s is readable by other users (mode %03o); it holds the agent token: chmod 600 it",
                path,
                mode & 0o777,
            )
    return AgentConfig.from_dict(data, source=path)


def save_config(path: str, config: AgentConfig) -> None:
    text = json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"
    write_private_file(path, text.encode("utf-8"))


def ensure_private_dir(directory: str) -> None:
    """Create a missing state folder as 0700; an existing folder is left as its owner set it."""
    if os.path.isdir(directory):
        return
    os.makedirs(directory, mode=0o700, exist_ok=True)


def create_private_file(path: str) -> None:
    """Create ``path`` empty with owner-only access if it does not exist yet."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    _restrict_windows_acl(path)


def write_private_file(path: str, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``; the file is owner-only from its creation."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    ensure_private_dir(directory)
    tmp = f"{path}.tmp-{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):
                # The umask can only remove bits, but a default ACL on the folder could add
                # some: force the mode we promise.
                os.fchmod(fd, 0o600)
            _restrict_windows_acl(tmp)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    """Make a rename durable; Windows cannot open folders for fsync and does not need it."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


_O_BINARY = getattr(os, "O_BINARY", 0)


def windows_tool(*parts: str) -> str:
    """Absolute path of a System32 tool: the agent runs as SYSTEM, so no PATH lookup."""
    # Windows environment names are case-insensitive: this is %SystemRoot%.
    root = os.environ.get("SYSTEMROOT") or r"C:\Windows"
    return ntpath.join(root, "System32", *parts)


def _restrict_windows_acl(path: str) -> None:
    if os.name != "nt":
        return
    import subprocess  # only Windows pays for this import

    command = [windows_tool("icacls.exe"), path, "/inheritance:r", "/grant:r", *_WINDOWS_ACL_GRANTS]
    try:
        result = subprocess.run(  # noqa: S603 - fixed argument list, absolute tool path
            command,
            capture_output=True,
            timeout=30,
            check=False,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning(
            "could not restrict the ACL of %s (%s): other local users may read it", path, exc
        )
        return
    if result.returncode != 0:
        log.warning(
            "icacls failed on %s (exit %d): other local users may read it",
            path,
            result.returncode,
        )

"""The fixed catalogue of agentless checks and the rules that judge their results.

Nothing here opens a connection: a check is a command built from validated parameters, a
parser for what the host printed, and default thresholds. Keeping it free of paramiko (and of
Flask and the database) lets the agent metrics and the UI reuse the same evaluation and the
same parameter validation.

Everything a host prints is hostile input (lessons.md: GLPI's inventory XSS and SQL injection):
parsers never raise on garbage, every string that comes from the host is sanitised and
size-limited before it reaches a result, and the raw output is kept only truncated.
"""

from __future__ import annotations

import math
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

RAW_OUTPUT_LIMIT = 4096
"""Bytes of raw output kept per result (UTF-8, cut on a character boundary)."""

_TEXT_PARAM_LIMIT = 200
_PATH_LIMIT = 1024

ParamValue = str | int | float | bool | None


class State(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


_SEVERITY = {State.OK: 0, State.WARNING: 1, State.CRITICAL: 2, State.UNKNOWN: -1}


def worst(*states: State) -> State:
    """The most severe of known states; UNKNOWN only when nothing else is known."""
    known = [s for s in states if s is not State.UNKNOWN]
    if not known:
        return State.UNKNOWN
    return max(known, key=_SEVERITY.__getitem__)


class CheckConfigError(ValueError):
    """A check or its parameters/thresholds are invalid; `field` names the culprit."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class Thresholds:
    """Warning/critical limits. A value *at* a limit counts as reaching it.

    ``higher_is_worse=False`` serves metrics where low values are bad (free space, say).
    Either limit may be None to disable that level.
    """

    warning: float | None = None
    critical: float | None = None
    higher_is_worse: bool = True

    def __post_init__(self) -> None:
        for name in ("warning", "critical"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CheckConfigError(name, "must be a number")
            if not math.isfinite(value):
                raise CheckConfigError(name, "must be a finite number")
        if self.warning is not None and self.critical is not None:
            ordered = (
                self.warning <= self.critical
                if self.higher_is_worse
                else self.warning >= self.critical
            )
            if not ordered:
                raise CheckConfigError("warning", "must not be beyond the critical threshold")


def evaluate(value: float | None, thresholds: Thresholds) -> State:
    """Judge one numeric value; pure, shared by SSH checks and agent metrics."""
    if value is None or isinstance(value, bool):
        return State.UNKNOWN
    try:
        number = float(value)
    except (TypeError, ValueError):
        return State.UNKNOWN
    if not math.isfinite(number):
        return State.UNKNOWN

    def reached(limit: float | None) -> bool:
        if limit is None:
            return False
        return number >= limit if thresholds.higher_is_worse else number <= limit

    if reached(thresholds.critical):
        return State.CRITICAL
    if reached(thresholds.warning):
        return State.WARNING
    return State.OK


METRIC_THRESHOLDS: Mapping[str, Thresholds] = {
    "cpu_percent": Thresholds(85.0, 95.0),
    "memory_percent": Thresholds(85.0, 95.0),
    "disk_percent": Thresholds(80.0, 90.0),
    "load_per_core": Thresholds(1.5, 3.0),
}
"""Defaults for agent metrics, aligned with the SSH checks measuring the same thing."""


def evaluate_metric(metric: str, value: float | None, override: Thresholds | None = None) -> State:
    """Judge an agent metric (``cpu_percent``, ``memory_percent``, ``disk_percent``...)."""
    thresholds = override or METRIC_THRESHOLDS.get(metric)
    if thresholds is None:
        raise CheckConfigError("metric", f"no default thresholds for {metric!r}")
    return evaluate(value, thresholds)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckSpec:
    """One configured check: catalogue name, admin-supplied params, optional thresholds.

    ``ref`` is the caller's identifier (e.g. the database id), echoed in the result.
    """

    check: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    thresholds: Thresholds | None = None
    ref: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """What the UI, the alerting and the history need from one check run.

    ``summary`` is English for logs; the UI translates ``summary_key`` with
    ``summary_params`` instead (see `message`). ``raw_output`` is sanitised (no control
    characters but tab/newline) and truncated, yet still hostile: escape it on output.
    """

    check: str
    state: State
    value: float | None
    unit: str | None
    summary: str
    summary_key: str
    summary_params: Mapping[str, ParamValue] = field(default_factory=dict, hash=False)
    raw_output: str = ""
    raw_truncated: bool = False
    ref: str | None = None
    duration_ms: float | None = None

    def message(self) -> dict[str, ParamValue]:
        """The translatable form, e.g. ``{"key": "disk_use", "mount": "/", "percent": 93.1}``."""
        return {"key": self.summary_key, **self.summary_params}


_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize_text(text: str, limit: int = _TEXT_PARAM_LIMIT) -> str:
    """Host-provided text made safe to store and show: no control chars (NUL would break
    PostgreSQL text columns, escapes would garble logs), bounded length."""
    cleaned = _CONTROL_CHARS.sub("\ufffd", text)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\u2026"
    return cleaned


def truncate_raw(text: str, limit: int = RAW_OUTPUT_LIMIT) -> tuple[str, bool]:
    """Sanitise and cut to `limit` UTF-8 bytes without splitting a character."""
    cleaned = _CONTROL_CHARS.sub("\ufffd", text.replace("\r\n", "\n"))
    encoded = cleaned.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return cleaned, False
    return encoded[:limit].decode("utf-8", "ignore"), True


def _result(
    check: str,
    state: State,
    summary: str,
    key: str,
    *,
    value: float | None = None,
    value_unit: str | None = None,
    **params: ParamValue,
) -> CheckResult:
    # `value_unit`, not `unit`: systemd results carry the unit *name* among their params.
    return CheckResult(
        check=check,
        state=state,
        value=value,
        unit=value_unit,
        summary=summary,
        summary_key=key,
        summary_params=params,
    )


def _unknown(check: str, key: str, summary: str, **params: ParamValue) -> CheckResult:
    return _result(check, State.UNKNOWN, summary, key, **params)


# --------------------------------------------------------------------------- validation helpers


def _no_unknown_params(params: Mapping[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise CheckConfigError(str(name)[:50], "unknown parameter")


def _absolute_path(params: Mapping[str, Any], name: str, default: str | None) -> str:
    value = params.get(name, default)
    if value is None:
        raise CheckConfigError(name, "is required")
    if not isinstance(value, str):
        raise CheckConfigError(name, "must be text")
    if not value.startswith("/"):
        raise CheckConfigError(name, "must be an absolute path starting with /")
    if len(value) > _PATH_LIMIT:
        raise CheckConfigError(name, f"must be at most {_PATH_LIMIT} characters")
    if _CONTROL_CHARS.search(value) or "\n" in value or "\t" in value:
        raise CheckConfigError(name, "must not contain control characters")
    return value


_UNIT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@\\-]{0,255}")


def _unit_name(params: Mapping[str, Any]) -> str:
    value = params.get("unit")
    if not isinstance(value, str) or not value:
        raise CheckConfigError("unit", "is required")
    # systemd's own alphabet for unit names; anything else is not a unit we can mean.
    if not _UNIT_RE.fullmatch(value) or ".." in value:
        raise CheckConfigError(
            "unit", "must be a systemd unit name (letters, digits and _ . : @ \\ -)"
        )
    return value


def _env_c(argv: list[str]) -> str:
    # `env` rather than `LC_ALL=C cmd` so the command also works when the account's login
    # shell is csh or fish; the C locale keeps numbers and messages parseable.
    return "env LC_ALL=C LANG=C " + " ".join(shlex.quote(a) for a in argv)


def _sh_script(script: str) -> str:
    return _env_c(["/bin/sh", "-c", script])


# --------------------------------------------------------------------------- number parsing

_INT_RE = re.compile(r"\d{1,19}")
_FLOAT_RE = re.compile(r"\d{1,12}(?:\.\d{1,12})?")


def _finite(text: str) -> float | None:
    if not _FLOAT_RE.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


_LINE_LIMIT = 4096


def _lines(text: str) -> list[str]:
    # Over-long lines are garbage for every parser here; dropping them also bounds the
    # regex work a hostile host can cause.
    return [line.strip() for line in text.splitlines() if line.strip() and len(line) <= _LINE_LIMIT]


def _first_error_line(stderr: str) -> str:
    for line in _lines(stderr):
        return sanitize_text(line, 160)
    return ""


def _tool_missing(exit_status: int | None, stderr: str, tool: str) -> bool:
    lowered = stderr.lower()
    return exit_status == 127 or (
        tool in lowered and ("not found" in lowered or "no such file" in lowered)
    )


# --------------------------------------------------------------------------- disk

# Anchored on the numeric columns rather than on the filesystem name, which may hold
# spaces; the leftmost match keeps a mount point that itself contains digits intact.
_DF_TAIL = re.compile(
    r"\s(?P<total>\d{1,20}|-)\s+(?P<used>\d{1,20}|-)\s+(?P<avail>\d{1,20}|-)\s+"
    r"(?P<cap>\d{1,3}%|-)\s+(?P<mount>/.*)"
)


def _validate_disk(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, {"mount"})
    return {"mount": _absolute_path(params, "mount", "/")}


def _command_disk(params: Mapping[str, Any]) -> str:
    return _env_c(["df", "-P", "-k", "--", params["mount"]])


def parse_disk(
    stdout: str,
    params: Mapping[str, Any],
    thresholds: Thresholds,
    *,
    exit_status: int | None = 0,
    stderr: str = "",
) -> CheckResult:
    mount = sanitize_text(str(params.get("mount", "/")))
    match = None
    for line in _lines(stdout):
        candidate = _DF_TAIL.search(line)
        if candidate and candidate.start() > 0:
            match = candidate
    if match is None:
        lowered = (stdout + stderr).lower()
        if "no such file" in lowered:
            return _result(
                "disk",
                State.CRITICAL,
                f"{mount}: path not found",
                "disk_mount_missing",
                mount=mount,
            )
        reason = _first_error_line(stderr) or "no df output line"
        return _unknown("disk", "unparseable_output", f"{mount}: {reason}", reason=reason)
    fields = match.groupdict()
    if "-" in (fields["used"], fields["avail"], fields["total"]):
        return _unknown("disk", "disk_no_size", f"{mount}: filesystem reports no size", mount=mount)
    used, avail, total = int(fields["used"]), int(fields["avail"]), int(fields["total"])
    if used + avail <= 0:
        return _unknown("disk", "disk_no_size", f"{mount}: filesystem reports no size", mount=mount)
    # df's own Use% is used/(used+avail): blocks reserved for root are not usable space.
    percent = round(used * 100.0 / (used + avail), 1)
    state = evaluate(percent, thresholds)
    mounted_on = sanitize_text(fields["mount"])
    base: dict[str, ParamValue] = {
        "mount": mount,
        "percent": percent,
        "used_kib": used,
        "size_kib": total,
        "avail_kib": avail,
    }
    if posixpath.normpath(mounted_on) != posixpath.normpath(mount):
        # A path that is not (or no longer) a mount point: typically a backup disk that
        # was not mounted, so its data lands on the parent filesystem.
        return _result(
            "disk",
            worst(state, State.WARNING),
            f"{mount} is not a mount point; {mounted_on}: {percent:.1f}% used",
            "disk_use_other_mount",
            value=percent,
            value_unit="%",
            mounted_on=mounted_on,
            **base,
        )
    return _result(
        "disk",
        state,
        f"{mount}: {percent:.1f}% used",
        "disk_use",
        value=percent,
        value_unit="%",
        **base,
    )


# --------------------------------------------------------------------------- load

_NUM = r"(\d{1,9}(?:\.\d{1,6})?)"
_LOADAVG = re.compile(rf"{_NUM}\s+{_NUM}\s+{_NUM}(?:\s.*)?")
_UPTIME_LOAD = re.compile(rf"load averages?:\s*{_NUM},?\s+{_NUM},?\s+{_NUM}")
_LOAD_WINDOWS = (1, 5, 15)


def _validate_load(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, {"window"})
    window = params.get("window", 5)
    if isinstance(window, str) and window.isdigit():
        window = int(window)
    if isinstance(window, bool) or window not in _LOAD_WINDOWS:
        raise CheckConfigError("window", "must be 1, 5 or 15 (minutes)")
    return {"window": int(window)}


_LOAD_SCRIPT = (
    # /proc first (Linux, busybox); uptime and sysctl cover BSD-based NAS and appliances.
    "cat /proc/loadavg 2>/dev/null || uptime; "
    "nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null"
    " || grep -c '^processor' /proc/cpuinfo 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null"
)


def _command_load(params: Mapping[str, Any]) -> str:
    return _sh_script(_LOAD_SCRIPT)


def parse_load(
    stdout: str,
    params: Mapping[str, Any],
    thresholds: Thresholds,
    *,
    exit_status: int | None = 0,
    stderr: str = "",
) -> CheckResult:
    window = params.get("window", 5)
    if window not in _LOAD_WINDOWS:
        window = 5
    lines = _lines(stdout)
    loads: tuple[float, float, float] | None = None
    cores: int | None = None
    for index, line in enumerate(lines):
        match = _LOADAVG.fullmatch(line) or _UPTIME_LOAD.search(line)
        if match is None:
            continue
        values = [v for v in (_finite(g) for g in match.groups()) if v is not None]
        if len(values) != 3:
            continue
        loads = (values[0], values[1], values[2])
        for later in lines[index + 1 :]:
            if _INT_RE.fullmatch(later) and 1 <= int(later) <= 65536:
                cores = int(later)
                break
        break
    if loads is None:
        reason = _first_error_line(stderr) or "no load average in output"
        return _unknown("load", "unparseable_output", f"load: {reason}", reason=reason)
    if cores is None:
        return _unknown(
            "load",
            "load_no_cpu_count",
            "load: CPU count missing from output",
            load1=loads[0],
            load5=loads[1],
            load15=loads[2],
        )
    per_core = [round(v / cores, 2) for v in loads]
    value = per_core[_LOAD_WINDOWS.index(window)]
    return _result(
        "load",
        evaluate(value, thresholds),
        f"load per core {value:.2f} ({window} min, {cores} cores)",
        "load_per_core",
        value=value,
        value_unit="load/core",
        window=window,
        per_core=value,
        load1=loads[0],
        load5=loads[1],
        load15=loads[2],
        cores=cores,
        per_core1=per_core[0],
        per_core5=per_core[1],
        per_core15=per_core[2],
    )


# --------------------------------------------------------------------------- memory

_MEMINFO_LINE = re.compile(r"([A-Za-z0-9_()]{1,40}):\s+(\d{1,19})(?:\s+kB)?")


def _validate_none(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, set())
    return {}


def _command_memory(params: Mapping[str, Any]) -> str:
    return _env_c(["cat", "/proc/meminfo"])


def parse_memory(
    stdout: str,
    params: Mapping[str, Any],
    thresholds: Thresholds,
    *,
    exit_status: int | None = 0,
    stderr: str = "",
) -> CheckResult:
    info: dict[str, int] = {}
    for line in _lines(stdout):
        match = _MEMINFO_LINE.fullmatch(line)
        if match:
            info.setdefault(match.group(1), int(match.group(2)))
    total = info.get("MemTotal", 0)
    if total <= 0:
        reason = _first_error_line(stderr) or "no MemTotal in output"
        return _unknown("memory", "unparseable_output", f"memory: {reason}", reason=reason)
    estimated = "MemAvailable" not in info
    if estimated:
        # Kernels before 3.14 lack MemAvailable; free + reclaimable caches is the usual
        # approximation, flagged so nobody mistakes it for the kernel's own figure.
        available = sum(info.get(k, 0) for k in ("MemFree", "Buffers", "Cached", "SReclaimable"))
    else:
        available = info["MemAvailable"]
    available = min(max(available, 0), total)
    percent = round((total - available) * 100.0 / total, 1)
    return _result(
        "memory",
        evaluate(percent, thresholds),
        f"memory {percent:.1f}% used ({available // 1024} MiB available of {total // 1024} MiB)"
        + (" (estimated)" if estimated else ""),
        "memory_use",
        value=percent,
        value_unit="%",
        percent=percent,
        total_mib=total // 1024,
        available_mib=available // 1024,
        estimated=estimated,
    )


# --------------------------------------------------------------------------- systemd unit

_UNIT_OK = {"active"}
_UNIT_TRANSITIONAL = {"activating", "reloading", "deactivating", "refreshing"}
_UNIT_DOWN = {"failed", "inactive"}
_SYSTEMD_WORD = re.compile(r"[a-z][a-z0-9-]{0,40}")


def _validate_systemd(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, {"unit"})
    return {"unit": _unit_name(params)}


def _command_systemd(params: Mapping[str, Any]) -> str:
    return _env_c(
        [
            "SYSTEMD_COLORS=0",
            "systemctl",
            "show",
            "--no-pager",
            "--property=LoadState,ActiveState,SubState",
            "--",
            params["unit"],
        ]
    )


def parse_systemd_unit(
    stdout: str,
    params: Mapping[str, Any],
    thresholds: Thresholds,
    *,
    exit_status: int | None = 0,
    stderr: str = "",
) -> CheckResult:
    unit = sanitize_text(str(params.get("unit", "")))
    props: dict[str, str] = {}
    for line in _lines(stdout):
        name, sep, value = line.partition("=")
        if sep and name in ("LoadState", "ActiveState", "SubState"):
            props.setdefault(name, value.strip())
    active = props.get("ActiveState", "")
    if not _SYSTEMD_WORD.fullmatch(active):
        if _tool_missing(exit_status, stderr, "systemctl"):
            return _unknown(
                "systemd_unit",
                "tool_missing",
                "systemctl is not available on this host",
                tool="systemctl",
                unit=unit,
            )
        lowered = stderr.lower()
        if "not been booted with systemd" in lowered or "failed to connect to bus" in lowered:
            return _unknown(
                "systemd_unit",
                "systemd_unavailable",
                "systemd is not running on this host",
                unit=unit,
            )
        reason = _first_error_line(stderr) or "no ActiveState in output"
        return _unknown(
            "systemd_unit", "unparseable_output", f"{unit}: {reason}", reason=reason, unit=unit
        )
    load = props.get("LoadState", "")
    sub = props.get("SubState", "")
    load = load if _SYSTEMD_WORD.fullmatch(load) else ""
    sub = sub if _SYSTEMD_WORD.fullmatch(sub) else ""
    if load in ("not-found", "masked", "bad-setting", "error"):
        return _result(
            "systemd_unit",
            State.CRITICAL,
            f"{unit}: unit {load}",
            "unit_not_loaded",
            unit=unit,
            load_state=load,
            active_state=active,
            sub_state=sub,
        )
    if active in _UNIT_OK:
        state = State.OK
    elif active in _UNIT_TRANSITIONAL:
        state = State.WARNING
    elif active in _UNIT_DOWN:
        state = State.CRITICAL
    else:
        state = State.UNKNOWN
    return _result(
        "systemd_unit",
        state,
        f"{unit}: {active}" + (f" ({sub})" if sub else ""),
        "unit_state",
        unit=unit,
        load_state=load,
        active_state=active,
        sub_state=sub,
    )


# --------------------------------------------------------------------------- backup freshness

_BACKUP_SCRIPT = """p={path}
[ -e "$p" ] || {{ echo MISSING; exit 0; }}
d="$p"; [ -d "$p" ] && d="$p/"
echo "NOW $(date +%s)"
n=$(find "$d" -type f -printf '%T@\\n' 2>/dev/null | sort -n | tail -n 1)
[ -n "$n" ] || n=$(find "$d" -type f -exec stat -c %Y {{}} + 2>/dev/null | sort -n | tail -n 1)
echo "NEWEST $n"
"""
# GNU find's -printf is the cheap path; busybox lacks it, so `stat -c %Y` is the fallback.
# The trailing slash makes find descend into a directory reached through a symlink.
# The host's own clock is the reference, so clock skew with the monitor cannot fake an age.

_EPOCH_MAX = 1e11


def _validate_backup(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, {"path"})
    return {"path": _absolute_path(params, "path", None)}


def _command_backup(params: Mapping[str, Any]) -> str:
    return _sh_script(_BACKUP_SCRIPT.format(path=shlex.quote(params["path"])))


def parse_backup_freshness(
    stdout: str,
    params: Mapping[str, Any],
    thresholds: Thresholds,
    *,
    exit_status: int | None = 0,
    stderr: str = "",
) -> CheckResult:
    path = sanitize_text(str(params.get("path", "")))
    now: float | None = None
    newest: str | None = None
    missing = False
    for line in _lines(stdout):
        if line == "MISSING":
            missing = True
        elif line.startswith("NOW ") and now is None:
            now = _finite(line[4:].strip())
        elif line.startswith("NEWEST") and newest is None:
            newest = line[6:].strip()
    if missing:
        return _result(
            "backup_freshness",
            State.CRITICAL,
            f"{path}: not found",
            "backup_path_missing",
            path=path,
        )
    if now is None or newest is None or not 0 < now < _EPOCH_MAX:
        reason = _first_error_line(stderr) or "unexpected output"
        return _unknown(
            "backup_freshness",
            "unparseable_output",
            f"{path}: {reason}",
            reason=reason,
            path=path,
        )
    if newest == "":
        return _result(
            "backup_freshness",
            State.CRITICAL,
            f"{path}: no files",
            "backup_no_files",
            path=path,
        )
    newest_ts = _finite(newest)
    if newest_ts is None or not 0 <= newest_ts < _EPOCH_MAX:
        return _unknown(
            "backup_freshness",
            "unparseable_output",
            f"{path}: bad timestamp",
            reason="bad timestamp",
            path=path,
        )
    age_hours = round((now - newest_ts) / 3600.0, 2)
    newest_utc = datetime.fromtimestamp(int(newest_ts), tz=UTC).isoformat()
    if age_hours < -1.0:
        # A file dated in the future would mask a stale backup forever.
        return _result(
            "backup_freshness",
            State.WARNING,
            f"{path}: newest file is dated in the future",
            "backup_future_timestamp",
            value=age_hours,
            value_unit="h",
            path=path,
            age_hours=age_hours,
            newest_utc=newest_utc,
        )
    age_hours = age_hours if age_hours > 0 else 0.0  # a few seconds ahead is clock noise
    return _result(
        "backup_freshness",
        evaluate(age_hours, thresholds),
        f"{path}: newest file {age_hours:.1f} h old",
        "backup_age",
        value=age_hours,
        value_unit="h",
        path=path,
        age_hours=age_hours,
        newest_utc=newest_utc,
    )


# --------------------------------------------------------------------------- reachability


def reachability_result(
    spec: CheckSpec,
    *,
    reached: bool,
    latency_ms: float | None,
    banner: str | None,
    failure: str | None = None,
) -> CheckResult:
    """Judge the TCP connect + SSH banner of a host; `failure` is a connection status."""
    thresholds = resolve_thresholds(spec)
    if not reached or latency_ms is None:
        reason = sanitize_text(failure or "unreachable", 160)
        result = _result(
            "reachability",
            State.CRITICAL,
            f"SSH port not answering: {reason}",
            "unreachable",
            reason=reason,
        )
    else:
        latency = round(latency_ms, 1)
        clean_banner = sanitize_text(banner or "", 120)
        result = _result(
            "reachability",
            evaluate(latency, thresholds),
            f"SSH answers in {latency:.1f} ms ({clean_banner})",
            "reachable",
            value=latency,
            value_unit="ms",
            latency_ms=latency,
            banner=clean_banner,
        )
    return _with_ref(result, spec)


# --------------------------------------------------------------------------- catalogue

Parser = Callable[..., CheckResult]


@dataclass(frozen=True)
class CheckDefinition:
    """A catalogue entry; `params` names the parameters a form may offer, in order."""

    name: str
    description: str
    params: tuple[str, ...]
    unit: str | None
    default_thresholds: Thresholds
    validate: Callable[[Mapping[str, Any]], dict[str, Any]]
    build_command: Callable[[Mapping[str, Any]], str] | None
    parse: Parser | None

    @property
    def runs_command(self) -> bool:
        """False for checks judged from the connection itself (no session needed)."""
        return self.build_command is not None


CATALOGUE: Mapping[str, CheckDefinition] = {
    d.name: d
    for d in (
        CheckDefinition(
            name="disk",
            description="Disk use of a mount point",
            params=("mount",),
            unit="%",
            default_thresholds=Thresholds(80.0, 90.0),
            validate=_validate_disk,
            build_command=_command_disk,
            parse=parse_disk,
        ),
        CheckDefinition(
            name="load",
            description="Load average per CPU core",
            params=("window",),
            unit="load/core",
            default_thresholds=Thresholds(1.5, 3.0),
            validate=_validate_load,
            build_command=_command_load,
            parse=parse_load,
        ),
        CheckDefinition(
            name="memory",
            description="Memory in use (from MemAvailable)",
            params=(),
            unit="%",
            default_thresholds=Thresholds(85.0, 95.0),
            validate=_validate_none,
            build_command=_command_memory,
            parse=parse_memory,
        ),
        CheckDefinition(
            name="systemd_unit",
            description="State of a systemd unit",
            params=("unit",),
            unit=None,
            # The unit's state decides, not a number: active, transitional, or down.
            default_thresholds=Thresholds(),
            validate=_validate_systemd,
            build_command=_command_systemd,
            parse=parse_systemd_unit,
        ),
        CheckDefinition(
            name="backup_freshness",
            description="Age of the newest file under a path",
            params=("path",),
            unit="h",
            # A daily backup that missed one run warns; two missed runs are critical.
            default_thresholds=Thresholds(26.0, 50.0),
            validate=_validate_backup,
            build_command=_command_backup,
            parse=parse_backup_freshness,
        ),
        CheckDefinition(
            name="reachability",
            description="TCP connect to the SSH port and its banner",
            params=(),
            unit="ms",
            default_thresholds=Thresholds(250.0, 1000.0),
            validate=_validate_none,
            build_command=None,
            parse=None,
        ),
    )
}


def definition(check: str) -> CheckDefinition:
    try:
        return CATALOGUE[check]
    except (KeyError, TypeError):
        raise CheckConfigError("check", f"unknown check {str(check)[:50]!r}") from None


def validate_params(check: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Normalised params for `check`, or CheckConfigError naming the bad field."""
    if params is not None and not isinstance(params, Mapping):
        raise CheckConfigError("params", "must be a mapping")
    return definition(check).validate(params or {})


def resolve_thresholds(spec: CheckSpec) -> Thresholds:
    if spec.thresholds is not None:
        return spec.thresholds
    return definition(spec.check).default_thresholds


def build_command(check: str, params: Mapping[str, Any] | None) -> str:
    """The exact command line for a check (parameters validated and shell-quoted)."""
    defn = definition(check)
    if defn.build_command is None:
        raise CheckConfigError("check", f"{check} runs no command")
    return defn.build_command(validate_params(check, params))


def _catalogue_name(spec: CheckSpec) -> str:
    return spec.check if isinstance(spec.check, str) and spec.check in CATALOGUE else "unknown"


def _with_ref(
    result: CheckResult,
    spec: CheckSpec,
    *,
    raw: str = "",
    raw_truncated: bool = False,
    duration_ms: float | None = None,
) -> CheckResult:
    return CheckResult(
        check=result.check,
        state=result.state,
        value=result.value,
        unit=result.unit,
        summary=sanitize_text(result.summary, 300),
        summary_key=result.summary_key,
        summary_params=result.summary_params,
        raw_output=raw,
        raw_truncated=raw_truncated,
        ref=spec.ref,
        duration_ms=None if duration_ms is None else round(duration_ms, 2),
    )


def invalid_result(spec: CheckSpec, error: CheckConfigError) -> CheckResult:
    """An UNKNOWN result for a misconfigured check (the command is never run)."""
    check = _catalogue_name(spec)
    key = "unknown_check" if error.field == "check" else "invalid_params"
    reason = sanitize_text(error.message, 160)
    return _with_ref(
        _unknown(
            check,
            key,
            f"invalid configuration: {error.field}: {reason}",
            field=sanitize_text(error.field, 50),
            reason=reason,
        ),
        spec,
    )


def not_run_result(spec: CheckSpec, reason: str, detail: str = "") -> CheckResult:
    """An UNKNOWN result for a check skipped because the host could not be used.

    `reason` is a machine word (e.g. ``host_key_pending``) the UI can translate.
    """
    check = _catalogue_name(spec)
    summary = f"not run: {reason}" + (f" ({detail})" if detail else "")
    return _with_ref(
        _unknown(check, "not_run", summary, reason=reason, detail=sanitize_text(detail, 160)),
        spec,
    )


def interpret_output(
    spec: CheckSpec,
    stdout: str,
    *,
    exit_status: int | None,
    stderr: str = "",
    timed_out: bool = False,
    error: str | None = None,
    timeout_s: float | None = None,
    duration_ms: float | None = None,
) -> CheckResult:
    """Turn what a host printed for `spec` into a result. Never raises."""
    raw_text = stdout if not stderr else f"{stdout}\n[stderr]\n{stderr}"
    raw, truncated = truncate_raw(raw_text)

    def finish(result: CheckResult) -> CheckResult:
        return _with_ref(result, spec, raw=raw, raw_truncated=truncated, duration_ms=duration_ms)

    try:
        defn = definition(spec.check)
        params = validate_params(spec.check, spec.params)
        thresholds = resolve_thresholds(spec)
    except CheckConfigError as exc:
        return invalid_result(spec, exc)
    if defn.parse is None:
        return invalid_result(spec, CheckConfigError("check", f"{spec.check} runs no command"))
    if error is not None:
        reason = sanitize_text(error, 160)
        return finish(
            _unknown(spec.check, "command_error", f"command failed: {reason}", reason=reason)
        )
    if timed_out:
        return finish(
            _unknown(
                spec.check,
                "command_timeout",
                "command timed out",
                timeout_s=None if timeout_s is None else round(timeout_s, 1),
            )
        )
    try:
        parsed = defn.parse(stdout, params, thresholds, exit_status=exit_status, stderr=stderr)
    except Exception as exc:  # a parser bug must not take the round down
        return finish(
            _unknown(
                spec.check,
                "unparseable_output",
                f"parser error: {type(exc).__name__}",
                reason=type(exc).__name__,
            )
        )
    return finish(parsed)

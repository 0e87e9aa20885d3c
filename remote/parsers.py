"""Reading what a host printed, one parser per check of the catalogue (remote.catalogue).

A parser gets the command's stdout (and stderr, exit status), the check's validated parameters
and its thresholds, and returns a judged `CheckResult`. Hosts are hostile (lessons.md): parsers
never raise on garbage, bound the work a hostile output can cause (over-long lines are
dropped), and every string they keep from the host goes through `sanitize_text`.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from remote.judging import (
    CheckResult,
    ParamValue,
    State,
    Thresholds,
    evaluate,
    make_result,
    make_unknown,
    sanitize_text,
    worst,
)

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
            return make_result(
                "disk",
                State.CRITICAL,
                f"{mount}: path not found",
                "disk_mount_missing",
                mount=mount,
            )
        reason = _first_error_line(stderr) or "no df output line"
        return make_unknown("disk", "unparseable_output", f"{mount}: {reason}", reason=reason)
    fields = match.groupdict()
    if "-" in (fields["used"], fields["avail"], fields["total"]):
        return make_unknown("disk", "disk_no_size", f"{mount}: filesystem reports no size", mount=mount)
    used, avail, total = int(fields["used"]), int(fields["avail"]), int(fields["total"])
    if used + avail <= 0:
        return make_unknown("disk", "disk_no_size", f"{mount}: filesystem reports no size", mount=mount)
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
        return make_result(
            "disk",
            worst(state, State.WARNING),
            f"{mount} is not a mount point; {mounted_on}: {percent:.1f}% used",
            "disk_use_other_mount",
            value=percent,
            value_unit="%",
            mounted_on=mounted_on,
            **base,
        )
    return make_result(
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
LOAD_WINDOWS = (1, 5, 15)
"""The load averages a check may judge, in minutes (its `window` parameter)."""


def parse_load(
    stdout: str,
    params: Mapping[str, Any],
    thresholds: Thresholds,
    *,
    exit_status: int | None = 0,
    stderr: str = "",
) -> CheckResult:
    window = params.get("window", 5)
    if window not in LOAD_WINDOWS:
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
        return make_unknown("load", "unparseable_output", f"load: {reason}", reason=reason)
    if cores is None:
        return make_unknown(
            "load",
            "load_no_cpu_count",
            "load: CPU count missing from output",
            load1=loads[0],
            load5=loads[1],
            load15=loads[2],
        )
    per_core = [round(v / cores, 2) for v in loads]
    value = per_core[LOAD_WINDOWS.index(window)]
    return make_result(
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
        return make_unknown("memory", "unparseable_output", f"memory: {reason}", reason=reason)
    estimated = "MemAvailable" not in info
    if estimated:
        # Kernels before 3.14 lack MemAvailable; free + reclaimable caches is the usual
        # approximation, flagged so nobody mistakes it for the kernel's own figure.
        available = sum(info.get(k, 0) for k in ("MemFree", "Buffers", "Cached", "SReclaimable"))
    else:
        available = info["MemAvailable"]
    available = min(max(available, 0), total)
    percent = round((total - available) * 100.0 / total, 1)
    return make_result(
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
            return make_unknown(
                "systemd_unit",
                "tool_missing",
                "systemctl is not available on this host",
                tool="systemctl",
                unit=unit,
            )
        lowered = stderr.lower()
        if "not been booted with systemd" in lowered or "failed to connect to bus" in lowered:
            return make_unknown(
                "systemd_unit",
                "systemd_unavailable",
                "systemd is not running on this host",
                unit=unit,
            )
        reason = _first_error_line(stderr) or "no ActiveState in output"
        return make_unknown(
            "systemd_unit", "unparseable_output", f"{unit}: {reason}", reason=reason, unit=unit
        )
    load = props.get("LoadState", "")
    sub = props.get("SubState", "")
    load = load if _SYSTEMD_WORD.fullmatch(load) else ""
    sub = sub if _SYSTEMD_WORD.fullmatch(sub) else ""
    if load in ("not-found", "masked", "bad-setting", "error"):
        return make_result(
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
    return make_result(
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

# What remote.catalogue's backup script prints: MISSING, or NOW <epoch> and NEWEST <epoch or blank>
# (blank when the path holds no file). Timestamps beyond this are garbage, not dates.
_EPOCH_MAX = 1e11


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
        return make_result(
            "backup_freshness",
            State.CRITICAL,
            f"{path}: not found",
            "backup_path_missing",
            path=path,
        )
    if now is None or newest is None or not 0 < now < _EPOCH_MAX:
        reason = _first_error_line(stderr) or "unexpected output"
        return make_unknown(
            "backup_freshness",
            "unparseable_output",
            f"{path}: {reason}",
            reason=reason,
            path=path,
        )
    if newest == "":
        return make_result(
            "backup_freshness",
            State.CRITICAL,
            f"{path}: no files",
            "backup_no_files",
            path=path,
        )
    newest_ts = _finite(newest)
    if newest_ts is None or not 0 <= newest_ts < _EPOCH_MAX:
        return make_unknown(
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
        return make_result(
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
    return make_result(
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


"""The fixed catalogue of agentless checks: their kinds, parameters, commands and defaults.

Each entry (`CheckDefinition`) names a check, validates its parameters, builds the exact command
it runs (shell-quoted, C locale), points at the parser that reads the output (remote.parsers)
and gives the default thresholds. The functions at the end turn one run of a check into a
result through its entry (`interpret_output`), or say why it did not run. Nothing here opens a
connection (remote.rounds does), nor touches Flask and the database, so the UI's forms and the
SSH engine share the same parameter validation.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.inputs import ascii_int
from remote.judging import (
    CONTROL_CHARS,
    CheckConfigError,
    CheckResult,
    CheckSpec,
    State,
    Thresholds,
    evaluate,
    make_result,
    make_unknown,
    sanitize_text,
    truncate_raw,
)
from remote.parsers import (
    LOAD_WINDOWS,
    parse_backup_freshness,
    parse_disk,
    parse_load,
    parse_memory,
    parse_systemd_unit,
)

_PATH_LIMIT = 1024


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
    if CONTROL_CHARS.search(value) or "\n" in value or "\t" in value:
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


# --------------------------------------------------------------------------- disk


def _validate_disk(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, {"mount"})
    return {"mount": _absolute_path(params, "mount", "/")}


def _command_disk(params: Mapping[str, Any]) -> str:
    return _env_c(["df", "-P", "-k", "--", params["mount"]])


# --------------------------------------------------------------------------- load


def _validate_load(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, {"window"})
    window = params.get("window", 5)
    if isinstance(window, str):
        window = ascii_int(window)
    if isinstance(window, bool) or window not in LOAD_WINDOWS:
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


# --------------------------------------------------------------------------- memory


def _validate_none(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, set())
    return {}


def _command_memory(params: Mapping[str, Any]) -> str:
    return _env_c(["cat", "/proc/meminfo"])


# --------------------------------------------------------------------------- systemd unit


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
# remote.parsers.parse_backup_freshness reads what it prints.


def _validate_backup(params: Mapping[str, Any]) -> dict[str, Any]:
    _no_unknown_params(params, {"path"})
    return {"path": _absolute_path(params, "path", None)}


def _command_backup(params: Mapping[str, Any]) -> str:
    return _sh_script(_BACKUP_SCRIPT.format(path=shlex.quote(params["path"])))


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
        result = make_result(
            "reachability",
            State.CRITICAL,
            f"SSH port not answering: {reason}",
            "unreachable",
            reason=reason,
        )
    else:
        latency = round(latency_ms, 1)
        clean_banner = sanitize_text(banner or "", 120)
        result = make_result(
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


# --------------------------------------------------------------------------- results of a run


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
        make_unknown(
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
        make_unknown(check, "not_run", summary, reason=reason, detail=sanitize_text(detail, 160)),
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
            make_unknown(spec.check, "command_error", f"command failed: {reason}", reason=reason)
        )
    if timed_out:
        return finish(
            make_unknown(
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
            make_unknown(
                spec.check,
                "unparseable_output",
                f"parser error: {type(exc).__name__}",
                reason=type(exc).__name__,
            )
        )
    return finish(parsed)

"""Judging what a check found: states, thresholds, and the result every check produces.

A number becomes a state against its thresholds (`evaluate`) the same way for SSH checks and
agent metrics; a `CheckResult` carries the state, the value and a translatable summary. Nothing
here opens a connection or touches Flask and the database (the agent metrics, the SSH engine
and the UI share this one evaluation). What each check runs and how its output is read live in
remote.catalogue and remote.parsers.

Everything a host prints is hostile input (lessons.md: GLPI's inventory XSS and SQL injection):
every string that comes from the host is sanitised and size-limited before it reaches a result
(`sanitize_text`), and the raw output is kept only truncated (`truncate_raw`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


def limit_new_disks(known_disks: int, new: list, cap: int) -> tuple[list, list[str]]:
    """Of the (key, observation) pairs a report would turn into new checks, those that fit
    under `cap` disk checks for the asset (`known_disks` exist), and the mounts refused."""
    disks = [item for item in new if item[0].startswith("agent:disk:")]
    room = max(0, cap - known_disks)
    refused = [obs.summary_params.get("mount", "") for _key, obs in disks[room:]]
    return [item for item in new if not item[0].startswith("agent:disk:")] + disks[:room], refused


RAW_OUTPUT_LIMIT = 4096
"""Bytes of raw output kept per result (UTF-8, cut on a character boundary)."""

_TEXT_PARAM_LIMIT = 200

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


CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize_text(text: str, limit: int = _TEXT_PARAM_LIMIT) -> str:
    """Host-provided text made safe to store and show: no control chars (NUL would break
    PostgreSQL text columns, escapes would garble logs), bounded length."""
    cleaned = CONTROL_CHARS.sub("\ufffd", text)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\u2026"
    return cleaned


def truncate_raw(text: str, limit: int = RAW_OUTPUT_LIMIT) -> tuple[str, bool]:
    """Sanitise and cut to `limit` UTF-8 bytes without splitting a character."""
    cleaned = CONTROL_CHARS.sub("\ufffd", text.replace("\r\n", "\n"))
    encoded = cleaned.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return cleaned, False
    return encoded[:limit].decode("utf-8", "ignore"), True


def make_result(
    check: str,
    state: State,
    summary: str,
    key: str,
    *,
    value: float | None = None,
    value_unit: str | None = None,
    **params: ParamValue,
) -> CheckResult:
    """A result as a parser judges it; remote.catalogue adds the ref, raw output and duration."""
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


def make_unknown(check: str, key: str, summary: str, **params: ParamValue) -> CheckResult:
    return make_result(check, State.UNKNOWN, summary, key, **params)

"""The check catalogue without a network: validation, commands, parsers, thresholds."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remote.catalogue import CATALOGUE, build_command, interpret_output, reachability_result, validate_params
from remote.judging import (
    RAW_OUTPUT_LIMIT,
    CheckConfigError,
    CheckSpec,
    State,
    Thresholds,
    evaluate,
    evaluate_metric,
    worst,
)
from remote.parsers import parse_backup_freshness, parse_disk, parse_load, parse_memory, parse_systemd_unit

DISK_T = Thresholds(80.0, 90.0)
LOAD_T = Thresholds(1.5, 3.0)
MEM_T = Thresholds(85.0, 95.0)
AGE_T = Thresholds(26.0, 50.0)

# ---------------------------------------------------------------- thresholds


def test_evaluate_limits_are_inclusive_and_directional() -> None:
    assert evaluate(79.9, DISK_T) is State.OK
    assert evaluate(80.0, DISK_T) is State.WARNING
    assert evaluate(90.0, DISK_T) is State.CRITICAL
    low_is_bad = Thresholds(20.0, 10.0, higher_is_worse=False)
    assert evaluate(25.0, low_is_bad) is State.OK
    assert evaluate(15.0, low_is_bad) is State.WARNING
    assert evaluate(10.0, low_is_bad) is State.CRITICAL
    assert evaluate(None, DISK_T) is State.UNKNOWN
    assert evaluate(float("nan"), DISK_T) is State.UNKNOWN
    assert evaluate(99.0, Thresholds(None, None)) is State.OK
    assert evaluate(85.0, Thresholds(None, 80.0)) is State.CRITICAL


def test_thresholds_reject_nonsense() -> None:
    with pytest.raises(CheckConfigError):
        Thresholds(95.0, 80.0)
    with pytest.raises(CheckConfigError):
        Thresholds(float("inf"), None)
    with pytest.raises(CheckConfigError):
        Thresholds("80", None)  # type: ignore[arg-type]


def test_metric_evaluation_for_agents() -> None:
    assert evaluate_metric("cpu_percent", 96.0) is State.CRITICAL
    assert evaluate_metric("memory_percent", 50.0) is State.OK
    assert evaluate_metric("disk_percent", 85.0) is State.WARNING
    assert evaluate_metric("disk_percent", 85.0, Thresholds(90.0, 95.0)) is State.OK
    with pytest.raises(CheckConfigError):
        evaluate_metric("temperature", 50.0)


def test_worst_ignores_unknown_unless_alone() -> None:
    assert worst(State.OK, State.UNKNOWN, State.WARNING) is State.WARNING
    assert worst(State.UNKNOWN) is State.UNKNOWN


# ---------------------------------------------------------------- validation and commands


@pytest.mark.parametrize(
    ("check", "params", "field"),
    [
        ("disk", {"mount": "var"}, "mount"),
        ("disk", {"mount": "/a\nb"}, "mount"),
        ("disk", {"mount": "/a\x00b"}, "mount"),
        ("disk", {"mount": 5}, "mount"),
        ("disk", {"mount": "/" + "a" * 2000}, "mount"),
        ("disk", {"mnt": "/"}, "mnt"),
        ("load", {"window": 7}, "window"),
        ("systemd_unit", {}, "unit"),
        ("systemd_unit", {"unit": "-h"}, "unit"),
        ("systemd_unit", {"unit": "ssh; reboot"}, "unit"),
        ("systemd_unit", {"unit": "$(reboot)"}, "unit"),
        ("systemd_unit", {"unit": "a/../b.service"}, "unit"),
        ("systemd_unit", {"unit": "x" * 300}, "unit"),
        ("backup_freshness", {}, "path"),
        ("backup_freshness", {"path": "relative/dir"}, "path"),
        ("memory", {"anything": 1}, "anything"),
        ("rm_rf", {}, "check"),
    ],
)
def test_bad_params_are_refused(check: str, params: dict, field: str) -> None:
    with pytest.raises(CheckConfigError) as info:
        validate_params(check, params)
    assert info.value.field == field


def test_valid_params_are_normalised() -> None:
    assert validate_params("disk", {}) == {"mount": "/"}
    assert validate_params("load", {"window": "15"}) == {"window": 15}
    assert validate_params("systemd_unit", {"unit": "getty@tty1.service"}) == {
        "unit": "getty@tty1.service"
    }
    assert validate_params("systemd_unit", {"unit": r"dev-disk-by\x2duuid.device"})


HOSTILE_PATHS = [
    "/tmp/x'; touch /tmp/pwned; '",
    "/tmp/$(touch /tmp/pwned)",
    "/tmp/`id`",
    '/tmp/"; id; "',
    "/tmp/a b\\c*?[x]",
    "/-rf",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_mount_stays_one_argument(path: str) -> None:
    argv = shlex.split(build_command("disk", {"mount": path}))
    assert argv[:4] == ["env", "LC_ALL=C", "LANG=C", "df"]
    assert argv[-2:] == ["--", path]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_backup_path_is_quoted_twice(path: str) -> None:
    argv = shlex.split(build_command("backup_freshness", {"path": path}))
    assert argv[:6] == ["env", "LC_ALL=C", "LANG=C", "/bin/sh", "-c", argv[5]]
    script = argv[5]
    # The inner script assigns the path as a single quoted word.
    first_line = script.splitlines()[0]
    assert shlex.split(first_line) == [f"p={path}"]


def test_every_catalogue_entry_is_complete() -> None:
    for name, defn in CATALOGUE.items():
        assert defn.name == name
        if defn.runs_command:
            params = {"unit": "ssh.service"} if name == "systemd_unit" else {}
            if name == "backup_freshness":
                params = {"path": "/srv/backup"}
            assert build_command(name, params).startswith("env LC_ALL=C ")
    with pytest.raises(CheckConfigError):
        build_command("reachability", {})


# ---------------------------------------------------------------- disk

GNU_DF = """Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda1        264212084 24551912  81839000      24% /
"""
BUSYBOX_DF = """Filesystem           1024-blocks    Used Available Capacity Mounted on
/dev/mmcblk0p2          30358348 27500000   1500000  95% /
"""


def test_disk_real_outputs() -> None:
    result = parse_disk(GNU_DF, {"mount": "/"}, DISK_T)
    assert result.state is State.OK
    assert result.value == pytest.approx(23.1, abs=0.05)
    assert result.message()["key"] == "disk_use"
    assert result.message()["mount"] == "/"
    busybox = parse_disk(BUSYBOX_DF, {"mount": "/"}, DISK_T)
    assert busybox.state is State.CRITICAL
    assert busybox.value == pytest.approx(94.8, abs=0.05)


def test_disk_mount_with_spaces_and_digits() -> None:
    out = (
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
        "//nas/share 2 copy 1000 850 150 85% /mnt/nas 2 copy\n"
    )
    result = parse_disk(out, {"mount": "/mnt/nas 2 copy"}, DISK_T)
    assert result.state is State.WARNING
    assert result.summary_params["mount"] == "/mnt/nas 2 copy"
    assert result.value == 85.0


def test_disk_path_that_is_not_a_mount_point_warns() -> None:
    result = parse_disk(GNU_DF, {"mount": "/mnt/backup"}, DISK_T)
    assert result.state is State.WARNING
    assert result.summary_key == "disk_use_other_mount"
    assert result.summary_params["mounted_on"] == "/"


def test_disk_failures() -> None:
    missing = parse_disk(
        "",
        {"mount": "/nope"},
        DISK_T,
        exit_status=1,
        stderr="df: /nope: No such file or directory\n",
    )
    assert missing.state is State.CRITICAL
    assert missing.summary_key == "disk_mount_missing"
    zero = parse_disk(
        "Filesystem 1024-blocks Used Available Capacity Mounted on\nproc 0 0 0 - /proc\n",
        {"mount": "/proc"},
        DISK_T,
    )
    assert zero.state is State.UNKNOWN
    # A localised df (if LC_ALL were ignored) or garbage gives unknown, not a guess.
    localised = parse_disk(
        "S.ficheros     bloques de 1K   Usados Disponibles Uso% Montado en\n"
        "/dev/vda1          264212084 24551912   81839000  24,5% /\n",
        {"mount": "/"},
        DISK_T,
    )
    assert localised.state is State.UNKNOWN
    assert parse_disk("<script>alert(1)</script>", {"mount": "/"}, DISK_T).state is State.UNKNOWN


# ---------------------------------------------------------------- load


def test_load_linux_and_bsd() -> None:
    linux = parse_load("3.10 2.40 1.00 2/345 6789\n2\n", {"window": 5}, LOAD_T)
    assert linux.value == 1.2
    assert linux.state is State.OK
    assert linux.summary_params["cores"] == 2
    assert linux.summary_params["per_core1"] == 1.55
    one = parse_load("3.10 2.40 1.00 2/345 6789\n2\n", {"window": 1}, LOAD_T)
    assert one.state is State.WARNING
    bsd = parse_load(
        " 9:41AM  up 3 days,  2:03, 1 user, load averages: 8.50, 7.00, 6.10\n2\n",
        {"window": 15},
        LOAD_T,
    )
    assert bsd.value == 3.05
    assert bsd.state is State.CRITICAL


def test_load_incomplete_outputs() -> None:
    assert parse_load("0.1 0.2 0.3 1/2 3\n", {}, LOAD_T).summary_key == "load_no_cpu_count"
    assert parse_load("", {}, LOAD_T).state is State.UNKNOWN
    assert parse_load("0,52 0,58 0,59\n2\n", {}, LOAD_T).state is State.UNKNOWN
    assert parse_load("1e400 1 1 1/1 1\n2\n", {}, LOAD_T).state is State.UNKNOWN


# ---------------------------------------------------------------- memory

MEMINFO = """MemTotal:       16000000 kB
MemFree:          500000 kB
MemAvailable:    1600000 kB
Buffers:          100000 kB
Cached:          2000000 kB
"""


def test_memory_uses_memavailable() -> None:
    result = parse_memory(MEMINFO, {}, MEM_T)
    assert result.value == 90.0
    assert result.state is State.WARNING
    assert result.summary_params["estimated"] is False


def test_memory_without_memavailable_is_estimated() -> None:
    old = "\n".join(line for line in MEMINFO.splitlines() if "Available" not in line)
    result = parse_memory(old, {}, MEM_T)
    assert result.summary_params["estimated"] is True
    assert result.value == pytest.approx(83.8, abs=0.05)


def test_memory_garbage() -> None:
    assert parse_memory("MemTotal: 0 kB\n", {}, MEM_T).state is State.UNKNOWN
    assert (
        parse_memory(
            "", {}, MEM_T, exit_status=1, stderr="cat: /proc/meminfo: No such file or directory"
        )
        .summary_params["reason"]
        .startswith("cat:")
    )


# ---------------------------------------------------------------- systemd


@pytest.mark.parametrize(
    ("active", "state"),
    [
        ("active", State.OK),
        ("activating", State.WARNING),
        ("reloading", State.WARNING),
        ("failed", State.CRITICAL),
        ("inactive", State.CRITICAL),
        ("weird-new-state", State.UNKNOWN),
    ],
)
def test_systemd_states(active: str, state: State) -> None:
    out = f"LoadState=loaded\nActiveState={active}\nSubState=running\n"
    result = parse_systemd_unit(out, {"unit": "ssh.service"}, Thresholds())
    assert result.state is state
    assert result.summary_params["active_state"] == active
    assert result.summary_params["unit"] == "ssh.service"
    assert result.unit is None and result.value is None


def test_systemd_special_cases() -> None:
    missing = parse_systemd_unit(
        "LoadState=not-found\nActiveState=inactive\nSubState=dead\n",
        {"unit": "x.service"},
        Thresholds(),
    )
    assert missing.state is State.CRITICAL
    assert missing.summary_key == "unit_not_loaded"
    no_tool = parse_systemd_unit(
        "",
        {"unit": "x"},
        Thresholds(),
        exit_status=127,
        stderr="env: 'systemctl': No such file or directory",
    )
    assert no_tool.summary_key == "tool_missing"
    no_systemd = parse_systemd_unit(
        "",
        {"unit": "x"},
        Thresholds(),
        exit_status=1,
        stderr="System has not been booted with systemd as init system (PID 1). Can't operate.",
    )
    assert no_systemd.summary_key == "systemd_unavailable"
    assert no_systemd.message() == {"key": "systemd_unavailable", "unit": "x"}
    assert no_systemd.unit is None
    hostile = parse_systemd_unit(
        "ActiveState=<img src=x onerror=alert(1)>", {"unit": "x"}, Thresholds()
    )
    assert hostile.state is State.UNKNOWN


# ---------------------------------------------------------------- backup freshness


def test_backup_ages() -> None:
    now = 1_700_000_000
    fresh = parse_backup_freshness(f"NOW {now}\nNEWEST {now - 3600}.5\n", {"path": "/srv/b"}, AGE_T)
    assert fresh.state is State.OK
    assert fresh.value == 1.0
    assert fresh.summary_params["newest_utc"] == "2023-11-14T21:13:20+00:00"
    stale = parse_backup_freshness(f"NOW {now}\nNEWEST {now - 30 * 3600}\n", {"path": "/b"}, AGE_T)
    assert stale.state is State.WARNING
    dead = parse_backup_freshness(f"NOW {now}\nNEWEST {now - 80 * 3600}\n", {"path": "/b"}, AGE_T)
    assert dead.state is State.CRITICAL
    assert parse_backup_freshness(f"NOW {now}\nNEWEST \n", {"path": "/b"}, AGE_T).summary_key == (
        "backup_no_files"
    )
    assert parse_backup_freshness("MISSING\n", {"path": "/b"}, AGE_T).state is State.CRITICAL
    future = parse_backup_freshness(f"NOW {now}\nNEWEST {now + 86400}\n", {"path": "/b"}, AGE_T)
    assert future.summary_key == "backup_future_timestamp"
    assert parse_backup_freshness("NEWEST 5\n", {"path": "/b"}, AGE_T).state is State.UNKNOWN
    assert (
        parse_backup_freshness(f"NOW {now}\nNEWEST 1e999\n", {"path": "/b"}, AGE_T).state
        is State.UNKNOWN
    )


# ---------------------------------------------------------------- interpretation wrapper


def test_interpret_output_handles_failures_and_truncates() -> None:
    spec = CheckSpec("disk", {"mount": "/"}, ref="42")
    timed = interpret_output(spec, "", exit_status=None, timed_out=True, timeout_s=5)
    assert (timed.state, timed.summary_key, timed.ref) == (State.UNKNOWN, "command_timeout", "42")
    failed = interpret_output(spec, "", exit_status=None, error="channel closed")
    assert failed.summary_key == "command_error"
    flood = "A\x00\x1b[31m" + "é" * 10_000
    result = interpret_output(spec, flood, exit_status=0)
    assert result.raw_truncated
    assert len(result.raw_output.encode()) <= RAW_OUTPUT_LIMIT
    assert "\x00" not in result.raw_output and "\x1b" not in result.raw_output
    bad = interpret_output(CheckSpec("disk", {"mount": "x"}), GNU_DF, exit_status=0)
    assert bad.summary_key == "invalid_params"
    custom = interpret_output(CheckSpec("disk", {}, Thresholds(10.0, 20.0)), GNU_DF, exit_status=0)
    assert custom.state is State.CRITICAL


def test_reachability_result() -> None:
    spec = CheckSpec("reachability", ref="r")
    fine = reachability_result(spec, reached=True, latency_ms=3.21, banner="SSH-2.0-x\x1b")
    assert (fine.state, fine.value, fine.unit, fine.ref) == (State.OK, 3.2, "ms", "r")
    assert "\x1b" not in str(fine.summary_params["banner"])
    slow = reachability_result(spec, reached=True, latency_ms=400.0, banner="SSH-2.0-x")
    assert slow.state is State.WARNING
    down = reachability_result(
        spec, reached=False, latency_ms=None, banner=None, failure="connection refused"
    )
    assert (down.state, down.summary_key) == (State.CRITICAL, "unreachable")


# ---------------------------------------------------------------- hypothesis: never raise

PARSERS = [
    (parse_disk, {"mount": "/"}, DISK_T),
    (parse_load, {"window": 5}, LOAD_T),
    (parse_memory, {}, MEM_T),
    (parse_systemd_unit, {"unit": "ssh.service"}, Thresholds()),
    (parse_backup_freshness, {"path": "/srv"}, AGE_T),
]

# Text built from the tokens the parsers look for, so garbage gets near the valid paths.
TOKENS = st.sampled_from(
    [
        "NOW ",
        "NEWEST ",
        "MISSING",
        "ActiveState=",
        "LoadState=",
        "MemTotal:",
        "MemAvailable:",
        " kB",
        "load average: ",
        "%",
        "/",
        " ",
        "\n",
        "\t",
        "-",
        ".",
        ",",
        "1e309",
        "0",
        "7",
        "99999999999999999999",
        "Filesystem",
        "/dev/sda1",
        "\x00",
        "\u202e",
        "é",
    ]
)
NEAR_VALID = st.lists(st.one_of(TOKENS, st.text(max_size=8)), max_size=60).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    stdout=st.one_of(st.text(max_size=2000), NEAR_VALID),
    stderr=st.text(max_size=200),
    exit_status=st.one_of(st.none(), st.integers(-1, 255)),
)
def test_parsers_never_raise(stdout: str, stderr: str, exit_status: int | None) -> None:
    for parse, params, thresholds in PARSERS:
        result = parse(stdout, params, thresholds, exit_status=exit_status, stderr=stderr)
        assert isinstance(result.state, State)
        if result.value is not None:
            assert result.value == result.value  # not NaN


@settings(max_examples=100, deadline=None)
@given(
    used=st.integers(0, 10**15),
    avail=st.integers(0, 10**15),
    mount=st.text(min_size=0, max_size=30).map(lambda t: "/" + t.replace("\n", "")),
)
def test_disk_percent_is_bounded(used: int, avail: int, mount: str) -> None:
    out = (
        f"Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x {used + avail} "
        f"{used} {avail} 50% {mount}\n"
    )
    result = parse_disk(out, {"mount": mount}, DISK_T)
    if result.value is not None:
        assert 0.0 <= result.value <= 100.0


@settings(max_examples=100, deadline=None)
@given(
    check=st.sampled_from(sorted(CATALOGUE)),
    stdout=st.text(max_size=500),
    params=st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=20), st.integers())),
)
def test_interpret_output_never_raises(check: str, stdout: str, params: dict) -> None:
    result = interpret_output(CheckSpec(check, params), stdout, exit_status=0)
    assert isinstance(result.state, State)

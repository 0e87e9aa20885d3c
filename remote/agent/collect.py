"""Metrics and inventory collection with psutil.

Cheap on purpose: no process list (``process_iter`` costs ~145 µs per process), one partition
scan per report, and the slow or static facts (OS name, CPU model, DMI, the Windows serial,
which needs a subprocess) are read once and refreshed daily.

Everything read from the machine is untrusted by the server (docs/lessons.md: GLPI's
inventory XSS and SQL injection), and the server rejects bodies over 256 KiB, so every string
is cleaned and clipped and every list is capped here; ``encode_report`` guarantees the final
size.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psutil

from . import __version__
from .config import windows_tool

# Not `from typing import TYPE_CHECKING`: importing typing costs ~0.5 MB of RSS.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger("councildesk.agent")

MAX_STRING = 255
MAX_DISKS = 32
MAX_ADDRESSES = 32
# A quarter of the server's limit: a report is normally 1-3 KiB, so hitting this means a
# pathological machine, and the server's 413 must never be what stops a report.
MAX_REPORT_BYTES = 64 * 1024
STATIC_REFRESH_SECONDS = 24 * 3600
# The mount table and link flags change rarely but cost ~0.4 ms to read, as much as all the
# metrics together; re-reading them every 5 minutes keeps a new disk visible soon enough.
LAYOUT_REFRESH_SECONDS = 300
SUBPROCESS_TIMEOUT = 20.0

# Pseudo, in-memory, read-only image and removable-media filesystems: no capacity to watch.
SKIP_FSTYPES = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cdfs", "cgroup", "cgroup2", "configfs", "debugfs",
        "devfs", "devpts", "devtmpfs", "efivarfs", "fuse.gvfsd-fuse", "fuse.lxcfs",
        "fuse.portal", "fuse.snapfuse", "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs",
        "overlay", "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs",
        "tmpfs", "tracefs", "udf",
    }
)  # fmt: skip

# Vendors leave these in DMI/BIOS fields; reporting them would make distinct machines look
# like one asset with serial "To be filled by O.E.M.".
PLACEHOLDER_VALUES = frozenset(
    {
        "", "0", "00000000", "0000000000", "0123456789", "123456789", "1234567890",
        "chassis serial number", "default string", "invalid", "n/a", "na", "none",
        "not applicable", "not available", "not specified", "null", "o.e.m.", "oem",
        "system manufacturer", "system product name", "system serial number",
        "system version", "to be filled by o.e.m.", "to be filled by oem", "type1productconfigid",
        "unknown",
    }
)  # fmt: skip

# Interfaces whose addresses rarely identify the machine to people (containers, VMs, VPNs).
_VIRTUAL_PREFIXES = ("docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "tun", "tap",
                     "wg", "zt", "vethernet", "cni", "flannel", "lxc", "podman")  # fmt: skip

DMI_DIR = "/sys/class/dmi/id"


def clean(value: object, limit: int = MAX_STRING) -> str:
    """A JSON-safe, printable, bounded string.

    Non-UTF-8 mount points come back from psutil with surrogate escapes, which would make
    the body invalid UTF-8 and have every report rejected; control characters only help log
    injection on the server side.
    """
    text = str(value)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit].strip()


def _number(value: float, digits: int = 1) -> float:
    return round(value, digits) if math.isfinite(value) else 0.0


def meaningful(value: str | None) -> str | None:
    """``value`` cleaned, or None when it is empty or a vendor placeholder."""
    if value is None:
        return None
    text = clean(value)
    if text.lower() in PLACEHOLDER_VALUES or not text.strip("0 -."):
        return None
    return text


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(4096).strip("\x00\n ")
    except OSError:
        return None


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _partitions() -> list[Any]:
    """Real, mounted filesystems: one entry per device, under its shortest mount point.

    Bind mounts (systemd's ReadWritePaths, container-injected files like /etc/hosts, btrfs
    subvolumes) repeat a device; they would give the server duplicate disk checks.
    """
    by_device: dict[str, Any] = {}
    try:
        partitions = psutil.disk_partitions(all=False)
    except OSError as exc:
        log.debug("cannot list partitions: %s", exc)
        return []
    for part in partitions:
        opts = part.opts or ""
        if (
            not part.fstype
            or part.fstype in SKIP_FSTYPES
            or part.device.startswith("/dev/loop")
            or part.mountpoint == "/snap"
            or part.mountpoint.startswith("/snap/")
            or "cdrom" in opts.split(",")
            or not os.path.isdir(part.mountpoint)
        ):
            continue
        key = part.device or part.mountpoint
        kept = by_device.get(key)
        if kept is None or len(part.mountpoint) < len(kept.mountpoint):
            by_device[key] = part
    return sorted(by_device.values(), key=lambda p: p.mountpoint)[:MAX_DISKS]


def _disk_usages(partitions: list[Any]) -> list[tuple[Any, Any]]:
    usages = []
    for part in partitions:
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            # An empty card reader or a vanished mount: skip it rather than fail the report.
            continue
        if usage.total > 0:
            usages.append((part, usage))
    return usages


def collect_addresses(stats: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Non-loopback addresses per interface; IPv6 link-local (always present) is noise."""
    try:
        if stats is None:
            stats = psutil.net_if_stats()
        interfaces = psutil.net_if_addrs()
    except OSError as exc:
        log.debug("cannot list interfaces: %s", exc)
        return []
    result: list[dict[str, str]] = []
    for name in sorted(interfaces):
        stat = stats.get(name)
        if stat is not None and "loopback" in (getattr(stat, "flags", "") or ""):
            continue
        for addr in interfaces[name]:
            if addr.family == socket.AF_INET:
                family = "ipv4"
                address = addr.address
                if address.startswith("127."):
                    continue
            elif addr.family == socket.AF_INET6:
                family = "ipv6"
                address = addr.address.split("%", 1)[0]
                if address == "::1" or address.lower().startswith("fe80:"):
                    continue
            else:
                continue
            result.append(
                {
                    "interface": clean(name, 64),
                    "family": family,
                    "address": clean(address, 64),
                    "up": bool(stat.isup) if stat is not None else True,
                }
            )
            if len(result) >= MAX_ADDRESSES:
                return result
    return result


def primary_ipv4(addresses: list[dict[str, Any]]) -> str | None:
    """The address a technician would type: an IPv4 on an up, non-virtual interface."""
    ipv4 = [a for a in addresses if a["family"] == "ipv4"]
    for candidate in ipv4:
        name = candidate["interface"].lower()
        if (
            candidate["up"]
            and not name.startswith(_VIRTUAL_PREFIXES)
            and not candidate["address"].startswith("169.254.")
        ):
            return str(candidate["address"])
    return str(ipv4[0]["address"]) if ipv4 else None


# --- static facts -------------------------------------------------------------------------


def _linux_os() -> dict[str, str]:
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        release = {}
    pretty = release.get("PRETTY_NAME") or release.get("NAME") or "Linux"
    return {"os": pretty}


def _linux_cpu_model() -> str | None:
    text = _read_text("/proc/cpuinfo")
    if text:
        wanted = ("model name", "hardware", "cpu model", "model", "processor")
        found: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if sep and key in wanted and key not in found and not value.strip().isdigit():
                found[key] = value.strip()
        for key in wanted:
            if found.get(key):
                return found[key]
    return None


def _linux_hardware() -> dict[str, str | None]:
    # product_serial is root-only; the running service is not root, so enrollment (as root)
    # stores what it could read and the caller falls back to that.
    model = _read_text(f"{DMI_DIR}/product_name") or _read_text(
        "/sys/firmware/devicetree/base/model"
    )
    serial = _read_text(f"{DMI_DIR}/product_serial") or _read_text(
        "/sys/firmware/devicetree/base/serial-number"
    )
    return {
        "manufacturer": meaningful(_read_text(f"{DMI_DIR}/sys_vendor")),
        "model": meaningful(model),
        "serial": meaningful(serial),
    }


def _winreg_values(key_path: str, names: tuple[str, ...]) -> dict[str, Any]:
    import winreg  # Windows-only stdlib module

    values: dict[str, Any] = {}
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path) as key:
            for name in names:
                with contextlib.suppress(OSError):
                    values[name] = winreg.QueryValueEx(key, name)[0]
    except OSError:
        pass
    return values


def windows_os_name(values: dict[str, Any]) -> str:
    """Product name from the registry, fixing Windows 11, which still says "Windows 10"."""
    product = str(values.get("ProductName") or "Windows")
    build = str(values.get("CurrentBuild") or "")
    if build.isdigit() and int(build) >= 22000 and product.startswith("Windows 10"):
        product = "Windows 11" + product[len("Windows 10") :]
    display = values.get("DisplayVersion") or values.get("ReleaseId")
    name = f"{product} {display}" if display else product
    if build:
        ubr = values.get("UBR")
        name += f" (build {build}.{ubr})" if isinstance(ubr, int) else f" (build {build})"
    return name


def parse_wmic_serial(output: str) -> str | None:
    """``wmic bios get serialnumber /value`` prints ``SerialNumber=...`` among blank lines."""
    for line in output.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.lower() == "serialnumber":
            return meaningful(value)
    return None


def _run_quiet(command: list[str]) -> str | None:
    import subprocess  # only Windows pays for this import

    try:
        result = subprocess.run(  # noqa: S603 - fixed argument list, absolute tool paths
            command,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s failed: %s", command[0], exc)
        return None
    return result.stdout if result.returncode == 0 else None


def _windows_serial() -> str | None:
    # wmic is gone from recent Windows 11 builds; PowerShell is slower to start but present.
    output = _run_quiet([windows_tool("wbem", "WMIC.exe"), "bios", "get", "serialnumber", "/value"])
    serial = parse_wmic_serial(output) if output else None
    if serial:
        return serial
    output = _run_quiet(
        [
            windows_tool("WindowsPowerShell", "v1.0", "powershell.exe"),
            "-NoProfile",
            "-NonInteractive",
            "-Command",
            "(Get-CimInstance -ClassName Win32_BIOS).SerialNumber",
        ]
    )
    return meaningful(output.strip()) if output else None


def _windows_static() -> dict[str, Any]:
    version = _winreg_values(
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion",
        ("ProductName", "DisplayVersion", "ReleaseId", "CurrentBuild", "UBR"),
    )
    cpu = _winreg_values(
        r"HARDWARE\DESCRIPTION\System\CentralProcessor\0", ("ProcessorNameString",)
    )
    bios = _winreg_values(
        r"HARDWARE\DESCRIPTION\System\BIOS", ("SystemManufacturer", "SystemProductName")
    )
    return {
        "os": windows_os_name(version),
        "cpu_model": cpu.get("ProcessorNameString"),
        "manufacturer": meaningful(bios.get("SystemManufacturer")),
        "model": meaningful(bios.get("SystemProductName")),
        "serial": _windows_serial(),
    }


def collect_static(hardware_fallback: dict[str, str] | None = None) -> dict[str, Any]:
    """Facts that do not change while the agent runs; slow ones are acceptable here."""
    facts: dict[str, Any]
    if sys.platform == "win32":
        facts = _windows_static()
    elif sys.platform.startswith("linux"):
        facts = {**_linux_os(), "cpu_model": _linux_cpu_model(), **_linux_hardware()}
    else:
        facts = {"os": f"{platform.system()} {platform.release()}", "cpu_model": None}
    for key, value in (hardware_fallback or {}).items():
        if key in ("serial", "manufacturer", "model") and not facts.get(key):
            facts[key] = meaningful(value)
    logical = psutil.cpu_count(logical=True)
    physical = psutil.cpu_count(logical=False)
    static = {
        "os": clean(facts.get("os") or platform.system()),
        "os_name": clean(platform.system()),
        "os_release": clean(platform.release()),
        "os_version": clean(platform.version()),
        "arch": clean(platform.machine()),
        "cpu_model": clean(facts.get("cpu_model") or platform.processor() or platform.machine()),
        "cpu_cores_logical": logical if isinstance(logical, int) else None,
        "cpu_cores_physical": physical if isinstance(physical, int) else None,
        "ram_bytes": int(psutil.virtual_memory().total),
        "manufacturer": facts.get("manufacturer"),
        "model": facts.get("model"),
        "serial": facts.get("serial"),
    }
    return static


class Collector:
    """Collects reports; holds the static-facts cache and the CPU-percent baseline."""

    def __init__(
        self,
        hardware_fallback: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hardware_fallback = hardware_fallback or {}
        self._clock = clock
        self._static: dict[str, Any] | None = None
        self._static_at = 0.0
        self._layout: tuple[list[Any], dict[str, Any]] | None = None
        self._layout_at = 0.0

    def prime(self) -> None:
        """Start the CPU and load baselines: psutil's first cpu_percent() is always 0.0."""
        psutil.cpu_percent(interval=None)
        with contextlib.suppress(OSError, AttributeError):
            psutil.getloadavg()  # on Windows this starts psutil's sampling thread

    def static(self) -> dict[str, Any]:
        now = self._clock()
        if self._static is None or now - self._static_at >= STATIC_REFRESH_SECONDS:
            self._static = collect_static(self._hardware_fallback)
            self._static_at = now
        return self._static

    def layout(self) -> tuple[list[Any], dict[str, Any]]:
        """(partitions, interface flags), cached for LAYOUT_REFRESH_SECONDS."""
        now = self._clock()
        if self._layout is None or now - self._layout_at >= LAYOUT_REFRESH_SECONDS:
            try:
                if_stats = psutil.net_if_stats()
            except OSError as exc:
                log.debug("cannot read interface flags: %s", exc)
                if_stats = {}
            self._layout = (_partitions(), if_stats)
            self._layout_at = now
        return self._layout

    def hardware(self) -> dict[str, str]:
        """Serial, manufacturer and model as far as they are known, for the config cache."""
        static = self.static()
        return {k: static[k] for k in ("serial", "manufacturer", "model") if static.get(k)}

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(metrics, inventory) for one report."""
        partitions, if_stats = self.layout()
        usages = _disk_usages(partitions)
        addresses = collect_addresses(if_stats)
        metrics: dict[str, Any] = {
            "cpu_percent": _number(psutil.cpu_percent(interval=None)),
            "memory_percent": _number(psutil.virtual_memory().percent),
            "swap_percent": _swap_percent(),
            "disks": [
                {
                    "mount": clean(part.mountpoint),
                    "total_bytes": int(usage.total),
                    "used_bytes": int(usage.used),
                    "fstype": clean(part.fstype, 32),
                }
                for part, usage in usages
            ],
            "uptime_seconds": max(0, int(time.time() - psutil.boot_time())),
            **_load(),
            "addresses": addresses,
        }
        inventory = dict(self.static())
        inventory["hostname"] = clean(socket.gethostname())
        inventory["ip_address"] = primary_ipv4(addresses)
        inventory["disks"] = [
            {
                "device": clean(part.device),
                "mount": clean(part.mountpoint),
                "total_bytes": int(usage.total),
                "fstype": clean(part.fstype, 32),
            }
            for part, usage in usages
        ]
        return metrics, inventory

    def inventory(self) -> dict[str, Any]:
        return self.snapshot()[1]


def _swap_percent() -> float:
    try:
        return _number(psutil.swap_memory().percent)
    except (OSError, RuntimeError):
        return 0.0


def _load() -> dict[str, float | None]:
    try:
        one, five, fifteen = psutil.getloadavg()
    except (OSError, AttributeError):
        return {"load_1": None, "load_5": None, "load_15": None}
    return {"load_1": _number(one, 2), "load_5": _number(five, 2), "load_15": _number(fifteen, 2)}


def build_report(
    metrics: dict[str, Any],
    inventory: dict[str, Any],
    spool_stats: dict[str, int],
    collected_at: str | None = None,
) -> dict[str, Any]:
    return {
        "collected_at": collected_at or utc_now_iso(),
        # Lets the server drop the duplicate that at-least-once replay can produce when a
        # crash falls between the server's 202 and the removal from the spool.
        "report_id": os.urandom(16).hex(),
        "metrics": metrics,
        "inventory": inventory,
        "agent": {
            "version": __version__,
            "spool_depth": int(spool_stats.get("depth", 0)),
            "spool_dropped": int(spool_stats.get("dropped", 0)),
            "spool_rejected": int(spool_stats.get("rejected", 0)),
        },
    }


def _dumps(report: dict[str, Any]) -> bytes:
    text = json.dumps(report, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "replace")


def encode_report(report: dict[str, Any], limit: int = MAX_REPORT_BYTES) -> bytes:
    """Serialise a report, shedding optional detail until it fits ``limit`` bytes.

    The contract keys (cpu, memory, the first disks, uptime) are kept to the end, so a
    shrunken report still updates the server's checks.
    """
    body = _dumps(report)
    if len(body) <= limit:
        return body
    metrics = report["metrics"]
    inventory = report["inventory"]
    steps: list[Callable[[], None]] = [
        lambda: metrics.__setitem__("addresses", []),
        lambda: inventory.__setitem__("disks", []),
        lambda: metrics.__setitem__("disks", metrics["disks"][:8]),
        lambda: report.__setitem__(
            "inventory", {"hostname": inventory.get("hostname"), "os": inventory.get("os")}
        ),
    ]
    for step in steps:
        step()
        body = _dumps(report)
        if len(body) <= limit:
            log.warning("report shrunk to %d bytes to stay under %d", len(body), limit)
            return body
    raise ValueError(f"report is {len(body)} bytes even without optional data")

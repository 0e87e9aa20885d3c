"""Collection: contract keys, types, caps and cleaning of what the machine reports."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections import namedtuple
from typing import Any

import psutil
import pytest
from agent_support import contract_problems

from remote.agent import __version__, collect
from remote.agent.collect import (
    MAX_ADDRESSES,
    MAX_DISKS,
    MAX_REPORT_BYTES,
    MAX_STRING,
    Collector,
    build_report,
    clean,
    encode_report,
    meaningful,
    parse_wmic_serial,
    windows_os_name,
)

Part = namedtuple("Part", "device mountpoint fstype opts")
Usage = namedtuple("Usage", "total used free percent")
Addr = namedtuple("Addr", "family address netmask broadcast ptp")
Stat = namedtuple("Stat", "isup duplex speed mtu flags")


def _report() -> dict[str, Any]:
    collector = Collector()
    collector.prime()
    metrics, inventory = collector.snapshot()
    return build_report(metrics, inventory, {"depth": 2, "dropped": 5, "rejected": 1})


def test_report_has_the_contract_keys_with_the_contract_types() -> None:
    report = _report()
    assert contract_problems(report) == []
    metrics = report["metrics"]
    for key in ("cpu_percent", "memory_percent", "swap_percent"):
        assert isinstance(metrics[key], float)
        assert 0.0 <= metrics[key] <= 100.0
    assert isinstance(metrics["uptime_seconds"], int) and metrics["uptime_seconds"] >= 0
    assert metrics["disks"], "the root filesystem is a real disk here"
    root = next(d for d in metrics["disks"] if d["mount"] == "/")
    assert set(root) == {"mount", "total_bytes", "used_bytes", "fstype"}
    assert 0 < root["used_bytes"] <= root["total_bytes"]
    for key in ("load_1", "load_5", "load_15"):
        assert isinstance(metrics[key], float)
    for address in metrics["addresses"]:
        assert set(address) == {"interface", "family", "address", "up"}
        assert not address["address"].startswith("127.") and address["address"] != "::1"
    assert report["agent"] == {
        "version": __version__,
        "spool_depth": 2,
        "spool_dropped": 5,
        "spool_rejected": 1,
    }
    assert len(report["report_id"]) == 32


def test_collected_at_is_utc_with_offset() -> None:
    stamp = dt.datetime.fromisoformat(_report()["collected_at"])
    assert stamp.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - stamp).total_seconds()) < 60


def test_inventory_describes_the_machine() -> None:
    inventory = _report()["inventory"]
    assert inventory["hostname"] == clean(socket.gethostname())
    assert inventory["os"] and inventory["os_name"] == "Linux"
    assert inventory["cpu_cores_logical"] == psutil.cpu_count()
    assert inventory["ram_bytes"] == psutil.virtual_memory().total
    assert inventory["cpu_model"]
    for key in ("serial", "manufacturer", "model"):
        assert key in inventory  # None where the machine does not tell
    assert {"device", "mount", "total_bytes", "fstype"} <= set(inventory["disks"][0])


def test_first_cpu_sample_is_primed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = psutil.cpu_percent

    def spy(interval: object = None, percpu: bool = False) -> float:
        calls.append(interval)
        return real(interval=None)

    monkeypatch.setattr(collect.psutil, "cpu_percent", spy)
    collector = Collector()
    collector.prime()
    collector.snapshot()
    assert calls == [None, None], "prime() must make the first real sample meaningful"


def test_pseudo_filesystems_are_skipped_and_bind_mounts_deduplicated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    real_dir = str(tmp_path)
    parts = [
        Part("/dev/sda1", "/", "ext4", "rw"),
        Part("/dev/sda1", real_dir, "ext4", "rw,bind"),  # same device: a bind mount
        Part("/dev/sda2", "/etc/hostname", "ext4", "rw"),  # a file, not a directory
        Part("/dev/loop3", "/snap/core/1", "squashfs", "ro"),
        Part("tmpfs", "/run", "tmpfs", "rw"),
        Part("/dev/sr0", "/media/cd", "iso9660", "ro"),
        Part("D:\\", "/", "", "cdrom"),
    ]
    monkeypatch.setattr(collect.psutil, "disk_partitions", lambda all=False: parts)
    monkeypatch.setattr(collect.psutil, "disk_usage", lambda _m: Usage(100, 40, 60, 40.0))
    metrics, inventory = Collector().snapshot()
    assert [d["mount"] for d in metrics["disks"]] == ["/"]
    assert inventory["disks"] == [{"device": "/dev/sda1", "mount": "/", "total_bytes": 100, "fstype": "ext4"}]


def test_unreadable_disk_is_skipped_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [Part("E:\\", "/", "NTFS", "rw,removable")]

    def no_media(_mount: str) -> Usage:
        raise PermissionError("device not ready")

    monkeypatch.setattr(collect.psutil, "disk_partitions", lambda all=False: parts)
    monkeypatch.setattr(collect.psutil, "disk_usage", no_media)
    metrics, _inventory = Collector().snapshot()
    assert metrics["disks"] == []


def test_lists_and_strings_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    long = "x" * 5000
    parts = [Part(f"/dev/sd{i}{long}", "/", "ext4", "rw") for i in range(500)]
    monkeypatch.setattr(collect.psutil, "disk_partitions", lambda all=False: parts)
    monkeypatch.setattr(collect.os.path, "isdir", lambda _p: True)
    monkeypatch.setattr(collect.psutil, "disk_usage", lambda _m: Usage(10, 5, 5, 50.0))
    interfaces = {
        f"eth{i}{long}": [Addr(socket.AF_INET, f"10.0.{i}.{j}", None, None, None) for j in range(9)] for i in range(200)
    }
    monkeypatch.setattr(collect.psutil, "net_if_addrs", lambda: interfaces)
    monkeypatch.setattr(collect.psutil, "net_if_stats", dict)
    monkeypatch.setattr(collect.socket, "gethostname", lambda: "h" * 10_000)
    metrics, inventory = Collector().snapshot()
    assert len(metrics["disks"]) <= MAX_DISKS
    assert len(inventory["disks"]) <= MAX_DISKS
    assert len(metrics["addresses"]) == MAX_ADDRESSES
    assert len(inventory["hostname"]) == MAX_STRING
    for disk in inventory["disks"]:
        assert len(disk["device"]) <= MAX_STRING
    body = encode_report(build_report(metrics, inventory, {}))
    assert len(body) <= MAX_REPORT_BYTES
    assert contract_problems(json.loads(body)) == []


def test_encode_report_sheds_optional_data_but_keeps_contract_keys() -> None:
    metrics = {
        "cpu_percent": 1.0,
        "memory_percent": 2.0,
        "disks": [{"mount": f"/m{i}", "total_bytes": 1, "used_bytes": 1} for i in range(40)],
        "uptime_seconds": 3,
        "addresses": [{"address": "a" * 200}] * 400,
    }
    inventory = {"hostname": "pc", "os": "Linux", "blob": "z" * 300_000}
    body = encode_report(build_report(metrics, inventory, {}), limit=4096)
    assert len(body) <= 4096
    report = json.loads(body)
    assert contract_problems(report) == []
    assert report["inventory"] == {"hostname": "pc", "os": "Linux"}
    assert len(report["metrics"]["disks"]) == 8


def test_report_body_is_strict_json_and_valid_utf8() -> None:
    metrics = {
        "cpu_percent": 1.0,
        "memory_percent": 2.0,
        "disks": [{"mount": clean("/mnt/caf\udce9"), "total_bytes": 1, "used_bytes": 1}],
        "uptime_seconds": 3,
    }
    body = encode_report(build_report(metrics, {"hostname": clean("Ajuntament\x1b[31m")}, {}))
    text = body.decode("utf-8")  # raises if a surrogate leaked through
    report = json.loads(text)
    assert report["metrics"]["disks"][0]["mount"] == "/mnt/caf?"
    assert report["inventory"]["hostname"] == "Ajuntament?[31m"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("To be filled by O.E.M.", None),
        ("Default string", None),
        ("System Serial Number", None),
        ("0000000000", None),
        ("   ", None),
        (None, None),
        ("PF3ABCDE", "PF3ABCDE"),
        ("LENOVO", "LENOVO"),
    ],
)
def test_vendor_placeholders_are_not_serials(raw: str | None, expected: str | None) -> None:
    assert meaningful(raw) == expected


def test_wmic_output_parsing() -> None:
    assert parse_wmic_serial("\r\r\n\r\r\nSerialNumber=5CG1234XYZ\r\r\n\r\r\n") == "5CG1234XYZ"
    assert parse_wmic_serial("\r\nSerialNumber=To be filled by O.E.M.\r\n") is None
    assert parse_wmic_serial("") is None


def test_windows_11_is_named_correctly() -> None:
    values = {
        "ProductName": "Windows 10 Pro",
        "DisplayVersion": "23H2",
        "CurrentBuild": "22631",
        "UBR": 4460,
    }
    assert windows_os_name(values) == "Windows 11 Pro 23H2 (build 22631.4460)"
    values = {"ProductName": "Windows 10 Pro", "ReleaseId": "2009", "CurrentBuild": "19045"}
    assert windows_os_name(values) == "Windows 10 Pro 2009 (build 19045)"


def test_hardware_fallback_fills_what_the_service_user_cannot_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collect, "DMI_DIR", "/nonexistent")
    collector = Collector({"serial": "ABC123", "manufacturer": "HP", "model": "EliteDesk"})
    inventory = collector.inventory()
    assert (inventory["serial"], inventory["manufacturer"], inventory["model"]) == (
        "ABC123",
        "HP",
        "EliteDesk",
    )


def test_loopback_and_link_local_addresses_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    interfaces = {
        "lo": [Addr(socket.AF_INET, "127.0.0.1", None, None, None)],
        "docker0": [Addr(socket.AF_INET, "172.17.0.1", None, None, None)],
        "eth0": [
            Addr(socket.AF_INET, "10.1.2.3", None, None, None),
            Addr(socket.AF_INET6, "fe80::1%eth0", None, None, None),
            Addr(socket.AF_INET6, "2001:db8::5", None, None, None),
        ],
    }
    stats = {
        "lo": Stat(True, 0, 0, 65536, "up,loopback,running"),
        "docker0": Stat(True, 0, 0, 1500, "up,broadcast"),
        "eth0": Stat(True, 0, 0, 1500, "up,broadcast"),
    }
    monkeypatch.setattr(collect.psutil, "net_if_addrs", lambda: interfaces)
    monkeypatch.setattr(collect.psutil, "net_if_stats", lambda: stats)
    metrics, inventory = Collector().snapshot()
    assert [a["address"] for a in metrics["addresses"]] == ["172.17.0.1", "10.1.2.3", "2001:db8::5"]
    assert inventory["ip_address"] == "10.1.2.3"  # the physical NIC, not the docker bridge


def test_mount_table_and_link_flags_are_reread_every_few_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real_partitions = psutil.disk_partitions

    def counting(all: bool = False) -> Any:
        reads.append("partitions")
        return real_partitions(all=all)

    monkeypatch.setattr(collect.psutil, "disk_partitions", counting)
    now = [0.0]
    collector = Collector(clock=lambda: now[0])
    for _ in range(5):
        collector.snapshot()
        now[0] += 60
    assert len(reads) == 1
    now[0] += collect.LAYOUT_REFRESH_SECONDS
    collector.snapshot()
    assert len(reads) == 2

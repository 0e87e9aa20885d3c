"""Spool: order, bounds, drop counting, poison counting, crash safety."""

from __future__ import annotations

import json
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_support import ROOT

from remote.agent.spool import Spool, SpoolError


def _body(n: int, size: int = 0) -> bytes:
    return json.dumps({"n": n, "pad": "x" * size}).encode()


def _numbers(spool: Spool) -> list[int]:
    return [json.loads(body)["n"] for _id, body in spool.items()]


def test_a_spool_that_was_never_needed_creates_nothing(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.sqlite3"))
    assert spool.stats() == {"depth": 0, "dropped": 0, "rejected": 0, "bytes": 0}
    assert spool.oldest() is None
    assert not (tmp_path / "s.sqlite3").exists()


def test_fifo_order_survives_reopening_and_emptying(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
    spool = Spool(path)
    for n in range(5):
        spool.push(_body(n))
    spool.close()
    spool = Spool(path)
    assert _numbers(spool) == [0, 1, 2, 3, 4]
    while (item := spool.oldest()) is not None:
        spool.remove(item[0])
    spool.push(_body(5))
    spool.push(_body(6))
    ids = [item_id for item_id, _body_ in spool.items()]
    assert ids == sorted(ids) and ids[0] > 5, "ids never go back, even after emptying"
    assert _numbers(spool) == [5, 6]


def test_spool_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "s.sqlite3"
    Spool(str(path)).push(_body(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_count_bound_drops_the_oldest_and_counts_them_persistently(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
    spool = Spool(path, max_reports=5)
    dropped = [spool.push(_body(n)) for n in range(12)]
    assert dropped == [0] * 5 + [1] * 7
    assert _numbers(spool) == [7, 8, 9, 10, 11]
    spool.close()
    stats = Spool(path, max_reports=5).stats()
    assert stats["depth"] == 5
    assert stats["dropped"] == 7


def test_byte_bound_drops_the_oldest(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.sqlite3"), max_reports=1000, max_bytes=3500)
    for n in range(10):
        spool.push(_body(n, size=1000))
    stats = spool.stats()
    assert stats["bytes"] <= 3500
    assert _numbers(spool) == [7, 8, 9]
    assert stats["dropped"] == 7


def test_an_oversized_report_is_kept_rather_than_emptying_to_nothing(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.sqlite3"), max_reports=10, max_bytes=100)
    spool.push(_body(1))
    spool.push(_body(2, size=500))
    assert _numbers(spool) == [2]
    assert spool.stats()["dropped"] == 1


def test_poison_reports_are_counted(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.sqlite3"))
    spool.push(_body(1))
    spool.push(_body(2))
    first = spool.oldest()
    assert first is not None
    spool.reject(first[0])
    spool.reject(first[0])  # already gone: not counted twice
    spool.count_rejected()
    assert _numbers(spool) == [2]
    assert spool.stats()["rejected"] == 2


def test_a_failure_inside_a_push_rolls_back_entirely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(str(tmp_path / "s.sqlite3"), max_reports=3)
    for n in range(3):
        spool.push(_body(n))

    def crash(*_args: object) -> None:
        raise RuntimeError("simulated crash between the insert and the trim")

    monkeypatch.setattr(Spool, "_bump", staticmethod(crash))
    with pytest.raises(RuntimeError):
        spool.push(_body(3))
    monkeypatch.undo()
    assert _numbers(spool) == [0, 1, 2]
    assert spool.stats()["dropped"] == 0


_WRITER = """
import json, sys
sys.path.insert(0, {root!r})
from remote.agent.spool import Spool
spool = Spool({path!r}, max_reports=50)
n = {start}
print("ready", flush=True)
while True:
    spool.push(json.dumps({{"n": n, "pad": "y" * 2000}}).encode())
    n += 1
    if n % 7 == 0:
        item = spool.oldest()
        spool.remove(item[0])
"""


def test_killed_mid_write_the_spool_stays_consistent(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    for attempt in range(2):
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER.format(root=str(ROOT), path=str(path), start=attempt * 1_000_000),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.1 + 0.1 * attempt)
        writer.send_signal(signal.SIGKILL)  # no cleanup, like a power cut for the process
        writer.wait()
        writer.stdout.close()

        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
        spool = Spool(str(path), max_reports=50)
        numbers = _numbers(spool)  # every stored body is complete JSON
        assert 0 < len(numbers) <= 50
        assert numbers == sorted(numbers)
        spool.close()


def test_a_corrupt_spool_is_set_aside_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    spool = Spool(str(path))
    spool.push(_body(1))
    assert _numbers(spool) == [1]
    assert list(tmp_path.glob("s.sqlite3.corrupt-*"))


def test_an_unwritable_spool_raises_spool_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    spool = Spool(str(blocker / "s.sqlite3"))  # parent is a file: cannot create
    with pytest.raises(SpoolError):
        spool.push(_body(1))

"""Fixtures of the reliability and security battery (tests/battery).

The battery reuses the suite's fixtures (tests/conftest.py: app, db, world, client_for,
api_for, live_server...) and the access tests' route walker (tests/route_samples.py and the
per-domain providers in tests/samples/), so a route added later is covered without touching
these files.

Its heavy modules (HEAVY) are marked `battery` and left out of a plain `pytest` / `make test`
run; `make battery` runs them on both databases (`pytest tests/battery -m battery`), and so
does any run that names them (`pytest tests/battery/test_xss.py`, `-m battery`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from battery_support import create_scratch_database, drop_scratch_database  # noqa: E402

HEAVY = {"test_durability.py", "test_schemathesis.py", "test_xss.py", "test_scheduler_workers.py", "test_page_fuzz.py"}


def _asked_for(config) -> bool:
    if "battery" in (config.option.markexpr or ""):
        return True
    base = Path(config.invocation_params.dir)
    for arg in config.args:
        path = (base / arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config, items):
    heavy = [item for item in items if Path(str(item.fspath)).parent == HERE and Path(str(item.fspath)).name in HEAVY]
    for item in heavy:
        item.add_marker(pytest.mark.battery)
    if heavy and not _asked_for(config):
        selected = set(map(id, heavy))
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if id(item) not in selected]


@pytest.fixture
def scratch_database(database_url, tmp_path):
    """`scratch_database(label)` → the URL of a new empty database on the suite's engine,
    dropped after the test."""
    created = []

    def make(label: str = "scratch") -> str:
        created.append(create_scratch_database(database_url, tmp_path, label))
        return created[-1]

    yield make
    for url in created:
        drop_scratch_database(url)

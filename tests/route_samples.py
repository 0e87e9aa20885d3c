"""Sample values for the path arguments of every route, for the access tests.

Each domain keeps a provider in tests/samples/<domain>.py:

    def provide(world, side) -> dict[str, object]

returning, for the council on `side` ("a" or "b"), a value for each path argument name its
routes use (`slug`, `council_id`, `ticket_id`...), creating the objects it needs. Objects of
side "b" belong to council B: a clerk of council A must get 404 for every one of them.
A route whose argument no provider knows fails the access tests, so a new route cannot
slip past them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def _providers():
    for path in sorted(SAMPLES_DIR.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"route_samples_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield path.stem, module.provide


def samples(world, side: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for _name, provide in _providers():
        values.update(provide(world, side))
    return values

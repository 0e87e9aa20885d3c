"""Path arguments of the inventory's routes."""

from __future__ import annotations


def provide(world, side):
    from inventory import services

    council = world.council_a if side == "a" else world.council_b
    asset = services.create_asset(council, {"kind": "desktop", "name": f"Sample PC {side}"}, actor=None)
    return {"asset_id": asset.id, "fmt": "csv"}

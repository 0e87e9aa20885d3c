"""Path arguments of the catalogue's routes.

A service belongs to no council, so both sides name the same service, to which both councils
are subscribed: council B's record of it is what clerk A must not reach (via `council_id`)."""

from __future__ import annotations


def provide(world, side):
    from catalogue import services

    service = getattr(world, "_sample_service", None)
    if service is None:
        service = services.create_service({"code": "SAMPLE", "name": "Sample service",
                                           "category": "e_administration"}, actor=None)
        world._sample_service = service
    council = world.council_a if side == "a" else world.council_b
    # With an evidence file, so that its download has something to serve each council's side.
    services.put_subscription(council, service, {"wave": "pilot", "status": "live"}, actor=None,
                              evidence=("evidence.pdf", b"%PDF-1.4\n%%EOF\n"))
    return {"service_id": service.id, "wave": "pilot"}

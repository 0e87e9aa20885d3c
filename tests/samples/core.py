"""Path arguments of the foundation's routes (accounts, councils)."""

from __future__ import annotations


def provide(world, side):
    from accounts import services

    council = world.council_a if side == "a" else world.council_b
    clerk = world.clerk_a if side == "a" else world.clerk_b
    token, _plain = services.create_token(clerk, f"sample-{side}", actor=None)
    # A second user of the council for the user routes: the matrix deactivates it, and the
    # clerk who signs in for the cross-council checks must stay active.
    colleague = services.create_user(email=f"colleague.{side}@test.example.org", name=f"Colleague {side}",
                                     role="clerk", council_id=council.id, password=world.password, actor=None)
    return {
        "slug": council.slug,
        "council_id": council.id,
        # Users are office-wide (admin pages only), but a clerk must never reach another
        # council's clerk through any route that takes a user id.
        "user_id": colleague.id,
        "token_id": token.id,
        "filename": "css/app.css",
    }

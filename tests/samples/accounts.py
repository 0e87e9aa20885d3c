"""Path arguments of the accounts routes that the foundation's provider (core.py) does not
give: a signed-in session (`session_id`) of the council's clerk."""

from __future__ import annotations


def provide(world, side):
    import datetime as dt

    from accounts.models import UserSession
    from core.db import utcnow
    from extensions import db

    clerk = world.clerk_a if side == "a" else world.clerk_b
    # A row, not sessions.open_session(): that would bind the session to the clerk object,
    # and the matrix signs the clerk in with its own.
    now = utcnow()
    record = UserSession(user_id=clerk.id, secret_hash="0" * 64, remembered=False, created_at=now,
                         last_seen_at=now, expires_at=now + dt.timedelta(hours=1), user_agent="sample",
                         ip_address="192.0.2.1")
    db.session.add(record)
    db.session.flush()
    return {"session_id": record.id}

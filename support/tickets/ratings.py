"""How the council rated the help it got: once per ticket, by a clerk of its council, once the
ticket is solved."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from core.db import utcnow
from core.errors import Conflict, PermissionDenied, ValidationFailed
from extensions import db
from support.tickets.models import TicketRating
from support.tickets.services import audit_ticket, clean_text

RATING_COMMENT_MAX = 2000
_INVALID = _l("Some fields are not valid.")


def rating_of(ticket):
    return db.session.scalar(select(TicketRating).where(TicketRating.ticket_id == ticket.id))


def ratings_of(ticket_ids: Iterable[int]) -> dict:
    ids = list(set(ticket_ids))
    if not ids:
        return {}
    return {r.ticket_id: r for r in db.session.scalars(select(TicketRating).where(TicketRating.ticket_id.in_(ids)))}


def rate_ticket(ticket, score, comment: str | None, *, actor: User, now: dt.datetime | None = None):
    """A clerk of the ticket's council rates the help on a resolved or closed ticket, once."""
    now = now or utcnow()
    if actor.role != "clerk" or actor.council_id != ticket.council_id:
        raise PermissionDenied(_l("The council that asked for help rates it."))
    errors: dict[str, object] = {}
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        errors["score"] = _l("Choose from 1 to 5.")
    text = clean_text({"comment": comment}, "comment", errors, limit=RATING_COMMENT_MAX, required=False)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    if ticket.status not in ("resolved", "closed"):
        raise Conflict(_l("A request can be rated once it is solved."), code="not_resolved")
    if rating_of(ticket) is not None:
        raise Conflict(_l("This request has been rated already."), code="already_rated")
    rating = TicketRating(ticket_id=ticket.id, council_id=ticket.council_id, score=score, comment=text or "",
                          rated_by_id=actor.id, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(rating)
            db.session.flush()
    except IntegrityError:
        raise Conflict(_l("This request has been rated already."), code="already_rated") from None
    audit_ticket("rate", ticket, actor, {"score": [None, score]})
    db.session.commit()
    return rating

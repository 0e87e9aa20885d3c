"""Visits as iCalendar (RFC 5545): one VEVENT per visit with a stable UID, and the personal
feed whose secret URL calendar apps subscribe to.

A cancelled visit keeps its UID with SEQUENCE raised and STATUS:CANCELLED, so a calendar that
had it replaces the event instead of keeping a stale copy (cal.diy#29706).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask import current_app, url_for
from icalendar import Calendar, Event
from sqlalchemy import select

from accounts.models import User
from core.db import utcnow
from core.scope import council_scope
from extensions import db
from support.visits.models import CalendarFeed, Visit

FEED_HORIZON = dt.timedelta(days=90)  # past visits kept in the feed


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def visit_uid(visit: Visit) -> str:
    host = (current_app.config.get("SERVER_NAME") or "councildesk").split(":")[0]
    return f"visit-{visit.id}@{host}"


def visit_event(visit: Visit) -> Event:
    event = Event()
    event.add("uid", visit_uid(visit))
    event.add("dtstamp", utcnow())
    event.add("dtstart", visit.starts_at)
    event.add("dtend", visit.slot.ends_at if visit.slot is not None else visit.starts_at)
    event.add("summary", visit.council.name)
    event.add("sequence", visit.sequence)
    event.add("status", "CANCELLED" if visit.status == "cancelled" else "CONFIRMED")
    if visit.notes:
        event.add("description", visit.notes)
    return event


def calendar_of(visits, method: str | None = None) -> bytes:
    return calendar_of_events([visit_event(visit) for visit in visits], method=method)


def calendar_of_events(events, method: str | None = None) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//CouncilDesk//Visits//EN")
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    for event in events:
        cal.add_component(event)
    return cal.to_ical()


def new_feed_url(user: User) -> str:
    """A new feed URL for `user` (inside a request: it is absolute)."""
    return url_for("support.calendar_feed", secret=new_feed_secret(user), _external=True)


def new_feed_secret(user: User) -> str:
    """A new secret for `user`'s feed (the previous URL stops working); only its hash is kept."""
    secret = secrets.token_urlsafe(32)
    feed = db.session.get(CalendarFeed, user.id)
    if feed is None:
        db.session.add(CalendarFeed(user_id=user.id, secret_hash=_hash(secret), created_at=utcnow()))
    else:
        feed.secret_hash = _hash(secret)
        feed.created_at = utcnow()
    db.session.commit()
    return secret


def feed_for_secret(secret: str) -> bytes | None:
    if not secret or len(secret) > 100:
        return None
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.secret_hash == _hash(secret)))
    user = db.session.get(User, feed.user_id) if feed is not None else None
    if user is None or not user.active:
        return None
    since = utcnow() - FEED_HORIZON
    stmt = select(Visit).where(Visit.starts_at >= since).order_by(Visit.starts_at, Visit.id)
    if user.role == "clerk":
        # The clerk's council only, through the same scope as the pages.
        with council_scope(user.council_id):
            visits = list(db.session.scalars(stmt.where(Visit.council_id == user.council_id)))
            return calendar_of(visits)
    visits = list(db.session.scalars(stmt.where(Visit.technician_id == user.id)))
    return calendar_of(visits)

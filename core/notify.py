"""Notifications: in the app for users, and by mail for users and council contacts.

A domain registers each kind of notification once, with functions that phrase its title and
body from its parameters. Texts are produced in the reader's language: when the list is
shown for in-app notifications, and at queueing time (in the recipient's language) for mail.
Parameters must be plain JSON values; they are shown escaped like any other data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from core import mail
from core.models import Notification
from extensions import db


@dataclass(frozen=True)
class Kind:
    title: Callable[[dict], str]
    body: Callable[[dict], str] | None = None


_KINDS: dict[str, Kind] = {}


def register_kind(name: str, title: Callable[[dict], str], body: Callable[[dict], str] | None = None) -> None:
    _KINDS[name] = Kind(title, body)


def render_title(kind: str, params: dict) -> str:
    spec = _KINDS.get(kind)
    if spec is None:
        return kind
    try:
        return spec.title(params)
    except (KeyError, ValueError, TypeError):
        return kind


def render_body(kind: str, params: dict) -> str:
    spec = _KINDS.get(kind)
    text = ""
    if spec is not None and spec.body is not None:
        try:
            text = spec.body(params)
        except (KeyError, ValueError, TypeError):
            text = ""
    earlier = params.get("earlier") if isinstance(params, dict) else None
    if isinstance(earlier, int) and earlier > 0:
        more = _("And %(num)d earlier update(s) about the same thing in the last few minutes.", num=earlier)
        text = f"{text}\n\n{more}" if text else more
    return text


def _absolute(link: str | None) -> str | None:
    if not link:
        return None
    if link.startswith("http"):
        return link
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + link


def _mail_text(kind: str, params: dict, link: str | None) -> tuple[str, str]:
    title = render_title(kind, params)
    body = render_body(kind, params)
    parts = [title, ""]
    if body:
        parts += [body, ""]
    if link:
        parts += [_("Open it in CouncilDesk: %(link)s", link=_absolute(link)), ""]
    parts.append("-- ")
    parts.append(current_app.config["OFFICE_NAME"])
    parts.append(_("This message was sent automatically by CouncilDesk."))
    return title, "\n".join(parts)


def mail_in(language: str, to_address: str, kind: str, params: dict, link: str | None = None, *,
            council_id: int | None = None, group: str | None = None) -> None:
    """Queue a mail to an address (a council contact, say) written in `language`. With a
    `group`, a mail about the same thing still waiting in the outbox is rewritten instead."""
    with force_locale(language or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject, body = _mail_text(kind, params, link)
    pending = _pending_mail(to_address, group) if group else None
    if pending is not None:
        # The subject stays: a thread hook may have put the ticket's reference in it.
        pending.body_text = body
        pending.kind = kind
        return
    row = mail.queue(to_address, subject, body, language=language, kind=kind, council_id=council_id, about=params)
    if row is not None:
        row.group_key = group


def _window():
    import datetime as dt

    from core.db import utcnow

    return utcnow() - dt.timedelta(minutes=int(current_app.config.get("NOTIFY_COALESCE_MINUTES", 10)))


def _pending_mail(to_address: str, group: str):
    from sqlalchemy import select

    from core.models import OutboxMail

    db.session.flush()
    return db.session.scalar(select(OutboxMail).where(
        OutboxMail.to_address == (to_address or "").strip()[:254], OutboxMail.group_key == group,
        OutboxMail.sent_at.is_(None), OutboxMail.claimed_at.is_(None), OutboxMail.created_at >= _window())
        .order_by(OutboxMail.id.desc()).limit(1))


def _unread_note(user_id: int, group: str):
    from sqlalchemy import select

    db.session.flush()
    return db.session.scalar(select(Notification).where(
        Notification.user_id == user_id, Notification.group_key == group, Notification.read_at.is_(None),
        Notification.created_at >= _window()).order_by(Notification.id.desc()).limit(1))


def notify_users(users: Iterable, kind: str, params: dict, *, link: str | None = None,
                 send_mail: bool = True, council_id: int | None = None,
                 group: str | None = None) -> list[Notification]:
    """In-app notification for each user, and a mail in each one's language.

    `council_id` names the council the news is about, so that a clerk who leaves it stops
    seeing it (`leave_council`). `group` names what it is about ("ticket:42"): news of the
    same thing within NOTIFY_COALESCE_MINUTES updates the user's unread notification and the
    mail still queued for them (the latest news, with a count of the earlier ones) rather than
    adding one more of each: a burst of events must not bury people in messages."""
    created = []
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    seen = set()
    for user in users:
        if user is None or user.id in seen or not user.active:
            continue
        seen.add(user.id)
        note = _unread_note(user.id, group) if group else None
        shown = dict(params)
        if note is not None:
            shown["earlier"] = int((note.params or {}).get("earlier", 0)) + 1
            note.kind, note.params, note.link = kind, shown, link
        else:
            note = Notification(user_id=user.id, kind=kind, params=shown, link=link, council_id=council_id,
                                group_key=group)
            db.session.add(note)
        created.append(note)
        if send_mail and user.email:
            mail_in(user.preferred_language or default, user.email, kind, shown, link, council_id=council_id,
                    group=group)
    return created


def leave_council(user, keep_council_id: int | None) -> tuple[int, int]:
    """A user no longer belongs to their council (moved, or no longer a clerk): remove their
    notifications about any other council than `keep_council_id` and drop the mail about it
    still queued for them. Returns (notifications removed, mails dropped). The caller commits."""
    from sqlalchemy import delete

    from core.models import OutboxMail

    other = Notification.council_id.is_not(None)
    if keep_council_id is not None:
        other = other & (Notification.council_id != keep_council_id)
    notes = db.session.execute(delete(Notification).where(Notification.user_id == user.id, other)).rowcount
    mails = 0
    if user.email:
        queued = OutboxMail.council_id.is_not(None) & OutboxMail.sent_at.is_(None)
        if keep_council_id is not None:
            queued = queued & (OutboxMail.council_id != keep_council_id)
        mails = db.session.execute(delete(OutboxMail).where(OutboxMail.to_address == user.email, queued)).rowcount
    return notes or 0, mails or 0


def link_for(endpoint: str, **values) -> str | None:
    """A path for a notification link, usable outside requests (scheduler jobs) too."""
    try:
        if has_request_context():
            return url_for(endpoint, **values)
        with current_app.test_request_context():
            return url_for(endpoint, **values)
    except Exception:  # a link is a convenience; its absence must not stop a notification
        return None

"""Who hears of what happens to a ticket, in the app and by mail, in their own language.

- technicians: every new ticket (the queue's inbox), and the tickets assigned to them;
- the requester (a council clerk): the office's public replies and every status change,
  told in the portal's everyday words;
- the assignee: the council's replies and answers (confirmed, not solved yet);
- the assignee and the managers: an SLA breach, once per ticket and clock.

Internal notes never reach a clerk: only public comments are ever put in a clerk's
notification, and the parameters stored with a notification hold nothing else. Texts are
rendered when read (core.notify), so each reader gets their language.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from accounts.models import User
from core import notify
from core.i18n import datetime_filter
from core.scope import unrestricted
from extensions import db
from support.tickets.labels import clerk_status_labels, priority_labels

KIND_NEW = "support.ticket_new"
KIND_RECEIVED = "support.ticket_received"
KIND_REPLY = "support.ticket_reply"
KIND_NOTE = "support.ticket_note"
KIND_STATUS = "support.ticket_status"
KIND_ANSWER = "support.ticket_answer"
KIND_ASSIGNED = "support.ticket_assigned"
KIND_BREACH = "support.ticket_breach"

EXCERPT = 1500


def _link(ticket) -> str | None:
    return notify.link_for("support.ticket", ticket_id=ticket.id)


def _base(ticket) -> dict:
    return {"ticket_id": ticket.id, "reference": ticket.reference, "title": ticket.title,
            "council": _council_name(ticket)}


def _council_name(ticket) -> str:
    from agreements.models import Council

    with unrestricted():
        return db.session.scalar(select(Council.name).where(Council.id == ticket.council_id)) or ""


def _user(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    with unrestricted():
        return db.session.scalar(select(User).where(User.id == user_id))


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT].rstrip() + "…"


def _send(users, kind: str, params: dict, ticket, *, mail: bool = True) -> None:
    with unrestricted():
        notify.notify_users([u for u in users if u is not None], kind, params, link=_link(ticket), send_mail=mail,
                            council_id=ticket.council_id, group=f"ticket:{ticket.id}")


def _requester(ticket) -> User | None:
    """The ticket's requester while entitled to hear of it: a clerk only while a clerk of the
    ticket's council (one moved elsewhere must not keep receiving its replies)."""
    requester = _user(ticket.requester_id)
    if requester is not None and requester.role == "clerk" and requester.council_id != ticket.council_id:
        return None
    return requester


def ticket_opened(ticket, actor: User | None) -> None:
    with unrestricted():
        technicians = db.session.scalars(select(User).where(User.role == "technician", User.active.is_(True))
                                         .order_by(User.id)).all()
    params = _base(ticket) | {"priority": ticket.priority, "excerpt": _excerpt(ticket.description or "")}
    _send([t for t in technicians if actor is None or t.id != actor.id], KIND_NEW, params, ticket)
    requester = _requester(ticket)
    if requester is not None and actor is not None and requester.id != actor.id and requester.role == "clerk":
        # Opened by the office on the council's behalf (a phone call): the clerk gets the reference.
        _send([requester], KIND_RECEIVED, _base(ticket), ticket)


def commented(ticket, comment, actor: User | None) -> None:
    params = _base(ticket) | {"author": actor.name if actor is not None else ""}
    if comment.internal:
        assignee = _user(ticket.assignee_id)
        if assignee is not None and (actor is None or assignee.id != actor.id):
            _send([assignee], KIND_NOTE, params, ticket, mail=False)
        return
    params["excerpt"] = _excerpt(comment.body)
    if (actor is not None and actor.role == "clerk") or (actor is None and comment.author_email):
        # The council wrote (in the portal, or by mail from an address without an account).
        params["author"] = params["author"] or comment.author_email
        assignee = _user(ticket.assignee_id)
        if assignee is not None:
            _send([assignee], KIND_REPLY, params, ticket)
        return
    requester = _requester(ticket)
    if requester is not None and (actor is None or requester.id != actor.id):
        _send([requester], KIND_REPLY, params, ticket)
    elif requester is None and ticket.requester_email:
        _mail_unregistered(ticket, KIND_REPLY, params)


def _mail_unregistered(ticket, kind: str, params: dict) -> None:
    """The office's words to someone of the council without an account, who wrote by mail:
    by mail only, in the council's language, with no link to pages they cannot open."""
    from agreements.models import Council

    with unrestricted():
        language = db.session.scalar(select(Council.language).where(Council.id == ticket.council_id))
    notify.mail_in(language or "ca", ticket.requester_email, kind, params, link=None)


def status_changed(ticket, old: str, actor: User | None) -> None:
    params = _base(ticket) | {"status": ticket.status, "old": old}
    if actor is not None and actor.role == "clerk":
        # The council answered the office's "is it solved?".
        assignee = _user(ticket.assignee_id)
        if assignee is not None and old == "resolved":
            _send([assignee], KIND_ANSWER, params, ticket)
        return
    requester = _requester(ticket)
    if requester is not None and requester.role == "clerk" and (actor is None or requester.id != actor.id):
        _send([requester], KIND_STATUS, params, ticket)
    elif requester is None and ticket.requester_email:
        _mail_unregistered(ticket, KIND_STATUS, params)


def assigned(ticket, assignee: User, actor: User | None) -> None:
    if actor is not None and actor.id == assignee.id:
        return
    _send([assignee], KIND_ASSIGNED, _base(ticket) | {"priority": ticket.priority}, ticket)


def sla_breached(ticket, kind: str) -> None:
    with unrestricted():
        managers = db.session.scalars(select(User).where(User.role == "manager", User.active.is_(True))
                                      .order_by(User.id)).all()
    due = ticket.first_response_due_at if kind == "first_response" else ticket.resolution_due_at
    params = _base(ticket) | {"kind": kind, "due": due.isoformat() if due else None}
    _send([_user(ticket.assignee_id), *managers], KIND_BREACH, params, ticket)


# --- the texts, in the reader's language ----------------------------------------------------------

def _status_words(status: str) -> str:
    return str(clerk_status_labels().get(status, status))


def _priority_words(priority: str) -> str:
    return str(priority_labels().get(priority, priority))


def _new_title(p: dict) -> str:
    return _("New ticket %(reference)s from %(council)s: %(title)s", reference=p["reference"],
             council=p["council"], title=p["title"])


def _new_body(p: dict) -> str:
    lines = [_("Priority: %(priority)s", priority=_priority_words(p.get("priority", "")))]
    if p.get("excerpt"):
        lines += ["", p["excerpt"]]
    return "\n".join(lines)


def _received_title(p: dict) -> str:
    return _("We have registered your request %(reference)s: %(title)s", reference=p["reference"], title=p["title"])


def _received_body(p: dict) -> str:
    return _("You can follow it, and reply to us, on its page.")


def _reply_title(p: dict) -> str:
    return _("New reply on %(reference)s: %(title)s", reference=p["reference"], title=p["title"])


def _reply_body(p: dict) -> str:
    lines = []
    if p.get("author"):
        lines.append(_("%(author)s wrote:", author=p["author"]))
        lines.append("")
    lines.append(p.get("excerpt", ""))
    return "\n".join(lines)


def _note_title(p: dict) -> str:
    return _("%(author)s added an internal note on %(reference)s", author=p.get("author", ""),
             reference=p["reference"])


def _status_title(p: dict) -> str:
    return _("Your request %(reference)s: %(status)s", reference=p["reference"], status=_status_words(p["status"]))


def _status_body(p: dict) -> str:
    from flask import current_app

    status = p["status"]
    if status == "waiting_council":
        text = _("The office needs something from you to go on: open the request to see what, and reply there.")
    elif status == "resolved":
        text = _("The office says it is solved. Please confirm it, or tell us if it still happens. "
                 "If we hear nothing, it closes by itself in %(days)s days.",
                 days=current_app.config["TICKET_REOPEN_DAYS"])
    elif status == "closed":
        text = _("The request is closed. Thank you!")
    elif status == "in_progress":
        text = _("A technician is working on it.")
    elif status == "assigned":
        text = _("A technician has taken it and will be in touch.")
    else:
        text = ""
    return "\n".join(x for x in (p["title"], "", text) if x is not None).strip()


def _answer_title(p: dict) -> str:
    if p["status"] == "closed":
        return _("%(council)s confirmed that %(reference)s is solved", council=p["council"], reference=p["reference"])
    return _("%(council)s says %(reference)s is not solved yet", council=p["council"], reference=p["reference"])


def _assigned_title(p: dict) -> str:
    return _("%(reference)s is assigned to you: %(title)s", reference=p["reference"], title=p["title"])


def _assigned_body(p: dict) -> str:
    return _("%(council)s · priority %(priority)s", council=p["council"],
             priority=_priority_words(p.get("priority", "")))


def _breach_title(p: dict) -> str:
    if p.get("kind") == "first_response":
        return _("%(reference)s is past its first-response time", reference=p["reference"])
    return _("%(reference)s is past its resolution time", reference=p["reference"])


def _breach_body(p: dict) -> str:
    import datetime as dt

    due = datetime_filter(dt.datetime.fromisoformat(p["due"])) if p.get("due") else "—"
    return _("%(council)s: %(title)s. It was due %(due)s.", council=p["council"], title=p["title"], due=due)


def register_kinds() -> None:
    notify.register_kind(KIND_NEW, _new_title, _new_body)
    notify.register_kind(KIND_RECEIVED, _received_title, _received_body)
    notify.register_kind(KIND_REPLY, _reply_title, _reply_body)
    notify.register_kind(KIND_NOTE, _note_title)
    notify.register_kind(KIND_STATUS, _status_title, _status_body)
    notify.register_kind(KIND_ANSWER, _answer_title)
    notify.register_kind(KIND_ASSIGNED, _assigned_title, _assigned_body)
    notify.register_kind(KIND_BREACH, _breach_title, _breach_body)

"""How tickets read: the words for statuses, priorities, categories, channels and SLA states,
in the reader's language, and how far away a due time is.

Built at call time (never at import), so each reader gets their own language: the pages, the
notifications (rendered when read, core.notify) and the reports all use these.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from flask import g
from flask_babel import format_timedelta, get_locale, pgettext
from flask_babel import lazy_gettext as _l

from core.db import utcnow


def ticket_status_labels() -> dict[str, str]:
    """The office's words for statuses.

    With a context: a status names one ticket ("incidència", feminine in Catalan), where the
    same English word elsewhere counts months or tickets ("Closed": "Tancats", "Resolved":
    "Resoltes"). Built at call time, in the reader's language.
    """
    return {"new": pgettext("ticket status", "New"), "assigned": pgettext("ticket status", "Assigned"),
            "in_progress": pgettext("ticket status", "In progress"),
            "waiting_council": pgettext("ticket status", "Waiting for the council"),
            "resolved": pgettext("ticket status", "Resolved"), "closed": pgettext("ticket status", "Closed")}


def clerk_status_labels() -> dict[str, str]:
    """What a clerk reads: where their request stands, in everyday words."""
    return {"new": pgettext("ticket status", "Received"),
            "assigned": pgettext("ticket status", "A technician has it"),
            "in_progress": pgettext("ticket status", "We're on it"),
            "waiting_council": pgettext("ticket status", "Waiting for you"),
            "resolved": pgettext("ticket status", "Solved — please confirm"),
            "closed": pgettext("ticket status", "Closed")}


def priority_labels() -> dict[str, str]:
    return {"low": pgettext("ticket priority", "Low"), "normal": pgettext("ticket priority", "Normal"),
            "high": pgettext("ticket priority", "High"), "urgent": pgettext("ticket priority", "Urgent")}


def urgency_labels() -> dict[str, object]:
    """How urgent, as a clerk would say it; each maps to a priority."""
    return {"low": _l("It can wait a few days"),
            "normal": _l("It bothers us, but we can keep working"),
            "high": _l("Someone cannot do their work"),
            "urgent": _l("The town hall is stopped, or a deadline ends today")}


def category_labels() -> dict[str, object]:
    return {"hardware": _l("Equipment (PC, printer, scanner…)"), "software": _l("Programs"),
            "network": _l("Internet and network"), "e_administration": _l("E-administration and certificates"),
            "transparency_portal": _l("Transparency portal"), "accounts": _l("Users and passwords"),
            "other": _l("Something else")}


def channel_labels() -> dict[str, object]:
    return {"web": _l("Web"), "phone": _l("Phone"), "email": _l("Email"), "chat": _l("Chat"),
            "whatsapp": _l("WhatsApp"), "monitoring": _l("Monitoring")}


def sla_state_labels() -> dict[str, str]:
    """How a ticket's deadline stands (a "termini": masculine in Catalan, hence the context)."""
    return {"ok": pgettext("ticket deadline", "On time"), "warning": pgettext("ticket deadline", "Due soon"),
            "breached": pgettext("ticket deadline", "Overdue"), "paused": pgettext("ticket deadline", "Paused"),
            "stopped": pgettext("ticket deadline", "Done")}


def ticket_labels() -> SimpleNamespace:
    """The words templates use for a ticket's fields (a global: the asset and council pages
    show tickets too).

    Built once per request and language: a list of 50 tickets asks for them a few hundred
    times, and forty translations each time made up two thirds of the queue's render time.
    """
    cache = g.setdefault("councildesk_ticket_labels", {})
    key = str(get_locale())
    labels = cache.get(key)
    if labels is None:
        labels = cache[key] = SimpleNamespace(
            statuses=ticket_status_labels(), clerk_statuses=clerk_status_labels(),
            priorities=priority_labels(), urgency=urgency_labels(),
            categories=category_labels(), channels=channel_labels(),
            sla_states=sla_state_labels())
    return labels


def due_in(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """"in 3 hours" / "2 days ago", in the reader's language."""
    if when is None:
        return ""
    return format_timedelta(when - (now or utcnow()), granularity="minute", add_direction=True, threshold=1.2)

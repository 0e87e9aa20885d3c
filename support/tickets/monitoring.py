"""Monitoring alerts become tickets (the handler registered with remote.alerts).

- **opened**: a `monitoring` ticket for the council, about the asset, keyed by the alert's
  `key`: one open ticket per alert (the unique `open_monitoring_key`). If one is already
  open for the key, the event becomes a comment on it instead.
- **repeated** (critical again, or still critical a day later): a comment on the open
  ticket. If a person resolved it meanwhile but the check is still critical, the ticket is
  reopened (resolved → in progress) rather than left looking solved; if it was closed, a new
  ticket is opened that points at it.
- **recovered**: a comment; and if nobody has touched the ticket since it was opened (no
  comment, assignment or status change by a person), it is resolved: the problem went away
  on its own, and nobody needs to close it by hand. A ticket a person took stays theirs.

Idempotent on `event_id`: the handler claims the id in `ticket_alert_events` in the same
transaction as its effect, so a redelivered event (remote.alerts delivers at least once)
does nothing the second time. The texts are written in the council's language, since the
ticket is the council's.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from core.db import utcnow, write_transaction
from core.scope import unrestricted
from extensions import db
from support.tickets import services
from support.tickets.claims import insert_ignoring
from support.tickets.models import Ticket, TicketAlertEvent, TicketChange, TicketComment
from support.tickets.sla_state import refresh_sla

log = logging.getLogger("councildesk.support.monitoring")

# Servers and network gear serve the whole town hall; a PC one person.
_HIGH_PRIORITY_KINDS = ("server", "network")


def _texts(event, council, asset) -> dict:
    from remote import texts

    language = council.language or current_app.config["BABEL_DEFAULT_LOCALE"]
    check = _check(event.check_id)
    with force_locale(language):
        label = texts.check_label(event.check, check.params if check is not None else {}, event.source) \
            if check is not None else event.check_label
        summary = texts.summary(event.summary_key, event.summary_params) or event.summary
        what = asset.name if asset is not None else ""
        return {
            "title": _("Monitoring: %(check)s on %(asset)s", check=label, asset=what)[:200],
            "opened": _("The monitoring found a problem: %(summary)s.\nEquipment: %(asset)s (%(tag)s).",
                        summary=summary, asset=what, tag=asset.tag if asset is not None else "—"),
            "repeated": (_("Still critical: %(summary)s.", summary=summary) if event.reason == "still_critical"
                         else _("Critical again: %(summary)s.", summary=summary)),
            "recovered": (_("The check was turned off; the monitoring no longer follows this problem.")
                          if event.reason == "check_disabled"
                          else _("Back to normal: %(summary)s.", summary=summary)),
            "resolved": _("Solved by itself: the monitoring shows the equipment healthy again."),
            "also": _("Also critical: %(check)s: %(summary)s.", check=label, summary=summary),
        }


def _check(check_id: int):
    from remote.models import Check

    return db.session.scalar(select(Check).where(Check.id == check_id))


def _touched_by_a_person(ticket) -> bool:
    change = db.session.scalar(select(TicketChange.id).where(TicketChange.ticket_id == ticket.id,
                                                             TicketChange.actor_id.is_not(None)).limit(1))
    if change is not None:
        return True
    comment = db.session.scalar(select(TicketComment.id).where(TicketComment.ticket_id == ticket.id,
                                                               TicketComment.author_id.is_not(None)).limit(1))
    return comment is not None


def handle_alert(event) -> None:
    """remote.alerts handler: see the module docstring."""
    from agreements.models import Council
    from inventory.models import Asset

    now = utcnow()
    with unrestricted(), write_transaction():
        claimed = insert_ignoring(TicketAlertEvent, {"event_id": event.event_id, "kind": event.kind[:12],
                                                     "handled_at": now, "alert_key": event.key[:60]}, ["event_id"],
                                  returning=TicketAlertEvent.event_id)
        if claimed is None:
            return  # handled before: a redelivery
        council = db.session.scalar(select(Council).where(Council.id == event.council_id))
        if council is None:
            return
        asset = db.session.scalar(select(Asset).where(Asset.id == event.asset_id))
        texts = _texts(event, council, asset)
        ticket = db.session.scalar(select(Ticket).where(Ticket.open_monitoring_key == event.key))
        if ticket is None:
            ticket = _grouped_into(event.key)
        grouped = False
        if event.kind in ("opened", "repeated") and ticket is None and asset is not None:
            # A burst on one asset (a full disk array, a dying server) is one problem for the
            # office: while a monitoring ticket of the asset is open, a new alert is a line on it.
            group = _open_ticket_of(asset.id, council.id)
            if group is not None:
                services.add_comment(group, texts["also"], internal=False, actor=None, now=now, commit=False)
                ticket, grouped = group, True

        if event.kind in ("opened", "repeated") and ticket is None:
            previous = db.session.scalar(select(Ticket).where(Ticket.monitoring_key == event.key)
                                         .order_by(Ticket.id.desc()).limit(1))
            if previous is not None and previous.status == "resolved":
                services.change_ticket(previous, {"status": "in_progress"}, actor=None, now=now, commit=False)
                services.add_comment(previous, texts["repeated"], internal=False, actor=None, now=now, commit=False)
                ticket = previous
            else:
                ticket = _open(council, asset, event, texts, previous, now)
        elif event.kind in ("opened", "repeated") and not grouped:
            services.add_comment(ticket, texts["repeated"], internal=False, actor=None, now=now, commit=False)
        elif event.kind == "recovered" and ticket is not None:
            services.add_comment(ticket, texts["recovered"], internal=False, actor=None, now=now, commit=False)
            if event.reason == "ok" and not _touched_by_a_person(ticket) and not _other_alerts_open(ticket):
                # The one move outside the workflow, and only the system makes it: the ticket is
                # still new (a person taking it would have touched it) and its cause is gone.
                services.add_comment(ticket, texts["resolved"], internal=False, actor=None, now=now, commit=False)
                services.set_status(ticket, "resolved", None, now)
                ticket.updated_at = now
                refresh_sla(ticket, now)
        if ticket is not None:
            row = db.session.get(TicketAlertEvent, event.event_id)
            row.ticket_id = ticket.id
    log.info("alert event %s (%s %s) handled", event.event_id, event.kind, event.key)


_CLOSED = ("resolved", "closed")


def _grouped_into(key: str):
    """The open ticket an alert was grouped into (it has no ticket of its own)."""
    return db.session.scalar(
        select(Ticket).join(TicketAlertEvent, TicketAlertEvent.ticket_id == Ticket.id)
        .where(TicketAlertEvent.alert_key == key, Ticket.status.not_in(_CLOSED))
        .order_by(TicketAlertEvent.event_id.desc()).limit(1))


def _open_ticket_of(asset_id: int, council_id: int):
    return db.session.scalar(select(Ticket).where(
        Ticket.asset_id == asset_id, Ticket.council_id == council_id, Ticket.channel == "monitoring",
        Ticket.open_monitoring_key.is_not(None), Ticket.status.not_in(_CLOSED)).order_by(Ticket.id).limit(1))


def _other_alerts_open(ticket) -> bool:
    """A grouped ticket is solved by itself only once every alert of its asset is closed."""
    from remote.models import Alert

    if ticket.asset_id is None:
        return False
    return db.session.scalar(select(Alert.id).where(Alert.asset_id == ticket.asset_id,
                                                    Alert.closed_at.is_(None)).limit(1)) is not None


def _open(council, asset, event, texts: dict, previous, now: dt.datetime):
    kind = asset.kind if asset is not None else ""
    values = {
        "title": texts["title"], "description": texts["opened"], "channel": "monitoring",
        "priority": "high" if kind in _HIGH_PRIORITY_KINDS else "normal",
        "category": "network" if kind == "network" else "hardware",
        "asset_id": asset.id if asset is not None and asset.council_id == council.id else None,
        "monitoring_key": event.key,
        "related_ticket_id": previous.id if previous is not None else None,
    }
    return services.create_ticket(council, values, actor=None, now=now, commit=False)

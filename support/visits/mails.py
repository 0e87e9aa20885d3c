"""Mail about visits: the invitation (.ics) on booking, change and cancellation, and the
reminders before a visit.

Each mail goes to the council's side (the clerk who booked, or else the council's contact
address) and to the technician, each in their own language. The .ics is built when the mail
is queued and kept in `visit_mails` beside the outbox row, because the outbox sends later and
the invitation must say what was true then: a stable UID (ical.visit_uid), the visit's
SEQUENCE (raised on every change), METHOD:REQUEST for a booking or a change and METHOD:CANCEL
for a cancellation, so calendars replace or remove the event instead of keeping a stale copy.
"""

from __future__ import annotations

from email.utils import parseaddr

from flask import current_app
from flask_babel import force_locale, format_date, format_time
from flask_babel import gettext as _
from icalendar import vCalAddress, vText
from sqlalchemy import select

from core import mail, notify
from extensions import db
from support.visits import ical
from support.visits.models import Visit, VisitMail

KIND = "visit.invitation"
REMINDER_KIND = "visit.reminder"
METHODS = {"booked": "REQUEST", "changed": "REQUEST", "cancelled": "CANCEL"}


def recipients(visit: Visit) -> list[tuple[str, str, str]]:
    """(address, language, name) of who hears about `visit`: the clerk who booked it (or the
    council's contact when office staff booked it) and the technician."""
    from accounts.models import User

    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    council = visit.council
    booker = db.session.get(User, visit.booked_by_id) if visit.booked_by_id else None
    out: list[tuple[str, str, str]] = []
    if booker is not None and booker.role == "clerk" and booker.active and booker.email:
        out.append((booker.email, booker.preferred_language or default, booker.name or booker.email))
    elif council.contact_email:
        out.append((council.contact_email, council.language or default, council.name))
    technician = db.session.get(User, visit.technician_id)
    if technician is not None and technician.active and technician.email:
        out.append((technician.email, technician.preferred_language or default, technician.name or technician.email))
    seen, unique = set(), []
    for address, language, name in out:
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append((address, language, name))
    return unique


def invitation_ics(visit: Visit, method: str, people: list[tuple[str, str, str]]) -> bytes:
    """The visit as an iTIP message (RFC 5546): the office organises, everyone mailed attends."""
    event = ical.visit_event(visit)
    name, address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    organizer = vCalAddress(f"mailto:{address}")
    organizer.params["cn"] = vText(current_app.config.get("OFFICE_NAME") or name)
    event["organizer"] = organizer
    for who, _language, label in people:
        attendee = vCalAddress(f"mailto:{who}")
        attendee.params["cn"] = vText(label)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee, encode=0)
    if visit.council.address:
        event.add("location", visit.council.address)
    return ical.calendar_of_events([event], method=method)


def _when(visit: Visit) -> str:
    end = visit.slot.ends_at if visit.slot is not None else visit.starts_at
    return _("%(day)s, %(start)s–%(end)s", day=format_date(visit.starts_at, "full"),
             start=format_time(visit.starts_at, "short"), end=format_time(end, "short"))


def _details(visit: Visit) -> list[str]:
    from accounts.models import User
    from support.tickets.models import Ticket

    technician = db.session.get(User, visit.technician_id)
    lines = [_("Technician: %(name)s", name=technician.name if technician else "—")]
    if visit.ticket_id:
        ticket = db.session.get(Ticket, visit.ticket_id)
        if ticket is not None:
            lines.append(_("About: %(reference)s · %(title)s", reference=ticket.reference, title=ticket.title))
    if visit.notes:
        lines.append(_("Notes: %(notes)s", notes=visit.notes))
    return lines


def _texts(visit: Visit, change: str) -> tuple[str, list[str]]:
    council, when = visit.council.name, _when(visit)
    if change == "booked":
        subject = _("Visit booked: %(council)s, %(when)s", council=council, when=when)
        lines = [_("A visit to %(council)s is booked for %(when)s.", council=council, when=when)]
    elif change == "changed":
        subject = _("Visit moved: %(council)s, %(when)s", council=council, when=when)
        lines = [_("The visit to %(council)s has moved to %(when)s.", council=council, when=when)]
    else:
        subject = _("Visit cancelled: %(council)s, %(when)s", council=council, when=when)
        lines = [_("The visit to %(council)s on %(when)s is cancelled.", council=council, when=when)]
        if visit.cancel_reason:
            lines.append(_("Reason: %(reason)s", reason=visit.cancel_reason))
    lines += [""] + _details(visit)
    lines += ["", _("The attached invitation updates the visit in your calendar.")]
    return subject, lines


def _signed(lines: list[str], link: str | None) -> str:
    parts = list(lines)
    if link:
        parts += ["", _("Open it in CouncilDesk: %(link)s", link=notify._absolute(link))]
    parts += ["", "-- ", current_app.config["OFFICE_NAME"], _("This message was sent automatically by CouncilDesk.")]
    return "\n".join(parts)


def queue_invitations(visit: Visit, change: str) -> int:
    """Queue the mail with the .ics for a visit just booked, moved ("changed") or cancelled,
    in the caller's transaction. Returns how many were queued."""
    method = METHODS[change]
    people = recipients(visit)
    ics = invitation_ics(visit, method, people).decode()
    link = notify.link_for("support.visit_list")
    queued = 0
    for address, language, _name in people:
        with force_locale(language):
            subject, lines = _texts(visit, change)
            body = _signed(lines, link)
        row = mail.queue(address, subject, body, language=language, kind=KIND, council_id=visit.council_id)
        if row is None:
            continue
        db.session.flush()
        db.session.add(VisitMail(outbox_mail_id=row.id, visit_id=visit.id, method=method, sequence=visit.sequence,
                                 ics=ics))
        queued += 1
    return queued


def queue_reminder(visit: Visit) -> int:
    """A reminder of a visit coming up, to the same people as its invitations."""
    link = notify.link_for("support.visit_list")
    queued = 0
    for address, language, _name in recipients(visit):
        with force_locale(language):
            council, when = visit.council.name, _when(visit)
            subject = _("Reminder: visit to %(council)s, %(when)s", council=council, when=when)
            lines = [_("A reminder: the visit to %(council)s is on %(when)s.", council=council, when=when), ""]
            body = _signed(lines + _details(visit), link)
        if mail.queue(address, subject, body, language=language, kind=REMINDER_KIND,
                      council_id=visit.council_id) is not None:
            queued += 1
    return queued


def attachments(row) -> list[tuple[str, str, bytes]]:
    """core.mail's attachment provider for KIND: the invitation stored when it was queued."""
    stored = db.session.scalar(select(VisitMail).where(VisitMail.outbox_mail_id == row.id))
    if stored is None:
        return []
    return [("invite.ics", "text/calendar", stored.ics.encode())]


def register() -> None:
    mail.register_attachments(KIND, attachments)

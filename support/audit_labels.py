"""The audit log's words for hours, tickets, teams, visits and mail (see core.audit_labels)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from accounts.audit_labels import user_name
from core.audit_labels import register_actions, register_object
from support.tickets.labels import category_labels, channel_labels, priority_labels, ticket_status_labels


def _team_name(team_id) -> str:
    from extensions import db
    from support.teams.models import Team

    team = db.session.get(Team, int(team_id))
    return team.name if team is not None else f"#{team_id}"


def _ticket_ref(ticket_id) -> str:
    from extensions import db
    from support.tickets.models import Ticket

    ticket = db.session.get(Ticket, int(ticket_id))
    return ticket.reference if ticket is not None else f"#{ticket_id}"


def _user_names(ids) -> str:
    if not isinstance(ids, list):
        return str(ids)
    return ", ".join(user_name(i) for i in ids) or "—"


def register() -> None:
    register_actions({"correct": _l("Corrected"), "rate": _l("Rated"), "accept": _l("Accepted"),
                      "discard": _l("Discarded"), "retry": _l("Retried")})
    register_object("time_entry", _l("Time entry"), fields={
        "minutes": _l("Time worked"), "mode": _l("Where"), "travel_minutes": _l("Travel (round trip)"),
        "description": _l("What was done"), "ticket_id": _l("Ticket"), "corrects_entry_id": _l("Corrects entry"),
    }, formats={"minutes": "duration", "travel_minutes": "duration",
                "mode": {"onsite": _l("On site"), "remote": _l("Remote")}})
    register_object("ticket", _l("Ticket"), fields={
        "reference": _l("Reference"), "title": _l("Title"), "priority": _l("Priority"), "category": _l("Category"),
        "channel": _l("Came in by"), "requester_id": _l("On behalf of"), "asset_id": _l("Equipment"),
        "team_id": _l("Team"), "score": _l("Rating"), "comment_id": _l("Comment"),
        "internal": _l("Internal note"),
    }, formats={"status": ticket_status_labels, "priority": priority_labels, "category": category_labels,
                "channel": channel_labels, "requester_id": user_name, "internal": "bool", "comment_id": lambda v: f"#{v}", "team_id": _team_name, "score": "number"})
    register_object("team", _l("Team"), fields={
        "assignment": _l("Assignment of new tickets"), "member_ids": _l("Members"), "categories": _l("Categories"),
    }, formats={"assignment": {"none": _l("By hand"), "round_robin": _l("Round robin"),
                               "least_open": _l("Fewest open tickets")},
                "member_ids": _user_names, "categories": category_labels})
    register_object("absence", _l("Absence"))
    register_object("visit", _l("Visit"), fields={"slot_id": _l("Visit slot")})
    register_object("visit_slot", _l("Visit slot"), fields={"count": _l("Slots"), "starts_at": _l("Starts"),
                                                            "minutes": _l("Length")},
                    formats={"minutes": "duration", "starts_at": "datetime", "count": "number"})
    register_object("mail", _l("Mail"))
    register_object("mailbox", _l("Mailbox"), fields={
        "host": _l("IMAP server"), "port": _l("Port"), "security": _l("Security"), "folder": _l("Folder to read"),
        "processed_folder": _l("Move processed mail to"), "username": _l("User"), "auth": _l("Sign-in"),
        "oauth_token_url": _l("OAuth token endpoint"), "oauth_client_id": _l("OAuth client id"),
        "oauth_scope": _l("OAuth scope"),
    }, formats={"port": "text", "security": {"ssl": _l("TLS (port 993)"), "starttls": _l("STARTTLS"),
                                             "none": _l("None (loopback only)")},
                "auth": {"password": _l("Password"), "xoauth2": _l("OAuth 2 (Microsoft 365, Gmail)")}})
    register_object(None, fields={"ticket_id": _l("Ticket"), "team_id": _l("Team")},
                    formats={"ticket_id": _ticket_ref, "team_id": _team_name})

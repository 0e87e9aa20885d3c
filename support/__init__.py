"""Support: the hours ledger (support.hours: time entries against the agreements' allowances)
and tickets (support.tickets), two rooms behind one set of URLs (support.blueprint)."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.access import ADMIN, MANAGERS, STAFF
from core.file_forms import allow_large_bodies
from core.ui import NavItem, register_home, register_nav


def init_app(app: Flask) -> None:
    from core import mail as outbox
    from core.access import register_path_object
    from remote.alerts import register_alert_handler
    from support import audit_labels
    from support.blueprint import api_bp, bp

    # The rooms' routes, hours first: importing them adds them to the blueprints.
    from support.hours import api as hours_api  # noqa: F401
    from support.hours import jobs as hours_jobs
    from support.hours import thresholds
    from support.hours import views as hours_views  # noqa: F401
    from support.hours.models import TimeEntry
    from support.mail import api as mail_api  # noqa: F401
    from support.mail import jobs as mail_jobs
    from support.mail import services as mail_services
    from support.mail import threads as mail_threads
    from support.mail import views as mail_views
    from support.teams import api as teams_api  # noqa: F401
    from support.teams import views as teams_views
    from support.tickets import api as tickets_api  # noqa: F401
    from support.tickets import jobs as tickets_jobs
    from support.tickets import labels, monitoring, notifications
    from support.tickets import views as tickets_views
    from support.tickets.models import Ticket, TicketAttachment, TicketComment
    from support.visits import api as visits_api  # noqa: F401
    from support.visits import jobs as visits_jobs
    from support.visits import mails as visits_mails
    from support.visits import views as visits_views  # noqa: F401
    from support.visits.models import Visit, VisitSlot

    audit_labels.register()
    register_path_object("entry_id", TimeEntry)
    register_path_object("ticket_id", Ticket)
    register_path_object("mail_id", lookup=mail_services.visible_to_scope)
    register_path_object("comment_id", TicketComment)
    register_path_object("attachment_id", TicketAttachment)
    register_path_object("slot_id", VisitSlot)
    register_path_object("visit_id", Visit)
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    allow_large_bodies(app, *tickets_views.FILE_FORM_ENDPOINTS)
    app.cli.add_command(hours_jobs.hours_cli)
    app.cli.add_command(tickets_jobs.tickets_cli)
    app.cli.add_command(mail_jobs.mail_cli)
    mail_jobs.register_kinds()
    mail_jobs.register_jobs()
    outbox.register_thread_hook(mail_threads.thread_mail)
    thresholds.register_kinds()
    notifications.register_kinds()
    tickets_jobs.register_jobs()
    visits_mails.register()
    visits_jobs.register_jobs()
    register_alert_handler(monitoring.handle_alert)
    app.jinja_env.globals.update(ticket_panel=tickets_views.asset_ticket_panel,
                                 council_tickets=tickets_views.council_ticket_panel,
                                 ticket_labels=labels.ticket_labels, due_in=labels.due_in,
                                 ticket_mail=mail_views.ticket_messages,
                                 routing_reason=teams_views.routing_reason)
    register_nav(
        app,
        NavItem("support.tickets", _l("Tickets"), frozenset(STAFF), "inbox", 5, key="tickets"),
        NavItem("support.tickets", _l("Help requests"), frozenset({"clerk"}), "life-preserver", 5),
        NavItem("support.dashboard", _l("Hours"), frozenset(STAFF), "clock-history", 10, key="hours"),
        NavItem("support.log", _l("Log hours"), frozenset(STAFF), "plus-circle", 11, menu="hours"),
        NavItem("support.mail_held", _l("Held mail"), frozenset(STAFF), "envelope-exclamation", 6, menu="tickets"),
        NavItem("support.mail_messages", _l("Mail received"), frozenset(STAFF), "envelope", 7, menu="tickets"),
        NavItem("support.mailboxes", _l("Mailboxes"), frozenset(ADMIN), "mailbox", 915, menu="admin"),
        NavItem("support.teams", _l("Teams"), frozenset(STAFF), "people", 6, menu="tickets"),
        NavItem("support.absences", _l("Absences"), frozenset(STAFF), "calendar-x", 7, menu="tickets"),
        NavItem("support.day_plan", _l("Day plan"), frozenset(STAFF), "signpost-split", 8, menu="tickets"),
        NavItem("support.visit_list", _l("Visits"), frozenset(STAFF), "calendar-check", 9, menu="tickets"),
        NavItem("support.dispatch_board", _l("Dispatch"), frozenset(MANAGERS), "grid-3x3", 10, menu="tickets"),
        NavItem("support.visit_slots", _l("Book a visit"), frozenset({"clerk"}), "calendar-plus", 6),
    )
    # Managers start on the office dashboard; technicians, often on a phone, on the ticket queue
    # (the dashboard's wide table of councils is the manager's question, not theirs); clerks
    # keep their council.
    register_home(app, "support.dashboard", "manager")
    register_home(app, "support.tickets", "technician")

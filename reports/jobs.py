"""The monthly delivery: on the first working day of a month (office calendar), last month's
reports are generated, archived and mailed, to the office's managers (the office's report, in
each manager's language) and to each council's contact (the council's report, in the
council's language).

Exactly once per month, however often it runs and wherever it stops:

* the job runs every morning and does nothing before the first working day, nor once the
  month's delivery is marked complete (`report_deliveries`, one row per month);
* the archive generates each report once (its unique key), so a re-run finds them;
* each mail is claimed by inserting its `report_delivery_mails` row (unique per delivery and
  recipient) in the same transaction that queues it in the outbox: a run cut short is
  finished by the next one, and nobody gets the same report twice.

Mail leaves through the outbox (core.mail) with the archived PDF attached when sent: the
outbox keeps the text, the archive keeps the file, and the attachment is checked against its
digest on the way out.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import User
from agreements.months import add_months, format_month, month_start
from core import mail, notify
from core.db import utcnow, write_transaction
from core.i18n import duration_filter, month_filter
from core.scope import unrestricted
from extensions import db
from reports import archive
from reports.models import ReportArchive, ReportDelivery, ReportDeliveryMail

log = logging.getLogger("councildesk.reports.delivery")

MAIL_KIND = "reports.monthly"
NOTICE_KIND = "reports.monthly_ready"


def first_working_day(month: dt.date) -> dt.date:
    """The first business day of a month on the office calendar (its first day if it has none)."""
    from core.calendar import business_days

    days = business_days(month_start(month))
    return days[0] if days else month_start(month)


def _insert():
    return postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _absolute(path: str | None) -> str:
    if not path:
        return current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def deliver_monthly(today: dt.date) -> dict:
    """The scheduler's daily run: last month's delivery, once the month's first working day
    has come and until it is complete."""
    this_month = month_start(today)
    if today < first_working_day(this_month):
        return {"due": 0}
    # With a broker (scale), each council's report is a task of its own, on any worker.
    return deliver(add_months(this_month, -1), fan_out=current_app.extensions.get("councildesk_fanout"))


def deliver(period: dt.date, *, actor: User | None = None, fan_out=None) -> dict:
    """Generate, archive and mail the reports of `period`. Idempotent (see the module).

    With `fan_out` (the broker's), each council is handed out as a task (`deliver_council`)
    and the last of them to finish completes the delivery; without it, all in this process."""
    period = month_start(period)
    with unrestricted():
        delivery_id = _open(period)
        if delivery_id is None:
            return {"delivered": 0, "already_done": 1}
        languages = _languages(_managers())
        councils = archive.councils_covered(period)
        db.session.commit()
        if fan_out is not None and councils:
            fan_out(COUNCIL_FANOUT, [council_arg(period, c.id) for c in councils], utcnow())
            log.info("monthly reports of %s: %s councils queued", format_month(period), len(councils))
            return {"delivered": 0, "councils_queued": len(councils)}

        council_reports = {c.id: archive.council_month(c, period, actor=actor) for c in councils}
        for lang in languages:
            archive.office_month(period, language=lang, fmt="pdf", actor=actor)
        for lang in languages:
            archive.office_month(period, language=lang, fmt="xlsx", actor=actor)

        sent = 0
        for council in councils:
            if council.contact_email:
                sent += _mail_council(delivery_id, council, period, council_reports[council.id])
        managers_sent, archived = _finish(delivery_id, period, len(councils), actor=actor)
        sent += managers_sent
    log.info("monthly reports of %s: %s archived, %s mail(s) queued now", format_month(period), archived, sent)
    return {"delivered": 1, "archives": int(archived), "mails_queued": sent}


def _open(period: dt.date) -> int | None:
    """The month's delivery row (created on the first call), or None once it is complete."""
    with write_transaction():
        db.session.execute(_insert()(ReportDelivery).values(period_start=period, started_at=utcnow(), archives=0,
                                                            mails=0)
                           .on_conflict_do_nothing(index_elements=["period_start"]))
    delivery = db.session.scalar(select(ReportDelivery).where(ReportDelivery.period_start == period))
    delivery_id = None if delivery.completed_at is not None else delivery.id
    db.session.commit()
    return delivery_id


def _managers() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == "manager", User.active.is_(True))
                                   .order_by(User.id)))


def _languages(managers: list[User]) -> list[str]:
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    return [default, *sorted({m.preferred_language or default for m in managers} - {default})]


def _finish(delivery_id: int, period: dt.date, councils: int, *, actor: User | None) -> tuple[int, int]:
    """What follows the councils: the office's reports, the managers' mails and notices, the
    delivery marked complete. Safe to run twice, even at once: the archive and the mail claims
    are unique, the notice goes with its mail's claim, the completion only sets an empty date.
    Returns (mails queued now, reports archived for the month)."""
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    managers = _managers()
    languages = _languages(managers)
    office_reports = {lang: archive.office_month(period, language=lang, fmt="pdf", actor=actor)
                      for lang in languages}
    for lang in languages:
        archive.office_month(period, language=lang, fmt="xlsx", actor=actor)
    sent = 0
    for manager in managers:
        sent += _mail_manager(delivery_id, manager, period, office_reports[manager.preferred_language or default],
                              councils)
    with write_transaction():
        archived = db.session.scalar(select(db.func.count()).select_from(ReportArchive)
                                     .where(ReportArchive.period_start == period)) or 0
        mails = db.session.scalar(select(db.func.count()).select_from(ReportDeliveryMail)
                                  .where(ReportDeliveryMail.delivery_id == delivery_id)) or 0
        db.session.execute(update(ReportDelivery).where(ReportDelivery.id == delivery_id,
                                                        ReportDelivery.completed_at.is_(None))
                           .values(completed_at=utcnow(), archives=archived, mails=mails))
    return sent, int(archived)


# --- one council at a time, with a broker -------------------------------------------------------------

COUNCIL_FANOUT = "reports.monthly_council"


def council_arg(period: dt.date, council_id: int) -> str:
    return f"{month_start(period).isoformat()}/{council_id}"


def deliver_council(arg: str) -> int:
    """One council's part of a month's delivery (a task's body, `council_arg`'s string): its
    report archived and mailed to its contact, as the single run does it. A redelivered task
    finds the archive and the mail's claim and adds nothing. Returns the mails queued now.

    The councils' tasks finish in any order on any worker, so none is told it is the last:
    each, once its own council is committed, looks whether every council of the month is
    done (its mail claimed, or its report archived when it has no contact) and, if so,
    finishes the delivery (`_finish`). The last to commit always sees everything done; two
    that finish at the same moment may both see it, which `_finish` allows. A task that dies
    leaves the delivery incomplete, and the next day's run hands the month out again: the
    councils already done add nothing and the last one finishes it."""
    from agreements.models import Council

    day, _sep, council_id = arg.partition("/")
    period = month_start(dt.date.fromisoformat(day))
    with unrestricted():
        delivery = db.session.scalar(select(ReportDelivery).where(ReportDelivery.period_start == period))
        council = db.session.get(Council, int(council_id))
        if delivery is None or delivery.completed_at is not None or council is None:
            db.session.commit()
            return 0
        delivery_id = delivery.id
        report = archive.council_month(council, period)
        sent = _mail_council(delivery_id, council, period, report) if council.contact_email else 0
        councils = archive.councils_covered(period)
        if _all_councils_done(delivery_id, councils, period):
            sent += _finish(delivery_id, period, len(councils), actor=None)[0]
        db.session.commit()
    return sent


def _all_councils_done(delivery_id: int, councils: list, period: dt.date) -> bool:
    """Every council's mail claimed (or, without a contact, its report archived). Two queries
    whatever the number of councils: each council's task asks, so a province's 311 tasks
    must not ask 311 times each."""
    mailed = set(db.session.scalars(select(ReportDeliveryMail.recipient).where(
        ReportDeliveryMail.delivery_id == delivery_id, ReportDeliveryMail.recipient.like("council:%"))))
    archived = set(db.session.scalars(select(ReportArchive.council_id).where(
        ReportArchive.period_start == period, ReportArchive.kind == "council_month")))
    return all(f"council:{c.id}" in mailed if c.contact_email else c.id in archived for c in councils)


def _claim(delivery_id: int, recipient: str, to_address: str, archive_id: int) -> int | None:
    row = db.session.execute(_insert()(ReportDeliveryMail).values(
        delivery_id=delivery_id, recipient=recipient, to_address=to_address[:254], archive_id=archive_id,
        created_at=utcnow()).on_conflict_do_nothing(index_elements=["delivery_id", "recipient"])
        .returning(ReportDeliveryMail.id)).first()
    return row[0] if row else None


def _queue(claim_id: int, to_address: str, subject: str, body: str, language: str) -> None:
    queued = mail.queue(to_address, subject, body, language=language, kind=MAIL_KIND)
    if queued is not None:
        db.session.flush()
        db.session.execute(update(ReportDeliveryMail).where(ReportDeliveryMail.id == claim_id)
                           .values(outbox_mail_id=queued.id))


def _signature(lines: list[str]) -> str:
    lines += ["", "-- ", current_app.config["OFFICE_NAME"], _("This message was sent automatically by CouncilDesk.")]
    return "\n".join(lines)


def _mail_council(delivery_id: int, council, period: dt.date, report: ReportArchive) -> int:
    from reports import quality
    from support.hours.figures import council_month_usage

    language = council.language or current_app.config["BABEL_DEFAULT_LOCALE"]
    with write_transaction():
        claim_id = _claim(delivery_id, f"council:{council.id}", council.contact_email, report.id)
        if claim_id is None:
            return 0
        usage = council_month_usage(council.id, period)
        service = quality.merged(quality.service_by_council_month(period, period, council.id,
                                                                  with_durations=False).values())
        with force_locale(language):
            month = month_filter(period)
            subject = _("Monthly IT service report of %(council)s: %(month)s", council=council.name, month=month)
            lines = [_("Attached is the monthly report of the IT service for %(council)s for %(month)s.",
                       council=council.name, month=month), ""]
            if usage is not None:
                lines.append(_("On-site hours: %(used)s used of %(allowance)s.",
                               used=duration_filter(usage.onsite.used_minutes),
                               allowance=duration_filter(usage.onsite.allowance_minutes)))
                lines.append(_("Remote hours: %(used)s used of %(allowance)s.",
                               used=duration_filter(usage.remote.used_minutes),
                               allowance=duration_filter(usage.remote.allowance_minutes)))
                excess = usage.onsite.excess_minutes + usage.remote.excess_minutes
                if excess:
                    lines.append(_("Hours beyond the allowance: %(excess)s.", excess=duration_filter(excess)))
            lines.append(_("Tickets: %(opened)s opened and %(resolved)s resolved.", opened=service.opened,
                           resolved=service.resolved))
            lines += ["", _("The report is also kept in CouncilDesk: %(link)s",
                            link=_absolute(notify.link_for("reports.archive", council=council.slug)))]
            _queue(claim_id, council.contact_email, subject, _signature(lines), language)
    return 1


def _mail_manager(delivery_id: int, manager: User, period: dt.date, report: ReportArchive, councils: int) -> int:
    from support.hours.figures import usage_between

    language = manager.preferred_language or current_app.config["BABEL_DEFAULT_LOCALE"]
    if not manager.email:
        return 0
    with write_transaction():
        claim_id = _claim(delivery_id, f"user:{manager.id}", manager.email, report.id)
        if claim_id is None:
            return 0
        rows = usage_between(period, period)
        used = sum(r.onsite.used_minutes + r.remote.used_minutes for r in rows)
        allowance = sum(r.onsite.allowance_minutes + r.remote.allowance_minutes for r in rows)
        excess = sum(r.onsite.excess_minutes + r.remote.excess_minutes for r in rows)
        link = notify.link_for("reports.archive", month=format_month(period))
        with force_locale(language):
            month = month_filter(period)
            subject = _("Monthly reports: %(month)s", month=month)
            lines = [
                _("The monthly reports for %(month)s have been generated and archived: %(n)s councils and the "
                  "office's report, attached.", month=month, n=councils), "",
                _("All councils: %(used)s used of %(allowance)s; beyond the allowance: %(excess)s.",
                  used=duration_filter(used), allowance=duration_filter(allowance), excess=duration_filter(excess)),
                "", _("Every report of the month, to download: %(link)s", link=_absolute(link)),
            ]
            _queue(claim_id, manager.email, subject, _signature(lines), language)
        notify.notify_users([manager], NOTICE_KIND, {"month": format_month(period), "councils": councils},
                            link=link, send_mail=False)
    return 1


# --- the attachments, when the outbox sends ---------------------------------------------------------

def attachments(row) -> list[tuple[str, str, bytes]]:
    """The archived report a delivery mail carries (checked against its digest). A report that
    cannot be read is left out, and logged: the mail still says where to find it."""
    claim = db.session.scalar(select(ReportDeliveryMail).where(ReportDeliveryMail.outbox_mail_id == row.id))
    if claim is None:
        return []
    report = db.session.get(ReportArchive, claim.archive_id)
    if report is None:
        return []
    try:
        data = archive.read(report)
    except Exception:
        log.exception("cannot attach archived report %s to mail %s", report.id, row.id)
        return []
    return [(report.filename, report.content_type, data)]


# --- notifications and the schedule --------------------------------------------------------------------

def _notice_title(params: dict) -> str:
    from core.i18n import month_filter as month_text

    return _("Monthly reports for %(month)s are ready", month=month_text(params["month"]))


def _notice_body(params: dict) -> str:
    return _("%(n)s council reports and the office's report were archived and mailed.", n=params["councils"])


def register_kinds() -> None:
    notify.register_kind(NOTICE_KIND, _notice_title, _notice_body)
    mail.register_attachments(MAIL_KIND, attachments)


def register_jobs() -> None:
    from remote import scheduler

    def trigger(config):
        return scheduler.daily(int(config.get("REPORTS_DELIVERY_HOUR", 7)), int(config.get("REPORTS_DELIVERY_MINUTE", 0)),
                               config["OFFICE_TIMEZONE"])

    # Daily: the job itself decides whether today is the day (the office calendar's first
    # working day, or later if that run was missed); catch_up replays a run missed while the
    # scheduler was down.
    scheduler.register_job("reports.monthly_delivery", deliver_monthly, trigger, catch_up=dt.timedelta(days=2),
                           description="Monthly reports: generate, archive and mail last month's")

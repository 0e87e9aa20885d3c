"""The monthly delivery: on the first working day, last month's reports are archived and mailed
(over a real SMTP server on loopback) to the managers and to each council's contact, once."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select

from agreements.months import add_months, month_start


def _first_working_day(today: dt.date) -> dt.date:
    from reports.jobs import first_working_day

    return first_working_day(month_start(today))


def _counts(db):
    from core.models import OutboxMail
    from reports.models import ReportArchive, ReportDeliveryMail

    return (db.session.scalar(select(func.count()).select_from(ReportArchive)),
            db.session.scalar(select(func.count()).select_from(ReportDeliveryMail)),
            db.session.scalar(select(func.count()).select_from(OutboxMail)))


def test_the_first_working_day_on_the_office_calendar(app):
    from reports.jobs import first_working_day

    # 1 January is a holiday; 2026-01-02 is a Friday.
    assert first_working_day(dt.date(2026, 1, 1)) == dt.date(2026, 1, 2)
    # 2026-11-01 is a Sunday and All Saints' Day: Monday the 2nd.
    assert first_working_day(dt.date(2026, 11, 1)) == dt.date(2026, 11, 2)
    assert first_working_day(dt.date(2026, 6, 1)) == dt.date(2026, 6, 1)


def test_monthly_delivery_mails_once(dataset, db, world, mail_app, smtp_sink):
    from core.mail import send_pending
    from reports import jobs
    from reports.models import ReportArchive

    first_day = _first_working_day(dataset.today)
    period = add_months(month_start(dataset.today), -1)
    # Before the first working day: nothing.
    if first_day.day > 1:
        assert jobs.deliver_monthly(first_day - dt.timedelta(days=1)) == {"due": 0}
    world.manager.preferred_language = "es"
    db.session.commit()

    result = jobs.deliver_monthly(first_day)
    assert result["delivered"] == 1
    archives, claims, outbox = _counts(db)
    # Each council's PDF, and the office's PDF and XLSX in Catalan (the office) and Spanish (the manager).
    assert archives == len(dataset.councils) + 4
    assert claims == outbox == len(dataset.councils) + 1  # every council has a contact; one manager

    assert send_pending() == outbox
    council_c = dataset.councils["c"]
    [to_council] = smtp_sink.to(council_c.contact_email)
    assert "Castellgalí" in to_council["Subject"]
    assert to_council["Content-Language"] == "es"  # the council's language
    [attachment] = list(to_council.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    pdf = attachment.get_content()
    stored = db.session.scalar(select(ReportArchive).where(ReportArchive.council_id == council_c.id,
                                                           ReportArchive.period_start == period))
    assert hashlib.sha256(pdf).hexdigest() == stored.sha256 and pdf.startswith(b"%PDF-")
    [to_manager] = smtp_sink.to(world.manager.email)
    assert to_manager["Content-Language"] == "es"
    [office_pdf] = list(to_manager.iter_attachments())
    assert office_pdf.get_filename().startswith("councildesk-report-office-") and office_pdf.get_filename().endswith(
        "-es.pdf")
    assert "/reports/archive" in to_manager.get_body(("plain",)).get_content()
    # Managers also find it in the app.
    from core.models import Notification

    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == world.manager.id, Notification.kind == jobs.NOTICE_KIND)) == 1

    # Again the same day, the next day, or by hand: nothing more is generated or sent.
    sent = len(smtp_sink.messages)
    assert jobs.deliver_monthly(first_day)["already_done"] == 1
    assert jobs.deliver_monthly(first_day + dt.timedelta(days=1))["already_done"] == 1
    assert jobs.deliver(period)["already_done"] == 1
    assert _counts(db) == (archives, claims, outbox)
    assert send_pending() == 0 and len(smtp_sink.messages) == sent


def test_a_delivery_cut_short_is_finished_without_duplicates(dataset, db, world, mail_app, smtp_sink, monkeypatch):
    from core.mail import send_pending
    from reports import jobs
    from reports.models import ReportDelivery

    first_day = _first_working_day(dataset.today)
    calls = {"n": 0}
    real = jobs._mail_manager

    def crash_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the scheduler process died here")
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "_mail_manager", crash_once)
    with pytest.raises(RuntimeError):
        jobs.deliver_monthly(first_day)
    delivery = db.session.scalar(select(ReportDelivery))
    assert delivery.completed_at is None
    council_mails = _counts(db)[2]
    assert council_mails == len(dataset.councils)  # the councils' mails went out before the crash
    assert jobs.deliver_monthly(first_day)["delivered"] == 1
    assert _counts(db)[2] == council_mails + 1  # only the manager's was still due
    send_pending()
    assert all(len(smtp_sink.to(c.contact_email)) == 1 for c in dataset.councils.values())


def test_the_job_is_registered_with_the_scheduler(app):
    from remote import scheduler

    spec = next(s for s in scheduler.registered_jobs() if s.id == "reports.monthly_delivery")
    trigger = spec.build_trigger(app.config)
    assert "hour='7'" in str(trigger) and spec.max_instances == 1 and spec.misfire_grace_time is None


def test_archived_files_are_immutable_and_checked(dataset, db, world, client_for, api_for, api_error):
    import os

    from reports import archive

    period = add_months(month_start(dataset.today), -1)
    first = archive.council_month(world.council_a, period)
    again = archive.council_month(world.council_a, period)
    assert first.id == again.id and first.sha256 == again.sha256
    path = archive.storage_dir() / first.storage_name
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    client = client_for(world.manager)
    resp = client.get(f"/reports/archive/{first.id}")
    assert resp.status_code == 200 and hashlib.sha256(resp.data).hexdigest() == first.sha256
    assert resp.headers["Repr-Digest"].startswith("sha-256=:")
    # Changed on disk: refused, not served as the report that was sent.
    os.chmod(path, 0o600)
    path.write_bytes(resp.data[:-10] + b"tampered!!")
    damaged = client.get(f"/reports/archive/{first.id}")
    assert damaged.status_code == 409
    api_error(api_for(world.manager).get(f"/api/v1/reports/archive/{first.id}/file"), 409, "archive_damaged")


def test_manager_can_archive_and_deliver_from_the_page(dataset, db, world, client_for, mail_app, smtp_sink):
    period = add_months(month_start(dataset.today), -1)
    month = f"{period.year:04d}-{period.month:02d}"
    client = client_for(world.manager)
    resp = client.post("/reports/archive/generate", data={"month": month})
    assert resp.status_code == 302
    archived = _counts(db)[0]
    assert archived >= len(dataset.councils) + 2
    assert client.post("/reports/archive/generate", data={"month": month}).status_code == 302
    assert _counts(db)[0] == archived  # nothing generated twice
    # A month that has not ended cannot be archived.
    client.post("/reports/archive/generate", data={"month": f"{dataset.today.year:04d}-{dataset.today.month:02d}"})
    assert _counts(db)[0] == archived
    assert client.post("/reports/archive/deliver", data={"month": month}).status_code == 302
    assert client.post("/reports/archive/deliver", data={"month": month}).status_code == 302
    assert _counts(db)[1] == len(dataset.councils) + 1
    assert client_for(world.technician).post("/reports/archive/deliver", data={"month": month}).status_code == 403


def test_the_command_line(dataset, db, app):
    from reports import reports_cli

    runner = app.test_cli_runner()
    result = runner.invoke(reports_cli, ["generate"])
    assert result.exit_code == 0, result.output
    assert "report(s) in the archive" in result.output
    first = runner.invoke(reports_cli, ["deliver"])
    assert first.exit_code == 0 and "mail(s) queued" in first.output, first.output
    again = runner.invoke(reports_cli, ["deliver"])
    assert again.exit_code == 0 and "already delivered" in again.output
    bad = runner.invoke(reports_cli, ["deliver", "--month", "2026-13"])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output

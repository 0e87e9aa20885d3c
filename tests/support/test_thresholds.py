"""Allowance thresholds: 80 % and 100 %, once per council, month and mode, to the managers (in the
app and by mail) and to the council's contact (by mail, in the council's language)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core.models import Notification, OutboxMail
from support.hours.models import TimeEntry, UsageAlert

# These tests read English texts; the project's default language is Catalan.
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def agreement(make_agreement):
    return make_agreement(onsite=300, remote=100)


def _alerts(db):
    return sorted(db.session.execute(select(UsageAlert.mode, UsageAlert.threshold)).all())


def _notes(db, user):
    return db.session.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)).all()


def test_each_threshold_is_announced_once(agreement, log_time, world, year, db):
    day = dt.date(year, 3, 4)
    log_time(day, 200)                       # 67 %
    assert _alerts(db) == []
    log_time(day, 50)                        # 83 %
    assert _alerts(db) == [("onsite", 80)]
    log_time(day, 10)                        # 87 %: nothing new
    entry = log_time(day, 60)                # 107 %
    assert _alerts(db) == [("onsite", 80), ("onsite", 100)]
    # Below and above again: already announced this month.
    from support.hours import services

    services.delete_entry(entry, actor=world.manager)
    log_time(day, 60)
    assert _alerts(db) == [("onsite", 80), ("onsite", 100)]
    notes = _notes(db, world.manager)
    assert [(n.kind, n.params["mode"], n.params["threshold"]) for n in notes] == [
        ("support.usage_threshold", "onsite", 80), ("support.usage_threshold", "onsite", 100)]
    assert notes[0].params["used"] == 250 and notes[0].params["allowance"] == 300
    assert notes[0].link == f"/councils/{world.council_a.slug}/months/{year}-03"
    # Technicians and clerks are not told; the council's contact and the manager are mailed.
    assert _notes(db, world.technician) == [] and _notes(db, world.clerk_a) == []
    mails = db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
    assert [m.to_address for m in mails] == [world.manager.email, world.council_a.contact_email] * 2
    # Another month starts afresh; another mode is counted on its own.
    log_time(dt.date(year, 4, 1), 240)
    log_time(dt.date(year, 4, 1), 100, mode="remote")
    assert db.session.scalar(select(func.count()).select_from(UsageAlert)) == 5


def test_a_single_entry_crossing_both_announces_both(agreement, log_time, db, year):
    log_time(dt.date(year, 3, 4), 120, mode="remote")
    assert _alerts(db) == [("remote", 80), ("remote", 100)]


def test_titles_and_mail_in_the_readers_language(agreement, log_time, world, year, db, mail_app, smtp_sink):
    from core import mail
    from core.notify import render_body, render_title

    world.council_a.language = "es"
    world.manager.preferred_language = "en"
    db.session.commit()
    log_time(dt.date(year, 3, 4), 250)
    note = _notes(db, world.manager)[0]
    title = render_title(note.kind, note.params)
    assert "Mura" in title and "80" in title and "on-site" in title
    assert "4 h 10 min" in render_body(note.kind, note.params).replace("\u00a0", " ")
    assert mail.send_pending() == 2
    to_council = smtp_sink.to(world.council_a.contact_email)[0]
    to_manager = smtp_sink.to(world.manager.email)[0]
    assert to_council["Content-Language"] == "es" and to_manager["Content-Language"] == "en"
    assert "Mura" in to_manager["Subject"]
    assert f"/councils/{world.council_a.slug}/months/{year}-03" in to_council.get_content()


def test_check_thresholds_catches_up(agreement, world, year, db, today):
    """Entries written without the post-commit evaluation (a crash, a bulk load) are caught up."""
    from support.hours.jobs import check_thresholds
    from support.hours.thresholds import evaluate_thresholds

    month = dt.date(today.year, today.month, 1)
    db.session.add(TimeEntry(council_id=world.council_a.id, technician_id=world.technician.id, date=month,
                             month=month, minutes=310, mode="onsite", description=""))
    db.session.commit()
    assert check_thresholds(today) == 2
    assert check_thresholds(today) == 0
    assert evaluate_thresholds(world.council_a.id, month) == []


def test_zero_allowance(make_agreement, log_time, db, year):
    make_agreement(onsite=90, remote=0)
    log_time(dt.date(year, 3, 4), 5, mode="remote")
    assert _alerts(db) == [("remote", 80), ("remote", 100)]


def test_a_failing_evaluation_does_not_lose_the_entry(agreement, log_time, year, db, monkeypatch):
    from support.hours import thresholds

    def broken(*_args, **_kwargs):
        raise RuntimeError("mail queue down")

    monkeypatch.setattr(thresholds, "evaluate_thresholds", broken)
    entry = log_time(dt.date(year, 3, 4), 290)
    assert db.session.scalar(select(TimeEntry.minutes).where(TimeEntry.id == entry.id)) == 290


def test_the_command_announces_what_is_due(agreement, world, db, app, today):
    month = dt.date(today.year, today.month, 1)
    db.session.add(TimeEntry(council_id=world.council_a.id, technician_id=world.technician.id, date=month,
                             month=month, minutes=250, mode="onsite", description=""))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["hours", "thresholds"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "1 threshold(s) announced."

"""Expiry reminders: 60, 30 and 7 days ahead, once each, to the council and the technicians."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import mail, notify
from core.models import Notification, OutboxMail
from inventory import jobs, services
from inventory.models import AssetReminder

DUE = dt.date(2026, 9, 30)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def day(offset: int) -> dt.date:
    return DUE + dt.timedelta(days=offset)


def test_each_threshold_fires_once(db, world, add_asset):
    cert = add_asset(kind="certificate", name="T-CAT alcaldia", holder="Maria Puig", expires_on=DUE)
    sent = [(offset, jobs.send_expiry_reminders(day(offset)))
            for offset in (-90, -61, -60, -60, -59, -45, -31, -30, -30, -8, -7, -7, -3, 0, 1, 30)]
    assert [(o, n) for o, n in sent if n] == [(-60, 1), (-30, 1), (-7, 1)]
    thresholds = db.session.scalars(select(AssetReminder.threshold).order_by(AssetReminder.id)).all()
    assert thresholds == [60, 30, 7]
    # Each reminder: the technician in the app (and by mail), the council's contact by mail.
    notes = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [n.user_id for n in notes] == [world.technician.id] * 3
    assert notes[0].link == f"/assets/{cert.id}"
    assert [n.params["days"] for n in notes] == [60, 30, 7]
    recipients = db.session.scalars(select(OutboxMail.to_address).order_by(OutboxMail.id)).all()
    assert recipients == [world.technician.email, world.council_a.contact_email] * 3


def test_a_late_first_run_sends_only_the_tightest_threshold(db, world, add_asset):
    add_asset(kind="license", name="Antivirus", expires_on=DUE)
    assert jobs.send_expiry_reminders(day(-5)) == 1
    assert db.session.scalars(select(AssetReminder.threshold)).all() == [7]
    assert jobs.send_expiry_reminders(day(-4)) == 0


def test_a_changed_date_rearms_the_reminders(db, world, add_asset):
    cert = add_asset(kind="certificate", name="T-CAT", expires_on=DUE)
    assert jobs.send_expiry_reminders(day(-7)) == 1
    # Renewed: a new expiry date is a new reminder cycle.
    services.update_asset(cert, {"expires_on": DUE + dt.timedelta(days=365)}, actor=world.technician)
    assert jobs.send_expiry_reminders(DUE + dt.timedelta(days=365 - 60)) == 1
    assert jobs.send_expiry_reminders(DUE + dt.timedelta(days=365 - 30)) == 1
    # Postponed between two thresholds: reminded at the first threshold of the new date.
    services.update_asset(cert, {"expires_on": DUE + dt.timedelta(days=400)}, actor=world.technician)
    assert jobs.send_expiry_reminders(DUE + dt.timedelta(days=400 - 30)) == 1
    assert count(db, AssetReminder) == 4


def test_warranties_and_every_expiring_kind_are_reminded_but_not_retired_assets(db, world, add_asset):
    pc = add_asset(name="PC Secretaria", purchased_on=dt.date(2023, 9, 30), warranty_until=DUE)
    add_asset(kind="domain", name="mura.cat", expires_on=DUE)
    add_asset(world.council_b, kind="license", name="Ofimàtica", expires_on=DUE)
    gone = add_asset(kind="certificate", name="Old T-CAT", expires_on=DUE)
    services.set_status(gone, "retired", actor=world.technician)
    assert jobs.send_expiry_reminders(day(-30)) == 3
    fields = dict(db.session.execute(select(AssetReminder.asset_id, AssetReminder.due_field)).all())
    assert fields[pc.id] == "warranty_until"
    assert gone.id not in fields
    contacts = set(db.session.scalars(select(OutboxMail.to_address)))
    assert {world.council_a.contact_email, world.council_b.contact_email} <= contacts


def test_the_reminder_reads_well(app, world, add_asset):
    cert = add_asset(kind="certificate", name="T-CAT alcaldia", holder="Maria Puig", expires_on=DUE)
    params = {"asset_id": cert.id, "tag": cert.tag, "name": cert.name, "kind": "certificate", "holder": "Maria Puig",
              "council": "Mura", "field": "expires_on", "date": DUE.isoformat(), "days": 30, "threshold": 30}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert notify.render_title(jobs.KIND, params) == "Digital certificate expiring: T-CAT alcaldia (Mura)"
        body = notify.render_body(jobs.KIND, params)
        assert "expires on September 30, 2026" in body
        assert "That is in 30 days." in body and "Maria Puig" in body
        warranty = notify.render_title(jobs.KIND, params | {"field": "warranty_until", "kind": "desktop"})
        assert warranty.startswith("Warranty ending")
        assert "That is today." in notify.render_body(jobs.KIND, params | {"days": 0})
        assert "That is in 1 day." in notify.render_body(jobs.KIND, params | {"days": 1})


def test_mails_go_out_in_each_readers_language(db, world, translated_app, smtp_sink, add_asset):
    add_asset(kind="certificate", name="T-CAT alcaldia", expires_on=DUE)
    world.council_a.language = "es"
    world.technician.preferred_language = "ca"
    db.session.commit()
    translated_app.config.update(MAIL_ENABLED=True, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_sink.port)
    with translated_app.app_context():
        assert jobs.send_expiry_reminders(day(-7)) == 1
        assert mail.send_pending() == 2
    council_mail = smtp_sink.to(world.council_a.contact_email)[0]
    tech_mail = smtp_sink.to(world.technician.email)[0]
    assert council_mail["Subject"] == "Certificado digital a punto de caducar: T-CAT alcaldia (Mura)"
    assert "30 de septiembre de 2026" in council_mail.get_content()
    assert tech_mail["Subject"] == "Certificat digital a punt de caducar: T-CAT alcaldia (Mura)"
    assert "Falten 7 dies." in tech_mail.get_content()


def test_the_unique_key_refuses_a_second_reminder(db, world, add_asset):
    cert = add_asset(kind="certificate", name="T-CAT", expires_on=DUE)
    row = {"asset_id": cert.id, "council_id": cert.council_id, "due_field": "expires_on", "due_date": DUE,
           "threshold": 30}
    db.session.add(AssetReminder(**row))
    db.session.commit()
    db.session.add(AssetReminder(**row))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_concurrent_runs_send_each_reminder_once(app, db, world, add_asset):
    for n in range(5):
        add_asset(kind="certificate", name=f"T-CAT {n}", expires_on=DUE)
    results, errors = [], []
    barrier = threading.Barrier(3)

    def run():
        with app.app_context():
            try:
                barrier.wait()
                results.append(jobs.send_expiry_reminders(day(-30)))
            except Exception as exc:  # surfaced below
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sum(results) == 5
    assert count(db, AssetReminder) == 5
    assert count(db, Notification) == 5


def test_cli_runs_the_job_for_a_given_day_or_today(app, world, add_asset):
    add_asset(kind="domain", name="mura.cat", expires_on=DUE)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["inventory", "reminders", "--today", day(-60).isoformat()])
    assert result.exit_code == 0, result.output
    assert "1 reminder(s) due on 2026-08-01 sent" in result.output
    with time_machine.travel(dt.datetime(2026, 9, 2, 9, 0, tzinfo=dt.UTC), tick=False):
        result = runner.invoke(args=["inventory", "reminders"])
    assert "1 reminder(s) due on 2026-09-02 sent" in result.output
    assert runner.invoke(args=["inventory", "reminders", "--today", "yesterday"]).exit_code != 0

"""Mail about visits: the .ics on booking, change and cancellation (parsed back with the
icalendar package: a stable UID, SEQUENCE raised on each change, METHOD:REQUEST then
METHOD:CANCEL), each recipient in their own language, through a real SMTP server; and the
reminders 48 h and 2 h before, each sent once, none for a cancelled visit."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select

from core import mail
from core.models import OutboxMail
from support.visits import jobs
from support.visits import services as visits

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")


def _slot(world, start, council=None, capacity=1):
    (slot,) = visits.create_slots({"council_id": (council or world.council_a).id,
                                   "technician_id": world.technician.id, "starts_at": start, "minutes": 120,
                                   "capacity": capacity}, actor=world.manager)
    return slot


def _invite(message):
    """The METHOD and the one VEVENT of the .ics a sent mail carries."""
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.iter_attachments()]
    assert parts[0].get_filename() == "invite.ics"
    cal = Calendar.from_ical(parts[0].get_payload(decode=True))
    (event,) = cal.walk("VEVENT")
    return str(cal["METHOD"]), event


@pytest.mark.frozen("2027-01-11T08:00:00+00:00")
def test_booking_change_and_cancel_mail_an_ics_with_a_stable_uid(app, db, world, mail_app, smtp_sink, api_for):
    world.clerk_a.preferred_language = "es"
    world.technician.preferred_language = "ca"
    db.session.commit()
    first = _slot(world, dt.datetime(2027, 1, 14, 9, 0, tzinfo=MADRID))
    second = _slot(world, dt.datetime(2027, 1, 21, 9, 0, tzinfo=MADRID))
    clerk = api_for(world.clerk_a)
    booked = clerk.post("/api/v1/visits", json={"slot_id": first.id, "notes": "La impressora"})
    assert booked.status_code == 201, booked.json
    visit_id = booked.json["id"]
    assert mail.send_pending() == 2
    moved = clerk.post(f"/api/v1/visits/{visit_id}/move", json={"slot_id": second.id})
    assert moved.status_code == 200, moved.json
    assert moved.json["slot_id"] == second.id and moved.json["starts_at"].startswith("2027-01-21T08:00")
    assert mail.send_pending() == 2
    cancelled = clerk.post(f"/api/v1/visits/{visit_id}/cancel", json={"reason": "Ja funciona"})
    assert cancelled.status_code == 200
    assert mail.send_pending() == 2

    for address in (world.clerk_a.email, world.technician.email):
        got = smtp_sink.to(address)
        assert len(got) == 3
        invites = [_invite(m) for m in got]
        assert [m for m, _e in invites] == ["REQUEST", "REQUEST", "CANCEL"]
        assert {str(e["UID"]) for _m, e in invites} == {f"visit-{visit_id}@councildesk"}
        assert [int(e["SEQUENCE"]) for _m, e in invites] == [0, 1, 2]
        assert [e.decoded("DTSTART") for _m, e in invites] == [
            dt.datetime(2027, 1, 14, 8, 0, tzinfo=dt.UTC), dt.datetime(2027, 1, 21, 8, 0, tzinfo=dt.UTC),
            dt.datetime(2027, 1, 21, 8, 0, tzinfo=dt.UTC)]
        assert str(invites[2][1]["STATUS"]) == "CANCELLED"
        assert str(invites[0][1]["SUMMARY"]) == "Mura"
        attendees = {str(a).lower() for a in invites[0][1].get("ATTENDEE")}
        assert attendees == {f"mailto:{world.clerk_a.email}", f"mailto:{world.technician.email}"}
    # Each in their own language: the clerk in Spanish, the technician in Catalan.
    assert [m["Subject"].split(":")[0] for m in smtp_sink.to(world.clerk_a.email)] == [
        "Visita reservada", "Visita cambiada de hora", "Visita anulada"]
    assert [m["Subject"].split(":")[0] for m in smtp_sink.to(world.technician.email)] == [
        "Visita reservada", "Visita canviada d'hora", "Visita anul·lada"]
    assert "Ja funciona" in smtp_sink.to(world.technician.email)[2].get_body().get_content()
    # The slots' places follow the visit.
    manager = api_for(world.manager)
    assert [manager.get(f"/api/v1/visit-slots/{s.id}").json["booked"] for s in (first, second)] == [0, 0]


@pytest.mark.frozen("2027-01-11T08:00:00+00:00")
def test_staff_booking_mails_the_council_contact_and_cancelling_a_slot_sends_cancel(app, db, world, api_for):
    world.council_a.language = "ca"
    db.session.commit()
    slot = _slot(world, dt.datetime(2027, 1, 14, 9, 0, tzinfo=MADRID), capacity=2)
    visit = visits.book(slot.id, {}, actor=world.manager)
    rows = list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))
    assert {r.to_address for r in rows} == {"ajuntament@mura.example.cat", world.technician.email}
    contact = next(r for r in rows if r.to_address.startswith("ajuntament"))
    assert contact.language == "ca" and contact.subject.startswith("Visita reservada")
    (name, mimetype, data), = mail._attachment_providers["visit.invitation"](contact)
    assert (name, mimetype) == ("invite.ics", "text/calendar")
    assert str(Calendar.from_ical(data)["METHOD"]) == "REQUEST"
    visits.cancel_slot(slot, actor=world.manager)
    last = list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))[len(rows):]
    assert len(last) == 2
    for row in last:
        (_n, _m, data), = mail._attachment_providers["visit.invitation"](row)
        cal = Calendar.from_ical(data)
        (event,) = cal.walk("VEVENT")
        assert str(cal["METHOD"]) == "CANCEL" and int(event["SEQUENCE"]) == 1
        assert str(event["UID"]) == f"visit-{visit.id}@councildesk"


@pytest.mark.frozen("2027-01-11T08:00:00+00:00")
def test_move_rules(app, db, world, api_for):
    here = _slot(world, dt.datetime(2027, 1, 14, 9, 0, tzinfo=MADRID))
    full = _slot(world, dt.datetime(2027, 1, 15, 9, 0, tzinfo=MADRID))
    elsewhere = _slot(world, dt.datetime(2027, 1, 18, 9, 0, tzinfo=MADRID), council=world.council_b)
    soon = _slot(world, dt.datetime(2027, 1, 12, 8, 0, tzinfo=MADRID))  # 23 hours ahead
    clerk = api_for(world.clerk_a)
    visit = clerk.post("/api/v1/visits", json={"slot_id": here.id}).json
    visits.book(full.id, {}, actor=world.manager)
    to_full = clerk.post(f"/api/v1/visits/{visit['id']}/move", json={"slot_id": full.id})
    assert to_full.status_code == 409 and to_full.json["error"]["code"] == "slot_full"
    other = clerk.post(f"/api/v1/visits/{visit['id']}/move", json={"slot_id": elsewhere.id})
    assert other.status_code == 422
    near = clerk.post("/api/v1/visits", json={"slot_id": soon.id}).json
    late = clerk.post(f"/api/v1/visits/{near['id']}/move", json={"slot_id": here.id})
    assert late.status_code == 409 and late.json["error"]["code"] == "too_late_to_change"
    assert clerk.post(f"/api/v1/visits/{visit['id']}/move", json={"slot_id": 1.5}).status_code == 422
    api_for(world.manager).post(f"/api/v1/visits/{visit['id']}/cancel", json={})
    gone = clerk.post(f"/api/v1/visits/{visit['id']}/move", json={"slot_id": full.id})
    assert gone.status_code == 409 and gone.json["error"]["code"] == "visit_cancelled"
    # Clerk B does not see clerk A's visit at all.
    assert api_for(world.clerk_b).post(f"/api/v1/visits/{visit['id']}/move",
                                       json={"slot_id": elsewhere.id}).status_code == 404


def _reminders():
    return list(db_session().scalars(select(OutboxMail).where(OutboxMail.kind == "visit.reminder")
                                     .order_by(OutboxMail.id)))


def db_session():
    from extensions import db

    return db.session


@pytest.mark.frozen("2027-01-04T08:00:00+00:00")
def test_reminders_48_and_2_hours_before_each_once(app, db, world):
    start = dt.datetime(2027, 1, 14, 9, 0, tzinfo=MADRID)  # 08:00 UTC
    slot = _slot(world, start, capacity=3)
    visit = visits.book(slot.id, {}, actor=world.clerk_a)
    dropped = visits.book(slot.id, {}, actor=world.clerk_a)
    visits.cancel_visit(dropped, "", actor=world.clerk_a)
    utc = start.astimezone(dt.UTC)
    assert jobs.reminder_hours() == [48, 2]
    # Too early: nothing.
    assert jobs.send_visit_reminders(utc - dt.timedelta(hours=48, minutes=1)) == {"reminders": 0}
    # 48 hours before: one reminder (to the clerk and the technician), once however often it runs.
    assert jobs.send_visit_reminders(utc - dt.timedelta(hours=47, minutes=55)) == {"reminders": 1}
    assert jobs.send_visit_reminders(utc - dt.timedelta(hours=47, minutes=50)) == {"reminders": 0}
    assert len(_reminders()) == 2
    assert jobs.send_visit_reminders(utc - dt.timedelta(hours=3)) == {"reminders": 0}
    assert jobs.send_visit_reminders(utc - dt.timedelta(hours=1, minutes=59)) == {"reminders": 1}
    assert jobs.send_visit_reminders(utc - dt.timedelta(hours=1)) == {"reminders": 0}
    rows = _reminders()
    assert len(rows) == 4 and {r.to_address for r in rows} == {world.clerk_a.email, world.technician.email}
    assert rows[0].subject.startswith("Reminder: visit to Mura")
    assert all(f"visit-{dropped.id}" not in r.body_text for r in rows)
    # Past the start: nothing more.
    assert jobs.send_visit_reminders(utc + dt.timedelta(minutes=5)) == {"reminders": 0}
    assert visit.status == "booked"


@pytest.mark.frozen("2027-01-04T08:00:00+00:00")
def test_a_late_booking_is_not_reminded_of_what_its_mail_just_said(app, db, world):
    app.config["VISIT_REMINDER_HOURS"] = "48, 2"
    try:
        start = dt.datetime(2027, 1, 5, 9, 0, tzinfo=MADRID)  # 24 hours ahead: past the 48-hour moment
        visits.book(_slot(world, start).id, {}, actor=world.clerk_a)
        utc = start.astimezone(dt.UTC)
        assert jobs.send_visit_reminders(utc - dt.timedelta(hours=23)) == {"reminders": 0}
        assert jobs.send_visit_reminders(utc - dt.timedelta(hours=22)) == {"reminders": 0}
        assert jobs.send_visit_reminders(utc - dt.timedelta(hours=1)) == {"reminders": 1}
        app.config["VISIT_REMINDER_HOURS"] = ()
        assert jobs.send_visit_reminders(utc - dt.timedelta(minutes=30)) == {"reminders": 0}
    finally:
        app.config["VISIT_REMINDER_HOURS"] = (48, 2)

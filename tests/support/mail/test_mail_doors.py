"""The three doors give the same result: the gateway endpoint, the MTA pipe (`flask mail
ingest`), and the held mail and record endpoints; council mail domains in the councils API."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from support.tickets.models import Ticket


def test_inbound_endpoint_admin_only_and_outcome(db, domains, api_for, api_error, mail):
    admin = api_for(domains.admin)
    data = mail(message_id="<door-1@mura.cat>")
    resp = admin.post("/api/v1/mail/inbound", data=data, headers={"Content-Type": "message/rfc822"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"outcome", "ticket_id", "reference", "message_id", "reason"}
    assert body["outcome"] == "created" and body["message_id"] == "<door-1@mura.cat>"
    again = admin.post("/api/v1/mail/inbound", data=data, headers={"Content-Type": "message/rfc822"})
    assert again.get_json()["outcome"] == "duplicate"
    api_error(api_for(domains.technician).post("/api/v1/mail/inbound", data=data,
                                                headers={"Content-Type": "message/rfc822"}), 403, "forbidden")
    api_error(admin.post("/api/v1/mail/inbound", json={"x": 1}), 415)


def test_pipe_and_endpoint_are_one_ticket(app, db, domains, api_for, mail, tmp_path):
    data = mail(message_id="<both-doors@mura.cat>")
    path = tmp_path / "m.eml"
    path.write_bytes(data)
    result = app.test_cli_runner().invoke(args=["mail", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    first = json.loads(result.output.strip().splitlines()[-1])
    assert first["outcome"] == "created"
    resp = api_for(domains.admin).post("/api/v1/mail/inbound", data=data, headers={"Content-Type": "message/rfc822"})
    assert resp.get_json()["outcome"] == "duplicate"
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_pipe_reads_stdin_and_refuses_nothing_to_read(app, db, domains, mail):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["mail", "ingest"], input=mail(sender="nobody@example.net"))
    assert result.exit_code == 0
    assert json.loads(result.output.strip().splitlines()[-1])["outcome"] == "held"
    assert runner.invoke(args=["mail", "ingest"], input=b"").exit_code != 0


def test_held_list_accept_and_discard(db, domains, api_for, api_error, mail, ingest):
    held = ingest(mail(sender="Veí <vei@example.net>", subject="Fwd: El wifi de la biblioteca"))
    other = ingest(mail(sender="spam@example.net", subject="Offer"))
    tech = api_for(domains.technician)
    items = tech.get("/api/v1/mail/held").get_json()["items"]
    assert {i["subject"] for i in items} == {"Fwd: El wifi de la biblioteca", "Offer"}
    first = next(i for i in items if i["subject"].startswith("Fwd"))
    assert first["from"] == "vei@example.net" and first["reason"] == "unknown_sender"
    assert {"id", "from", "subject", "received_at", "reason"} <= set(first)

    api_error(tech.post(f"/api/v1/mail/held/{first['id']}/accept", json={}), 422)
    resp = tech.post(f"/api/v1/mail/held/{first['id']}/accept", json={"council_id": domains.council_a.id})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    ticket = resp.get_json()
    assert ticket["channel"] == "email" and ticket["council_id"] == domains.council_a.id
    assert ticket["title"] == "El wifi de la biblioteca"
    assert db.session.get(Ticket, ticket["id"]).requester_email == "vei@example.net"
    second = next(i for i in items if i["subject"] == "Offer")
    assert tech.delete(f"/api/v1/mail/held/{second['id']}").status_code == 204
    assert tech.get("/api/v1/mail/held").get_json()["items"] == []
    # Handled messages leave the held list: accepting again is 404.
    api_error(tech.post(f"/api/v1/mail/held/{first['id']}/accept", json={"council_id": domains.council_a.id}), 404)
    record = tech.get("/api/v1/mail/messages").get_json()["items"]
    assert [r["outcome"] for r in record] == ["discarded", "created"]
    assert record[1]["ticket_id"] == ticket["id"]
    assert held["outcome"] == other["outcome"] == "held"


def test_record_filters_by_outcome_and_is_staff_only(db, domains, api_for, api_error, mail, ingest):
    ingest(mail())
    ingest(mail(headers={"Auto-Submitted": "auto-replied"}))
    tech = api_for(domains.technician)
    ignored = tech.get("/api/v1/mail/messages?outcome=ignored").get_json()["items"]
    assert len(ignored) == 1 and ignored[0]["outcome"] == "ignored"
    assert {"id", "message_id", "from", "subject", "outcome", "ticket_id", "received_at"} <= set(ignored[0])
    api_error(api_for(domains.clerk_a).get("/api/v1/mail/messages"), 403, "forbidden")
    api_error(api_for(domains.clerk_a).get("/api/v1/mail/held"), 403, "forbidden")


def test_council_mail_domains_in_the_api(db, world, api_for, api_error):
    manager = api_for(world.manager)
    resp = manager.patch(f"/api/v1/councils/{world.council_a.id}", json={"mail_domains": ["Mura.CAT", "mura.net"]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["mail_domains"] == ["mura.cat", "mura.net"]
    api_error(manager.patch(f"/api/v1/councils/{world.council_b.id}", json={"mail_domains": ["mura.cat"]}), 409,
              "duplicate_mail_domain")
    api_error(manager.patch(f"/api/v1/councils/{world.council_b.id}", json={"mail_domains": ["not a domain"]}), 422)
    api_error(manager.patch(f"/api/v1/councils/{world.council_b.id}", json={"mail_domains": ["gmail.com"]}), 422)
    created = manager.post("/api/v1/councils", json={"name": "Navarcles", "population": 6000,
                                                      "mail_domains": ["navarcles.cat"]})
    assert created.status_code == 201 and created.get_json()["mail_domains"] == ["navarcles.cat"]
    api_error(manager.post("/api/v1/councils", json={"name": "Sallent", "population": 6000,
                                                     "mail_domains": ["navarcles.cat"]}), 409, "duplicate_mail_domain")
    assert api_for(world.clerk_a).get(f"/api/v1/councils/{world.council_a.id}").get_json()["mail_domains"] == [
        "mura.cat", "mura.net"]


def test_council_form_sets_mail_domains(db, world, client_for):
    manager = client_for(world.manager)
    page = manager.get(f"/councils/{world.council_a.slug}/edit").get_data(as_text=True)
    assert 'name="mail_domains"' in page
    data = {"name": "Mura", "population": "211", "population_year": "2014", "comarca": "Bages",
            "contact_email": "ajuntament@mura.example.cat", "language": "ca", "timezone": "Europe/Madrid",
            "active": "y", "mail_domains": "mura.cat, Mura.net"}
    resp = manager.post(f"/councils/{world.council_a.slug}/edit", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    db.session.refresh(world.council_a)
    assert world.council_a.mail_domains == ["mura.cat", "mura.net"]
    assert "mura.cat, mura.net" in manager.get(f"/councils/{world.council_a.slug}/edit").get_data(as_text=True)
    page = manager.post(f"/councils/{world.council_b.slug}/edit",
                        data={**data, "name": "Talamanca", "mail_domains": "gmail.com"}).get_data(as_text=True)
    assert 'value="gmail.com"' in page and "gmail.com" in page
    db.session.refresh(world.council_b)
    assert world.council_b.mail_domains == []


def test_the_endpoint_takes_messages_up_to_the_intake_cap(app, db, domains, api_for, api_error, mail):
    admin = api_for(domains.admin)
    saved = app.config["MAX_CONTENT_LENGTH"], app.config["MAIL_INTAKE_MAX_BYTES"]
    app.config["MAX_CONTENT_LENGTH"] = 2000  # the uploads' limit elsewhere in the app
    try:
        big = mail(body="x" * 5000)
        resp = admin.post("/api/v1/mail/inbound", data=big, headers={"Content-Type": "message/rfc822"})
        assert resp.status_code == 200 and resp.get_json()["outcome"] == "created"
        app.config["MAIL_INTAKE_MAX_BYTES"] = 1000
        huge = mail(body="y" * 200_000)
        api_error(admin.post("/api/v1/mail/inbound", data=huge, headers={"Content-Type": "message/rfc822"}), 413)
    finally:
        app.config["MAX_CONTENT_LENGTH"], app.config["MAIL_INTAKE_MAX_BYTES"] = saved

"""Canary strings in every stored text field of a council, through the API as people and
agents would put them there (and the few fields no API writes, directly).

`seed_council(app, world, side, mark)` fills council "a" or "b" of the suite's `world`:
the council's contact fields, its agreement's notes, its clerk's name, time entries, tickets
(title, description, public replies, internal notes, an attachment's name and text, a
rating), assets of several kinds (every text field), a CSV import, an enrolled agent
(host name, OS and inventory as the agent sends them, disk mounts and network interfaces
in its reports) and an SSH check whose output and reason are the machine's words.
`mark(field)` returns the text to store in `field`: a canary word for the isolation matrix,
an XSS payload for the browser test.

A field whose validation refuses the text gets a plain fallback instead (`refused` lists
them): what cannot be stored cannot leak or run, and the fallback still carries the
council's canary word where the field's format allows letters.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

# Council A's and council B's canary words: no word of any language, no run of base64 or hex,
# matched case-insensitively (slugs, tags and codes change case).
WORDS = {"a": "zqxaqa", "b": "zqxbqz"}


@dataclass
class Seeded:
    side: str
    council_id: int
    slug: str
    ids: dict = field(default_factory=dict)
    refused: list = field(default_factory=list)
    references: list = field(default_factory=list)


class _Api:
    def __init__(self, app, user):
        from accounts import services

        self.user = user
        self.token = services.create_token(user, "canaries", actor=None)[1]
        self.client = app.test_client()

    def call(self, method, url, **kw):
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return self.client.open(url, method=method, headers=headers, **kw)


def _tolerant(api: _Api, method: str, url: str, body: dict, seeded: Seeded, fallback, expect=(200, 201)):
    """Send `body`; on 422 replace each refused field by its fallback (then leave it out)
    and try again."""
    resp = api.call(method, url, json=body)
    tries = 0
    while resp.status_code == 422 and tries < 3:
        fields = (resp.get_json() or {}).get("error", {}).get("fields", {})
        replaced = False
        for name in fields:
            top = name.split(".")[0]
            if top in body and isinstance(body[top], str):
                seeded.refused.append(f"{method} {url} {top}: {fields[name]}")
                if body[top] == fallback(top):
                    del body[top]  # not even a plain word: a format (a phone number, an address)
                else:
                    body[top] = fallback(top)
                replaced = True
        if not replaced:
            break
        tries += 1
        resp = api.call(method, url, json=body)
    assert resp.status_code in expect, (method, url, resp.status_code, resp.get_data(as_text=True)[:800])
    return resp.get_json() if resp.is_json else None


def seed_council(app, world, side: str, mark) -> Seeded:
    from route_samples import samples

    from agreements.models import Agreement
    from core.db import utcnow
    from extensions import db
    from remote import state_machine as remote_services
    from remote.models import Check

    word = WORDS[side]
    council = world.council_a if side == "a" else world.council_b
    clerk = world.clerk_a if side == "a" else world.clerk_b
    seeded = Seeded(side=side, council_id=council.id, slug=council.slug)
    seeded.ids.update(samples(world, side))  # every domain's sample objects, for the route walker

    def fallback(name):
        return f"{word}-{name}".replace("_", "-")[:40]

    admin = _Api(app, world.admin)
    tech = _Api(app, world.technician)
    clerk_api = _Api(app, clerk)
    today = dt.date.today()

    # The council's own fields; the ones no API writes, directly.
    _tolerant(admin, "PATCH", f"/api/v1/councils/{council.id}", {
        "name": mark("council.name")[:120], "comarca": mark("council.comarca")[:80],
        "contact_email": f"{word}.contact@{council.slug}.example.cat", "contact_phone": mark("phone")[:40],
    }, seeded, fallback)
    db.session.expire_all()
    council = db.session.get(type(council), council.id)
    council.address = mark("council.address")
    clerk = db.session.get(type(clerk), clerk.id)
    clerk.name = mark("clerk.name")[:120]
    for agreement in db.session.query(Agreement).filter_by(council_id=council.id):
        agreement.notes = mark("agreement.notes")
        agreement.document_ref = mark("agreement.document_ref")[:80]
    db.session.commit()

    # Hours.
    for mode in ("onsite", "remote"):
        body = {"council_id": council.id, "date": today.isoformat(), "minutes": 50, "mode": mode,
                "description": mark(f"entry.{mode}")}
        if mode == "onsite":
            body["travel_minutes"] = 20
        out = _tolerant(tech, "POST", "/api/v1/time-entries", body, seeded, fallback)
        seeded.ids[f"entry_{mode}"] = out["id"]

    # Tickets: one the clerk opens and the office works to a rating, one still open.
    out = _tolerant(clerk_api, "POST", "/api/v1/tickets", {
        "title": mark("ticket.title")[:200], "description": mark("ticket.description"), "category": "hardware",
    }, seeded, fallback)
    ticket_id = out["id"]
    seeded.references.append(out["reference"])
    comment = _tolerant(tech, "POST", f"/api/v1/tickets/{ticket_id}/comments",
                        {"body": mark("comment.public"), "internal": False}, seeded, fallback)
    _tolerant(tech, "POST", f"/api/v1/tickets/{ticket_id}/comments",
              {"body": mark("comment.internal"), "internal": True}, seeded, fallback)
    _tolerant(clerk_api, "POST", f"/api/v1/tickets/{ticket_id}/comments",
              {"body": mark("comment.clerk")}, seeded, fallback)
    resp = clerk_api.call("POST", f"/api/v1/tickets/{ticket_id}/attachments", data={
        "file": (io.BytesIO(f"{mark('attachment.text')}\n".encode()), f"{mark('attachment.name')[:60]}.txt")},
        content_type="multipart/form-data")
    if resp.status_code != 201:
        seeded.refused.append(f"attachment name: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
        resp = clerk_api.call("POST", f"/api/v1/tickets/{ticket_id}/attachments", data={
            "file": (io.BytesIO(f"{word} attachment.text\n".encode()), f"{word}-note.txt")},
            content_type="multipart/form-data")
        assert resp.status_code == 201, resp.get_data(as_text=True)
    attachment_id = resp.get_json()["id"]
    for patch in ({"assignee_id": world.technician.id}, {"status": "in_progress"}, {"status": "resolved"}):
        _tolerant(tech, "PATCH", f"/api/v1/tickets/{ticket_id}", patch, seeded, fallback)
    _tolerant(clerk_api, "POST", f"/api/v1/tickets/{ticket_id}/rating",
              {"score": 2, "comment": mark("rating.comment")}, seeded, fallback)
    seeded.ids["canary_ticket_id"] = ticket_id
    out = _tolerant(tech, "POST", "/api/v1/tickets", {
        "council_id": council.id, "title": mark("ticket2.title")[:200], "description": mark("ticket2.description"),
        "priority": "urgent", "category": "network", "channel": "phone",
    }, seeded, fallback)
    seeded.references.append(out["reference"])
    seeded.ids["open_ticket_id"] = out["id"]

    # Assets: every text field, in a PC, a certificate about to expire and a domain.
    text_fields = ("manufacturer", "model", "serial", "hostname", "ip_address", "os", "location", "assigned_to",
                   "holder", "issuer", "notes")
    for kind, extra in (("desktop", {}), ("certificate", {"expires_on": (today + dt.timedelta(days=12)).isoformat(),
                                                          "media": "usb_token"}),
                        ("domain", {"expires_on": (today + dt.timedelta(days=5)).isoformat()})):
        body = {"council_id": council.id, "kind": kind, "tag": f"{word}-{kind}"[:20].upper(),
                "name": mark(f"asset.{kind}.name")[:120], **extra}
        body.update({f: mark(f"asset.{kind}.{f}") for f in text_fields})
        out = _tolerant(tech, "POST", "/api/v1/assets", body, seeded, fallback)
        seeded.ids[f"asset_{kind}"] = out["id"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["tag", "kind", "name", "location", "notes"])
    for i in range(2):
        writer.writerow([f"{word.upper()}-IMP-{i}", "printer", mark(f"import.name.{i}")[:120],
                         mark("import.location"), mark("import.notes")])
    csv_text = buffer.getvalue()
    resp = tech.call("POST", f"/api/v1/assets/import?council_id={council.id}", data=csv_text.encode(),
                     content_type="text/csv")
    if resp.status_code != 200:
        seeded.refused.append(f"import: {resp.status_code} {resp.get_data(as_text=True)[:300]}")

    # A monitoring agent, speaking for itself: host name, OS and inventory, disk mounts and
    # interfaces are all the machine's words.
    key = _tolerant(tech, "POST", f"/api/v1/councils/{council.id}/enrollment-key", {}, seeded, fallback)["enrollment_key"]
    inventory = {"hostname": mark("agent.hostname")[:255], "os": mark("agent.os"), "os_name": mark("agent.os_name"),
                 "os_release": mark("agent.os_release"), "cpu_model": mark("agent.cpu_model"),
                 "manufacturer": mark("agent.manufacturer"), "model": mark("agent.model"),
                 "serial": mark("agent.serial"), "ip_address": "192.0.2.7",
                 "disks": [{"device": mark("agent.device"), "mount": mark("agent.inventory_mount"),
                            "total_bytes": 10**11, "fstype": "ext4"}]}
    resp = app.test_client().post("/api/v1/agents/enroll", json={
        "enrollment_key": key, "hostname": mark("agent.hostname")[:255], "os": mark("agent.os"),
        "inventory": inventory})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    enrolled = resp.get_json()
    seeded.ids["agent_asset_id"] = enrolled["asset_id"]
    seeded.ids["agent_id"] = enrolled["agent_id"]
    report = {"collected_at": dt.datetime.now(dt.UTC).isoformat(), "report_id": f"{word}report01",
              "metrics": {"cpu_percent": 99.5, "memory_percent": 97.0, "uptime_seconds": 100,
                          "disks": [{"mount": mark("agent.mount"), "total_bytes": 100, "used_bytes": 99,
                                     "fstype": "ext4"}],
                          "addresses": [{"interface": mark("agent.interface")[:64], "family": "ipv4",
                                         "address": "192.0.2.7"}]},
              "inventory": inventory, "agent": {"version": mark("agent.version")[:32]}}
    resp = app.test_client().post("/api/v1/agents/report", json=report,
                                  headers={"Authorization": f"Bearer {enrolled['token']}"})
    if resp.status_code != 202:
        seeded.refused.append(f"agent report: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        report["metrics"]["addresses"] = []
        report["agent"] = {"version": "1.0"}
        resp = app.test_client().post("/api/v1/agents/report", json=report,
                                      headers={"Authorization": f"Bearer {enrolled['token']}"})
        assert resp.status_code == 202, resp.get_data(as_text=True)

    # An SSH check whose output and reason are the host's words (stored as the SSH engine
    # stores what a command printed).
    asset_id = seeded.ids["agent_asset_id"]
    out = _tolerant(tech, "POST", f"/api/v1/assets/{asset_id}/checks",
                    {"check": "systemd_unit", "params": {"unit": f"{word}.service"}}, seeded, fallback)
    check = db.session.get(Check, out["id"])
    remote_services.apply_result(check, remote_services.Observation(
        state="critical", summary_key="command_error", summary_params={"reason": mark("ssh.reason")[:160]},
        output=mark("ssh.output")), utcnow())
    db.session.commit()
    seeded.ids["ssh_check_id"] = check.id
    db.session.expire_all()
    # The route walkers' path arguments name the canary-laden objects from here on (the
    # samples' own objects stay, under their names, for what needs a fresh ticket).
    seeded.ids.update(ticket_id=ticket_id, comment_id=comment["id"], attachment_id=attachment_id,
                      asset_id=seeded.ids["agent_asset_id"], check_id=check.id, agent_id=seeded.ids["agent_id"],
                      entry_id=seeded.ids["entry_onsite"])
    return seeded

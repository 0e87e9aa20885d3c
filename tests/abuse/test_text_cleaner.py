"""One cleaner refuses bidi overrides and invisible characters in every user-written field
(issue 14, item 9), in the API and the pages alike."""

from __future__ import annotations

import io

import pytest
from route_samples import samples

from core.text import has_hidden_characters

HIDDEN = ("invoice\u202efdp.exe", "a\u200bb", "a\u2066b\u2069", "\ufeffa", "a\u2028b", "a\x07b")


def test_the_rule():
    for value in HIDDEN:
        assert has_hidden_characters(value)
    assert not has_hidden_characters("Mura\u00a0Vella, l'Ajuntament · 2n pis")
    assert has_hidden_characters("a\nb") and not has_hidden_characters("a\nb\tc", multiline=True)


@pytest.mark.parametrize("value", HIDDEN)
def test_tickets_and_comments_refuse_hidden_characters(app, world, api_for, value):
    api = api_for(world.clerk_a)
    resp = api.post("/api/v1/tickets", json={"title": f"Printer {value}", "description": "Broken"})
    assert resp.status_code == 422 and "title" in resp.json["error"]["fields"], resp.json
    resp = api.post("/api/v1/tickets", json={"title": "Printer", "description": f"Broken {value}"})
    assert resp.status_code == 422 and "description" in resp.json["error"]["fields"], resp.json
    ticket_id = samples(world, "a")["ticket_id"]
    resp = api.post(f"/api/v1/tickets/{ticket_id}/comments", json={"body": f"Still {value}"})
    assert resp.status_code == 422, resp.json
    # Line breaks and tabs stay welcome in a comment.
    assert api.post(f"/api/v1/tickets/{ticket_id}/comments", json={"body": "Line 1\n\tLine 2"}).status_code == 201


def test_ticket_form_keeps_what_was_typed_and_says_why(app, world, client_for):
    resp = client_for(world.clerk_a).post("/tickets/new", data={"title": "invoice\u202efdp.exe",
                                                                "description": "Kept text"})
    assert resp.status_code in (200, 422)
    page = resp.get_data(as_text=True)
    assert "Kept text" in page


def test_asset_fields_refuse_hidden_characters(app, world, api_for):
    api = api_for(world.technician)
    for field in ("name", "location", "notes", "tag", "model"):
        body = {"kind": "desktop", "name": "PC", "council_id": world.council_a.id, field: "PC\u202eexe"}
        resp = api.post("/api/v1/assets", json=body)
        assert resp.status_code == 422 and field in resp.json["error"]["fields"], (field, resp.json)


def test_time_entry_description_refuses_hidden_characters(app, world, api_for):
    from agreements.months import office_today

    api = api_for(world.technician)
    resp = api.post("/api/v1/time-entries", json={"council_id": world.council_a.id, "date": office_today().isoformat(),
                                                  "minutes": 30, "mode": "remote", "description": "Fixed\u200b it"})
    assert resp.status_code == 422 and "description" in resp.json["error"]["fields"], resp.json


def test_attachment_names_refuse_hidden_characters(app, world, api_for):
    ticket_id = samples(world, "a")["ticket_id"]
    api = api_for(world.clerk_a)
    resp = api.client.post(f"/api/v1/tickets/{ticket_id}/attachments", headers={"Authorization": f"Bearer {api.token}"},
                           data={"file": (io.BytesIO(b"hello"), "invoice\u202efdp.exe.txt")},
                           content_type="multipart/form-data")
    assert resp.status_code == 422 and "file" in resp.json["error"]["fields"], resp.get_data(as_text=True)
    resp = api.client.post(f"/api/v1/tickets/{ticket_id}/attachments", headers={"Authorization": f"Bearer {api.token}"},
                           data={"file": (io.BytesIO(b"hello"), "invoice.txt")}, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_data(as_text=True)

"""Regressions for what the battery found in core, accounts, agreements and inventory."""

from __future__ import annotations


def test_asset_list_redirect_ignores_reserved_query_arguments(app, world, client_for):
    # The isolation matrix's probe `/assets?slug=...` was a 500 (url_for got `slug` twice).
    resp = client_for(world.clerk_a).get("/assets?slug=talamanca&_external=1&kind=desktop")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/councils/mura/assets?") and "kind=desktop" in resp.headers["Location"]
    assert "talamanca" not in resp.headers["Location"] and "_external" not in resp.headers["Location"]
    resp = client_for(world.manager).get("/assets?council=mura&slug=talamanca")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/councils/mura/assets")


def test_asset_patch_document_offers_no_null_where_422_answers(app, world, api_for):
    from inventory import services

    asset = services.create_asset(world.council_a, {"kind": "desktop", "name": "PC"}, actor=None)
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    patch = doc["components"]["schemas"]["AssetPatch"]["properties"]
    for name in ("tag", "kind", "name", "status", "council_id"):
        assert "anyOf" not in patch[name] or all(o.get("type") != "null" for o in patch[name]["anyOf"]), name
    api = api_for(world.technician)
    assert api.patch(f"/api/v1/assets/{asset.id}", json={"tag": None}).status_code == 422
    assert api.patch(f"/api/v1/assets/{asset.id}", json={"notes": None}).status_code == 200


def test_council_names_refuse_control_characters(app, world, api_for):
    api = api_for(world.admin)
    for field, value in (("name", "Mura\x14"), ("name", "Mura\u202e"), ("comarca", "Ba\x00ges"),
                         ("name", "Mura\nVella")):
        resp = api.patch(f"/api/v1/councils/{world.council_a.id}", json={field: value})
        assert resp.status_code == 422 and field in resp.json["error"]["fields"], (field, value, resp.json)
    # A no-break space pasted from a web page is a letter's neighbour, not a control character.
    assert api.patch(f"/api/v1/councils/{world.council_a.id}", json={"name": "Mura\u00a0Vella"}).status_code == 200
    resp = api.post("/api/v1/councils", json={"name": "Navarcles\x07", "population": 6000})
    assert resp.status_code == 422


def test_multipart_part_without_a_name_is_not_a_server_error(app, world, api_for):
    # Schemathesis on PostgreSQL: a multipart part werkzeug parses without a name made the
    # NUL guard of core.security raise TypeError (a 500) before any view ran.
    from route_samples import samples

    ticket_id = samples(world, "a")["ticket_id"]
    api = api_for(world.clerk_a)
    boundary = "b0undary"
    for disposition in (b"form-data", b'form-data; name="U\xf3\x95\xb4\xbfv\xc2\x99%0D0\xc3\x97"', b"form-data; name"):
        body = (f"--{boundary}\r\n".encode() + b"Content-Disposition: " + disposition + b"\r\n\r\n{}\r\n"
                + f"--{boundary}--\r\n".encode())
        resp = api.client.post(f"/api/v1/tickets/{ticket_id}/attachments", data=body, headers={
            "Authorization": f"Bearer {api.token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert resp.status_code in (400, 422), (disposition, resp.status_code, resp.get_data(as_text=True))
    # A NUL in an uploaded file's name is refused like a NUL in any field.
    resp = api.client.post(f"/api/v1/tickets/{ticket_id}/attachments", headers={"Authorization": f"Bearer {api.token}"},
                           data={"file": (__import__("io").BytesIO(b"hello"), "a\x00b.txt")},
                           content_type="multipart/form-data")
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)

"""The eight inputs that gave a 500 (issue 14, item 8), one regression each."""

from __future__ import annotations

import io

import pytest
from route_samples import samples


def test_ticket_queue_assignee_with_a_superscript_digit(app, world, client_for):
    for role in ("admin", "technician", "clerk"):
        client = client_for(world.by_role[role])
        for value in ("²", "١٢", "12²", "99999999999999999999"):
            resp = client.get("/tickets", query_string={"assignee": value})
            assert resp.status_code == 200, (role, value, resp.status_code)


@pytest.mark.parametrize("key", ["endpoint", "_method", "slug", "_external", "_anchor", "_scheme", "values"])
def test_query_keys_that_clash_with_url_building(app, world, client_for, key):
    values = samples(world, "a")
    paged = ["/tickets", "/assets", "/councils/mura/assets", "/health", "/councils/mura/health",
             "/admin/scheduler", "/admin/users", "/admin/audit", f"/assets/{values['asset_id']}"]
    for role in ("admin", "manager", "technician", "clerk"):
        client = client_for(world.by_role[role])
        for url in paged:
            resp = client.get(url, query_string={key: "x", "council": "mura", "after": "zzz"})
            assert resp.status_code < 500, (role, url, key, resp.status_code)
            location = resp.headers.get("Location", "")
            assert key not in location or key == "values", (url, location)


def test_check_results_at_extreme_dates(app, world, api_for, api_error):
    values = samples(world, "a")
    api = api_for(world.technician)
    base = f"/api/v1/assets/{values['asset_id']}/checks/{values['check_id']}/results"
    for name in ("since", "until"):
        for value in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1899-12-31T23:00:00+00:00"):
            resp = api.get(base, query_string={name: value})
            error = api_error(resp, 422, "validation_error")
            assert name in error["fields"], error
    assert api.get(base, query_string={"since": "2026-01-01T00:00:00+01:00"}).status_code == 200


def test_attachment_upload_with_a_superscript_comment_id(app, world, api_for, api_error):
    values = samples(world, "a")
    api = api_for(world.clerk_a)
    for raw in ("²", "1²", "٣"):
        resp = api.client.post(f"/api/v1/tickets/{values['ticket_id']}/attachments",
                               headers={"Authorization": f"Bearer {api.token}"},
                               data={"file": (io.BytesIO(b"hello"), "a.txt"), "comment_id": raw},
                               content_type="multipart/form-data")
        error = api_error(resp, 422, "validation_error")
        assert "comment_id" in error["fields"]


def test_load_check_with_a_superscript_window(app, world, api_for, client_for):
    values = samples(world, "a")
    api = api_for(world.technician)
    resp = api.post(f"/api/v1/assets/{values['asset_id']}/checks", json={"kind": "load", "params": {"window": "²"}})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    resp = client_for(world.technician).post(f"/assets/{values['asset_id']}/checks/new",
                                             data={"kind": "load", "window": "²"})
    assert resp.status_code in (200, 422), resp.status_code


def test_scheduler_page_at_extreme_days(app, world, client_for):
    client = client_for(world.admin)
    for day in ("9999-12-31", "0001-01-01", "1899-12-31", "2201-01-01", "²"):
        resp = client.get("/admin/scheduler", query_string={"day": day})
        assert resp.status_code in (200, 400), (day, resp.status_code)


def test_agent_collected_at_extreme_dates(app, world, enroll, api_error):
    from remote_support import report_body

    agent = enroll()
    for stamp in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1899-01-01T00:00:00+00:00"):
        body = report_body()
        body["collected_at"] = stamp
        resp = agent.report(body)
        assert resp.status_code in (400, 422), (stamp, resp.status_code, resp.get_data(as_text=True))
    assert agent.report().status_code == 202

"""Who sees which report: a clerk only their council's (another council is a 404 in pages,
API, charts, exports and the archive alike); the public page only while the council
publishes it, and without personal data."""

from __future__ import annotations

import csv
import io
import json

import pytest

from agreements.months import add_months, format_month, month_start


@pytest.fixture
def month(dataset) -> str:
    return format_month(add_months(month_start(dataset.today), -1))


def test_clerk_gets_404_for_another_council_everywhere(dataset, world, client_for, api_for, month):
    other = world.council_b
    client = client_for(world.clerk_a)
    for url in (f"/reports/councils/{other.slug}", f"/reports/councils/{other.slug}/service",
                f"/reports/councils/{other.slug}/chart.png", f"/reports/councils/{other.slug}/chart.svg",
                f"/reports/councils/{other.slug}/sla.png", f"/reports/councils/{other.slug}/monthly/{month}.pdf",
                f"/reports/usage.csv?council={other.slug}", f"/reports/usage.xlsx?council={other.slug}",
                f"/reports/archive?council={other.slug}",
                f"/reports/agreements/{dataset.agreements['b'].id}"):
        assert client.get(url).status_code == 404, url
    api = api_for(world.clerk_a)
    for url in (f"/api/v1/reports/usage?year={dataset.year}&council_id={other.id}",
                f"/api/v1/reports/usage?year={dataset.year}&council_id={other.id}&format=csv",
                f"/api/v1/reports/usage.png?year={dataset.year}&council_id={other.id}",
                f"/api/v1/reports/service?year={dataset.year}&council_id={other.id}"):
        resp = api.get(url)
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found", url


def test_clerk_reports_hold_only_their_council(dataset, world, client_for, api_for):
    api = api_for(world.clerk_a)
    items = api.get(f"/api/v1/reports/usage?year={dataset.year}").get_json()["items"]
    assert items and {i["council_id"] for i in items} == {world.council_a.id}
    body = api.get(f"/api/v1/reports/usage?year={dataset.year}&format=csv").data.decode("utf-8-sig")
    assert {r["council_id"] for r in csv.DictReader(io.StringIO(body))} == {str(world.council_a.id)}
    service = api.get(f"/api/v1/reports/service?year={dataset.year}").get_json()
    assert {i["council_id"] for i in service["items"]} == {world.council_a.id}
    client = client_for(world.clerk_a)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(client.get(f"/reports/usage.xlsx?year={dataset.year}").data))
    names = {r[0] for r in book[book.sheetnames[0]].iter_rows(min_row=2, values_only=True)}
    assert names == {world.council_a.name}
    # Office-wide pages are for the office.
    for url in ("/reports/dashboard", "/reports/usage", "/reports/service", f"/reports/monthly/{dataset.year}-12.pdf",
                "/reports/charts/heatmap.png", "/reports/transparency"):
        assert client.get(url).status_code == 403, url
    assert client.get("/reports").headers["Location"].endswith(f"/reports/councils/{world.council_a.slug}")


def test_archive_is_scoped(dataset, world, client_for, api_for):
    from reports import archive

    month = add_months(month_start(dataset.today), -1)
    own = archive.store("council_month", world.council_a, month, "ca", "csv", b"a;b\r\n1;2\r\n", actor=None)
    theirs = archive.store("council_month", world.council_b, month, "ca", "csv", b"a;b\r\n3;4\r\n", actor=None)
    office = archive.store("office_month", None, month, "ca", "csv", b"a;b\r\n5;6\r\n", actor=None)
    client = client_for(world.clerk_a)
    assert client.get(f"/reports/archive/{own.id}").data == b"a;b\r\n1;2\r\n"
    assert client.get(f"/reports/archive/{theirs.id}").status_code == 404
    assert client.get(f"/reports/archive/{office.id}").status_code == 404
    listed = api_for(world.clerk_a).get("/api/v1/reports/archive").get_json()["items"]
    assert [i["id"] for i in listed] == [own.id]
    api = api_for(world.clerk_a)
    assert api.get(f"/api/v1/reports/archive/{theirs.id}/file").status_code == 404
    staff = api_for(world.technician).get("/api/v1/reports/archive").get_json()["items"]
    assert {i["id"] for i in staff} == {own.id, theirs.id, office.id}
    page = client.get("/reports/archive").get_data(as_text=True)
    assert world.council_b.name not in page


def test_public_page_is_off_by_default(dataset, world, client_for, app):
    anonymous = app.test_client()
    slug = world.council_a.slug
    for url in (f"/public/{slug}", f"/public/{slug}.json", f"/public/{slug}.csv", f"/public/{slug}/chart.png",
                "/public/no-such-council"):
        assert anonymous.get(url).status_code == 404, url


def test_publishing_and_what_is_published(dataset, db, world, client_for, app):
    slug = world.council_a.slug
    # Only managers and admins switch it on; a clerk or a technician cannot.
    assert client_for(world.clerk_a).post(f"/reports/councils/{slug}/publication", data={"enabled": "1"}).status_code == 403
    assert client_for(world.technician).post(f"/reports/councils/{slug}/publication",
                                             data={"enabled": "1"}).status_code == 403
    resp = client_for(world.manager).post(f"/reports/councils/{slug}/publication", data={"enabled": "1"})
    assert resp.status_code == 302
    anonymous = app.test_client()
    page = anonymous.get(f"/public/{slug}?year={dataset.year}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert world.council_a.name in html
    data = anonymous.get(f"/public/{slug}.json?year={dataset.year}")
    assert data.status_code == 200 and data.headers["Access-Control-Allow-Origin"] == "*"
    body = data.get_json()
    assert body["council"]["slug"] == slug and len(body["months"]) == 12
    assert body["agreement"]["onsite_minutes_month"] == 240
    # Figures only: no names, addresses or ticket texts anywhere.
    text = json.dumps(body, ensure_ascii=False) + html
    for personal in (world.clerk_a.email, world.clerk_a.name, world.technician.name, "Incidència", "No imprimeix",
                     world.council_a.contact_email, "Feina feta"):
        assert personal not in text
    # The months agree with the usage report.
    from reports import consumption

    items = {i["month"]: i for i in consumption.usage_items(dataset.year, world.council_a.id)}
    for m in body["months"]:
        assert m["onsite_used_minutes"] == items[m["month"]]["onsite_used_minutes"]
        assert m["remote_allowance_minutes"] == items[m["month"]]["remote_allowance_minutes"]
    # The CSV is for people: in the council's language (whoever asks), hours as h:mm and decimal.
    from flask_babel import force_locale, gettext

    from core.csvsafe import delimiter_for
    from core.spreadsheet import hm

    language = world.council_a.language
    with force_locale(language):
        month, opened = gettext("Month"), gettext("Tickets opened")
    for accept in ("en", "es"):
        text = anonymous.get(f"/public/{slug}.csv?year={dataset.year}", headers={"Accept-Language": accept})
        rows = list(csv.reader(io.StringIO(text.data.decode("utf-8-sig")), delimiter=delimiter_for(language)))
        assert rows[0][0] == month and opened in rows[0] and "onsite_used_minutes" not in rows[0]
        assert [r[0] for r in rows[1:]] == [m["month"] for m in body["months"]]
        assert [r[3] for r in rows[1:]] == [hm(m["onsite_used_minutes"]) for m in body["months"]]
    assert anonymous.get(f"/public/{slug}/chart.png?year={dataset.year}").status_code == 200
    # Another council stays private.
    assert anonymous.get(f"/public/{world.council_b.slug}").status_code == 404
    # And switching it off closes it again.
    client_for(world.admin).post(f"/reports/councils/{slug}/publication", data={"enabled": "0"})
    assert anonymous.get(f"/public/{slug}").status_code == 404


def test_publication_is_audited(dataset, db, world):
    from sqlalchemy import select

    from accounts.models import AuditEntry
    from reports import publishing

    publishing.set_publication(world.council_a, True, actor=world.manager)
    publishing.set_publication(world.council_a, True, actor=world.manager)  # no change, no entry
    publishing.set_publication(world.council_a, False, actor=world.admin)
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "transparency_page")
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["publish", "unpublish"]

"""Inventory pages: lists, detail with history, forms by kind, import, expiring, isolation."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from accounts.models import AuditEntry
from inventory import services
from inventory.models import Asset


def text(resp) -> str:
    return resp.get_data(as_text=True)


def field_block(html: str, name: str) -> str:
    """The markup of one form field's wrapper (label, input and its error messages)."""
    match = re.search(rf'<div class="mb-3 ">\s*<label class="form-label" for="{name}">.*?(?=<div class="mb-3 |</form>)',
                      html, re.S)
    assert match, f"no field {name}"
    return match.group(0)


def wrapper_of(html: str, name: str) -> str:
    match = re.search(rf'<div class="col-md-6" data-kinds="[^"]*"[^>]*>\s*<div class="mb-3 ">\s*<label class="form-label" for="{name}"',
                      html, re.S)
    assert match, f"no wrapper for {name}"
    return match.group(0)


# --- isolation ---------------------------------------------------------------------------

def test_clerk_sees_only_their_own_council_everywhere(world, client_for, add_asset):
    mine = add_asset(name="PC Mura", serial="SHARED-SERIAL-A")
    theirs = add_asset(world.council_b, name="PC Talamanca", serial="SHARED-SERIAL-B")
    clerk = client_for(world.clerk_a)

    resp = clerk.get("/assets?q=shared-serial")
    assert resp.status_code == 302 and resp.headers["Location"].startswith(f"/councils/{world.council_a.slug}/assets")
    page = text(clerk.get(f"/councils/{world.council_a.slug}/assets?q=shared-serial"))
    assert "PC Mura" in page and "PC Talamanca" not in page
    assert clerk.get(f"/councils/{world.council_b.slug}/assets").status_code == 404
    assert clerk.get(f"/assets/{mine.id}").status_code == 200
    assert clerk.get(f"/assets/{theirs.id}").status_code == 404
    for fmt in ("csv", "xlsx"):
        assert clerk.get(f"/councils/{world.council_b.slug}/assets/export.{fmt}").status_code == 404
        body = clerk.get(f"/assets/export.{fmt}").data
        assert b"PC Talamanca" not in body and b"SHARED-SERIAL-B" not in body
    csv_text = clerk.get(f"/councils/{world.council_a.slug}/assets/export.csv").get_data(as_text=True)
    assert "PC Mura" in csv_text and "PC Talamanca" not in csv_text
    # Clerks read; they never write, import or see the office's expiring page.
    assert clerk.get(f"/councils/{world.council_a.slug}/assets/import").status_code == 403
    assert clerk.post(f"/councils/{world.council_a.slug}/assets/import", data={}).status_code == 403
    assert clerk.get(f"/councils/{world.council_a.slug}/assets/new?kind=desktop").status_code == 403
    assert clerk.get(f"/assets/{mine.id}/edit").status_code == 403
    assert clerk.post(f"/assets/{mine.id}/status", data={"status": "retired"}).status_code == 403
    assert clerk.get("/expiring").status_code == 403
    assert "PC Talamanca" not in text(clerk.get(f"/assets/{mine.id}"))


def test_clerk_sees_the_history_of_their_assets_only(db, world, client_for, add_asset):
    mine = add_asset(name="PC Mura")
    services.update_asset(mine, {"location": "Arxiu"}, actor=world.technician)
    page = text(client_for(world.clerk_a).get(f"/assets/{mine.id}"))
    assert "Arxiu" in page and world.technician.email in page


# --- lists -------------------------------------------------------------------------------

def test_list_filters_and_search(world, client_for, add_asset):
    add_asset(name="PC Secretaria", hostname="MURA-PC01")
    add_asset(kind="printer", name="Impressora Ricoh")
    retired = add_asset(name="PC vell")
    services.set_status(retired, "retired", actor=world.technician)
    add_asset(kind="certificate", name="T-CAT alcaldia", holder="Maria Puig",
              expires_on=services.office_today() + dt.timedelta(days=10))
    tech = client_for(world.technician)
    base = f"/councils/{world.council_a.slug}/assets"

    page = text(tech.get(base))
    assert "PC Secretaria" in page and "PC vell" not in page  # retired hidden by default
    assert "PC vell" in text(tech.get(base + "?status=all"))
    assert "PC vell" in text(tech.get(base + "?status=retired"))
    only_printers = text(tech.get(base + "?kind=printer"))
    assert "Impressora Ricoh" in only_printers and "PC Secretaria" not in only_printers
    soon = text(tech.get(base + "?expiring=soon"))
    assert "T-CAT alcaldia" in soon and "PC Secretaria" not in soon
    assert "T-CAT alcaldia" in text(tech.get(base + "?q=puig"))
    assert "PC Secretaria" in text(tech.get(base + "?q=mura-pc01"))
    # Unknown filter values fall back to defaults instead of failing.
    assert tech.get(base + "?kind=x&status=y&expiring=z&sort=id;drop").status_code == 200
    # The office-wide list names each asset's council.
    every = text(tech.get("/assets"))
    assert world.council_a.name in every


def test_list_pages_with_keyset_links(world, client_for, add_asset):
    for n in range(55):
        add_asset(tag=f"T-{n:03d}", name=f"PC {n:03d}")
    tech = client_for(world.technician)
    first = text(tech.get(f"/councils/{world.council_a.slug}/assets"))
    assert "T-000" in first and "T-049" in first and "T-050" not in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = text(tech.get(next_url))
    assert "T-050" in second and "T-054" in second and "T-049" not in second
    # Every sort walks every asset exactly once.
    for sort in ("tag", "name", "updated"):
        seen, url = [], f"/councils/{world.council_a.slug}/assets?sort={sort}"
        while url:
            page = text(tech.get(url))
            seen += re.findall(r">(T-\d{3})</a>", page)
            link = re.search(r'href="([^"]+)" rel="next"', page)
            url = link.group(1).replace("&amp;", "&") if link else None
        assert sorted(seen) == [f"T-{n:03d}" for n in range(55)], sort


def test_list_query_count_does_not_grow_with_rows(app, db, world, client_for, add_asset):
    tech = client_for(world.technician)

    def queries(url):
        statements = []

        def count(*_args):
            statements.append(1)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert tech.get(url).status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    add_asset(name="PC 1")
    few = (queries("/assets"), queries(f"/councils/{world.council_a.slug}/assets"))
    for n in range(30):
        add_asset(world.council_a if n % 2 else world.council_b, name=f"PC {n}", warranty_until=dt.date(2027, 1, 1))
    many = (queries("/assets"), queries(f"/councils/{world.council_a.slug}/assets"))
    assert many == few


# --- forms ---------------------------------------------------------------------------------

def test_new_asset_starts_with_its_kind(world, client_for):
    tech = client_for(world.technician)
    picker = text(tech.get(f"/councils/{world.council_a.slug}/assets/new"))
    assert "kind=certificate" in picker and "kind=desktop" in picker
    form = text(tech.get(f"/councils/{world.council_a.slug}/assets/new?kind=certificate"))
    assert f'value="{world.council_a.code}-CERT-001"' in form
    # The certificate's fields are shown, the hardware ones rendered hidden (for the script).
    assert " hidden" not in wrapper_of(form, "holder")
    assert " hidden" not in wrapper_of(form, "expires_on")
    assert " hidden" in wrapper_of(form, "hostname")
    assert " hidden" in wrapper_of(form, "warranty_until")
    assert "Certification authority" in form  # the issuer, as a certificate calls it
    hardware = text(tech.get(f"/councils/{world.council_a.slug}/assets/new?kind=server"))
    assert " hidden" not in wrapper_of(hardware, "hostname")
    assert " hidden" in wrapper_of(hardware, "holder")


def test_create_edit_and_retire_through_the_pages(db, world, client_for):
    tech = client_for(world.technician)
    resp = tech.post(f"/councils/{world.council_a.slug}/assets/new?kind=certificate", data={
        "kind": "certificate", "tag": "", "name": "T-CAT alcaldia", "status": "in_use", "holder": "Maria Puig",
        "issuer": "Consorci AOC", "media": "card", "expires_on": "2027-03-01"})
    assert resp.status_code == 302
    asset = db.session.scalar(select(Asset))
    assert resp.headers["Location"].endswith(f"/assets/{asset.id}")
    assert (asset.tag, asset.media, asset.expires_on) == (f"{world.council_a.code}-CERT-001", "card",
                                                          dt.date(2027, 3, 1))

    edit = text(tech.get(f"/assets/{asset.id}/edit"))
    assert 'value="Maria Puig"' in edit
    form = {"kind": "certificate", "tag": asset.tag, "name": "T-CAT alcaldia", "status": "in_use",
            "holder": "Maria Puig i Vila", "issuer": "Consorci AOC", "media": "card", "expires_on": "2031-03-01"}
    assert tech.post(f"/assets/{asset.id}/edit", data=form).status_code == 302
    assert tech.post(f"/assets/{asset.id}/status", data={"status": "retired"}).status_code == 302
    db.session.expire_all()
    assert (asset.holder, asset.status) == ("Maria Puig i Vila", "retired")
    detail = text(tech.get(f"/assets/{asset.id}"))
    assert "Maria Puig i Vila" in detail and "2027-03-01" in detail and "2031-03-01" in detail
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "asset").order_by(AuditEntry.id)).all()
    assert actions == ["create", "update", "update"]


def test_hidden_fields_keep_their_values_when_the_kind_changes(db, world, client_for, add_asset):
    pc = add_asset(name="Servidor", hostname="MURA-SRV01", purchased_on=dt.date(2024, 1, 1))
    tech = client_for(world.technician)
    # The kind changes to "other" with every field posted, as the browser sends hidden inputs.
    data = {"kind": "other", "tag": pc.tag, "name": "Servidor", "status": "in_use", "hostname": "MURA-SRV01",
            "purchased_on": "2024-01-01", "media": ""}
    assert tech.post(f"/assets/{pc.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert (pc.kind, pc.hostname, pc.purchased_on) == ("other", "MURA-SRV01", dt.date(2024, 1, 1))
    # Back to a kind without a host name: the field holds a value, so it stays in view.
    services.update_asset(pc, {"kind": "certificate"}, actor=world.technician)
    assert " hidden" not in wrapper_of(text(tech.get(f"/assets/{pc.id}/edit")), "hostname")


def test_form_errors_appear_next_to_fields_in_the_users_language(db, world, translated_app, login_to, add_asset):
    add_asset(tag="MURA-PC-001")
    world.technician.preferred_language = "ca"
    db.session.commit()
    client = login_to(translated_app, world.technician)
    url = f"/councils/{world.council_a.slug}/assets/new?kind=desktop"
    base = {"kind": "desktop", "tag": "X-1", "name": "PC", "status": "in_use", "media": ""}

    html = text(client.post(url, data=base | {"name": ""}))
    assert "Aquest camp és obligatori." in field_block(html, "name")
    html = text(client.post(url, data=base | {"ip_address": "10.0.0.999", "purchased_on": "2025-01-01",
                                              "warranty_until": "2024-01-01"}))
    assert "No és una adreça IP" in field_block(html, "ip_address")
    assert "La garantia acaba abans de la data de compra." in field_block(html, "warranty_until")
    html = text(client.post(url, data=base | {"tag": "mura-pc-001"}))
    assert "Ja la fa servir un altre element d&#39;aquest ajuntament." in field_block(html, "tag")
    assert 'class="form-control is-invalid"' in field_block(html, "tag")
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 1


# --- import --------------------------------------------------------------------------------

def _upload(client, slug, data: bytes):
    return client.post(f"/councils/{slug}/assets/import",
                       data={"file": (io.BytesIO(data), "inventari.csv")}, content_type="multipart/form-data")


def test_web_import_previews_then_commits(db, world, client_for, add_asset, make_csv):
    add_asset(tag="MURA-PC-001", name="PC", location="Secretaria")
    tech = client_for(world.technician)
    data = make_csv(["tag", "kind", "name", "location"],
                    [["MURA-PC-001", "desktop", "PC", "Arxiu"], ["MURA-PRN-001", "printer", "Impressora", ""]],
                    delimiter=";")
    preview = text(_upload(tech, world.council_a.slug, data))
    assert "1 new asset" in preview and "1 asset updated" in preview
    assert "Secretaria" in preview and "Arxiu" in preview
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 1
    token = re.search(r'name="upload" type="hidden" value="([^"]+)"', preview).group(1)

    # The token is bound to the council and the user who uploaded.
    other = client_for(world.manager).post(f"/councils/{world.council_a.slug}/assets/import", data={"upload": token})
    assert other.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 1

    done = tech.post(f"/councils/{world.council_a.slug}/assets/import", data={"upload": token})
    assert done.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 2
    assert db.session.scalar(select(Asset.location).where(Asset.tag == "MURA-PC-001")) == "Arxiu"
    # The stored file is gone: confirming twice imports nothing more.
    assert tech.post(f"/councils/{world.council_a.slug}/assets/import", data={"upload": token}).status_code == 302


def test_web_import_lists_row_errors_and_offers_no_commit(db, world, client_for, make_csv):
    tech = client_for(world.technician)
    data = make_csv(["tag", "kind", "name", "council"],
                    [["A", "desktop", "ok", ""], ["B", "toaster", "x", ""], ["C", "desktop", "x", world.council_b.name]])
    page = text(_upload(tech, world.council_a.slug, data))
    assert "2 problems found." in page
    assert "<code>kind</code>" in page and "<code>council</code>" in page
    assert 'name="upload"' not in page
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 0
    assert "Choose a CSV file." in text(tech.post(f"/councils/{world.council_a.slug}/assets/import", data={}))


def test_web_import_errors_in_the_users_language(db, world, translated_app, login_to, make_csv):
    world.technician.preferred_language = "es"
    db.session.commit()
    client = login_to(translated_app, world.technician)
    page = text(_upload(client, world.council_a.slug, make_csv(["tag", "kind", "name"], [["A", "toaster", "x"]])))
    assert "1 problema encontrado." in page
    assert "Tipo desconocido" in page


# --- expiring --------------------------------------------------------------------------------

def test_expiring_page_lists_every_council_by_date(world, client_for, add_asset):
    today = services.office_today()
    add_asset(kind="certificate", name="T-CAT secretaria", expires_on=today + dt.timedelta(days=40))
    add_asset(world.council_b, kind="domain", name="talamanca.cat", expires_on=today + dt.timedelta(days=5))
    add_asset(kind="license", name="Antivirus caducat", expires_on=today - dt.timedelta(days=3))
    add_asset(kind="certificate", name="Llunyà", expires_on=today + dt.timedelta(days=400))
    page = text(client_for(world.manager).get("/expiring"))
    assert "Llunyà" not in page
    order = [page.index(name) for name in ("Antivirus caducat", "talamanca.cat", "T-CAT secretaria")]
    assert order == sorted(order)
    only_b = text(client_for(world.manager).get(f"/expiring?council={world.council_b.slug}"))
    assert "talamanca.cat" in only_b and "T-CAT secretaria" not in only_b


@pytest.mark.parametrize("role", ["technician", "manager", "admin"])
def test_staff_can_use_every_inventory_page(world, client_for, add_asset, role):
    asset = add_asset()
    client = client_for(getattr(world, role))
    for url in ("/assets", f"/councils/{world.council_a.slug}/assets", f"/assets/{asset.id}",
                f"/assets/{asset.id}/edit", f"/councils/{world.council_a.slug}/assets/new",
                f"/councils/{world.council_a.slug}/assets/import", "/expiring"):
        assert client.get(url).status_code == 200, url


def test_expiring_page_filters_by_kind_and_shows_it_on_a_phone(world, client_for, add_asset):
    today = services.office_today()
    add_asset(kind="certificate", name="T-CAT secretaria", expires_on=today + dt.timedelta(days=40))
    add_asset(kind="certificate", name="T-CAT alcaldia", expires_on=today + dt.timedelta(days=10))
    add_asset(kind="domain", name="mura.cat", expires_on=today + dt.timedelta(days=5))
    add_asset(kind="desktop", name="PC Registre", warranty_until=today + dt.timedelta(days=20))
    client = client_for(world.manager)
    page = text(client.get("/expiring"))
    assert '<option value="warranty">' in page and '<option value="certificate">' in page
    certificates = text(client.get("/expiring?kind=certificate"))
    assert "T-CAT secretaria" in certificates and "mura.cat" not in certificates and "PC Registre" not in certificates
    assert certificates.index("T-CAT alcaldia") < certificates.index("T-CAT secretaria")  # by date
    warranties = text(client.get("/expiring?kind=warranty"))
    assert "PC Registre" in warranties and "T-CAT" not in warranties
    # The kind is said on a phone too, where the "What" column is hidden.
    assert '<span class="d-sm-none"> · ' in warranties
    assert "mura.cat" in text(client.get("/expiring?kind=bogus"))  # an unknown kind filters nothing

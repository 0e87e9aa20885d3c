"""CSV and XLSX exports: accents intact, formulas neutralised, typed cells, and they import back."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from agreements import councils
from core import csvsafe
from inventory import importer
from inventory.exporter import EXPORT_COLUMNS, export_header

ACCENTED = ("Avinyó", "Callús", "Gaià", "Castellbell i el Vilar")


def header_in(app, lang: str) -> list[str]:
    from flask_babel import force_locale

    with app.test_request_context(), force_locale(lang):
        return export_header()


def kind_in(app, lang: str, code: str) -> str:
    from flask_babel import force_locale

    from inventory.labels import kind_labels

    with app.test_request_context(), force_locale(lang):
        return str(kind_labels()[code])


def read_csv(body: bytes, delimiter: str) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline=""), delimiter=delimiter))


def test_csv_neutraliser():
    assert csvsafe.neutralise("=1+1") == "'=1+1"
    for prefix in ("+", "-", "@", "\t", "\r"):
        assert csvsafe.neutralise(prefix + "x") == "'" + prefix + "x"
    assert csvsafe.neutralise("Avinyó") == "Avinyó"
    assert csvsafe.neutralise(-5) == -5  # numbers stay numbers
    assert csvsafe.neutralise(None) is None
    assert csvsafe.restore("'=1+1") == "=1+1"
    assert csvsafe.restore("'quoted") == "'quoted"  # an ordinary apostrophe is kept
    assert csvsafe.delimiter_for("ca") == ";" and csvsafe.delimiter_for("es_AR") == ";"
    assert csvsafe.delimiter_for("en") == ","
    assert csvsafe.csv_bytes(["a"], [["=x"], [3]], delimiter=";") == "\ufeffa\r\n'=x\r\n3\r\n".encode()


def test_csv_export_is_excel_friendly_and_safe(app, db, world, client_for, add_asset):
    add_asset(name='=HYPERLINK("http://evil.example","Click")', notes="+34 93 000 00 00",
              location="@SUM(A1)", serial="-5", purchased_on=dt.date(2024, 2, 29))
    add_asset(kind="license", name="Antivirus de Callús", seats=12, expires_on=dt.date(2027, 1, 31))
    world.technician.preferred_language = "ca"
    db.session.commit()
    tech = client_for(world.technician)
    resp = tech.get(f"/councils/{world.council_a.slug}/assets/export.csv", headers={"Accept-Language": "ca"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.headers["Cache-Control"] == "no-store"
    rows = read_csv(resp.data, ";")  # Catalan Excel expects ';'
    assert rows[0] == header_in(app, "ca")
    by_name = {r[EXPORT_COLUMNS.index("kind")]: dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows[1:]}
    pc, licence = by_name[kind_in(app, "ca", "desktop")], by_name[kind_in(app, "ca", "license")]
    assert pc["name"] == "'=HYPERLINK(\"http://evil.example\",\"Click\")"
    assert pc["notes"] == "'+34 93 000 00 00"
    assert pc["location"] == "'@SUM(A1)"
    assert pc["serial"] == "'-5"
    assert pc["purchased_on"] == "2024-02-29"
    assert pc["council"] == world.council_a.name
    assert (licence["seats"], licence["expires_on"], licence["name"]) == ("12", "2027-01-31", "Antivirus de Callús")
    world.manager.preferred_language = None  # the browser's language decides
    db.session.commit()
    english = client_for(world.manager).get(f"/councils/{world.council_a.slug}/assets/export.csv",
                                             headers={"Accept-Language": "en"})
    assert read_csv(english.data, ",")[0] == header_in(app, "en")
    forced = tech.get(f"/councils/{world.council_a.slug}/assets/export.csv?sep=comma", headers={"Accept-Language": "es"})
    assert read_csv(forced.data, ",")[0] == header_in(app, "ca")  # the technician's own language


def test_export_follows_the_list_filters(world, client_for, add_asset):
    add_asset(kind="printer", name="Impressora")
    add_asset(name="PC")
    body = client_for(world.technician).get(f"/councils/{world.council_a.slug}/assets/export.csv?kind=printer").data
    assert b"Impressora" in body and b",PC," not in body and b";PC;" not in body


def test_an_export_imports_back_unchanged(db, world, client_for, add_asset):
    add_asset(name="=not a formula", notes="line one\nline two; with separator", seats=None,
              purchased_on=dt.date(2024, 1, 1), warranty_until=dt.date(2027, 1, 1), ip_address="10.0.0.5")
    add_asset(kind="certificate", name="T-CAT d'alcaldia", holder="Núria Serra", media="card",
              expires_on=dt.date(2027, 5, 1))
    body = client_for(world.technician).get(f"/councils/{world.council_a.slug}/assets/export.csv").data
    result = importer.import_assets(world.council_a, body, actor=world.technician, dry_run=True)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)


def test_xlsx_export_has_typed_cells(app, db, world, client_for, add_asset):
    pc = add_asset(name="=1+1", purchased_on=dt.date(2024, 2, 29))
    # Forms refuse control characters, but data written by other means (agents) may carry them.
    pc.notes = "Callús\x01"
    db.session.commit()
    add_asset(kind="license", name="Ofimàtica", seats=7, expires_on=dt.date(2027, 1, 31))
    world.technician.preferred_language = "ca"
    db.session.commit()
    resp = client_for(world.technician).get(f"/councils/{world.council_a.slug}/assets/export.xlsx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == header_in(app, "ca")
    cells = {r[EXPORT_COLUMNS.index("kind")].value: dict(zip(EXPORT_COLUMNS, r, strict=True))
             for r in rows[1:]}
    pc, licence = cells[kind_in(app, "ca", "desktop")], cells[kind_in(app, "ca", "license")]
    assert (pc["name"].value, pc["name"].data_type) == ("=1+1", "s")  # text, never a formula
    assert pc["purchased_on"].is_date and pc["purchased_on"].value.date() == dt.date(2024, 2, 29)
    assert pc["notes"].value == "Callús"  # a control character Excel would reject is dropped
    assert isinstance(pc["id"].value, int)
    assert (licence["seats"].value, licence["seats"].data_type) == (7, "n")
    assert licence["expires_on"].is_date
    assert pc["council"].value == world.council_a.name


def _libreoffice_csv(source, outdir, profile, infilter=None) -> list[list[str]]:
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is needed for this test"
    cmd = [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
           "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", str(outdir)]
    if infilter:
        cmd.append(f"--infilter={infilter}")
    subprocess.run([*cmd, str(source)], check=True, capture_output=True, timeout=180)
    converted = outdir / (source.stem + ".csv")
    return list(csv.reader(io.StringIO(converted.read_text(encoding="utf-8"), newline="")))


@pytest.mark.slow
def test_libreoffice_opens_both_exports_with_accents_intact(app, tmp_path, world, client_for, add_asset):
    for name in ACCENTED:
        council = councils.create_council({"name": name, "population": 1000}, actor=None)
        add_asset(council, name=f"PC de {name}", location="Sala de plens")
    world.technician.preferred_language = "ca"  # a Catalan user's export: ';' separated
    tech = client_for(world.technician)
    csv_file = tmp_path / "export-csv.csv"
    csv_file.write_bytes(tech.get("/assets/export.csv", headers={"Accept-Language": "ca"}).data)
    xlsx_file = tmp_path / "export-xlsx.xlsx"
    xlsx_file.write_bytes(tech.get("/assets/export.xlsx").data)
    profile = tmp_path / "lo-profile"

    # As a Catalan user opens it: ';' separated, UTF-8 (the BOM must not leak into "id").
    from_csv = _libreoffice_csv(csv_file, tmp_path / "a", profile, infilter="CSV:59,34,76,1")
    from_xlsx = _libreoffice_csv(xlsx_file, tmp_path / "b", profile)
    for rows in (from_csv, from_xlsx):
        assert rows[0] == header_in(app, "ca")
        council_cells = {r[EXPORT_COLUMNS.index("council")] for r in rows[1:]}
        names = {r[EXPORT_COLUMNS.index("name")] for r in rows[1:]}
        assert set(ACCENTED) <= council_cells
        assert {f"PC de {n}" for n in ACCENTED} <= names


@pytest.mark.parametrize("lang, delimiter", [("ca", ";"), ("en", ","), ("es", ";")])
def test_exports_speak_the_readers_language_and_import_back(app, db, world, client_for, add_asset, lang, delimiter):
    """Headers, kinds, statuses and media in the reader's words (no `in_use`), in CSV and XLSX,
    and the CSV still imports back unchanged."""
    from flask_babel import force_locale

    from inventory.labels import media_labels, status_labels

    add_asset(name="PC de l'alcaldia", status="in_use")
    add_asset(kind="certificate", name="T-CAT", holder="Núria Serra", media="usb_token", status="stock",
              expires_on=dt.date(2027, 5, 1))
    world.technician.preferred_language = lang
    db.session.commit()
    tech = client_for(world.technician)
    body = tech.get(f"/councils/{world.council_a.slug}/assets/export.csv").data
    rows = read_csv(body, delimiter)
    with app.test_request_context(), force_locale(lang):
        statuses, media = {str(v) for v in status_labels().values()}, {str(v) for v in media_labels().values()}
    assert rows[0] == header_in(app, lang)
    flat = {cell for row in rows[1:] for cell in row}
    assert not flat & {"in_use", "stock", "usb_token", "desktop", "certificate"}
    column = {name: i for i, name in enumerate(EXPORT_COLUMNS)}
    assert {r[column["status"]] for r in rows[1:]} <= statuses and {r[column["media"]] for r in rows[1:]} & media
    if lang != "en":
        assert not set(rows[0]) & {"Status", "Kind", "Name", "Serial number"}
    result = importer.import_assets(world.council_a, body, actor=world.technician, dry_run=True)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)

    book = load_workbook(io.BytesIO(tech.get(f"/councils/{world.council_a.slug}/assets/export.xlsx").data))
    assert book.sheetnames == [world.council_a.name[:31]]
    sheet = book.active
    xlsx_rows = [[c if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)]
    assert xlsx_rows[0] == header_in(app, lang)
    assert {r[column["kind"]] for r in xlsx_rows[1:]} == {kind_in(app, lang, "desktop"),
                                                          kind_in(app, lang, "certificate")}


def test_import_reads_any_languages_labels(app, db, world):
    """A file headed in Spanish with Catalan statuses (two colleagues' spreadsheets merged)."""
    with app.test_request_context():
        es = header_in(app, "es")
    name = {c: es[i] for i, c in enumerate(EXPORT_COLUMNS)}
    body = (f"{name['tag']};{name['kind']};{name['name']};{name['status']}\r\n"
            f"MURA-PC-900;{kind_in(app, 'es', 'laptop')};Portàtil;En estoc\r\n").encode()
    result = importer.import_assets(world.council_a, body, actor=world.technician, dry_run=False)
    assert result.ok, result.errors
    from inventory.models import Asset

    asset = db.session.scalars(db.select(Asset).where(Asset.tag == "MURA-PC-900")).one()
    assert (asset.kind, asset.status) == ("laptop", "stock")

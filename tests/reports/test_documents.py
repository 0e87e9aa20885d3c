"""The documents: the PDF renders (poppler), the XLSX reopens with the same numbers
(openpyxl), the CSV opens in LibreOffice with its accents."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from agreements.months import add_months, format_month, month_start


def _pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, timeout=60)
    return out.stdout.decode("utf-8")


def _render(path, outdir) -> list:
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "poppler-utils (pdftoppm) is needed for this test"
    subprocess.run([pdftoppm, "-r", "50", "-png", str(path), str(outdir / "page")], check=True, capture_output=True,
                   timeout=120)
    return sorted(outdir.glob("page*.png"))


def _not_blank(png) -> bool:
    from PIL import Image

    with Image.open(png) as image:
        return sum(1 for n in image.convert("L").histogram() if n) > 20


def test_council_pdf_renders_in_the_councils_language(dataset, world, client_for, tmp_path, api_for):
    council = dataset.councils["c"]  # Castellgalí writes in Spanish
    month = add_months(month_start(dataset.today), -1)
    resp = client_for(world.manager).get(f"/reports/councils/{council.slug}/monthly/{format_month(month)}.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF-")
    path = tmp_path / "council.pdf"
    path.write_bytes(resp.data)
    pages = _render(path, tmp_path)
    assert pages and all(_not_blank(p) for p in pages)
    text = _pdf_text(path)
    assert "Castellgalí" in text
    assert "Presencial" in text and "En remoto" in text  # Spanish
    usage = api_for(world.manager).get(f"/api/v1/councils/{council.id}/usage?month={format_month(month)}").get_json()
    from core.durations import format_duration

    # pdftotext's layout mode may drop the space inside "5 h": compare without blanks.
    squeeze = lambda s: "".join(s.split())  # noqa: E731
    assert squeeze(format_duration(usage["onsite"]["used_minutes"], "es")) in squeeze(text)


def test_office_pdf_renders_with_every_council(dataset, world, client_for, tmp_path):
    month = add_months(month_start(dataset.today), -1)
    resp = client_for(world.manager).get(f"/reports/monthly/{format_month(month)}.pdf")
    assert resp.status_code == 200
    path = tmp_path / "office.pdf"
    path.write_bytes(resp.data)
    pages = _render(path, tmp_path)
    assert len(pages) >= 2 and all(_not_blank(p) for p in pages)
    text = _pdf_text(path)
    for council in dataset.councils.values():
        assert council.name in text


def test_pdf_escapes_names(dataset, db, world, client_for, tmp_path):
    world.council_a.name = "Mura <b>&amp; co</b>"
    db.session.commit()
    month = add_months(month_start(dataset.today), -1)
    resp = client_for(world.manager).get(f"/reports/councils/{world.council_a.slug}/monthly/{format_month(month)}.pdf")
    path = tmp_path / "escaped.pdf"
    path.write_bytes(resp.data)
    assert "Mura <b>&amp; co</b>" in _pdf_text(path)


def test_xlsx_reopens_with_the_same_numbers(dataset, world, client_for, api_for, app):
    from flask_babel import force_locale

    from core.spreadsheet import hm
    from reports.exports import usage_header

    items = api_for(world.manager).get(f"/api/v1/reports/usage?year={dataset.year}").get_json()["items"]
    resp = client_for(world.manager).get(f"/reports/usage.xlsx?year={dataset.year}")
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.data))
    assert len(book.sheetnames) >= 5  # one per section
    assert all(len(name) <= 31 for name in book.sheetnames)
    usage = book[book.sheetnames[0]]
    rows = list(usage.iter_rows(values_only=True))
    with app.test_request_context(), force_locale("ca"):  # the manager's language (the default)
        assert list(rows[0]) == usage_header()
    minute_fields = [k for k in items[0] if k.endswith("_minutes")]
    for row, item in zip(rows[1:], items, strict=True):
        assert (row[0], row[1]) == (item["council"], item["month"])
        for index, name in enumerate(minute_fields):
            assert row[2 + 2 * index] == hm(item[name])  # h:mm, as text
            assert row[3 + 2 * index] == pytest.approx(item[name] / 60, abs=1e-4)  # hours, a number
    for cell in next(usage.iter_rows(min_row=2, max_row=2)):
        column = cell.column - 1
        assert cell.data_type == ("s" if column < 2 or column % 2 == 0 else "n")
    councils = book[book.sheetnames[1]]
    # Council, comarca, months, on-site allowance (h), on-site used (h), ...
    by_name = {r[0]: r for r in councils.iter_rows(min_row=2, values_only=True)}
    mura = by_name[world.council_a.name]
    months = sum(1 for i in items if i["council_id"] == world.council_a.id)
    used = sum(i["onsite_used_minutes"] for i in items if i["council_id"] == world.council_a.id)
    allowance = sum(i["onsite_allowance_minutes"] for i in items if i["council_id"] == world.council_a.id)
    assert mura[2] == months
    assert mura[3] == pytest.approx(allowance / 60, abs=1e-3)
    onsite_used = mura[4]
    assert onsite_used == pytest.approx(used / 60, abs=1e-3)
    assert mura[6] == pytest.approx(used / allowance, abs=1e-9)  # a share, stored as a number
    assert isinstance(onsite_used, float | int)


def test_office_month_xlsx(dataset, world, client_for):
    month = add_months(month_start(dataset.today), -1)
    resp = client_for(world.manager).get(f"/reports/monthly/{format_month(month)}.xlsx")
    book = load_workbook(io.BytesIO(resp.data))
    sheet = book[book.sheetnames[0]]
    rows = list(sheet.iter_rows(values_only=True))
    assert {r[1] for r in rows[1:]} == {format_month(month)}
    assert {r[0] for r in rows[1:]} == {c.name for c in dataset.councils.values()}


@pytest.mark.slow
def test_csv_opens_in_libreoffice_with_accents(dataset, db, world, client_for, tmp_path):
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is needed for this test"
    world.council_b.name = "Sant Fruitós de Bages · l'Àngel"
    db.session.commit()
    world.manager.preferred_language = "ca"  # ';' separated, as a Catalan Excel expects
    db.session.commit()
    source = tmp_path / "usage.csv"
    source.write_bytes(client_for(world.manager).get(f"/reports/usage.csv?year={dataset.year}").data)
    outdir = tmp_path / "out"
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless", "--norestore",
                    "--infilter=CSV:59,34,76,1", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1",
                    "--outdir", str(outdir), str(source)], check=True, capture_output=True, timeout=180)
    rows = list(csv.reader(io.StringIO((outdir / "usage.csv").read_text(encoding="utf-8"), newline="")))
    assert rows[0][:2] == ["Ajuntament", "Mes"]  # in Catalan, and the BOM did not leak into the first name
    names = {r[0] for r in rows[1:]}
    assert {"Castellgalí", "L'Estany", "Sant Fruitós de Bages · l'Àngel"} <= names


@pytest.mark.parametrize("lang, expected", [
    ("ca", ["Ús per mes", "Ajuntaments", "Comarques", "Totals de la comarca per mes", "Servei",
            "Incidències per categoria"]),  # the "Incidències per categoria i can", cut on a word
    ("en", ["Usage by month", "Councils", "Comarcas", "Comarca totals by month", "Service",
            "Tickets by category and channel"]),
])
def test_workbooks_sheet_names_fit_excel_in_the_readers_language(dataset, db, world, client_for, lang, expected):
    world.manager.preferred_language = lang
    db.session.commit()
    client = client_for(world.manager)
    book = load_workbook(io.BytesIO(client.get(f"/reports/usage.xlsx?year={dataset.year}").data))
    assert book.sheetnames == expected
    month = add_months(month_start(dataset.today), -1)
    monthly = load_workbook(io.BytesIO(client.get(f"/reports/monthly/{format_month(month)}.xlsx").data))
    names = monthly.sheetnames
    assert len(names) == len({n.lower() for n in names}) == 4 and all(len(n) <= 31 for n in names)
    assert names[-1] == expected[-1]
    # Headers in the reader's language: no field names, no minutes.
    for sheet in (book[book.sheetnames[0]], monthly[names[0]]):
        header = [c.value for c in next(sheet.iter_rows(max_row=1))]
        assert not any("_minutes" in str(h) or str(h) in ("council_id", "council", "month") for h in header)

"""CSV import: all or nothing, updates by tag, row-level errors, what spreadsheets write."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from accounts.models import AuditEntry
from inventory import importer
from inventory.models import Asset

HEADER = ["tag", "kind", "name", "status", "serial", "expires_on", "warranty_until", "location", "seats"]


def count(db, model=Asset) -> int:
    stmt = select(func.count()).select_from(model)
    if model is AuditEntry:
        stmt = stmt.where(AuditEntry.object_type == "asset")
    return db.session.scalar(stmt)


def run(world, data: bytes, *, dry_run=False, council=None):
    return importer.import_assets(council or world.council_a, data, actor=world.technician, dry_run=dry_run)


def good_rows():
    return [
        ["MURA-PC-001", "desktop", "PC Secretaria", "in_use", "CZC123", "", "2027-01-31", "Secretaria", ""],
        ["MURA-CERT-001", "certificate", "T-CAT alcaldia", "", "", "2027-03-01", "", "Alcaldia", ""],
        ["MURA-LIC-001", "license", "Antivirus", "in_use", "", "31/12/2026", "", "", "5"],
    ]


def test_a_file_with_one_bad_row_writes_nothing(db, world, make_csv):
    rows = good_rows() + [["MURA-PC-002", "toaster", "PC Biblioteca", "", "", "", "", "", ""]]
    result = run(world, make_csv(HEADER, rows))
    assert not result.committed
    assert [(e.row, e.field) for e in result.errors] == [(4, "kind")]
    assert result.created == 3  # what the good rows would have done
    assert count(db) == 0
    assert count(db, AuditEntry) == 0


def test_a_good_file_creates_everything_with_history(db, world, make_csv):
    result = run(world, make_csv(HEADER, good_rows()))
    assert result.ok and result.committed
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    assets = {a.tag: a for a in db.session.scalars(select(Asset))}
    assert assets["MURA-LIC-001"].expires_on == dt.date(2026, 12, 31)
    assert assets["MURA-LIC-001"].seats == 5
    assert assets["MURA-CERT-001"].status == "in_use"  # empty status on a new asset
    assert assets["MURA-PC-001"].warranty_until == dt.date(2027, 1, 31)
    assert {a.council_id for a in assets.values()} == {world.council_a.id}
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.object_type == "asset")
                                 .order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["import_create"] * 3
    assert entries[0].object_id == str(assets["MURA-PC-001"].id)
    assert entries[0].changes == {}  # the values are the asset's own; see importer._write
    assert entries[0].actor_label == world.technician.email
    assert entries[0].council_id == world.council_a.id


def test_dry_run_writes_nothing(db, world, make_csv):
    result = run(world, make_csv(HEADER, good_rows()), dry_run=True)
    assert result.ok and not result.committed
    assert result.created == 3
    assert count(db) == 0


def test_reimport_by_tag_updates_only_the_columns_in_the_file(db, world, add_asset, make_csv):
    pc = add_asset(tag="MURA-PC-001", name="PC Secretaria", serial="CZC123", location="Secretaria",
                   assigned_to="Anna", purchased_on=dt.date(2024, 1, 10))
    cert = add_asset(tag="MURA-CERT-001", kind="certificate", name="T-CAT", holder="Joan",
                     expires_on=dt.date(2026, 1, 1))
    data = make_csv(["tag", "location", "expires_on"], [
        ["mura-pc-001", "Arxiu", ""],                 # tag typed in lower case: same asset
        ["MURA-CERT-001", "Alcaldia", "2030-01-01"],
    ])
    result = run(world, data)
    assert result.ok, result.errors
    assert (result.created, result.updated) == (0, 2)
    db.session.expire_all()
    assert (pc.location, pc.serial, pc.assigned_to, pc.name) == ("Arxiu", "CZC123", "Anna", "PC Secretaria")
    assert pc.purchased_on == dt.date(2024, 1, 10)
    assert (cert.location, cert.expires_on, cert.holder) == ("Alcaldia", dt.date(2030, 1, 1), "Joan")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "import_update",
                                                       AuditEntry.object_id == str(pc.id)))
    assert entry.changes == {"location": ["Secretaria", "Arxiu"]}
    # The same file again changes nothing.
    again = run(world, data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_reimport_mixes_updates_and_creates_and_keeps_status_when_empty(db, world, add_asset, make_csv):
    pc = add_asset(tag="T-1", status="repair")
    result = run(world, make_csv(["tag", "kind", "name", "status"], [
        ["T-1", "desktop", "PC renamed", ""],
        ["T-2", "printer", "Printer", ""],
    ]))
    assert result.ok, result.errors
    db.session.expire_all()
    assert (pc.name, pc.status) == ("PC renamed", "repair")
    assert db.session.scalar(select(Asset.status).where(Asset.tag == "T-2")) == "in_use"


def test_row_level_errors(db, world, add_asset, make_csv):
    add_asset(tag="EXISTING", name="Old")
    header = ["tag", "kind", "name", "status", "council", "expires_on", "ip_address", "seats", "notes"]
    rows = [
        ["R-1", "desktop", "ok", "", "Mura", "", "", "", ""],                           # 1 fine
        ["R-2", "toaster", "x", "", "", "", "", "", ""],                               # 2 kind
        ["R-3", "desktop", "x", "", "", "31/02/2026", "", "", ""],                     # 3 date
        ["R-1", "desktop", "dup", "", "", "", "", "", ""],                             # 4 duplicate
        ["R-5", "desktop", "x", "", world.council_b.name, "", "", "", ""],             # 5 council
        ["R-6", "desktop", "x", "lost", "", "", "", "", ""],                           # 6 status
        ["", "desktop", "x", "", "", "", "", "", ""],                                  # 7 tag
        ["R-8", "", "x", "", "", "", "", "", ""],                                      # 8 kind required
        ["R-9", "desktop", "", "", "", "", "", "", ""],                                # 9 name required
        ["R-10", "desktop", "n" * 201, "", "", "", "", "", ""],                        # 10 too long
        ["R-11", "desktop", "x", "", "", "", "10.0.0.256", "", ""],                    # 11 ip
        ["R-12", "license", "x", "", "", "", "", "five", ""],                          # 12 seats
        ["R-13", "desktop", "x", "", "", "", "", "", "", "stray"],                     # 13 extra cell
        ["EXISTING", "", "", "", "", "", "", "", ""],                                  # 14 kind, name
        ["R-15", "desktop", "x", "", "", "2026-13-01", "", "", "n" * 5001],            # 15 two errors
    ]
    result = run(world, make_csv(header, rows))
    found = [(e.row, e.field) for e in result.errors]
    assert found == [
        (2, "kind"), (3, "expires_on"), (4, "tag"), (5, "council"), (6, "status"), (7, "tag"),
        (8, "kind"), (9, "name"), (10, "name"), (11, "ip_address"), (12, "seats"), (13, ""),
        (14, "kind"), (14, "name"), (15, "expires_on"), (15, "notes"),
    ]
    assert all(str(e.message) for e in result.errors)
    messages = {(e.row, e.field): str(e.message) for e in result.errors}
    assert "row 1" in messages[(4, "tag")]
    assert world.council_b.name in messages[(5, "council")]
    assert "200" in messages[(10, "name")]
    assert count(db) == 1


def test_a_new_asset_needs_kind_and_name_columns(db, world, add_asset, make_csv):
    add_asset(tag="KNOWN")
    result = run(world, make_csv(["tag", "location"], [["KNOWN", "Arxiu"], ["NEW", "Arxiu"]]))
    assert [(e.row, e.field) for e in result.errors] == [(2, "kind"), (2, "name")]
    assert count(db) == 1


def test_header_problems_are_reported_on_row_zero(db, world, make_csv):
    result = run(world, make_csv(["tag", "kind", "nmae", "kind"], [["A", "desktop", "x", "desktop"]]))
    assert [(e.row, e.field) for e in result.errors] == [(0, "nmae"), (0, "kind")]
    result = run(world, make_csv(["name", "kind"], [["x", "desktop"]]))
    assert [(e.row, e.field) for e in result.errors] == [(0, "tag")]
    assert run(world, b"").errors[0].row == 0
    assert count(db) == 0


def test_export_columns_are_accepted_back(db, world, add_asset, make_csv):
    pc = add_asset(tag="MURA-PC-001")
    header = ["id", "council", "tag", "kind", "name", "last_seen_at", "council_id"]
    rows = [[str(pc.id), world.council_a.name.upper(), "MURA-PC-001", "desktop", "PC renamed", "", str(world.council_a.id)],
            ["999", world.council_a.code, "MURA-PC-002", "laptop", "New laptop", "2026-01-01T10:00:00+00:00", ""]]
    result = run(world, make_csv(header, rows))
    assert result.ok, result.errors
    assert (result.created, result.updated) == (1, 1)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", False), ("utf-8", True), ("cp1252", False)])
def test_spreadsheet_dialects_are_read(db, world, delimiter, encoding, bom, make_csv):
    data = make_csv(["Tag", "Kind", "Name", "Location"],
                    [["CALLUS-PC-001", "desktop", "PC Callús", "Sala de plens; planta 1"],
                     ["GAIA-PC-001", "Desktop", "Ordinador d'Avinyó", "Gaià"]],
                    delimiter=delimiter, encoding=encoding, bom=bom)
    result = run(world, data)
    assert result.ok, result.errors
    names = sorted(db.session.scalars(select(Asset.name)))
    assert names == ["Ordinador d'Avinyó", "PC Callús"]
    assert db.session.scalar(select(Asset.location).where(Asset.tag == "CALLUS-PC-001")) == "Sala de plens; planta 1"
    assert result.delimiter == delimiter


def test_utf16_with_bom_is_read(db, world):
    text = "tag\tkind\tname\r\nA-1\tdesktop\tPC Gaià\r\n"
    assert run(world, text.encode("utf-16")).ok
    assert db.session.scalar(select(Asset.name)) == "PC Gaià"


def test_formula_guards_of_our_exports_are_removed_on_import(db, world, make_csv):
    result = run(world, make_csv(["tag", "kind", "name", "notes"], [["A-1", "desktop", "'=not a formula", "'-5 degrees"]]))
    assert result.ok
    asset = db.session.scalar(select(Asset))
    assert (asset.name, asset.notes) == ("=not a formula", "-5 degrees")


def test_files_that_are_not_csv_are_refused_whole(db, world):
    assert "workbook" in str(run(world, b"PK\x03\x04rest-of-a-zip").errors[0].message)
    bad_utf8_with_bom = b"\xef\xbb\xbftag,kind,name\r\nA,desktop,\xff\xfe\r\n"
    assert run(world, bad_utf8_with_bom).errors[0].row == 0
    assert run(world, b"tag,kind,name\r\nA,desktop,x\x00y\r\n").errors[0].row == 0
    assert count(db) == 0


def test_limits(db, world, monkeypatch, make_csv):
    monkeypatch.setattr(importer, "IMPORT_MAX_ROWS", 3)
    rows = [[f"T-{i}", "desktop", "x"] for i in range(4)]
    result = run(world, make_csv(["tag", "kind", "name"], rows))
    assert [(e.row, e.field) for e in result.errors] == [(0, "")]
    monkeypatch.setattr(importer, "IMPORT_MAX_BYTES", 20)
    assert "MB" in str(run(world, make_csv(["tag", "kind", "name"], rows[:1])).errors[0].message)
    assert count(db) == 0


def test_blank_lines_are_skipped_but_counted(db, world):
    data = b"tag,kind,name\r\nA,desktop,x\r\n,,\r\n\r\nB,toaster,y\r\n"
    result = run(world, data)
    assert [(e.row, e.field) for e in result.errors] == [(4, "kind")]


def test_reported_errors_are_capped_but_counted(db, world, make_csv):
    rows = [[f"T-{i}", "toaster", "x"] for i in range(importer.MAX_REPORTED_ERRORS + 5)]
    result = run(world, make_csv(["tag", "kind", "name"], rows))
    assert len(result.errors) == importer.MAX_REPORTED_ERRORS
    assert result.error_count == importer.MAX_REPORTED_ERRORS + 5


def test_a_file_for_council_b_cannot_touch_council_a(db, world, add_asset, make_csv):
    mine = add_asset(tag="SAME-TAG", name="Council A's PC")
    result = run(world, make_csv(["tag", "kind", "name"], [["SAME-TAG", "desktop", "Council B's PC"]]),
                 council=world.council_b)
    assert (result.created, result.updated) == (1, 0)
    db.session.expire_all()
    assert mine.name == "Council A's PC"


def test_cli_import_checks_then_writes(app, db, world, tmp_path, make_csv):
    path = tmp_path / "inventari.csv"
    path.write_bytes(make_csv(["tag", "kind", "name"], [["A-1", "desktop", "PC"], ["A-2", "printer", "Impressora"]],
                              delimiter=";", bom=True))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["inventory", "import", world.council_a.slug, str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 asset(s) would be created" in dry.output
    assert count(db) == 0
    done = runner.invoke(args=["inventory", "import", world.council_a.slug, str(path)])
    assert done.exit_code == 0 and "2 asset(s) were created" in done.output
    assert count(db) == 2
    path.write_bytes(make_csv(["tag", "kind", "name"], [["A-3", "toaster", "x"]]))
    bad = runner.invoke(args=["inventory", "import", world.council_a.slug, str(path)])
    assert bad.exit_code != 0 and "row 1: kind" in bad.output
    assert runner.invoke(args=["inventory", "import", "nowhere", str(path)]).exit_code != 0
    assert count(db) == 2

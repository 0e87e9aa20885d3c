"""Council and allowance-band pages: what a clerk can reach, and the forms of managers and admins."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from sqlalchemy import select

from accounts.models import AuditEntry
from agreements import bands, services
from agreements.models import DEFAULT_BANDS, Council


def field_errors(page: str, field_id: str) -> list[str]:
    match = re.search(rf'<(input|select|textarea)[^>]*\bid="{re.escape(field_id)}"[^>]*>(.*?</\1>)?\s*'
                      r'((?:<div class="invalid-feedback">.*?</div>\s*)+)', page, re.S)
    if not match:
        return []
    return [htmllib.unescape(m) for m in re.findall(r'<div class="invalid-feedback">(.*?)</div>', match.group(3))]


def council_form(**overrides):
    data = {"name": "Rajadell", "population": "520", "population_year": "2014", "comarca": "Bages",
            "contact_email": "ajuntament@rajadell.example.cat", "language": "ca", "timezone": "Europe/Madrid",
            "active": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- what a clerk reaches -------------------------------------------------------------

def test_clerk_gets_404_for_another_councils_page(world, client_for):
    clerk = client_for(world.clerk_a)
    assert clerk.get(f"/councils/{world.council_a.slug}").status_code == 200
    other = clerk.get(f"/councils/{world.council_b.slug}")
    missing = clerk.get("/councils/no-such-council")
    assert other.status_code == missing.status_code == 404
    page = other.get_data(as_text=True)
    assert "Talamanca" not in page and "not_found" not in page
    # The two answers differ only by the address echoed in the language switcher.
    assert page.replace(world.council_b.slug, "X") == missing.get_data(as_text=True).replace("no-such-council", "X")


def test_clerk_cannot_edit_any_council(world, client_for):
    """Editing is for managers: a clerk gets 403 for their own council; another council's
    edit page is a 404 identical to that of a council that does not exist."""
    clerk = client_for(world.clerk_a)
    assert clerk.get(f"/councils/{world.council_a.slug}/edit").status_code == 403
    answers = {slug: clerk.get(f"/councils/{slug}/edit") for slug in (world.council_b.slug, "no-such-council")}
    assert {r.status_code for r in answers.values()} == {404}
    bodies = {r.get_data(as_text=True).replace(slug, "X") for slug, r in answers.items()}
    assert len(bodies) == 1
    assert clerk.post(f"/councils/{world.council_b.slug}/edit", data=council_form(name="Hacked")).status_code == 404


def test_clerk_list_leads_to_their_own_council(world, client_for):
    clerk = client_for(world.clerk_a)
    resp = clerk.get("/councils")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/councils/{world.council_a.slug}")
    assert "Talamanca" not in clerk.get("/councils?q=tala").get_data(as_text=True)


def test_staff_see_every_council(world, client_for):
    page = client_for(world.technician).get("/councils").get_data(as_text=True)
    assert "Mura" in page and "Talamanca" in page


def test_council_page_shows_its_band(world, client_for):
    page = client_for(world.technician).get(f"/councils/{world.council_a.slug}").get_data(as_text=True)
    assert "MURA" in page and "clerk.a@test.example.org" in page
    assert "clerk.b@test.example.org" not in page


# --- the council forms ----------------------------------------------------------------

def test_manager_creates_a_council_with_derived_slug_and_code(world, client_for):
    resp = client_for(world.manager).post("/councils/new", data=council_form(name="Castellbell i el Vilar"))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/councils/castellbell-i-el-vilar")
    council = services.get_council_by_slug("castellbell-i-el-vilar")
    assert council.code == "CASTELLB" and council.population == 520


def test_create_errors_are_next_to_their_fields(world, client_for, db):
    manager = client_for(world.manager)
    page = manager.post("/councils/new", data=council_form(code="MURA")).get_data(as_text=True)
    assert field_errors(page, "code")
    page = manager.post("/councils/new", data=council_form(name="Mura")).get_data(as_text=True)
    assert field_errors(page, "slug")
    page = manager.post("/councils/new", data=council_form(population="-3", contact_email="nope")).get_data(as_text=True)
    assert field_errors(page, "population") and field_errors(page, "contact_email")
    for population in ("99999999999999", "abc"):
        resp = manager.post("/councils/new", data=council_form(population=population))
        assert resp.status_code == 200 and field_errors(resp.get_data(as_text=True), "population")
    resp = manager.post("/councils/new", data=council_form(area_km2="999999.999"))
    assert resp.status_code == 200 and field_errors(resp.get_data(as_text=True), "area_km2")
    assert db.session.scalar(select(Council).where(Council.name == "Rajadell")) is None


def test_manager_edits_a_council_but_not_its_slug_or_code(world, client_for, db):
    manager = client_for(world.manager)
    slug = world.council_a.slug
    assert manager.get(f"/councils/{slug}/edit").status_code == 200
    resp = manager.post(f"/councils/{slug}/edit", data=council_form(name="Mura de Bages", population="230",
                                                                    slug="other-slug", code="OTHER"))
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/councils/{slug}")
    db.session.expire_all()
    council = db.session.get(Council, world.council_a.id)
    assert (council.name, council.population, council.slug, council.code) == ("Mura de Bages", 230, "mura", "MURA")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.object_type == "council",
                                                        AuditEntry.action == "update")).one()
    assert entry.changes["name"] == ["Mura", "Mura de Bages"] and entry.changes["population"] == [211, 230]
    assert entry.actor_id == world.manager.id


# --- allowance bands ------------------------------------------------------------------

@pytest.fixture
def restore_bands(app):
    yield
    from extensions import db

    db.session.rollback()
    bands.replace_bands([{"min_population": lo, "max_population": hi, "remote_minutes_month": r,
                          "onsite_default_minutes_month": o} for lo, hi, r, o in DEFAULT_BANDS], actor=None)


def _bands_form(rows):
    data = {}
    for i, (lo, hi, remote, onsite) in enumerate(rows):
        data.update({f"bands-{i}-min_population": lo, f"bands-{i}-max_population": hi,
                     f"bands-{i}-remote_minutes_month": remote, f"bands-{i}-onsite_default_minutes_month": onsite})
    return data


def test_every_role_reads_the_bands_page(world, client_for):
    for role in ("admin", "manager", "technician", "clerk"):
        page = client_for(world.by_role[role]).get("/allowance-bands")
        assert page.status_code == 200


def test_admin_edits_the_bands_through_the_form(world, client_for, restore_bands):
    admin = client_for(world.admin)
    assert admin.get("/allowance-bands/edit").status_code == 200
    rows = [("0", "999", "120", "240"), ("1000", "", "240", "480"), ("", "", "", "")]  # a blank row is ignored
    resp = admin.post("/allowance-bands/edit", data=_bands_form(rows))
    assert resp.status_code == 302
    assert [(b.min_population, b.max_population) for b in bands.list_bands()] == [(0, 999), (1000, None)]


def test_band_form_errors_are_next_to_their_fields(world, client_for, restore_bands):
    admin = client_for(world.admin)
    page = admin.post("/allowance-bands/edit", data=_bands_form(
        [("0", "500", "90", "180"), ("600", "", "135", "240")])).get_data(as_text=True)
    assert field_errors(page, "bands-1-min_population")
    page = admin.post("/allowance-bands/edit", data=_bands_form(
        [("0", "500", "90", "10")])).get_data(as_text=True)
    assert field_errors(page, "bands-0-onsite_default_minutes_month")
    resp = admin.post("/allowance-bands/edit", data=_bands_form(
        [("0", "99999999999", "90", "180"), ("100000000000", "", "90", "180")]))
    assert resp.status_code == 200 and field_errors(resp.get_data(as_text=True), "bands-0-max_population")
    assert [b.min_population for b in bands.list_bands()] == [0, 501, 1001, 2001]


def test_managers_cannot_edit_the_bands(world, client_for):
    assert client_for(world.manager).get("/allowance-bands/edit").status_code == 403


def test_population_is_read_as_the_page_writes_it(world, client_for, db):
    """'1.150' is how a Catalan page shows 1,150 inhabitants; typed back, it is 1,150, and a
    number that cannot be read gets one message that says what to type."""
    world.manager.preferred_language = "ca"
    db.session.commit()
    manager = client_for(world.manager)
    resp = manager.post("/councils/new", data=council_form(name="Rajadell", population="1.150", area_km2="16,27"))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    council = services.get_council_by_slug("rajadell")
    assert council.population == 1150 and str(council.area_km2) == "16.27"
    edit = manager.get("/councils/rajadell/edit").get_data(as_text=True)
    assert 'value="1.150"' in edit and 'value="16,27"' in edit
    page = manager.post("/councils/new", data=council_form(name="Rajadell 2", population="1.15.0")).get_data(as_text=True)
    assert field_errors(page, "population") == ["Introduïu un nombre enter, per exemple 1.150."]
    assert 'value="1.15.0"' in page  # what was typed stays in the field

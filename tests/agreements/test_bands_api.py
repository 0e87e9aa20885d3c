"""`/api/v1/allowance-bands`: the contract's default table, who reads and edits it, the
rules a table must follow, and `band_for` at the inclusive bounds."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accounts.models import AuditEntry
from agreements import bands
from agreements.models import DEFAULT_BANDS

CONTRACT_DEFAULTS = [
    {"min_population": 0, "max_population": 500, "remote_minutes_month": 90, "onsite_default_minutes_month": 180},
    {"min_population": 501, "max_population": 1000, "remote_minutes_month": 135, "onsite_default_minutes_month": 240},
    {"min_population": 1001, "max_population": 2000, "remote_minutes_month": 180, "onsite_default_minutes_month": 360},
    {"min_population": 2001, "max_population": None, "remote_minutes_month": 225, "onsite_default_minutes_month": 480},
]


def band(lo, hi, remote=90, onsite=180):
    return {"min_population": lo, "max_population": hi, "remote_minutes_month": remote,
            "onsite_default_minutes_month": onsite}


@pytest.fixture(autouse=True)
def default_bands(app):
    """Bands come from the migration and survive the per-test cleanup: put them back."""
    yield
    from extensions import db

    db.session.rollback()
    bands.replace_bands([band(*row) for row in DEFAULT_BANDS], actor=None)


def test_defaults_are_exactly_the_contracts(world, api_for):
    resp = api_for(world.technician).get("/api/v1/allowance-bands")
    assert resp.status_code == 200
    assert resp.json["items"] == CONTRACT_DEFAULTS


@pytest.mark.parametrize("role", ["admin", "manager", "technician", "clerk"])
def test_every_role_reads_the_bands(world, api_for, role):
    resp = api_for(world.by_role[role]).get("/api/v1/allowance-bands")
    assert resp.status_code == 200 and resp.json["items"] == CONTRACT_DEFAULTS


def test_anonymous_cannot_read_them(app, api_error):
    api_error(app.test_client().get("/api/v1/allowance-bands"), 401, "unauthorized")


@pytest.mark.parametrize(("population", "lower_bound"), [
    (0, 0), (500, 0), (501, 501), (1000, 501), (1001, 1001), (2000, 1001), (2001, 2001), (4000, 2001),
    (10_000_000, 2001),
])
def test_band_for_bounds_are_inclusive(app, population, lower_bound):
    assert bands.band_for(population).min_population == lower_bound


def test_admin_replaces_the_table_and_it_is_audited(world, api_for, db):
    new = [band(0, 300, 60, 120), band(301, 1500, 150, 300), band(1501, None, 240, 600)]
    resp = api_for(world.admin).put("/api/v1/allowance-bands", json={"items": list(reversed(new))})
    assert resp.status_code == 200, resp.json
    assert resp.json["items"] == new  # stored and answered in min_population order
    assert api_for(world.clerk_a).get("/api/v1/allowance-bands").json["items"] == new
    assert bands.band_for(300).min_population == 0 and bands.band_for(301).min_population == 301
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.object_type == "allowance_bands")).one()
    assert entry.actor_id == world.admin.id
    before, after = entry.changes["bands"]
    assert before == CONTRACT_DEFAULTS and after == new


@pytest.mark.parametrize("role", ["manager", "technician", "clerk"])
def test_only_admins_edit_the_bands(world, api_for, api_error, role):
    resp = api_for(world.by_role[role]).put("/api/v1/allowance-bands", json={"items": [band(0, None)]})
    api_error(resp, 403, "forbidden")
    assert [b.min_population for b in bands.list_bands()] == [0, 501, 1001, 2001]


@pytest.mark.parametrize(("items", "field"), [
    ([band(0, 500), band(502, None)], "bands.1.min_population"),            # gap
    ([band(0, 500), band(400, None)], "bands.1.min_population"),            # overlap
    ([band(0, 500), band(0, None)], "bands.1.min_population"),              # same start twice
    ([band(1, 500), band(501, None)], "bands.0.min_population"),            # not from 0
    ([band(0, 500), band(501, 1000)], "bands.1.max_population"),            # last not open-ended
    ([band(0, None), band(501, None)], "bands.0.max_population"),            # open-ended in the middle
    ([band(0, 500), band(501, 400), band(401, None)], "bands.1.max_population"),  # upper below lower
])
def test_inconsistent_tables_are_422_and_change_nothing(world, api_for, api_error, db, items, field):
    error = api_error(api_for(world.admin).put("/api/v1/allowance-bands", json={"items": items}),
                      422, "validation_error")
    assert field in error["fields"], error
    assert [b.min_population for b in bands.list_bands()] == [0, 501, 1001, 2001]
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.object_type == "allowance_bands")) is None


@pytest.mark.parametrize("items", [
    [],
    [band(0, None, onsite=89)],
    [band(0, None, onsite=1681)],
    [band(0, None, remote=-1)],
    [{**band(0, None), "remote_minutes_month": "90"}],
    [{**band(0, None), "remote_minutes_month": 90.0}],
    [{**band(0, None), "onsite_default_minutes_month": True}],
    [band(0, 2_000_000_000_000), band(2_000_000_000_001, None)],  # beyond any database INTEGER
    "not a list",
])
def test_invalid_rows_are_422(world, api_for, api_error, items):
    api_error(api_for(world.admin).put("/api/v1/allowance-bands", json={"items": items}), 422)


def test_a_single_open_band_is_a_valid_table(world, api_for):
    resp = api_for(world.admin).put("/api/v1/allowance-bands", json={"items": [band(0, None, 120, 240)]})
    assert resp.status_code == 200
    assert bands.band_for(5_000).remote_minutes_month == 120

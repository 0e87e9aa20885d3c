"""Asset rules: tags, validation, history, retiring, and what expires."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from accounts.models import AuditEntry
from core.errors import Conflict, ValidationFailed
from inventory import expiry, services
from inventory.models import Asset


def test_tag_is_unique_per_council_and_free_across_councils(world, add_asset):
    add_asset(tag="MURA-PC-001")
    # Another council may use the same tag: each council numbers its own equipment.
    other = add_asset(world.council_b, tag="MURA-PC-001")
    assert other.council_id == world.council_b.id
    with pytest.raises(Conflict) as exc:
        add_asset(tag="MURA-PC-001")
    assert exc.value.code == "duplicate_tag"
    assert "tag" in exc.value.fields
    # Tags are compared as written on the label, whatever the case typed.
    with pytest.raises(Conflict):
        add_asset(tag="  mura-pc-001 ")


def test_tag_rename_into_a_taken_tag_conflicts(world, add_asset):
    first = add_asset(tag="A-1")
    second = add_asset(tag="A-2")
    with pytest.raises(Conflict):
        services.update_asset(second, {"tag": "a-1"}, actor=world.technician)
    assert first.tag == "A-1"


def test_suggested_tag_is_code_kind_and_next_number(world, add_asset):
    code = world.council_a.code
    first = add_asset(kind="desktop")
    assert first.tag == f"{code}-PC-001"
    add_asset(kind="desktop", tag=f"{code}-PC-007")
    add_asset(kind="printer", tag="OLD-LABEL")
    suggestions = services.suggest_tags(world.council_a)
    assert suggestions["desktop"] == f"{code}-PC-008"  # after the highest, never a reused gap
    assert suggestions["printer"] == f"{code}-PRN-001"
    assert suggestions["certificate"] == f"{code}-CERT-001"
    # Council B's numbering is its own.
    assert services.suggest_tags(world.council_b)["desktop"] == f"{world.council_b.code}-PC-001"
    assert add_asset(kind="desktop").tag == f"{code}-PC-008"


@pytest.mark.parametrize(("values", "field"), [
    ({"kind": "toaster"}, "kind"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"ip_address": "192.168.1.300"}, "ip_address"),
    ({"seats": -1}, "seats"),
    ({"seats": True}, "seats"),
    ({"status": "lost"}, "status"),
    ({"media": "floppy"}, "media"),
    ({"tag": "PC#1"}, "tag"),
    ({"expires_on": dt.date(1900, 1, 1)}, "expires_on"),
    ({"purchased_on": dt.date(2024, 5, 1), "warranty_until": dt.date(2023, 5, 1)}, "warranty_until"),
])
def test_invalid_values_are_refused_by_field(world, add_asset, values, field):
    with pytest.raises(ValidationFailed) as exc:
        add_asset(**values)
    assert field in exc.value.fields
    assert db_count() == 0


def db_count() -> int:
    from extensions import db

    return db.session.scalar(select(func.count()).select_from(Asset))


def test_values_are_normalised(world, add_asset):
    asset = add_asset(name="  PC   de\nrecepció ", ip_address=" 2001:DB8::1 ", tag="mura pc 1", notes="  a\r\nb  ")
    assert asset.name == "PC de recepció"
    assert asset.ip_address == "2001:db8::1"
    assert asset.tag == "MURA PC 1"
    assert asset.notes == "a\nb"


def test_changes_are_kept_in_history_and_retiring_keeps_the_asset(db, world, add_asset):
    asset = add_asset(kind="certificate", name="T-CAT alcaldia", holder="Maria Puig", expires_on=dt.date(2027, 3, 1))
    services.update_asset(asset, {"expires_on": dt.date(2031, 3, 1), "holder": "Maria Puig i Vila"},
                          actor=world.technician)
    services.set_status(asset, "retired", actor=world.manager)
    entries = db.session.scalars(services.history(asset).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["create", "update", "update"]
    assert entries[0].changes["holder"] == [None, "Maria Puig"]
    assert entries[1].changes == {"expires_on": ["2027-03-01", "2031-03-01"],
                                  "holder": ["Maria Puig", "Maria Puig i Vila"]}
    assert entries[2].changes == {"status": ["in_use", "retired"]}
    assert entries[2].actor_label == world.manager.email
    assert all(e.council_id == world.council_a.id for e in entries)
    assert db.session.get(Asset, asset.id).status == "retired"
    # Saving without a change writes no history.
    services.update_asset(asset, {"holder": "Maria Puig i Vila"}, actor=world.technician)
    assert db.session.scalar(select(func.count()).select_from(services.history(asset).subquery())) == 3


def test_assets_are_never_deleted(app):
    # Things hanging off an asset (its health checks) may be deleted; the asset itself is retired.
    for rule in app.url_map.iter_rules():
        if re.search(r"/assets?/<[^>]+>/?$", rule.rule):
            assert "DELETE" not in rule.methods, rule.rule


def test_an_asset_cannot_move_to_another_council(world, add_asset):
    asset = add_asset()
    with pytest.raises(ValidationFailed) as exc:
        services.update_asset(asset, {"council_id": world.council_b.id}, actor=world.technician)
    assert "council_id" in exc.value.fields


def test_search_finds_every_word_in_any_field(db, world, add_asset):
    add_asset(name="PC Secretaria", serial="CZC1234XYZ", hostname="MURA-PC01", manufacturer="HP")
    add_asset(name="PC Biblioteca", serial="5CG999", hostname="MURA-PC02", manufacturer="Lenovo")
    add_asset(kind="certificate", name="T-CAT alcaldia", holder="Maria Puig")

    def names(q):
        return sorted(a.name for a in db.session.scalars(services.asset_query(q=q)))

    assert names("czc1234") == ["PC Secretaria"]
    assert names("mura-pc02") == ["PC Biblioteca"]
    assert names("puig") == ["T-CAT alcaldia"]
    assert names("pc hp") == ["PC Secretaria"]
    # LIKE wildcards typed by a user are taken literally.
    assert names("%") == []
    assert names("_") == []


def test_expiry_items_list_expired_and_upcoming_in_date_order(db, world, add_asset):
    today = dt.date(2026, 6, 15)
    cert = add_asset(kind="certificate", name="T-CAT", expires_on=today + dt.timedelta(days=20))
    old_cert = add_asset(kind="certificate", name="Old cert", expires_on=today - dt.timedelta(days=400))
    add_asset(kind="certificate", name="Far", expires_on=today + dt.timedelta(days=91))
    pc = add_asset(name="PC", purchased_on=dt.date(2023, 6, 1), warranty_until=today + dt.timedelta(days=3))
    add_asset(name="Old PC", warranty_until=today - dt.timedelta(days=120))  # lapsed long ago: not news
    recent = add_asset(name="Lapsed PC", warranty_until=today - dt.timedelta(days=10))
    retired = add_asset(kind="license", name="Retired", expires_on=today + dt.timedelta(days=5))
    services.set_status(retired, "retired", actor=world.technician)
    add_asset(world.council_b, kind="domain", name="talamanca.cat", expires_on=today + dt.timedelta(days=60))

    items = expiry.expiry_items(today)
    assert [(i.asset.name, i.field, i.days) for i in items] == [
        (old_cert.name, "expires_on", -400),
        (recent.name, "warranty_until", -10),
        (pc.name, "warranty_until", 3),
        (cert.name, "expires_on", 20),
        ("talamanca.cat", "expires_on", 60),
    ]
    assert [i.asset.name for i in expiry.expiry_items(today, council_id=world.council_b.id)] == ["talamanca.cat"]


def test_find_by_hostname_is_case_insensitive_and_within_the_council(world, add_asset):
    pc = add_asset(hostname="MURA-PC01")
    add_asset(world.council_b, hostname="mura-pc01")
    assert services.find_by_hostname(world.council_a.id, "mura-pc01").id == pc.id
    assert services.find_by_hostname(world.council_a.id, "") is None


def test_an_asset_for_a_ticket_must_belong_to_the_council(world, add_asset):
    pc = add_asset()
    assert services.get_asset_in_council(world.council_a.id, pc.id).id == pc.id
    with pytest.raises(ValidationFailed):
        services.get_asset_in_council(world.council_b.id, pc.id)
    assert [a.id for a in services.asset_choices(world.council_a.id)] == [pc.id]
    # No ticket points at it (with or without the ticket module installed).
    assert services.tickets_of(pc) == []

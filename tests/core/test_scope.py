"""The council scope (core.scope): while council A's scope is set, council B does not exist.

Every kind of ORM statement a view, export or chart might issue is tried here against the
rows of council B: plain selects, aggregates, joins, subqueries, `Session.get`, relationship
loads, and bulk UPDATE/DELETE. Several tests first load B's objects *unrestricted* into the
session, because an identity map that already holds them is the easy way to leak.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import aliased, lazyload

from accounts import audit
from accounts.models import AuditEntry, User
from agreements.models import Council
from core.scope import council_scope, current_scope, unrestricted


@pytest.fixture
def loaded(world, db):
    """Every council and user loaded into the session before the scope is set."""
    db.session.scalars(select(Council)).all()
    db.session.scalars(select(User)).all()
    return world


def _visible_users(world):
    return {world.admin.email, world.manager.email, world.technician.email, world.clerk_a.email}


def test_plain_selects_see_only_the_own_council(loaded, db):
    a, b = loaded.council_a, loaded.council_b
    with council_scope(a.id):
        assert db.session.scalars(select(Council)).all() == [a]
        assert db.session.scalar(select(Council).where(Council.id == b.id)) is None
        assert db.session.scalar(select(Council).where(Council.slug == b.slug)) is None
        assert db.session.scalars(select(Council.name)).all() == ["Mura"]


def test_clerk_visible_users_are_staff_and_own_council(loaded, db):
    with council_scope(loaded.council_a.id):
        emails = set(db.session.scalars(select(User.email)))
        assert emails == _visible_users(loaded)
        assert db.session.scalar(select(User).where(User.id == loaded.clerk_b.id)) is None


def test_aggregates_count_only_the_own_council(loaded, db):
    with council_scope(loaded.council_a.id):
        assert db.session.scalar(select(func.count(Council.id))) == 1
        assert db.session.scalar(select(func.count()).select_from(Council)) == 1
        assert db.session.scalar(select(func.sum(Council.population))) == 211
        assert db.session.scalar(select(func.max(Council.population))) == 211
        assert db.session.scalar(select(func.count()).select_from(User)) == 4
        by_council = dict(db.session.execute(
            select(User.council_id, func.count()).where(User.role == "clerk").group_by(User.council_id)).all())
        assert by_council == {loaded.council_a.id: 1}
    # And without the scope, everything is counted again.
    assert db.session.scalar(select(func.count(Council.id))) == 2


def test_joins_drop_the_other_council_on_either_side(loaded, db):
    with council_scope(loaded.council_a.id):
        rows = db.session.execute(
            select(User.email, Council.name).join(Council, User.council_id == Council.id)).all()
        assert rows == [(loaded.clerk_a.email, "Mura")]
        rows = db.session.execute(
            select(Council.name, User.email).outerjoin(User, User.council_id == Council.id)
            .order_by(Council.name)).all()
        assert rows == [("Mura", loaded.clerk_a.email)]
        other = aliased(Council)
        rows = db.session.execute(select(Council.id, other.id).join(other, other.id != Council.id)).all()
        assert rows == []  # a self-join cannot find a second council


def test_subqueries_are_scoped_too(loaded, db):
    b = loaded.council_b
    with council_scope(loaded.council_a.id):
        in_councils = select(Council.id)
        assert db.session.scalars(
            select(User.email).where(User.council_id.in_(in_councils))).all() == [loaded.clerk_a.email]
        name_of_b = select(Council.name).where(Council.id == b.id).scalar_subquery()
        assert db.session.scalar(select(name_of_b)) is None
        assert db.session.scalar(select(select(Council.id).where(Council.id == b.id).exists())) is False
        counts = select(User.council_id, func.count().label("n")).group_by(User.council_id).subquery()
        assert db.session.execute(select(counts.c.council_id).where(counts.c.council_id.is_not(None))).scalars().all() \
            == [loaded.council_a.id]


def test_session_get_ignores_the_identity_map_for_other_councils(loaded, db):
    a, b = loaded.council_a, loaded.council_b
    # Both are in the identity map already (the `loaded` fixture).
    with council_scope(a.id):
        assert db.session.get(Council, b.id) is None
        assert db.session.get(User, loaded.clerk_b.id) is None
        # The visible ones still come back as the very objects of the identity map.
        assert db.session.get(Council, a.id) is a
        assert db.session.get(User, loaded.admin.id) is loaded.admin
    assert db.session.get(Council, b.id) is b


def test_relationship_loads_do_not_reach_the_other_council(loaded, db):
    a = loaded.council_a
    # A contrived row: an entry of council A whose actor is council B's clerk.
    entry = audit.record("note", object_type="test", object_id=1, actor=loaded.clerk_b, council_id=a.id)
    db.session.commit()
    entry_id, clerk_b = entry.id, loaded.clerk_b
    db.session.expunge(entry)
    with council_scope(a.id):
        # Joined eager load (the relationship's default).
        found = db.session.scalar(select(AuditEntry).where(AuditEntry.id == entry_id))
        assert found is not None and found.actor is None
    db.session.expunge(found)
    assert db.session.get(User, clerk_b.id) is clerk_b  # in the identity map, unrestricted
    with council_scope(a.id):
        # Lazy many-to-one load, whose target sits in the identity map.
        found = db.session.scalar(
            select(AuditEntry).options(lazyload(AuditEntry.actor)).where(AuditEntry.id == entry_id))
        assert found.actor is None


def test_audit_entries_of_other_councils_are_invisible(loaded, db):
    a, b = loaded.council_a, loaded.council_b
    with council_scope(a.id):
        councils = set(db.session.scalars(select(AuditEntry.council_id)))
        assert councils == {a.id}  # creating council A was audited with its id
        assert db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.council_id == b.id)) == 0


def test_bulk_update_and_delete_cannot_touch_the_other_council(loaded, db):
    a, b = loaded.council_a, loaded.council_b
    with council_scope(a.id):
        result = db.session.execute(update(Council).where(Council.id == b.id).values(name="Hacked"))
        assert result.rowcount == 0
        result = db.session.execute(delete(AuditEntry).where(AuditEntry.council_id == b.id))
        assert result.rowcount == 0
        result = db.session.execute(update(Council).where(Council.id == a.id).values(comarca="Bages!"))
        assert result.rowcount == 1
    db.session.commit()
    assert db.session.scalar(select(Council.name).where(Council.id == b.id)) == "Talamanca"
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.council_id == b.id)) == 1


def test_unrestricted_lifts_the_scope_and_restores_it(loaded, db):
    a, b = loaded.council_a, loaded.council_b
    with council_scope(a.id):
        with unrestricted():
            assert current_scope() is None
            assert {c.id for c in db.session.scalars(select(Council))} == {a.id, b.id}
            assert db.session.get(Council, b.id) is b
        assert current_scope().council_id == a.id
        assert db.session.scalars(select(Council)).all() == [a]
    assert current_scope() is None


def test_a_clerks_request_is_scoped_and_the_scope_ends_with_it(world, api_for, db):
    clerk = api_for(world.clerk_a)
    resp = clerk.get("/api/v1/councils")
    assert [c["id"] for c in resp.json["items"]] == [world.council_a.id]
    # The scope the access layer set for that request does not leak into the caller.
    assert current_scope() is None
    assert db.session.scalar(select(func.count(Council.id))) == 2

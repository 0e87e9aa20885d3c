"""User administration: the rules on roles and councils (service and database), the admin
pages with their field errors in the admin's language, and the audit log."""

from __future__ import annotations

import html as htmllib
import re

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts import services
from accounts.models import AuditEntry, User
from core.errors import Conflict, ValidationFailed


def translated(msgid: str, lang: str) -> str:
    with force_locale(lang):
        text = gettext(msgid)
    assert text != msgid, f"no {lang} translation of {msgid!r}: compile the catalogs (make translations)"
    return text


def field_errors(page: str, field_id: str) -> list[str]:
    """The messages rendered right after the field's control (the form macro's invalid-feedback)."""
    match = re.search(rf'<(input|select|textarea)[^>]*\bid="{field_id}"[^>]*>(.*?</\1>)?\s*'
                      r'((?:<div class="invalid-feedback">.*?</div>\s*)+)', page, re.S)
    if not match:
        return []
    assert "is-invalid" in match.group(0).split(">", 1)[0]
    return [htmllib.unescape(m) for m in re.findall(r'<div class="invalid-feedback">(.*?)</div>', match.group(3))]


def user_form(**overrides):
    data = {"email": "new.tech@test.example.org", "name": "New Tech", "role": "technician", "council_id": "",
            "preferred_language": "", "password": "a good long password"}
    data.update(overrides)
    return data


@pytest.fixture
def admin(world, client_for):
    return client_for(world.admin)


# --- the rules ------------------------------------------------------------------------

def test_emails_are_unique_whatever_their_case(world):
    services.create_user(email="A@X.org", name="A", role="technician", password="long enough pw", actor=None)
    with pytest.raises(Conflict) as err:
        services.create_user(email="a@x.org", name="B", role="technician", password="long enough pw", actor=None)
    assert err.value.code == "duplicate_email" and "email" in err.value.fields
    assert services.get_user_by_email("A@x.ORG").email == "a@x.org"


@pytest.mark.parametrize(("role", "with_council", "field"), [
    ("clerk", False, "council_id"),
    ("technician", True, "council_id"),
    ("manager", True, "council_id"),
    ("admin", True, "council_id"),
    ("superuser", False, "role"),
])
def test_only_clerks_belong_to_a_council(world, role, with_council, field):
    council_id = world.council_a.id if with_council else None
    with pytest.raises(ValidationFailed) as err:
        services.create_user(email="x@test.example.org", name="X", role=role, password="long enough pw",
                             council_id=council_id, actor=None)
    assert field in err.value.fields
    if role == "clerk" or field == "role":
        with pytest.raises(ValidationFailed):
            services.update_user(world.technician, actor=world.admin, role=role, council_id=council_id)
    else:
        # On update, a council given with an office role is dropped: the rule still holds.
        user = services.update_user(world.clerk_b, actor=world.admin, role=role, council_id=council_id)
        assert (user.role, user.council_id) == (role, None)


@pytest.mark.parametrize(("role", "council", "email"), [
    ("clerk", None, "raw@test.example.org"),
    ("technician", "a", "raw@test.example.org"),
    ("clerk", "a", "Raw@Test.example.org"),        # stored e-mails are lower case
    ("root", None, "raw@test.example.org"),
])
def test_the_database_refuses_what_the_rules_refuse(world, db, role, council, email):
    """A raw INSERT, bypassing the services, meets the same rules as CHECK constraints."""
    row = {"email": email, "name": "Raw", "password_hash": "x", "role": role, "active": True,
           "auth_version": 0, "created_at": sa.func.now(),
           "council_id": world.council_a.id if council else None}
    with pytest.raises(IntegrityError):
        db.session.execute(sa.insert(User.__table__).values(**row))
    db.session.rollback()
    assert db.session.scalar(select(User).where(User.name == "Raw")) is None


def test_a_role_change_ends_the_users_sessions(world, client_for):
    client = client_for(world.technician)
    assert client.get("/account").status_code == 200
    services.update_user(world.technician, actor=world.admin, role="manager", council_id=None)
    assert client.get("/account").status_code == 302


# --- the admin pages ------------------------------------------------------------------

def test_non_admins_get_403(world, client_for):
    for role in ("manager", "technician", "clerk"):
        client = client_for(world.by_role[role])
        assert client.get("/admin/users").status_code == 403
        assert client.post("/admin/users/new", data=user_form()).status_code == 403
        # A clerk is not told that council B's user exists: 404, as for any other council's object.
        expected = 404 if role == "clerk" else 403
        assert client.post(f"/admin/users/{world.clerk_b.id}/deactivate").status_code == expected
        assert client.get("/admin/audit").status_code == 403
    assert services.get_user_by_email("new.tech@test.example.org") is None
    assert services.get_user_by_email(world.clerk_b.email).active


def test_admin_creates_a_user(admin, world, db):
    resp = admin.post("/admin/users/new", data=user_form(email="New.Tech@Test.example.org"))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/users")
    user = services.get_user_by_email("new.tech@test.example.org")
    assert (user.name, user.role, user.council_id, user.active) == ("New Tech", "technician", None, True)
    assert "new.tech@test.example.org" in admin.get("/admin/users").get_data(as_text=True)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.object_type == "user",
                                                        AuditEntry.object_id == str(user.id))).one()
    assert entry.action == "create" and entry.actor_id == world.admin.id
    assert entry.changes["role"] == [None, "technician"]


def test_admin_creates_a_clerk_with_a_council(admin, world):
    resp = admin.post("/admin/users/new", data=user_form(email="clerk.new@test.example.org", role="clerk",
                                                         council_id=str(world.council_b.id)))
    assert resp.status_code == 302
    assert services.get_user_by_email("clerk.new@test.example.org").council_id == world.council_b.id


def test_form_errors_are_next_to_their_fields_in_the_admins_language(admin, world):
    services.update_user(world.admin, actor=world.admin, preferred_language="ca",
                         role="admin", council_id=None)
    page = admin.post("/admin/users/new", data=user_form(role="clerk")).get_data(as_text=True)
    assert '<html lang="ca">' in page
    assert field_errors(page, "council_id") == [translated("A council clerk needs a council.", "ca")]
    page = admin.post("/admin/users/new", data=user_form(email=world.manager.email.upper())).get_data(as_text=True)
    assert field_errors(page, "email") == [translated("A user with this email already exists.", "ca")]
    page = admin.post("/admin/users/new", data=user_form(email="not-an-email")).get_data(as_text=True)
    assert field_errors(page, "email") == [translated("Enter a valid email address.", "ca")]
    page = admin.post("/admin/users/new", data=user_form(password="")).get_data(as_text=True)
    assert field_errors(page, "password") == [translated("Set an initial password.", "ca")]
    assert services.get_user_by_email("new.tech@test.example.org") is None


def test_form_errors_in_english_for_an_english_admin(admin, world):
    services.update_user(world.admin, actor=world.admin, preferred_language="en", role="admin", council_id=None)
    page = admin.post("/admin/users/new", data=user_form(role="clerk")).get_data(as_text=True)
    assert field_errors(page, "council_id") == ["A council clerk needs a council."]


def test_admin_edits_a_user_and_the_change_is_audited(admin, world, db):
    uid = world.technician.id
    assert admin.get(f"/admin/users/{uid}").status_code == 200
    resp = admin.post(f"/admin/users/{uid}", data=user_form(email=world.technician.email, name="Jordi Vila",
                                                            role="clerk", council_id=str(world.council_a.id),
                                                            password=""))
    assert resp.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, uid)
    assert (user.name, user.role, user.council_id) == ("Jordi Vila", "clerk", world.council_a.id)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.object_id == str(uid),
                                                        AuditEntry.action == "update")).one()
    assert entry.changes["role"] == ["technician", "clerk"]
    assert entry.changes["council_id"] == [None, world.council_a.id]
    assert entry.changes["name"] == ["tech", "Jordi Vila"]


def test_admin_sets_a_new_password(admin, world, app):
    uid = world.clerk_b.id
    resp = admin.post(f"/admin/users/{uid}", data=user_form(email=world.clerk_b.email, name="clerk.b", role="clerk",
                                                            council_id=str(world.council_b.id),
                                                            password="reset by the office"))
    assert resp.status_code == 302
    client = app.test_client()
    assert client.post("/login", data={"email": world.clerk_b.email, "password": world.password}).status_code == 200
    assert client.post("/login", data={"email": world.clerk_b.email,
                                       "password": "reset by the office"}).status_code == 302


def test_deactivate_and_reactivate(admin, world, app, db):
    uid = world.clerk_a.id
    resp = admin.post(f"/admin/users/{uid}/deactivate")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/admin/users/{uid}")
    db.session.expire_all()
    assert db.session.get(User, uid).active is False
    page = admin.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert f"/admin/users/{uid}/activate" in page
    login = {"email": world.clerk_a.email, "password": world.password}
    assert app.test_client().post("/login", data=login).status_code == 200
    assert "clerk.a@" not in admin.get("/admin/users").get_data(as_text=True)          # active users by default
    assert "clerk.a@" in admin.get("/admin/users?status=inactive").get_data(as_text=True)

    admin.post(f"/admin/users/{uid}/activate")
    db.session.expire_all()
    assert db.session.get(User, uid).active is True
    assert app.test_client().post("/login", data=login).status_code == 302
    actions = db.session.scalars(select(AuditEntry.changes).where(
        AuditEntry.object_id == str(uid), AuditEntry.action == "update").order_by(AuditEntry.id)).all()
    assert [c["active"] for c in actions] == [[True, False], [False, True]]


def test_an_admin_cannot_deactivate_or_demote_themselves(admin, world, db):
    uid = world.admin.id
    resp = admin.post(f"/admin/users/{uid}/deactivate", follow_redirects=True)
    assert resp.status_code == 200
    with force_locale("ca"):
        message = gettext("You cannot change your own role or deactivate yourself.")
    assert htmllib.escape(message, quote=False) in resp.get_data(as_text=True)
    page = admin.post(f"/admin/users/{uid}", data=user_form(email=world.admin.email, name="admin",
                                                            role="technician", password="")).get_data(as_text=True)
    assert field_errors(page, "role") == [message]
    db.session.expire_all()
    me = db.session.get(User, uid)
    assert me.active is True and me.role == "admin"
    assert admin.get("/admin/users").status_code == 200  # still signed in


def test_unknown_user_is_404(admin):
    assert admin.get("/admin/users/987654").status_code == 404
    assert admin.post("/admin/users/987654/deactivate").status_code == 404


# --- the audit page -------------------------------------------------------------------

def test_audit_page_shows_changes_with_before_and_after(admin, world):
    services.update_user(world.technician, actor=world.admin, name="Laia Ferrer", role="technician", council_id=None)
    page = htmllib.unescape(admin.get("/admin/audit").get_data(as_text=True))
    row = next(r for r in page.split("<tr>") if "Laia Ferrer" in r)
    # In the admin's language (Catalan): the action and the field are words, not codes.
    assert world.admin.email in row and translated("Changed", "ca") in row
    name = translated("Name", "ca")
    assert re.search(rf'<span class="fw-semibold">{name}</span>:\s*<span[^>]*>tech</span>\s*→\s*'
                     r"<span[^>]*>Laia Ferrer</span>", row), row


def test_audit_filters(admin, world, db):
    from agreements.councils import update_council

    update_council(world.council_b, {"population": 150}, actor=world.manager)
    services.update_user(world.technician, actor=world.admin, name="Pau Roca", role="technician", council_id=None)

    def rows(query):
        page = htmllib.unescape(admin.get(f"/admin/audit?{query}").get_data(as_text=True))
        body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
        return body.split("<tr>")[1:]

    everything = rows("")
    assert any("Pau Roca" in r for r in everything) and any("Talamanca" in r for r in everything)
    councils = rows("object_type=council")
    assert councils and all(f"{translated('Council', 'ca')} #" in r for r in councils)
    assert any("Talamanca" in r and translated("Changed", "ca") in r for r in councils)
    by_manager = rows("actor=manager@")
    assert len(by_manager) == 1 and "Talamanca" in by_manager[0]
    updates = rows("action=update&object_type=user")
    assert len(updates) == 1 and "Pau Roca" in updates[0]
    assert rows("action=no-such-action") == []
    assert rows(f"object_type=council&object_id={world.council_b.id}") == [
        r for r in councils if "Talamanca" in r]

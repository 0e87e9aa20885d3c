"""Passwords that are easy to guess are refused wherever a password is set (ASVS V6.2.4),
with reasons in the user's language; the new-user form says the rules before submitting."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from account_support import post_login
from flask_babel import force_locale

from accounts import passwords, services
from core.errors import ValidationFailed

COMMON = ["1234567890", "password12", "qwertyuiop", "contrasenya1", "Barcelona2024", "aaaaaaaaaaaa"]
ENGLISH_FEEDBACK = ("This is a top-10 common password", "This is a very common password", "top-100",
                    "Repeats like", "Add another word", "Sequences like")


def _field_errors(page: str, field_id: str) -> list[str]:
    match = re.search(rf'<input[^>]*\bid="{field_id}"[^>]*>\s*((?:<div class="invalid-feedback">.*?</div>\s*)+)', page, re.S)
    return [htmllib.unescape(m) for m in re.findall(r'<div class="invalid-feedback">(.*?)</div>', match.group(1))] if match else []


@pytest.mark.parametrize("password", COMMON)
def test_common_and_guessable_passwords_are_refused(world, password):
    with pytest.raises(ValidationFailed) as err:
        services.create_user(email="new@test.example.org", name="New", role="technician", password=password, actor=None)
    assert "password" in err.value.fields
    with pytest.raises(ValidationFailed):
        services.set_password(world.technician, password, actor=world.admin)
    assert services.authenticate(world.technician.email, world.password) is not None


def test_the_users_own_details_count_against_a_password(world):
    with pytest.raises(ValidationFailed) as err:
        services.create_user(email="jordi.vilanova@ajuntament.example.cat", name="Jordi Vilanova", role="technician",
                             password="vilanova2026", actor=None)
    with force_locale("en"):
        assert "your name or your email" in str(err.value.fields["password"])
    services.create_user(email="laia@test.example.org", name="Laia", role="technician",
                         password="copper kettle meadow", actor=None)


@pytest.mark.parametrize("lang", ["ca", "es", "en"])
def test_the_reasons_are_ours_and_in_the_users_language(app, lang):
    with app.test_request_context(), force_locale(lang):
        verdict = passwords.assess("qwertyuiop", "someone@test.example.org", "Someone")
        text = " ".join(verdict["messages"])
        assert not verdict["acceptable"]
        assert not any(fragment in text for fragment in ENGLISH_FEEDBACK)
        if lang != "en":
            english = passwords.WEAKNESS_MESSAGES["common"]
            with force_locale("en"):
                english = str(english)
            assert english not in text


def test_weakness_kinds_get_their_own_reason(app):
    with app.test_request_context(), force_locale("en"):
        for password, fragment in (("qwertyuiop", "most used"), ("zxcvbnm,./zx", "Keyboard"),
                                   ("abcdefghijk", "Sequences"), ("xyzxyzxyzxyz", "Repeated"),
                                   ("anna.puig1", "your name")):
            verdict = passwords.assess(password, "anna.puig@test.example.org", "Anna Puig")
            assert not verdict["acceptable"], password
            assert fragment in " ".join(verdict["messages"]), (password, verdict)
        assert passwords.assess("short", None)["messages"] == ["Use at least 8 characters."]


def test_the_password_change_refuses_a_weak_one_in_the_users_language(app, world, client_for, db):
    services.update_user(world.clerk_a, actor=world.clerk_a, preferred_language="es", role="clerk",
                         council_id=world.council_a.id)
    client = client_for(world.clerk_a)
    page = client.post("/account", data={"pw-current_password": world.password, "pw-new_password": "password12",
                                         "pw-confirm": "password12"}).get_data(as_text=True)
    (message,) = _field_errors(page, "pw-new_password")
    with force_locale("es"):
        assert str(passwords.WEAKNESS_MESSAGES["common"]) in message
    assert "This is" not in message
    assert services.authenticate(world.clerk_a.email, world.password) is not None


def test_the_new_user_form_marks_required_fields_and_shows_the_rules_before_submitting(world, client_for):
    page = client_for(world.admin).get("/admin/users/new").get_data(as_text=True)
    field = re.search(r'<input[^>]*id="password"[^>]*>', page).group(0)
    assert " required" in field  # for assistive technology; the * is for the eye
    label_end = page.index('<label class="form-label" for="password">')
    assert '<span class="text-danger" aria-hidden="true">*</span>' in page[label_end:label_end + 200]
    described = re.search(r'aria-describedby="([^"]+)"', field).group(1).split()
    assert "password-rules" in described
    rules = re.search(r'<div id="password-rules"[^>]*>(.*?)</div>', page, re.S).group(1)
    with force_locale("ca"):
        assert htmllib.escape(str(passwords.rules_text()), quote=False) in rules
    # The length rule is marked live by CSS from this pattern; the full judgement by script.
    assert 'pattern=".{8,}"' in field and 'data-password-check="/account/password-check"' in field
    assert '<script src="/static/js/password.js"></script>' in page
    for name in ("email", "name", "role"):
        label_at = page.index(f'for="{name}"')
        assert "*</span>" in page[label_at:label_at + 200], name


def test_the_new_user_form_refuses_a_weak_password_next_to_the_field(world, client_for):
    page = client_for(world.admin).post("/admin/users/new", data={
        "email": "new.tech@test.example.org", "name": "New Tech", "role": "technician", "council_id": "",
        "preferred_language": "", "password": "1234567890"}).get_data(as_text=True)
    assert _field_errors(page, "password")
    assert services.get_user_by_email("new.tech@test.example.org") is None


def test_live_feedback_answers_in_the_users_language(app, world, client_for):
    services.update_user(world.admin, actor=world.admin, preferred_language="ca", role="admin", council_id=None)
    client = client_for(world.admin)
    resp = client.post("/account/password-check", json={"password": "qwertyuiop"})
    assert resp.status_code == 200
    verdict = resp.get_json()
    assert verdict["acceptable"] is False and 0 <= verdict["score"] <= 2
    with force_locale("ca"):
        assert str(passwords.WEAKNESS_MESSAGES["common"]) in verdict["messages"]
    # The form's email and name count, as when the form is submitted.
    resp = client.post("/account/password-check", json={"password": "marta.soler77", "email": "marta.soler@x.org",
                                                        "name": "Marta Soler"})
    assert resp.get_json()["acceptable"] is False
    assert client.post("/account/password-check", json={"password": "copper kettle meadow"}).get_json()["acceptable"]
    assert client.post("/account/password-check", data="nonsense").status_code == 400
    assert app.test_client().post("/account/password-check", json={"password": "x"}).status_code == 302


def test_live_feedback_needs_the_csrf_token(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        post = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', post).group(1)
        post_login(client, world.clerk_a.email, world.password, csrf_token=token)
        assert client.post("/account/password-check", json={"password": "x"}).status_code == 400
        page = client.get("/account").get_data(as_text=True)
        token = re.search(r'name="pw-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        resp = client.post("/account/password-check", json={"password": "x", "self": True},
                           headers={"X-CSRFToken": token})
        assert resp.status_code == 200 and resp.get_json()["acceptable"] is False


def test_the_cli_refuses_a_weak_password(app, world, db):
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "weak@test.example.org", "--role", "technician",
                                                "--password", "qwertyuiop"])
    assert result.exit_code != 0 and "password" in result.output
    assert services.get_user_by_email("weak@test.example.org") is None
    result = app.test_cli_runner().invoke(args=["users", "create", "strong@test.example.org", "--role", "technician",
                                                "--password", "lantern orchard pebble"])
    assert result.exit_code == 0, result.output

"""The security baseline: headers, cookies, no inline script or style (CSP), size limits,
and error pages that speak the user's language and leak nothing."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale
from route_samples import samples

from core.access import public
from core.errorpages import ERROR_TITLES

_ARG = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>")
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\ssrc\s*=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son\w+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style\b", re.I)


def title_in(app, status: int, lang: str) -> str:
    """The error page's title in `lang`; for ca/es it must really be translated."""
    with app.app_context():
        with force_locale("en"):
            english = str(ERROR_TITLES[status])
        with force_locale(lang):
            text = str(ERROR_TITLES[status])
    assert lang == "en" or text != english, f"no {lang} translation of {english!r} (make translations)"
    return text


def login(client, email, password):
    return client.post("/login", data={"email": email, "password": password})


# --- headers and cookies --------------------------------------------------------------

def _csp(resp) -> dict[str, str]:
    return {d.strip().split(" ", 1)[0]: d.strip() for d in resp.headers["Content-Security-Policy"].split(";")}


@pytest.mark.parametrize("signed_in", [False, True])
def test_html_pages_carry_the_security_headers(world, app, client_for, signed_in):
    client = client_for(world.admin) if signed_in else app.test_client()
    resp = client.get("/admin/users" if signed_in else "/login")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    csp = _csp(resp)
    assert "script-src" in csp and "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp.get("style-src", "")
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")
    assert "no-store" in resp.headers["Cache-Control"]


def test_api_responses_carry_them_too(world, api_for):
    resp = api_for(world.admin).get("/api/v1/councils")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in resp.headers


def _session_cookie(resp) -> str:
    (header,) = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("councildesk_session=")]
    return header


def test_session_cookie_flags_over_http(app, world):
    header = _session_cookie(login(app.test_client(), world.manager.email, world.password))
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header
    assert "Strict-Transport-Security" not in app.test_client().get("/login").headers


def test_session_cookie_is_secure_over_https(app, world):
    client = app.test_client()
    resp = client.post("/login", data={"email": world.manager.email, "password": world.password},
                       base_url="https://localhost")
    assert resp.status_code == 302
    header = _session_cookie(resp)
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Strict-Transport-Security" in resp.headers


# --- no inline script or style anywhere (the CSP would block it) ------------------------

def _get_pages(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" in rule.methods and not rule.rule.startswith(("/api/", "/static/")):
            yield rule.rule


def _offences(html: str) -> list[str]:
    found = []
    for name, pattern in (("inline <script>", INLINE_SCRIPT), ("on*= handler", EVENT_HANDLER),
                          ("style= attribute", STYLE_ATTRIBUTE), ("<style> element", STYLE_ELEMENT)):
        found += [f"{name}: {m.group(0)[:120]}" for m in pattern.finditer(html)]
    return found


def test_no_page_has_inline_script_or_style(app, world, client_for):
    values = samples(world, "a")
    admin, anonymous = client_for(world.admin), app.test_client()
    checked, problems = 0, {}
    urls = [_ARG.sub(lambda m: str(values[m.group(1)]), rule) for rule in _get_pages(app)]
    urls += ["/no-such-page", "/councils/no-such-council"]
    for client, url in [(admin, u) for u in urls] + [(anonymous, "/login"), (anonymous, "/no-such-page")]:
        resp = client.get(url, follow_redirects=True)
        assert resp.status_code < 500, (url, resp.status_code)
        if resp.mimetype != "text/html":
            continue
        checked += 1
        offences = _offences(resp.get_data(as_text=True))
        if offences:
            problems[url] = offences
    # A clerk's pages (and the 403 page) too.
    clerk = client_for(world.clerk_a)
    for url in ("/", "/councils", f"/councils/{world.council_a.slug}", "/admin/users"):
        resp = clerk.get(url, follow_redirects=True)
        checked += 1
        if _offences(resp.get_data(as_text=True)):
            problems[f"clerk {url}"] = _offences(resp.get_data(as_text=True))
    assert checked >= 15
    assert not problems, problems


def test_the_scanner_finds_what_it_looks_for():
    assert _offences('<script>alert(1)</script><p onclick="x()"><div style="color:red"><style>p{}</style>')
    assert len(_offences('<script>alert(1)</script><p onclick="x()"><div style="color:red"><style>p{}</style>')) == 4
    assert not _offences('<script src="/static/js/app.js"></script><p class="on">onload= is text</p>')


# --- sizes ----------------------------------------------------------------------------

def test_request_bodies_are_capped(app, world, client_for):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit and 1_000_000 <= limit <= 50_000_000
    resp = client_for(world.manager).post(f"/councils/{world.council_a.slug}/edit",
                                          data={"name": "x" * limit, "population": "1"})
    assert resp.status_code == 413 and resp.mimetype == "text/html"


# --- error pages ----------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ca", "es", "en"])
def test_404_and_403_pages_speak_the_users_language(app, world, client_for, lang):
    html = app.test_client().get("/no-such-page", headers={"Accept-Language": lang}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in html and title_in(app, 404, lang) in html
    clerk = client_for(world.clerk_a)
    resp = clerk.get("/admin/users", headers={"Accept-Language": lang})
    assert resp.status_code == 403
    html = resp.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html and title_in(app, 403, lang) in html


def test_a_users_language_choice_beats_the_browser(app, world, client_for):
    from accounts import services

    services.update_user(world.clerk_a, actor=world.admin, preferred_language="es", role="clerk",
                         council_id=world.council_a.id)
    html = client_for(world.clerk_a).get("/no-such-page", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="es">' in html and title_in(app, 404, "es") in html


@pytest.fixture
def failing_app(make_app):
    app = make_app()

    @public
    def explode():
        raise RuntimeError("secret detail 8c1f: password=hunter2")

    app.add_url_rule("/explode", "explode", explode)
    app.add_url_rule("/api/v1/explode", "api_explode", explode)
    return app


@pytest.mark.parametrize("lang", ["ca", "es", "en"])
def test_500_page_speaks_the_users_language_and_leaks_nothing(failing_app, lang, caplog):
    resp = failing_app.test_client().get("/explode", headers={"Accept-Language": lang})
    assert resp.status_code == 500 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html and title_in(failing_app, 500, lang) in html
    for leak in ("secret detail", "hunter2", "RuntimeError", "Traceback", "raise "):
        assert leak not in html
    # ...but the office's log has it.
    assert any("secret detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_api_500_is_the_error_body_and_leaks_nothing(failing_app, api_error):
    resp = failing_app.test_client().get("/api/v1/explode")
    api_error(resp, 500, "internal_error")
    assert "secret" not in resp.get_data(as_text=True)


# --- bad input is a 4xx, never a 500 --------------------------------------------------

def test_nul_characters_are_bad_input_not_a_500(app, world, client_for, api_for, api_error, db):
    """PostgreSQL cannot store NUL in text; wherever it comes in, it is refused up front."""
    anonymous = app.test_client()
    assert anonymous.post("/login", data={"email": "a\x00@test.example.org", "password": "x"}).status_code == 400
    manager = client_for(world.manager)
    assert manager.get("/councils?q=mu%00ra").status_code == 400
    assert manager.get("/councils/mu%00ra").status_code == 404
    resp = manager.post(f"/councils/{world.council_a.slug}/edit", data={"name": "Mura\x00", "population": "1"})
    assert resp.status_code == 400
    db.session.expire_all()
    assert world.council_a.name == "Mura"
    api = api_for(world.manager)
    api_error(api.get("/api/v1/councils?q=mu%00ra"), 400, "bad_request")
    api_error(api.get("/api/v1/councils/1%00"), 404, "not_found")


def test_ids_beyond_the_integer_columns_are_404_on_pages(world, client_for):
    admin = client_for(world.admin)
    for url in (f"/admin/users/{2**31}", f"/admin/users/{10**20}/deactivate", f"/account/tokens/{2**40}/revoke"):
        method = admin.get if url.count("/") == 3 else admin.post
        assert method(url).status_code == 404, url

"""Stored XSS in a real browser: every stored text field of both councils holds XSS payloads
(tests/battery/canaries.py: ticket text, replies and notes, asset fields, what an agent says
about its machine, SSH output...), and headless Chromium opens every page a role may GET,
as each role, through the access tests' route walker (so later routes are covered).

The browser contexts bypass the Content-Security-Policy on purpose: the CSP would stop an
injected script, and this test is about escaping, so an escaping mistake must be free to fire
its `alert`. The CSP is checked separately, on every HTML (and SVG) answer's headers.
For each page: no dialog fires, the served HTML holds no payload unescaped, the DOM has no
element or handler a payload could have created, and no template expression was evaluated.
"""

from __future__ import annotations

import re
import zlib

import pytest
from battery_support import variants
from canaries import seed_council
from test_access_policy import _collection_app, _url

from core.access import policy_for

ROLES = ("clerk", "technician", "manager", "admin")
# Each is harmless only if escaped. 7**7 = 823543 comes out only if a template evaluated it.
PAYLOADS = (
    '"><img src=x onerror=alert(1) data-xss=1>',
    "<script>alert('xss')</script>",
    "'><svg onload=alert(2) data-xss=2>",
    "</textarea><script>alert(3)</script>",
    "javascript:alert(4)//",
    "{{7*7*7*7*7*7*7}}",
)
RAW = [p for p in PAYLOADS if "<" in p]
EVALUATED = "823543"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DOM_PROBE = """() => {
  const found = [];
  for (const el of document.querySelectorAll('[data-xss], img[src="x"], [onerror], [onload]')) found.push(el.outerHTML.slice(0, 120));
  for (const el of document.querySelectorAll('script:not([src])')) found.push('inline script: ' + el.textContent.slice(0, 80));
  for (const el of document.querySelectorAll('a[href^="javascript:" i], [src^="javascript:" i], [action^="javascript:" i]')) found.push(el.outerHTML.slice(0, 120));
  return found;
}"""

SHOWN = """() => document.body.innerText + ' ' +
  [...document.querySelectorAll('input, textarea, option')].map(e => e.value || e.textContent).join(' ')"""


def xss_mark(field: str) -> str:
    """Two payloads per field (which two depends on the field), the template expression, and
    the field's name."""
    n = zlib.crc32(field.encode()) % len(RAW)
    return f"{RAW[n]}{RAW[(n + 1) % len(RAW)]} {PAYLOADS[4]} {PAYLOADS[5]} xss.{field}"


def _login(context, base, user, password):
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    assert "/login" not in page.url, f"{user.email} could not sign in"
    return page


@pytest.mark.browser
@pytest.mark.slow
def test_stored_xss_never_runs_in_any_page_as_any_role(app, db, world, live_server, english):
    from playwright.sync_api import sync_playwright

    seeded = {side: seed_council(app, world, side, xss_mark) for side in ("b", "a")}
    db.session.commit()
    ids = seeded["a"].ids
    walk_app = _collection_app()
    pages = {}
    unknown: list[str] = []
    for rule in sorted(walk_app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.rule.startswith(("/api/", "/static/")) or rule.endpoint == "static":
            continue
        policy = policy_for(walk_app, rule.endpoint)
        for fixed in variants(rule.rule):
            try:
                pages[_url(rule.rule, {**ids, **fixed})] = policy
            except AssertionError as exc:  # a path argument no provider in tests/samples/ knows
                unknown.append(str(exc))

    failures: list[str] = list(unknown)
    visited = dict.fromkeys(ROLES, 0)
    dialogs: list[str] = []
    base = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for role in ROLES:
                user = world.by_role[role]
                # Wide enough that the navbar shows the user's name (hidden, but for screen
                # readers, from 992 to 1399 px): some pages carry a payload only there.
                context = browser.new_context(bypass_csp=True, java_script_enabled=True,
                                              viewport={"width": 1440, "height": 900})
                context.set_default_timeout(20_000)
                page = _login(context, base, user, world.password)
                page.on("dialog", lambda d, role=role, page=page: (dialogs.append(f"{role} {page.url}: {d.message}"),
                                                                   d.dismiss()))
                for url, policy in pages.items():
                    if policy is None or (policy.kind == "roles" and role not in policy.roles) or policy.kind == "agent":
                        continue
                    # The raw answer first (its headers, its HTML as served), then the page.
                    answer = context.request.get(base + url, max_redirects=0)
                    ctype = answer.headers.get("content-type", "")
                    if answer.status >= 500:
                        failures.append(f"{role} GET {url}: {answer.status}")
                        continue
                    if not ctype.startswith(("text/html", "image/svg+xml")):
                        continue  # CSV, XLSX, PDF, PNG: no browser renders these as a page
                    if "content-security-policy" not in answer.headers:
                        failures.append(f"{role} GET {url}: {answer.status} {ctype} without a CSP header")
                    raw = answer.text()
                    for payload in RAW:
                        if payload in raw:
                            failures.append(f"{role} GET {url}: payload served unescaped: {payload}")
                    if EVALUATED in raw:
                        failures.append(f"{role} GET {url}: a template expression was evaluated")
                    if answer.status in (301, 302, 303):
                        continue
                    page.goto(base + url, wait_until="load")
                    visited[role] += 1
                    injected = page.evaluate(DOM_PROBE)
                    if injected:
                        failures.append(f"{role} GET {url}: elements a payload created: {injected[:3]}")
                    # Escaped, a payload shows as the text it is (on the page or in a form field):
                    # a page that serves it but shows nothing of it has swallowed markup.
                    if "xss." in raw and ctype.startswith("text/html") and not re.search(r"xss\.[a-z]", page.evaluate(SHOWN)):
                        failures.append(f"{role} GET {url}: the payload text is served but not shown")
                context.close()
            # The control: the same probes do catch an unescaped payload in this browser.
            context = browser.new_context(bypass_csp=True)
            page = context.new_page()
            caught: list[str] = []
            page.on("dialog", lambda d: (caught.append(d.message), d.dismiss()))
            page.set_content(f"<html><body><p>{RAW[0]}</p><p>{RAW[2]}</p></body></html>")
            page.wait_for_timeout(200)
            control = page.evaluate(DOM_PROBE)
            context.close()
        finally:
            browser.close()
    assert caught and len(control) >= 2, f"the probes missed a planted payload: {caught} {control}"
    failures.extend(f"dialog fired: {d}" for d in dialogs)
    shown = sum(visited.values())
    print(f"\nxss: {len(pages)} GET page URLs, visited {visited} ({shown} page loads) in one Chromium; "
          f"payloads {len(PAYLOADS)}; fields that refused them: {len(set(seeded['a'].refused))}")
    assert not failures, "\n".join(failures[:40])
    assert visited["clerk"] >= 10 and visited["admin"] >= 30, visited

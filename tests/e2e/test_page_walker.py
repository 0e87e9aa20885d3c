"""Every page the navigation leads to, as every role, in every language, on a laptop and a phone.

On the demo office (`flask seed-demo`), the admin, the manager, a technician and a clerk each
sign in; the pages reachable from their navigation (the menus' links included, and the user
menu's), a few pages each of those leads on to below its own path (the reports' dashboard...),
and a ticket and an asset of theirs are opened in Catalan, Spanish and English at 1366×768 (a council laptop) and 390×844 (a
technician's phone). On each one:

- nothing is wider than the window (`scrollWidth <= innerWidth`): a clipped table or a navbar
  past the edge hides what people came for;
- the console stays clean (script errors, CSP refusals and failed loads all land there);
- axe-core finds no serious or critical violation (once per page, role and size, in Catalan);
- in Catalan and Spanish, no text (nor accessible name, title or placeholder) is an English
  msgid of the catalogue whose translation differs: a string left untranslated.

Every problem of every page is collected, and the test fails once with the whole list.

axe-core runs from tests/e2e/vendor/axe.min.js (MPL-2.0, licence header kept), served to the
page from its own origin by a route, so the page's Content-Security-Policy stays in force.
Debian's Chromium through Playwright (`executable_path`); nothing is downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_PATH = "/__walker__/axe.min.js"
SUB_PAGES = 3
VIEWPORTS = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
LANGS = ("ca", "es", "en")
# axe-core once per page, role and size: its rules read structure, names and colours, which
# the language does not change, and it is most of the walk's time (the three languages' texts
# and widths are checked on every visit).
AXE_LANG = "ca"
ROLES = ("admin", "manager", "technician", "clerk")
# Pages that are not pages: files, charts, calendars, and what signs out or changes state.
NOT_PAGES = re.compile(r"(\.(csv|xlsx|pdf|png|svg|ics|json|zip)$|/export|/download|/chart|/calendar\.ics|/feed|"
                       r"/logout|/api/|/static/|/attachments/)")

OVERFLOW = """() => {
  const width = window.innerWidth;
  const doc = document.documentElement.scrollWidth;
  if (doc <= width) return null;
  const culprits = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1 && r.width > 0) {
      const parent = el.parentElement && el.parentElement.getBoundingClientRect();
      if (!parent || parent.right <= width + 1) {
        const id = el.id ? '#' + el.id : '';
        const cls = el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).slice(0, 3).join('.') : '';
        culprits.push(el.tagName.toLowerCase() + id + cls + ' (right ' + Math.round(r.right) + ')');
      }
    }
    if (culprits.length >= 4) break;
  }
  return {scrollWidth: doc, innerWidth: width, culprits};
}"""

# Every text node (hidden ones too: a collapsed menu or a screen reader's text is read by
# someone), and the attributes people hear or see: accessible names, titles, placeholders.
TEXTS = """() => {
  const out = new Set();
  const pageLang = document.documentElement.lang;
  const foreign = el => { const l = el.closest('[lang]'); return l && l.lang !== pageLang; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const el = node.parentElement;
    if (!el || el.closest('script, style, template, code, pre') || foreign(el)) continue;
    const text = node.nodeValue.replace(/\\s+/g, ' ').trim();
    if (text) out.add(text);
  }
  for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt], input[type=submit][value]')) {
    if (foreign(el)) continue;
    for (const name of ['aria-label', 'title', 'placeholder', 'alt']) {
      const value = el.getAttribute(name);
      if (value) out.add(value.replace(/\\s+/g, ' ').trim());
    }
    if (el.matches('input[type=submit]')) out.add(el.value.trim());
  }
  return [...out];
}"""

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
    id: v.id, impact: v.impact,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').replace(/\\s+/g, ' ').slice(0, 160)),
    count: v.nodes.length,
  }));
}"""


def english_msgids(lang: str) -> set[str]:
    """The catalogue's English msgids that `lang` translates differently (placeholders aside:
    a filled-in message cannot be compared with its msgid), less the words that are also
    translations in `lang`."""
    from i18n_catalogs import catalog

    found, said = set(), set()
    for message in catalog(lang):
        if not message.id or not message.string or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        said.update(" ".join(s.split()) for s in strings)
        for msgid in ids:
            text = " ".join(msgid.split())
            if "%" in text or "{" in text or text in {" ".join(s.split()) for s in strings}:
                continue
            if re.search(r"[A-Za-z]{2}", text):
                found.add(text)
    # A word both languages spell alike is the language's own when some message says it so
    # (Catalan "On", for "Where", is not the English "On").
    return found - said


def demo_logins() -> dict[str, str]:
    from accounts.models import User
    from extensions import db

    emails = {}
    for role in ROLES:
        user = db.session.scalar(select(User).where(User.role == role, User.active.is_(True))
                                 .order_by(User.id).limit(1))
        emails[role] = user.email
    return emails


def set_language(email: str, lang: str) -> None:
    from accounts.models import User
    from extensions import db

    user = db.session.scalar(select(User).where(User.email == email))
    user.preferred_language = lang
    db.session.commit()


def sign_in(browser, base: str, email: str, password: str) -> dict:
    context = browser.new_context(viewport=VIEWPORTS["laptop"])
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    assert "/login" not in page.url, f"{email} could not sign in"
    state = context.storage_state()
    context.close()
    return state


def collect_pages(page, base: str, extra: list[str]) -> list[str]:
    """The navigation's pages (menus and the user menu included), then the role's own examples
    of the pages people open from them (a ticket, an asset)."""
    page.goto(f"{base}/")
    nav = page.eval_on_selector_all("nav a[href]", "els => els.map(e => e.getAttribute('href'))")
    paths: list[str] = ["/"]
    for href in [*nav, *extra]:
        path = urlsplit(href).path if href.startswith(("http", "/")) else None
        if path and path not in paths and not NOT_PAGES.search(path):
            paths.append(path)
    # Index pages lead on to their own sub-pages (the reports' dashboard, usage, archive): a few
    # of each, beyond the ticket and asset above.
    for path in [p for p in paths if p != "/"]:
        page.goto(f"{base}{path}")
        below = [urlsplit(h).path for h in page.eval_on_selector_all(
            "main a[href]", "els => els.map(e => e.getAttribute('href'))")]
        below = [b for b in dict.fromkeys(below) if b.startswith(path.rstrip("/") + "/") and b not in paths
                 and not re.search(r"\d", b) and not NOT_PAGES.search(b)]
        paths.extend(below[:SUB_PAGES])
    return paths


def detail_pages(role: str, email: str) -> list[str]:
    """A ticket and an asset the role may open (the clerk's own council's)."""
    from accounts.models import User
    from extensions import db
    from inventory.models import Asset
    from support.tickets.models import Ticket

    user = db.session.scalar(select(User).where(User.email == email))
    council = [Ticket.council_id == user.council_id] if user.council_id else []
    ticket = db.session.scalar(select(Ticket).where(*council).order_by(Ticket.id.desc()).limit(1))
    asset_council = [Asset.council_id == user.council_id] if user.council_id else []
    asset = db.session.scalar(select(Asset).where(*asset_council).order_by(Asset.id).limit(1))
    return [f"/tickets/{ticket.id}", f"/assets/{asset.id}"]


def check_page(page, url: str, lang: str, untranslated: set[str], console: list[str], axe: bool) -> list[str]:
    problems = []
    console.clear()
    response = page.goto(url)
    if response is None or response.status >= 400:
        return [f"HTTP {response.status if response else '?'}"]
    if "text/html" not in (response.headers.get("content-type") or ""):
        return []
    overflow = page.evaluate(OVERFLOW)
    if overflow:
        problems.append(f"overflow: scrollWidth {overflow['scrollWidth']} > {overflow['innerWidth']}: "
                        + "; ".join(overflow["culprits"]))
    for violation in (page.add_script_tag(url=AXE_PATH) and page.evaluate(AXE_RUN)) if axe else []:
        problems.append(f"axe {violation['impact']} {violation['id']} ×{violation['count']}: "
                        + " | ".join(violation["nodes"]))
    if lang != "en":
        left = sorted(t for t in page.evaluate(TEXTS) if t in untranslated)
        if left:
            problems.append(f"untranslated: {left}")
    problems.extend(f"console: {line}" for line in console)
    return problems


@pytest.mark.frozen("2026-06-17T10:00:00+00:00")
def test_every_page_fits_reads_and_speaks_the_language(app, db, live_server):
    from playwright.sync_api import sync_playwright

    from accounts.demo import DEMO_PASSWORD
    from core import demo

    demo.run()
    logins = demo_logins()
    untranslated = {lang: english_msgids(lang) for lang in LANGS if lang != "en"}
    base = live_server.url
    problems: dict[str, list[str]] = {}
    visits = 0

    def route_axe(route):
        route.fulfill(path=str(AXE), content_type="application/javascript")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for role in ROLES:
                email = logins[role]
                set_language(email, "en")
                state = sign_in(browser, base, email, DEMO_PASSWORD)
                pages = None
                for viewport_name, viewport in VIEWPORTS.items():
                    context = browser.new_context(viewport=viewport, storage_state=state)
                    context.set_default_timeout(20_000)
                    context.route(f"{base}{AXE_PATH}", route_axe)
                    page = context.new_page()
                    console: list[str] = []
                    page.on("console", lambda msg, c=console: c.append(msg.text[:200]) if msg.type == "error" else None)
                    page.on("pageerror", lambda exc, c=console: c.append(f"uncaught {exc}"[:200]))
                    if pages is None:
                        pages = collect_pages(page, base, detail_pages(role, email))
                    for lang in LANGS:
                        set_language(email, lang)
                        for path in pages:
                            visits += 1
                            found = check_page(page, f"{base}{path}", lang, untranslated.get(lang, set()), console,
                                               axe=lang == AXE_LANG)
                            for problem in found:
                                problems.setdefault(f"{role} {viewport_name} {lang} {path}", []).append(problem)
                    context.close()
        finally:
            browser.close()

    assert visits >= len(ROLES) * len(VIEWPORTS) * len(LANGS) * 8
    report = "\n".join(f"{where}: {problem}" for where, found in problems.items() for problem in found)
    assert not problems, f"{len(problems)} of {visits} page visits have problems:\n{report}"

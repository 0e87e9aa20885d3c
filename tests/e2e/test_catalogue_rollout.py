"""A rollout in headless Chromium, in Catalan: a manager moves the pilot wave of e-TRAM to
`deploying` in bulk (previewed first); a clerk of one of those councils sees the change among
the council's services and opens a request from the service, which carries it and its category.

Debian's Chromium through Playwright (`executable_path`); nothing is downloaded.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _sign_in(browser, base: str, email: str, password: str):
    context = browser.new_context(locale="ca-ES")
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.get_by_role("button", name="Inicia la sessió").click()
    assert "/login" not in page.url, f"{email} could not sign in"
    return context, page


def test_a_wave_moves_and_the_clerk_asks_from_the_service(app, db, world, live_server):
    from playwright.sync_api import expect, sync_playwright

    from catalogue import services
    from support.tickets.models import Ticket

    etram = services.create_service({"code": "ETRAM", "name": "e-TRAM", "category": "e_administration",
                                     "ticket_category": "e_administration"}, actor=None)
    for council in (world.council_a, world.council_b):
        services.put_subscription(council, etram, {"wave": "pilot"}, actor=None)
    for user in (world.clerk_a, world.manager):
        user.preferred_language = "ca"
    db.session.commit()
    base = live_server.url

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            manager_context, manager = _sign_in(browser, base, world.manager.email, world.password)
            manager.goto(f"{base}/catalogue/{etram.id}")
            expect(manager.locator("#rollout-counts")).to_contain_text("previst 2")
            manager.locator("#wave-pilot").get_by_role("link", name="Avança l'onada…").click()
            preview = manager.locator("#wave-preview")
            expect(preview).to_contain_text(world.council_a.name)
            expect(preview).to_contain_text("en desplegament")
            manager.get_by_label("Per què").fill("Formació feta")
            manager.get_by_role("button", name="Confirma el canvi").click()
            expect(manager.locator(".alert:not(.cd-scheduler-banner)").first).to_contain_text("2 ajuntaments avançats")
            expect(manager.locator("#rollout-counts")).to_contain_text("en desplegament 2")
            manager_context.close()

            clerk_context, clerk = _sign_in(browser, base, world.clerk_a.email, world.password)
            clerk.goto(f"{base}/my-services")
            item = clerk.locator("#our-services li[data-code=ETRAM]")
            expect(item).to_contain_text("en desplegament")
            item.get_by_role("link", name="Demana ajuda amb aquest servei").click()
            expect(clerk.locator("#request-service")).to_contain_text("e-TRAM")
            clerk.get_by_label("Què ha passat?").fill("No puc registrar una instància")
            clerk.get_by_role("button", name="Envia la petició").click()
            expect(clerk.locator("h1")).to_contain_text("No puc registrar una instància")
            clerk_context.close()
        finally:
            browser.close()

    db.session.rollback()  # a fresh snapshot: the server wrote in other sessions
    ticket = db.session.scalar(select(Ticket))
    assert (ticket.service_id, ticket.category, ticket.council_id) == (etram.id, "e_administration",
                                                                       world.council_a.id)
    assert services.get_subscription(world.council_b.id, etram.id).status == "deploying"

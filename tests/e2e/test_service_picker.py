"""The new-request form's service picker in headless Chromium: choosing one of the council's live
services puts its category in the category select at once (static/js/service-picker.js, under
the page's CSP), and the request is saved with the service, its category and its team.

Debian's Chromium through Playwright (`executable_path`); nothing is downloaded.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def test_picking_a_service_fills_the_category(app, db, world, live_server):
    from playwright.sync_api import expect, sync_playwright

    from catalogue import services
    from support.teams import services as teams
    from support.tickets.models import Ticket

    team = teams.create_team({"name": "e-Adm", "member_ids": [world.technician.id]}, actor=world.manager)
    etram = services.create_service({"code": "ETRAM", "name": "e-TRAM", "category": "e_administration",
                                     "ticket_category": "e_administration", "default_team_id": team.id}, actor=None)
    services.put_subscription(world.council_a, etram, {"status": "live"}, actor=None)
    base = live_server.url
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="ca-ES")
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/login")
            page.fill("input[name=email]", world.clerk_a.email)
            page.fill("input[name=password]", world.password)
            with page.expect_navigation():
                page.get_by_role("button", name="Inicia la sessió").click()
            page.goto(f"{base}/tickets/new")
            expect(page.locator("select[name=category]")).to_have_value("")
            page.select_option("select[name=service_id]", str(etram.id))
            expect(page.locator("select[name=category]")).to_have_value("e_administration")
            page.fill("input[name=title]", "No puc registrar una instància")
            page.get_by_role("button", name="Envia la petició").click()
            expect(page.locator("h1")).to_contain_text("No puc registrar una instància")
            context.close()
        finally:
            browser.close()
    assert not errors, errors
    db.session.rollback()  # a fresh snapshot: the server wrote in other sessions
    ticket = db.session.scalar(select(Ticket))
    assert (ticket.service_id, ticket.category, ticket.team_id) == (etram.id, "e_administration", team.id)

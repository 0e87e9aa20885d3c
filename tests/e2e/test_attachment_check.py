"""In Chromium: a file over 10 MB is refused beside the field as soon as it is chosen, and the
request is held back (not sent, nothing typed lost) until it is replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))


def test_an_oversized_file_is_held_back_in_the_browser(app, db, world, live_server):
    from playwright.sync_api import expect, sync_playwright

    from support.tickets.models import Ticket

    world.clerk_a.preferred_language = "en"
    db.session.commit()
    base = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="en-GB")
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.goto(f"{base}/login")
            page.fill("input[name=email]", world.clerk_a.email)
            page.fill("input[name=password]", world.password)
            with page.expect_navigation():
                page.locator("main form button[type=submit]").first.click()
            page.goto(f"{base}/tickets/new")
            page.fill("#title", "The Registry printer does not print")
            page.fill("#description", "Since Monday, with an orange light.")
            page.set_input_files("#attachment", files=[{"name": "scan.png", "mimeType": "image/png",
                                                        "buffer": PNG + b"\x00" * (11 * 1024 * 1024)}])
            problem = page.locator("#attachment-problem")
            expect(problem).to_be_visible()
            expect(problem).to_contain_text("over 10 MB")
            page.get_by_role("button", name="Send my request").click()
            page.wait_for_timeout(500)
            assert page.url.endswith("/tickets/new")
            expect(page.locator("#title")).to_have_value("The Registry printer does not print")
            assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
            # A small file clears the message and lets the request go.
            page.set_input_files("#attachment", files=[{"name": "scan.png", "mimeType": "image/png", "buffer": PNG}])
            expect(problem).to_be_hidden()
            with page.expect_navigation():
                page.get_by_role("button", name="Send my request").click()
            db.session.rollback()
            assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1
        finally:
            browser.close()

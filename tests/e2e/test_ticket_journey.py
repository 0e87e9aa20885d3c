"""A ticket's whole journey in headless Chromium, on the rendered pages in Catalan.

A clerk of Mura signs in and asks for help with a screenshot attached, about the Registry
printer picked from the council's equipment; a technician finds it in the queue, takes it,
downloads the screenshot, replies, logs 45 minutes (an entry of the hours ledger, linked to
the ticket) and marks it solved; the clerk reads the reply, confirms that it works and rates
the help. Every step is checked on what the pages say, in Catalan.

Debian's Chromium through Playwright (`executable_path`); nothing is downloaded.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))


def _sign_in(browser, base: str, email: str, password: str):
    context = browser.new_context(locale="ca-ES", accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.get_by_role("button", name="Inicia la sessió").click()
    assert "/login" not in page.url, f"{email} could not sign in"
    return context, page


def _flash(page) -> str:
    return page.locator(".alert:not(.cd-scheduler-banner)").first.inner_text()


def test_a_ticket_from_request_to_rating_in_catalan(app, db, world, live_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from agreements import services as agreements
    from agreements.months import month_end, office_today
    from inventory import services as inventory
    from support.hours.models import TimeEntry
    from support.tickets.models import Ticket, TicketRating

    today = office_today()
    agreements.create_agreement(world.council_a, {
        "starts_on": dt.date(today.year, 1, 1), "ends_on": month_end(dt.date(today.year + 1, 12, 1)),
        "onsite_minutes_month": 240, "remote_minutes_month": None, "rollover": "none",
        "signed_on": dt.date(today.year - 1, 12, 1)}, actor=None)
    printer = inventory.create_asset(world.council_a, {"kind": "printer", "name": "Impressora de Registre",
                                                       "tag": "MURA-PRN-001"}, actor=None)
    for user in (world.clerk_a, world.technician):
        user.preferred_language = "ca"
    world.technician.name = "Jordi Vila"
    world.clerk_a.name = "Secretaria de Mura"
    db.session.commit()
    shot = tmp_path / "pantalla.png"
    shot.write_bytes(SCREENSHOT)
    base = live_server.url

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # --- the clerk asks for help -------------------------------------------------------
            clerk_context, clerk = _sign_in(browser, base, world.clerk_a.email, world.password)
            clerk.goto(f"{base}/tickets")
            expect(clerk.locator("h1")).to_have_text("Peticions d'ajuda")
            clerk.get_by_role("link", name="Demana ajuda").first.click()
            expect(clerk.locator("h1")).to_have_text("Demana ajuda")
            clerk.get_by_label("Què ha passat?").fill("La impressora de Registre no imprimeix")
            clerk.get_by_label("Expliqueu-nos-ho amb més detall").fill(
                "Surt un error a la pantalla i el llum taronja fa pampallugues.")
            clerk.get_by_label("Algú no pot fer la seva feina").check()
            clerk.get_by_label("De què es tracta?").select_option(label="Equips (ordinador, impressora, escàner…)")
            clerk.get_by_label("Quin equip?").select_option(value=str(printer.id))
            clerk.get_by_label("Fitxer adjunt (opcional)").set_input_files(str(shot))
            clerk.get_by_role("button", name="Envia la petició").click()
            expect(clerk.locator(".alert:not(.cd-scheduler-banner)").first).to_contain_text("Gràcies. La vostra petició és la MURA-")
            reference = re.search(r"MURA-\d{4}-\d{4}", _flash(clerk)).group(0)
            expect(clerk.locator("h1")).to_have_text("La impressora de Registre no imprimeix")
            expect(clerk.locator(".badge", has_text="Rebuda")).to_be_visible()
            expect(clerk.get_by_text("Hem rebut la vostra petició. Un tècnic la mirarà aviat.")).to_be_visible()
            expect(clerk.get_by_role("link", name="pantalla.png")).to_be_visible()
            expect(clerk.get_by_role("link", name="Impressora de Registre")).to_be_visible()
            ticket_url = clerk.url

            # --- the technician works it -------------------------------------------------------
            tech_context, tech = _sign_in(browser, base, world.technician.email, world.password)
            tech.goto(f"{base}/tickets")
            expect(tech.locator("h1")).to_have_text("Incidències")
            tech.get_by_role("link", name="La impressora de Registre no imprimeix").click()
            expect(tech.locator(".badge", has_text="Nova")).to_be_visible()
            expect(tech.get_by_text("Secretaria de Mura", exact=False).first).to_be_visible()
            tech.get_by_role("button", name="Me n'encarrego").click()
            expect(tech.locator(".alert:not(.cd-scheduler-banner)").first).to_contain_text(f"{reference} és vostra.")
            expect(tech.locator(".badge", has_text="Assignada")).to_be_visible()
            # The screenshot downloads as a file, intact.
            with tech.expect_download() as download:
                tech.get_by_role("link", name="pantalla.png").click()
            assert download.value.suggested_filename == "pantalla.png"
            assert Path(download.value.path()).read_bytes() == SCREENSHOT
            # A public reply.
            tech.get_by_label("La vostra resposta").fill("Bon dia, és el fusor. Ja l'hem canviat en remot.")
            tech.get_by_role("button", name="Envia a l'ajuntament", exact=True).click()
            expect(tech.locator(".alert:not(.cd-scheduler-banner)").first).to_contain_text("S'ha enviat la resposta.")
            expect(tech.locator(".badge", has_text="En curs").first).to_be_visible()
            # 45 minutes, straight into the hours ledger.
            tech.locator("summary", has_text="Registra temps").click()
            time_form = tech.locator("form.cd-log-form")
            time_form.locator("label", has_text="En remot").click()
            time_form.get_by_label("Temps treballat").fill("45 min")
            time_form.get_by_role("button", name="Registra temps").click()
            expect(tech.locator(".alert:not(.cd-scheduler-banner)").first).to_contain_text(f"S'han registrat 45 min a {reference}.")
            expect(tech.get_by_text("Total: 45 min")).to_be_visible()
            tech.get_by_role("button", name="Marca-la com a resolta").click()
            expect(tech.locator(".alert:not(.cd-scheduler-banner)").first).to_contain_text("L'estat ha canviat a «Resolta».")
            expect(tech.locator(".badge", has_text="Resolta").first).to_be_visible()

            # --- the clerk reads the reply, confirms and rates -----------------------------------
            clerk.goto(ticket_url)
            expect(clerk.get_by_text("Bon dia, és el fusor. Ja l'hem canviat en remot.")).to_be_visible()
            expect(clerk.get_by_text("Oficina d'informàtica", exact=True)).to_be_visible()
            expect(clerk.locator(".badge", has_text="Resolta: confirmeu-ho, si us plau")).to_be_visible()
            expect(clerk.get_by_role("heading", name="S'ha resolt?")).to_be_visible()
            clerk.get_by_role("button", name="Sí, ja funciona").click()
            expect(clerk.locator(".alert:not(.cd-scheduler-banner)").first).to_contain_text("Gràcies per confirmar-ho. La petició s'ha tancat.")
            expect(clerk.locator(".badge", has_text="Tancada")).to_be_visible()
            expect(clerk.get_by_role("heading", name="La vostra valoració")).to_be_visible()
            clerk.locator(".cd-stars label", has_text="5").click()
            clerk.get_by_label("Ens voleu dir alguna cosa? (opcional)").fill("Molt ràpids, gràcies!")
            clerk.get_by_role("button", name="Envia la valoració").click()
            expect(clerk.locator(".alert:not(.cd-scheduler-banner)").first).to_contain_text("Gràcies per la valoració!")
            expect(clerk.get_by_text("Molt ràpids, gràcies!")).to_be_visible()
            expect(clerk.get_by_label("5 de 5")).to_be_visible()
            # Her list says it in everyday words.
            clerk.goto(f"{base}/tickets?show=all")
            expect(clerk.locator(".badge", has_text="Tancada")).to_be_visible()
            clerk_context.close()
            tech_context.close()
        finally:
            browser.close()

    db.session.commit()  # end the test's read snapshot (SQLite): see what the server wrote
    ticket = db.session.scalar(select(Ticket).where(Ticket.reference == reference))
    assert (ticket.status, ticket.asset_id, ticket.assignee_id) == ("closed", printer.id, world.technician.id)
    entry = db.session.scalar(select(TimeEntry).where(TimeEntry.ticket_id == ticket.id))
    assert (entry.minutes, entry.mode, entry.council_id, entry.technician_id) == (
        45, "remote", world.council_a.id, world.technician.id)
    rating = db.session.scalar(select(TicketRating).where(TicketRating.ticket_id == ticket.id))
    assert (rating.score, rating.comment, rating.rated_by_id) == (5, "Molt ràpids, gràcies!", world.clerk_a.id)

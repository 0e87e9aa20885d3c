"""Fixtures of the inventory tests.

`translated_app` serves the inventory's own Catalan and Spanish (translations/pending/
inventory.json) before they are merged into the project's catalogs: it compiles the
project's catalogs plus those entries into a temporary directory. After the merge it changes
nothing, so the language tests hold before and after.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PENDING = ROOT / "translations" / "pending" / "inventory.json"
SOURCES = ((ROOT / "inventory", [("**.py", "python")]),
           (ROOT / "templates" / "inventory", [("**.html", "jinja2.ext:babel_extract")]))


def build_csv(header, rows, *, delimiter=",", encoding="utf-8", bom=False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


@pytest.fixture
def make_csv():
    """`make_csv(header, rows, delimiter=",", encoding="utf-8", bom=False)` -> the file's bytes."""
    return build_csv


@pytest.fixture
def add_asset(world):
    """Create an asset through the service (in council A unless told otherwise)."""
    from inventory import services

    def create(council=None, **values):
        values.setdefault("kind", "desktop")
        values.setdefault("name", "PC Secretaria")
        return services.create_asset(council or world.council_a, values, actor=world.technician)

    return create


def extract_messages() -> dict[str, str | None]:
    """The inventory's msgids: {msgid or singular: plural or None}."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
    found: dict[str, str | None] = {}
    for dirname, method_map in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                str(dirname), method_map, keywords=keywords):
            if isinstance(message, tuple | list):
                found[message[0]] = message[1]
            else:
                found.setdefault(message, None)
    return found


def pending_translations() -> dict:
    return json.loads(PENDING.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def inventory_messages() -> dict[str, str | None]:
    return extract_messages()


@pytest.fixture(scope="session")
def inventory_pending() -> dict:
    return pending_translations()


@pytest.fixture(scope="session")
def inventory_catalogs(tmp_path_factory) -> Path:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    out = tmp_path_factory.mktemp("translations")
    pending = pending_translations()
    messages = extract_messages()
    for lang in ("ca", "es", "en"):
        with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for msgid, plural in messages.items():
            if msgid in catalog and catalog[msgid].string:
                continue
            if lang == "en":
                catalog.add((msgid, plural) if plural else msgid, (msgid, plural) if plural else msgid)
            elif msgid in pending:
                value = pending[msgid][lang]
                catalog.add((msgid, plural) if plural else msgid, tuple(value) if plural else value)
        target = out / lang / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / "messages.mo").open("wb") as fh:
            write_mo(fh, catalog)
    return out


@pytest.fixture
def translated_app(app, make_app, inventory_catalogs):
    """An app (on the test database) whose catalogs include the inventory's pending entries."""
    from extensions import babel, db

    # Flask-Babel keeps one translations cache per process, keyed by locale only: empty it so
    # this app loads its own catalogs, and again afterwards for the apps of the next tests.
    babel.domain_instance.cache.clear()
    translated = make_app(BABEL_TRANSLATION_DIRECTORIES=str(inventory_catalogs))
    yield translated
    babel.domain_instance.cache.clear()
    # make_app empties the tables next, with TRUNCATE on PostgreSQL: the test's own session
    # must not still hold a transaction on them, or the TRUNCATE waits for it forever.
    db.session.rollback()


def login(app, user):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
    return client


@pytest.fixture
def login_to():
    """A signed-in client of a given app (client_for only serves the shared app)."""
    return login


@pytest.fixture(autouse=True)
def _english_unless_asked(english):
    """The inventory tests read English texts (see the `english` fixture)."""

"""Fixtures of the inventory tests.

`translated_app` serves the inventory's own Catalan and Spanish (translations/pending/
inventory.json) before they are merged into the project's catalogs: it compiles the
project's catalogs plus those entries into a temporary directory. After the merge it changes
nothing, so the language tests hold before and after.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import i18n_catalogs  # tests/ is on sys.path (tests/conftest.py)
import pytest

ROOT = i18n_catalogs.ROOT
SOURCES = ((ROOT / "inventory", i18n_catalogs.PYTHON), (ROOT / "templates" / "inventory", i18n_catalogs.JINJA))


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
    return i18n_catalogs.extract_messages(SOURCES)


def pending_translations() -> dict:
    return i18n_catalogs.pending("inventory")


@pytest.fixture(scope="session")
def inventory_messages() -> dict[str, str | None]:
    return extract_messages()


@pytest.fixture(scope="session")
def inventory_pending() -> dict:
    return pending_translations()


@pytest.fixture(scope="session")
def inventory_catalogs(tmp_path_factory) -> Path:
    return i18n_catalogs.build_catalogs(tmp_path_factory.mktemp("translations"), extract_messages(),
                                        pending_translations())


@pytest.fixture
def translated_app(app, make_app, inventory_catalogs):
    """An app (on the test database) whose catalogs include the inventory's pending entries."""
    with i18n_catalogs.app_with_catalogs(make_app, inventory_catalogs) as translated:
        yield translated


login = i18n_catalogs.login


@pytest.fixture
def login_to():
    """A signed-in client of a given app (client_for only serves the shared app)."""
    return login


@pytest.fixture(autouse=True)
def _english_unless_asked(english):
    """The inventory tests read English texts (see the `english` fixture)."""

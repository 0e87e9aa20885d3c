"""The support domain's strings and their pending Catalan and Spanish (translations/pending/hours.json
for the hours ledger, translations/pending/tickets.json for tickets: both cover these sources).

`build_catalogs(out)` compiles the project's catalogs plus the pending entries into `out`, so
that language tests hold before the entries are merged into the .po files, and after.
Used by tests/support/conftest.py and tests/agreements/conftest.py (loaded by path: this
directory's name is also the application's `support` package).
"""

from __future__ import annotations

from pathlib import Path

import i18n_catalogs  # tests/ is on sys.path (tests/conftest.py)

ROOT = i18n_catalogs.ROOT
SOURCES = ((ROOT / "agreements", i18n_catalogs.PYTHON), (ROOT / "support", i18n_catalogs.PYTHON),
           (ROOT / "templates" / "agreements", i18n_catalogs.JINJA),
           (ROOT / "templates" / "support", i18n_catalogs.JINJA))


split_key, known, catalog = i18n_catalogs.split_key, i18n_catalogs.known, i18n_catalogs.catalog


def extract_messages() -> dict[str, str | None]:
    """{msgid or singular (with its context, "context\x04msgid"): plural or None} of the
    agreements and support sources."""
    return i18n_catalogs.extract_messages(SOURCES)


def pending() -> dict:
    return i18n_catalogs.pending("hours", "tickets")


def build_catalogs(out: Path) -> Path:
    return i18n_catalogs.build_catalogs(out, extract_messages(), pending())

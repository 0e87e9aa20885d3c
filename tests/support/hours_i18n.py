"""The hours ledger's strings and their pending Catalan and Spanish (translations/pending/hours.json).

`build_catalogs(out)` compiles the project's catalogs plus the pending entries into `out`, so
that language tests hold before the entries are merged into the .po files, and after.
Used by tests/support/conftest.py and tests/agreements/conftest.py (loaded by path: this
directory's name is also the application's `support` package).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PENDING = ROOT / "translations" / "pending" / "hours.json"
SOURCES = ((ROOT / "agreements", [("**.py", "python")]),
           (ROOT / "support", [("**.py", "python")]),
           (ROOT / "templates" / "agreements", [("**.html", "jinja2.ext:babel_extract")]),
           (ROOT / "templates" / "support", [("**.html", "jinja2.ext:babel_extract")]))


def extract_messages() -> dict[str, str | None]:
    """{msgid or singular: plural or None} of the agreements and support sources."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
    found: dict[str, str | None] = {}
    for dirname, method_map in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(str(dirname), method_map,
                                                                           keywords=keywords):
            if isinstance(message, tuple | list):
                found[message[0]] = message[1]
            else:
                found.setdefault(message, None)
    return found


def pending() -> dict:
    return json.loads(PENDING.read_text(encoding="utf-8"))


def catalog(lang: str):
    from babel.messages.pofile import read_po

    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def build_catalogs(out: Path) -> Path:
    from babel.messages.mofile import write_mo

    entries, messages = pending(), extract_messages()
    for lang in ("ca", "es", "en"):
        cat = catalog(lang)
        for msgid, plural in messages.items():
            if msgid in cat and cat[msgid].string:
                continue
            key = (msgid, plural) if plural else msgid
            if lang == "en":
                cat.add(key, key)
            elif msgid in entries:
                value = entries[msgid][lang]
                cat.add(key, tuple(value) if plural else value)
        target = out / lang / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        with (target / "messages.mo").open("wb") as fh:
            write_mo(fh, cat)
    return out

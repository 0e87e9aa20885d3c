"""Every string the inventory shows has its Catalan and Spanish (translations/pending/inventory.json)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _catalog(lang):
    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def test_every_inventory_string_is_translated(inventory_messages, inventory_pending):
    pending = inventory_pending
    catalogs = {lang: _catalog(lang) for lang in ("ca", "es")}
    missing = []
    for msgid, plural in inventory_messages.items():
        for lang, catalog in catalogs.items():
            known = catalog.get(msgid)
            if known is not None and known.string and (not plural or all(known.string)):
                continue
            value = pending.get(msgid, {}).get(lang)
            if not value or (plural and (not isinstance(value, list) or len(value) != 2 or not all(value))):
                missing.append((lang, msgid))
    assert not missing, missing


def test_translations_keep_the_placeholders_and_nothing_is_stale(inventory_messages, inventory_pending):
    pending = inventory_pending
    extracted = inventory_messages
    assert not set(pending) - set(extracted), "entries no code uses any more"
    for msgid, langs in pending.items():
        wanted = set(PLACEHOLDER.findall(msgid))
        if extracted.get(msgid):
            wanted |= set(PLACEHOLDER.findall(extracted[msgid]))
        for lang, value in langs.items():
            for text in value if isinstance(value, list) else [value]:
                assert set(PLACEHOLDER.findall(text)) <= wanted | {"num"}, (lang, msgid, text)
                if not extracted.get(msgid):
                    assert set(PLACEHOLDER.findall(text)) == wanted, (lang, msgid, text)

"""Every string the health pages show has its Catalan and Spanish (translations/pending/remote.json)."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po
from remote_support import ROOT, extract_messages, pending_translations

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _catalog(lang):
    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def test_every_remote_string_is_translated():
    pending = pending_translations()
    catalogs = {lang: _catalog(lang) for lang in ("ca", "es")}
    missing = []
    for msgid, plural in extract_messages().items():
        for lang, catalog in catalogs.items():
            known = catalog.get(msgid)
            if known is not None and known.string and (not plural or all(known.string)):
                continue
            value = pending.get(msgid, {}).get(lang)
            if not value or (plural and (not isinstance(value, list) or len(value) != 2 or not all(value))):
                missing.append((lang, msgid))
    assert not missing, missing


def test_translations_keep_the_placeholders_and_nothing_is_stale():
    pending = pending_translations()
    extracted = extract_messages()
    assert not set(pending) - set(extracted), "entries no code uses any more"
    for msgid, langs in pending.items():
        wanted = set(PLACEHOLDER.findall(msgid))
        if extracted.get(msgid):
            wanted |= set(PLACEHOLDER.findall(extracted[msgid]))
        for lang, value in langs.items():
            for text in value if isinstance(value, list) else [value]:
                assert set(PLACEHOLDER.findall(text)) <= wanted | {"num"}, (lang, msgid, text)
                assert text.count("%%") == msgid.count("%%") or "%%" not in msgid, (lang, msgid, text)
                if not extracted.get(msgid):
                    assert set(PLACEHOLDER.findall(text)) == wanted, (lang, msgid, text)

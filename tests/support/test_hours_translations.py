"""Every string of the agreements and the hours ledger has its Catalan and Spanish (in the catalogs
or in translations/pending/hours.json), with the same placeholders, and nothing pending is stale."""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def test_every_string_is_translated(hours_i18n):
    pending = hours_i18n.pending()
    catalogs = {lang: hours_i18n.catalog(lang) for lang in ("ca", "es")}
    missing = []
    for msgid, plural in hours_i18n.extract_messages().items():
        for lang, catalog in catalogs.items():
            known = hours_i18n.known(catalog, msgid)
            if known is not None and known.string and (not plural or all(known.string)):
                continue
            value = pending.get(msgid, {}).get(lang)
            if not value or (plural and (not isinstance(value, list) or len(value) != 2 or not all(value))):
                missing.append((lang, msgid))
    assert not missing, missing


def test_placeholders_are_kept_and_nothing_is_stale(hours_i18n):
    pending, extracted = hours_i18n.pending(), hours_i18n.extract_messages()
    assert not set(pending) - set(extracted), "entries no code uses any more"
    for key, langs in pending.items():
        msgid = hours_i18n.split_key(key)[1]
        wanted = set(PLACEHOLDER.findall(msgid)) | set(PLACEHOLDER.findall(extracted.get(key) or ""))
        for lang, value in langs.items():
            for text in value if isinstance(value, list) else [value]:
                assert set(PLACEHOLDER.findall(text)) <= wanted | {"num"}, (lang, msgid, text)
                assert set(PLACEHOLDER.findall(msgid)) - {"num"} <= set(PLACEHOLDER.findall(text)) | {"num"}, (
                    lang, msgid, text)

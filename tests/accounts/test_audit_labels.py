"""The audit log in the reader's language (issue 13): actions, object types, field names and
values are words of the page's language, never codes or Python reprs."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re

import pytest
from flask_babel import force_locale, gettext

from accounts import audit
from core import audit_labels
from extensions import db as _db

LANGS = ("ca", "es", "en")
REPR = ("True", "False", "None", "[{", "{'", "min_population", "service.move", "service.subscribe")
# The catalogue's codes the page walker found untranslated (in Catalan "pilot" is the word).
CODES = ("planned", "deploying", "live", "retired", "extension", "consolidation")


def _render(object_type, changes, lang):
    with force_locale(lang):
        return [(r.label, r.before, r.after) for r in audit_labels.change_rows(object_type, changes)]


@pytest.mark.parametrize("lang, yes, no", [("ca", "Sí", "No"), ("es", "Sí", "No"), ("en", "Yes", "No")])
def test_booleans_read_as_yes_and_no(app, lang, yes, no):
    with app.test_request_context():
        rows = _render("council", {"active": [True, False]}, lang)
    assert rows[0][1:] == (yes, no)


@pytest.mark.parametrize("lang, expected", [
    ("ca", "0 to 500 inhabitants"), ("es", "0 to 500 inhabitants"), ("en", "0 to 500 inhabitants: remote 1\u00a0h 30\u00a0min, on site 3\u00a0h")])
def test_allowance_bands_read_as_sentences(app, lang, expected):
    bands = [{"min_population": 0, "max_population": 500, "remote_minutes_month": 90,
              "onsite_default_minutes_month": 180},
             {"min_population": 501, "max_population": None, "remote_minutes_month": 135,
              "onsite_default_minutes_month": 240}]
    with app.test_request_context():
        (label, before, after), = _render("allowance_bands", {"bands": [[], bands]}, lang)
        with force_locale(lang):
            span = audit_labels.format_value("allowance_bands", "bands", bands)
    assert before == "—" and after == span
    assert "min_population" not in after and "{" not in after and "2\u00a0h 15\u00a0min" in after
    assert "∞" in after
    if lang == "en":
        assert after.startswith(expected) and label == "Allowance bands"
    else:
        assert "inhabitants" not in after and label != "Allowance bands"


@pytest.mark.parametrize("lang", LANGS)
def test_catalogue_codes_durations_and_dates_are_translated(app, lang):
    with app.test_request_context():
        rows = _render("council_service", {"status": ["planned", "live"], "wave": [None, "pilot"],
                                           "planned_on": [None, "2026-03-02"]}, lang)
        minutes = _render("time_entry", {"minutes": [60, 135], "mode": [None, "remote"]}, lang)
        with force_locale(lang):
            expected = [(gettext("Status"), gettext("planned"), gettext("live")),
                        (gettext("Wave"), "—", gettext("pilot")),
                        (gettext("Planned for"), "—", {"ca": "2 de març 2026", "es": "2 mar 2026",
                                                       "en": "Mar 2, 2026"}[lang]),
                        (gettext("Time worked"), "1\u00a0h", "2\u00a0h 15\u00a0min"),
                        (gettext("Where"), "—", gettext("Remote"))]
    assert rows + minutes == expected
    if lang == "es":  # every code has a Spanish word different from it
        shown = " ".join(str(v) for row in rows + minutes for v in row)
        for raw in ("planned", "live", "pilot", "2026-03-02", "135", "remote", "Status", "Wave"):
            assert not re.search(rf"\b{raw}\b", shown), (raw, shown)


@pytest.mark.parametrize("lang", LANGS)
def test_codes_named_by_the_domains_label_functions(app, lang):
    """Label maps a domain computes when the page is drawn (inventory's statuses, roles,
    ticket statuses, team assignment) name their codes too."""
    with app.test_request_context():
        rows = _render("asset", {"status": ["in_use", "retired"], "kind": [None, "printer"]}, lang)
        role = _render("user", {"role": ["technician", "clerk"], "preferred_language": [None, "es"]}, lang)
        ticket = _render("ticket", {"status": ["new", "resolved"], "priority": [None, "high"]}, lang)
        with force_locale(lang):
            expected = [(gettext("Status"), gettext("In use"), gettext("Retired")),
                        (gettext("Kind"), "—", gettext("Printer")),
                        (gettext("Role"), gettext("Technician"), gettext("Council clerk")),
                        (gettext("Language"), "—", "Español")]
    assert rows + role == expected
    shown = " ".join(str(v) for row in ticket for v in row)
    assert not re.search(r"\b(new|resolved|high)\b", shown) or lang == "en"


def test_a_creation_shows_its_values_alone_and_decimals_read_localised(app):
    with app.test_request_context(), force_locale("ca"):
        created = audit_labels.change_rows("council", {"name": [None, "Mura"], "area_km2": [None, "29.40"]})
        changed = audit_labels.change_rows("council", {"name": ["Mura", "Múra"], "area_km2": ["29.40", None]})
    assert [(r.before, r.after) for r in created] == [(None, "Mura"), (None, "29,4")]
    assert [(r.before, r.after) for r in changed] == [("Mura", "Múra"), ("29,4", "—")]


def test_the_filters_offer_the_readers_words(app, db, world, client_for):
    world.admin.preferred_language = "es"
    _db.session.commit()
    page = htmllib.unescape(client_for(world.admin).get("/admin/audit?object_type=council").get_data(as_text=True))
    with force_locale("es"):
        council, every, moved = gettext("Council"), gettext("Every object type"), gettext("Council's service moved")
    assert re.search(rf'<option selected value="council">{re.escape(council)}</option>', page), page[:3000]
    assert f'<option value="">{every}</option>' in page and f">{moved}</option>" in page
    assert ">council<" not in page and ">service.move<" not in page


def test_english_rows_read_as_words(app):
    with app.test_request_context():
        rows = _render("council_service", {"status": ["planned", "live"], "wave": [None, "pilot"]}, "en")
        with force_locale("en"):
            assert audit_labels.action_label("service.move") == "Council's service moved"
    assert rows == [("Status", "planned", "live"), ("Wave", "—", "pilot")]


def test_unknown_fields_and_odd_values_never_raise(app):
    with app.test_request_context(), force_locale("ca"):
        rows = audit_labels.change_rows("no_such_type", {"min_population": [None, {"a_b": 1}], "weird": object(),
                                                         "population": ["x", 3]})
        assert audit_labels.action_label("brand_new_action") == "Brand new action"
        assert audit_labels.object_type_label("no_such_type") == "No such type"
        # A registered format that fails on an odd old value falls back to plain text.
        assert audit_labels.format_value("agreement", "onsite_minutes_month", "soon") == "soon"
        assert audit_labels.format_value("council", "council_id", "not-a-number") == "not-a-number"
        assert audit_labels.change_rows("user", "odd") == [audit_labels.ChangeRow("", None, "odd")]
    assert rows[0].label == "Min population" and rows[0].after == "A b: 1"
    assert rows[1].before is None and rows[1].after.startswith("<object")
    assert rows[2].after == "3"


def test_dotted_fields_name_each_part(app):
    with app.test_request_context(), force_locale("en"):
        (row,) = audit_labels.change_rows("asset", {"disk.warning": [80.0, 85.5]})
    assert row.label == "Disk / · Warning at" and (row.before, row.after) == ("80", "85.5")


@pytest.mark.parametrize("lang", LANGS)
def test_audit_page_speaks_the_readers_language(app, db, world, client_for, lang):
    world.admin.preferred_language = lang
    audit.record("service.subscribe", object_type="council_service", object_id=1, actor=world.admin,
                 label="ETRAM · A", council_id=world.council_a.id,
                 changes={"status": [None, "planned"], "wave": [None, "pilot"]})
    audit.record("service.move", object_type="council_service", object_id=1, actor=world.admin,
                 label="ETRAM · A", council_id=world.council_a.id, changes={"status": ["deploying", "live"]})
    audit.record("update", object_type="allowance_bands", object_id="all", actor=world.admin, label="allowance bands",
                 changes={"bands": [[{"min_population": 0, "max_population": 500, "remote_minutes_month": 90,
                                      "onsite_default_minutes_month": 90}], []]})
    audit.record("update", object_type="council", object_id=world.council_a.id, actor=world.admin,
                 label=world.council_a.name, changes={"active": [True, False], "population": [1150, 1200]})
    audit.record("create", object_type="office_holiday", object_id=1, actor=world.admin, label="x",
                 changes={"day": dt.date(2026, 9, 11).isoformat(), "name": "Diada"})
    _db.session.commit()
    page = client_for(world.admin).get("/admin/audit")
    assert page.status_code == 200
    body = htmllib.unescape(page.get_data(as_text=True)).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    texts = {t.strip() for t in re.split(r"<[^>]+>", body) if t.strip()}
    with force_locale(lang):
        expected = {str(audit_labels.action_label("service.move")), str(audit_labels.action_label("update"))}
    assert expected <= texts
    for raw in REPR + (CODES if lang != "en" else ()) + (("pilot",) if lang == "es" else ()):
        assert raw not in texts, (raw, sorted(texts))
    assert "True" not in body and "[{" not in body and "min_population" not in body
    assert {"ca": "1.200", "es": "1.200", "en": "1,200"}[lang] in texts
    if lang != "en":
        assert not texts & {"Changed", "Created", "Status", "Wave", "Active", "Population", "Yes"}, texts & {"Changed", "Created", "Status", "Wave", "Active", "Population", "Yes"}


@pytest.mark.slow
@pytest.mark.frozen("2026-06-17T10:00:00+00:00")
def test_the_demo_offices_audit_log_has_no_english_left(app, db, client_for):
    """The demo's whole history (catalogue rollouts, bands, agreements, tickets...) read in
    Catalan and Spanish: no text is an English msgid the language translates differently (the
    page walker's rule), no Python repr, no raw catalogue code."""
    from e2e.test_page_walker import english_msgids
    from sqlalchemy import func, select

    from accounts.models import AuditEntry, User
    from core import demo

    demo.run()
    admin = _db.session.scalar(select(User).where(User.role == "admin").order_by(User.id).limit(1))
    total = _db.session.scalar(select(func.count()).select_from(AuditEntry))
    kinds = _db.session.execute(select(AuditEntry.object_type, AuditEntry.action).distinct()).all()
    # One entry of each kind of change on the first page: the newest of each (object type, action).
    newest = [_db.session.scalar(select(AuditEntry.id).where(AuditEntry.object_type == t, AuditEntry.action == a)
                                 .order_by(AuditEntry.id.desc()).limit(1)) for t, a in kinds]
    assert total and len(kinds) >= 5
    for lang in ("ca", "es"):
        english = english_msgids(lang)
        admin.preferred_language = lang
        _db.session.commit()
        client = client_for(admin)
        seen: set[str] = set()
        for entry_id in newest:
            entry = _db.session.get(AuditEntry, entry_id)
            page = client.get(f"/admin/audit?object_type={entry.object_type}&action={entry.action}")
            assert page.status_code == 200
            body = htmllib.unescape(page.get_data(as_text=True)).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
            seen |= {" ".join(t.split()) for t in re.split(r"<[^>]+>", body) if t.strip()}
        left = sorted(t for t in seen if t in english)
        assert not left, (lang, left)
        for raw in REPR + CODES:
            assert raw not in seen, (lang, raw)

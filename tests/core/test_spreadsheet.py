"""Sheet names Excel accepts (31 characters, cut on a word boundary, unique) and durations as
h:mm and exact decimal hours (core.spreadsheet)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.spreadsheet import SHEET_MAX, decimal_hours, decimal_hours_text, hm, sheet_title


@pytest.mark.parametrize("title, expected", [
    # The example: cut inside "canal"; a cut after "i" would leave it hanging.
    ("Incidències per categoria i canal", "Incidències per categoria"),
    ("Tickets by category and channel", "Tickets by category and channel"),  # 31: fits
    ("Incidencias por categoría y canal", "Incidencias por categoría"),
    ("Consum acumulat de l'any fins ara", "Consum acumulat de l'any fins"),
    ("Totals de la comarca per mes", "Totals de la comarca per mes"),
    ("Ús: any/mes [resum]?", "Ús any mes resum"),  # characters Excel refuses
    ("'Notes'", "Notes"),  # no apostrophe at either end
    ("", "Sheet"),
    ("Desenvolupamentsupercalifragilísticexpialidós", "Desenvolupamentsupercalifragilí"),  # one word: cut
])
def test_sheet_titles_fit_excel_on_a_word_boundary(title, expected):
    taken: set[str] = set()
    result = sheet_title(title, taken)
    assert result == expected and len(result) <= SHEET_MAX
    assert taken == {expected.lower()}
    words = title.replace(":", " ").replace("/", " ").split()
    if len(words) > 1:  # never a cut word
        assert all(word in " ".join(words) for word in result.split())
        assert set(result.split()) <= {w.strip("[]?'") for w in words} | {""}


def test_sheet_titles_are_unique_in_a_workbook():
    taken: set[str] = set()
    names = [sheet_title(t, taken) for t in (
        "Incidències per categoria i canal", "Incidències per categoria i subcategoria", "incidències PER categoria",
        "Ús per mes", "Ús per mes")]
    assert len({n.lower() for n in names}) == 5
    assert all(len(n) <= SHEET_MAX for n in names)
    assert names[0] == "Incidències per categoria"
    assert names[1] == "Incidències per categoria (2)"
    assert names[2] == "incidències PER categoria (3)"
    assert names[3:] == ["Ús per mes", "Ús per mes (2)"]


@pytest.mark.parametrize("minutes, text, hours, ca, en", [
    (135, "2:15", Decimal("2.25"), "2,25", "2.25"),
    (5, "0:05", Decimal("0.0833"), "0,0833", "0.0833"),
    (60, "1:00", Decimal("1"), "1", "1"),
    (10, "0:10", Decimal("0.1667"), "0,1667", "0.1667"),
    (1530, "25:30", Decimal("25.5"), "25,5", "25.5"),
    (123456, "2057:36", Decimal("2057.6"), "2057,6", "2057.6"),  # no grouping: a spreadsheet reads it
    (0, "0:00", Decimal("0"), "0", "0"),
    (-90, "-1:30", Decimal("-1.5"), "-1,5", "-1.5"),
])
def test_durations_as_h_mm_and_exact_decimal_hours(minutes, text, hours, ca, en):
    assert hm(minutes) == text
    assert decimal_hours(minutes) == hours
    assert decimal_hours_text(minutes, "ca") == ca and decimal_hours_text(minutes, "es") == ca
    assert decimal_hours_text(minutes, "en") == en
    assert hm(None) == "" and decimal_hours(None) is None and decimal_hours_text(None, "ca") == ""

"""Shares that do not round to a false 100 % or 0 %, exact decimal hours, and numbers typed in
the reader's locale."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.durations import format_hours
from core.numbers import format_share, parse_number


@pytest.mark.parametrize(("ratio", "locale", "pattern", "shown"), [
    (1350 / 1353, "ca", "#,##0 %", "99,8\u00a0%"),  # 1,350 of 1,353 on time is not "100 %"
    (0.998, "en", "#,##0 %", "99.8\u00a0%"),
    (0.9949, "es", "#,##0 %", "99\u00a0%"),  # an ordinary rounding stays as the pattern says
    (1.0, "ca", "#,##0 %", "100\u00a0%"),  # exactly all
    (0.0, "ca", "#,##0 %", "0\u00a0%"),  # exactly none
    (0.001, "ca", "#,##0 %", "0,1\u00a0%"),  # a little is not nothing
    (0.00001, "en", "#,##0 %", "0.001\u00a0%"),
    (0.99999999, "ca", "#,##0 %", "99,999\u00a0%"),  # past three extra decimals: cut, not rounded up
    (1.003, "ca", "#,##0 %", "100,3\u00a0%"),  # over the allowance reads as over
    (-0.0004, "ca", "#,##0 %", "-0,04\u00a0%"),
    (7.44, "es", "#,##0 %", "744\u00a0%"),
    (0.5, "es", "#,##0.0 %", "50,0\u00a0%"),  # the pattern's own decimals are kept
    (0.9996, "en", "#,##0.# %", "99.96\u00a0%"),
])
def test_shares_never_round_to_a_false_landmark(ratio, locale, pattern, shown):
    assert format_share(ratio, locale, pattern).replace(" ", "\u00a0") == shown


@pytest.mark.parametrize(("minutes", "shown"), [(135, "2,25\u00a0h"), (180, "3\u00a0h"), (90, "1,5\u00a0h"),
                                                 (100, "1,67\u00a0h"), (0, "0\u00a0h")])
def test_decimal_hours_as_exact_as_needed(minutes, shown):
    assert format_hours(minutes, "ca", None) == shown
    assert format_hours(135, "ca") == "2,3\u00a0h"  # reports keep their fixed decimal, aligned in columns


@pytest.mark.parametrize(("text", "locale", "value"), [
    ("1.150", "ca", Decimal(1150)), ("1.150", "es", Decimal(1150)), ("1,150", "en", Decimal(1150)),
    ("1150", "en", Decimal(1150)), ("1 150", "ca", Decimal(1150)), ("1,5", "ca", Decimal("1.5")),
    ("1.15.0", "ca", None), ("abc", "es", None), ("", "ca", None),
])
def test_numbers_typed_in_the_readers_locale(text, locale, value):
    assert parse_number(text, locale) == value

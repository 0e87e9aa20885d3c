"""The shared rules for text from outside (core/inputs.py): ids, days, API dates. Each case
was a 500 somewhere before the rule (the battery's page fuzzing found the last ones)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel, ValidationError

from core.inputs import Day, ascii_int, id_arg, parse_day


@pytest.mark.parametrize("text, expected", [
    ("12", 12), ("", None), ("²", None), ("٣", None), ("-1", None), ("0", None),
    ("99999999999999999999", None), (str(2**31 - 1), 2**31 - 1), (str(2**31), None), (None, None)])
def test_an_id_is_ascii_digits_within_32_bits(text, expected):
    assert id_arg({"council": text} if text is not None else {}, "council") == expected


def test_ascii_int_keeps_its_bounds():
    assert ascii_int("5", minimum=1, maximum=5) == 5
    assert ascii_int("6", minimum=1, maximum=5) is None


@pytest.mark.parametrize("text, expected", [
    ("2027-01-14", dt.date(2027, 1, 14)), ("9999-12-31", None), ("0001-01-01", None), ("2027-1-4", None),
    ("2027-02-30", None), ("", None), ("²⁰²⁷-01-14", None)])
def test_a_day_is_written_yyyy_mm_dd_within_1900_2200(text, expected):
    assert parse_day(text) == expected


class _Range(BaseModel):
    to: Day | None = None


@pytest.mark.parametrize("value", ["0", "1700000000", "2027-1-4", "2027-02-30", "tomorrow", 20270114])
def test_an_api_day_refuses_what_pydantic_would_read_as_a_unix_time(value):
    with pytest.raises(ValidationError):
        _Range(to=value)


def test_an_api_day_takes_a_written_day_and_a_date():
    assert _Range(to="2027-01-14").to == dt.date(2027, 1, 14)
    assert _Range(to=dt.date(2027, 1, 14)).to == dt.date(2027, 1, 14)
    assert _Range(to="9999-12-31").to == dt.date(9999, 12, 31)  # the service clamps a range
    assert _Range().to is None

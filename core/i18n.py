"""Language and formatting: who sees which language, and how numbers, dates and durations look."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date as babel_format_date
from flask import Flask, current_app, request, session
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_login import current_user

LANGUAGE_NAMES = {"ca": "Català", "es": "Español", "en": "English"}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    # The user's stored preference first (the switcher updates it, and API calls, which
    # have no session, get it too)...
    try:
        user = current_user._get_current_object()
    except Exception:  # outside a request, or before login is set up
        user = None
    pref = getattr(user, "preferred_language", None) if user is not None else None
    if pref in languages:
        return pref
    # ...then the switcher's choice for this browser (signed-out pages)...
    if request:
        chosen = session.get("lang")
        if chosen in languages:
            return chosen
        # ...then what the browser asks for.
        best = request.accept_languages.best_match(languages)
        if best:
            return best
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def locale_code() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def duration_filter(minutes) -> str:
    from core.durations import format_duration

    if minutes is None:
        return "—"
    return format_duration(int(minutes), locale_code())


def hours_filter(minutes, decimals: int | None = 1) -> str:
    from core.durations import format_hours

    if minutes is None:
        return "—"
    return format_hours(int(minutes), locale_code(), decimals)


def datetime_filter(value, fmt: str = "short") -> str:
    if value is None:
        return "—"
    return format_datetime(value, fmt)


def date_filter(value, fmt: str = "medium") -> str:
    if value is None:
        return "—"
    return format_date(value, fmt)


def month_filter(value) -> str:
    """'2026-03' or a date → 'març de 2026' / 'marzo de 2026' / 'March 2026'."""
    if value is None:
        return "—"
    if isinstance(value, str):
        year, month = value.split("-")
        value = dt.date(int(year), int(month), 1)
    return babel_format_date(value, "LLLL yyyy", locale=locale_code())


def number_filter(value, fmt: str | None = None) -> str:
    if value is None:
        return "—"
    return format_decimal(value, fmt)


def percent_filter(value, fmt: str | None = None) -> str:
    """`value` is a ratio (0.8 → 80 %); never a rounded 100 % or 0 % for a value that is not."""
    from core.numbers import format_share

    if value is None:
        return "—"
    return format_share(value, locale_code(), fmt or "#,##0 %")


def init_app(app: Flask) -> None:
    from core import audit_labels

    audit_labels.register_core_labels()
    app.jinja_env.filters.update(
        duration=duration_filter,
        hours=hours_filter,
        datetime=datetime_filter,
        date=date_filter,
        month=month_filter,
        number=number_filter,
        percent=percent_filter,
    )
    app.jinja_env.globals.update(LANGUAGE_NAMES=LANGUAGE_NAMES, locale_code=locale_code,
                                 audit_action=audit_labels.action_label,
                                 audit_object_type=audit_labels.object_type_label,
                                 audit_changes=audit_labels.change_rows)

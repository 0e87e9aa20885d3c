"""Words the reports share between pages, PDFs, exports and mails."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


def category_labels() -> dict[str, object]:
    from support.tickets.labels import category_labels as labels

    return labels()


def channel_labels() -> dict[str, object]:
    from support.tickets.labels import channel_labels as labels

    return labels()


def light_labels() -> dict[str, object]:
    return {"ok": _l("Within the allowance"), "warning": _l("Near the allowance, or heading beyond it"),
            "over": _l("Beyond the allowance"), "none": _l("No agreement this month")}


def heatmap_mode_labels() -> dict[str, object]:
    return {"total": _l("On site and remote"), "onsite": _l("On site"), "remote": _l("Remote")}


def definitions() -> list:
    """How each figure is counted: printed under every report, so any figure can be checked."""
    return [
        _l("Allowance: the agreement's monthly hours plus any hours carried over from the month before. "
           "Excess: hours used beyond the allowance (the service goes on; the excess is invoiced). Travel "
           "time is recorded but never counted against the allowance."),
        _l("First response within the SLA: of the tickets opened in the month that were answered or ran out of "
           "time, those answered in time. Resolved within the SLA: of the tickets resolved in the month, those "
           "resolved in time. SLA time counts office hours and pauses while waiting for the council."),
        _l("Resolution time: from the request to its resolution, as a median. Satisfaction: the ratings the "
           "council gave in the month, from 1 to 5. Availability: the share of the monitored time the council's "
           "health checks were not critical."),
    ]

"""Bulk work on a rollout: subscribe a group of councils to a service, and move a whole wave to
its next status. Each comes in two steps: `preview` says what would change (and what would be
refused, and why), `apply` does exactly that in one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from agreements.models import Council
from catalogue import services
from catalogue.models import NEXT_STATUS, WAVES, CouncilService, Service
from core.errors import ValidationFailed
from extensions import db


@dataclass
class Step:
    council: Council
    before: str | None  # the status now (None: not subscribed)
    after: str | None  # the status it gets (None: left as it is)
    note: object = ""  # why it is left as it is (lazy string)


def subscribe_preview(service: Service, councils: list[Council]) -> list[Step]:
    current = {s.council_id: s for s in db.session.scalars(
        select(CouncilService).where(CouncilService.service_id == service.id))}
    steps = []
    for council in councils:
        sub = current.get(council.id)
        if sub is not None:
            steps.append(Step(council, sub.status, None, _l("Already subscribed.")))
        else:
            steps.append(Step(council, None, "planned"))
    return steps


def subscribe_apply(service: Service, councils: list[Council], *, wave: str, planned_on: dt.date | None,
                    technician_id: int | None, actor: User | None) -> list[Step]:
    if wave not in WAVES:
        raise ValidationFailed(_l("Some fields are not valid."), fields={"wave": _l("Not one of the allowed values.")})
    steps = subscribe_preview(service, councils)
    for step in steps:
        if step.after is not None:
            services.put_subscription(step.council, service, {"wave": wave, "planned_on": planned_on,
                                                              "technician_id": technician_id}, actor=actor)
    return steps


def wave_preview(service: Service, wave: str) -> list[Step]:
    """Every council of the wave: its next status, or why it stays (retired has none)."""
    subs = db.session.scalars(select(CouncilService).join(CouncilService.council).where(
        CouncilService.service_id == service.id, CouncilService.wave == wave).order_by(Council.name))
    steps = []
    for sub in subs:
        target = NEXT_STATUS.get(sub.status)
        steps.append(Step(sub.council, sub.status, target, "" if target else _l("Retired: nothing follows.")))
    return steps


def wave_apply(service: Service, wave: str, *, actor: User | None, reason: str = "",
               only: set[int] | None = None, now: dt.datetime | None = None) -> list[Step]:
    """Move each council of the wave one status forward (only those in `only`, when given), in
    one transaction: either the whole wave moves or nothing does."""
    now = now or dt.datetime.now(dt.UTC)
    steps = [s for s in wave_preview(service, wave) if s.after and (only is None or s.council.id in only)]
    for step in steps:
        sub = services.get_subscription(step.council.id, service.id)
        services.move_status(sub, step.after, actor=actor, reason=reason, now=now, commit=False)
    db.session.commit()
    return steps

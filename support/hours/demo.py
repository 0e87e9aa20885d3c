"""Demo hours: eighteen months of time entries for the Bages councils, up to today.

About 110 requests a month across the comarca: short remote sessions and on-site visits with
their travel, by three technicians who each look after their own villages. Most councils use
45–95 % of their hours; a few run over every month. Months older than last month are closed,
one entry of a closed month has a correction, and the thresholds of this month and the last
are announced (so managers find notifications). Everything comes from `ctx.rng` and
`ctx.today`, so the same seed and day give the same history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from accounts.services import get_user_by_email
from agreements import services as councils
from agreements.months import add_months, month_end, month_start
from core.calendar import business_days, office_calendar
from core.demo import DemoContext
from core.scope import unrestricted
from extensions import db
from support.hours import jobs, services
from support.hours.models import TimeEntry

MONTHS = 18
TECHNICIANS = ("tecnic@demo.councildesk.org", "tecnica@demo.councildesk.org", "tecnic2@demo.councildesk.org")
MANAGER = "manager@demo.councildesk.org"
# The councils that keep running over their hours: they make the excess column worth a look.
OVER = ("balsareny", "castellbell-i-el-vilar", "talamanca")

ONSITE_WORK = (
    "Revisió dels equips de Secretaria i actualitzacions pendents",
    "Substitució del tòner i neteja de la impressora multifunció",
    "Configuració del PC nou de Registre i migració de dades",
    "Instal·lació del certificat digital de l'alcaldessa a l'equip d'Alcaldia",
    "Revisió del router de fibra i de la xarxa Wi-Fi de l'ajuntament",
    "Còpia de seguretat del servidor i comprovació de la restauració",
    "Canvi del disc del NAS de còpies i reconstrucció del RAID",
    "Formació a Secretaria en la signatura electrònica de decrets",
    "Instal·lació de l'escàner de Registre i del programari de digitalització",
    "Cablejat del nou lloc de treball de Serveis tècnics",
    "Revisió de l'antivirus i de les actualitzacions de Windows a tots els equips",
    "Preparació dels equips per al ple municipal (projector i gravació)",
)
REMOTE_WORK = (
    "Suport remot: error en enviar una notificació electrònica",
    "Restabliment de la contrasenya del correu de Secretaria",
    "Incidència amb l'accés a la seu electrònica",
    "Configuració del correu al mòbil de l'alcalde",
    "Publicació de documents al portal de transparència",
    "Revisió remota de l'ocupació de disc del servidor",
    "Ajuda amb la signatura d'un decret a la plataforma de gestió d'expedients",
    "Renovació del certificat del segell electrònic",
    "Incidència amb la impressora de Registre (cua bloquejada)",
    "Alta d'un usuari nou i permisos a les carpetes compartides",
    "Consulta sobre la còpia de seguretat del programa de comptabilitat",
    "Actualització del programari del padró",
)
ONSITE_DURATIONS = (60, 90, 120, 120, 150, 180, 180, 240, 300)
REMOTE_DURATIONS = (20, 30, 30, 45, 45, 60, 60, 90)


def _days(ctx: DemoContext, month: dt.date, calendar) -> list[dt.date]:
    last = min(month_end(month), ctx.today)
    days = [d for d in business_days(month, calendar) if d <= last]
    return days or [min(month, ctx.today)]


def _visits(ctx: DemoContext, target: int, durations: tuple[int, ...]) -> list[int]:
    """Durations that add up to about `target` minutes."""
    out, total = [], 0
    while total < target - 10:
        minutes = ctx.rng.choice(durations)
        if total + minutes > target + 30:
            minutes = max(15, int(round((target - total) / 15)) * 15)
        out.append(minutes)
        total += minutes
    return out


def seed(ctx: DemoContext) -> None:
    with unrestricted():
        if db.session.scalar(select(func.count()).select_from(TimeEntry)):
            return
        technicians = [get_user_by_email(email) for email in TECHNICIANS]
        technicians = [t for t in technicians if t is not None]
        manager = get_user_by_email(MANAGER)
        if not technicians:
            return
        calendar = office_calendar()
        this_month = month_start(ctx.today)
        months = [add_months(this_month, -i) for i in range(MONTHS - 1, -1, -1)]
        entries: list[TimeEntry] = []
        for index, council in enumerate(ctx.councils):
            main = technicians[index % len(technicians)]
            travel = ctx.rng.randint(3, 8) * 10  # the round trip from the comarca's seat
            over = council.slug in OVER
            for month in months:
                agreement = councils.agreement_for_month(council.id, month)
                if agreement is None:
                    continue
                days = _days(ctx, month, calendar)
                share = 1.0
                if month == this_month:
                    # This month only up to today, at the pace the month has been going.
                    share = len(days) / max(1, len(business_days(month, calendar)))
                ratio = ctx.rng.uniform(1.05, 1.35) if over else ctx.rng.uniform(0.45, 0.95)
                onsite_target = int(agreement.onsite_minutes_month * ratio * share)
                remote_target = int(agreement.remote_minutes_month * ctx.rng.uniform(0.5, 1.2 if over else 1.0) * share)
                for mode, target, durations, texts in (
                        ("onsite", onsite_target, ONSITE_DURATIONS, ONSITE_WORK),
                        ("remote", remote_target, REMOTE_DURATIONS, REMOTE_WORK)):
                    for minutes in _visits(ctx, target, durations):
                        day = ctx.rng.choice(days)
                        who = main if mode == "onsite" and ctx.rng.random() < 0.8 else ctx.rng.choice(technicians)
                        entries.append(TimeEntry(
                            council_id=council.id, technician_id=who.id, date=day, month=month_start(day),
                            minutes=minutes, mode=mode, description=ctx.rng.choice(texts),
                            travel_minutes=travel + ctx.rng.choice((-10, 0, 0, 10)) if mode == "onsite" else 0,
                            created_by_id=who.id,
                            created_at=dt.datetime.combine(day, dt.time(ctx.rng.randint(8, 14), ctx.rng.randint(0, 59)),
                                                           tzinfo=dt.UTC)))
        db.session.add_all(entries)
        db.session.commit()

        # Months before last month are closed, since the first agreements began: last month is
        # still being reviewed.
        month = councils.earliest_agreement_month() or this_month
        while month < add_months(this_month, -1):
            councils.close_month_everywhere(month, actor=manager, today=ctx.today)
            month = add_months(month, 1)

        _correction(ctx, months, manager)
        announced = jobs.check_thresholds(ctx.today)
    ctx.notes.append(f"Hours: {len(entries)} time entries over {MONTHS} months; "
                     f"{announced} allowance thresholds announced.")


def _correction(ctx: DemoContext, months: list[dt.date], manager) -> None:
    """An on-site visit of a closed month logged 30 minutes too long, corrected this month."""
    if manager is None or len(months) < 3:
        return
    closed = months[-3]
    original = db.session.scalar(select(TimeEntry).where(
        TimeEntry.month == closed, TimeEntry.mode == "onsite", TimeEntry.minutes >= 90).order_by(TimeEntry.id).limit(1))
    if original is None or not councils.is_month_closed(original.council_id, original.month):
        return
    if councils.agreement_for_month(original.council_id, month_start(ctx.today)) is None:
        return
    services.create_correction(original, {
        "minutes": -30, "travel_minutes": 0, "date": ctx.today,
        "description": "La visita va durar mitja hora menys del que es va registrar (revisat amb el full de serveis).",
    }, actor=manager, today=ctx.today)

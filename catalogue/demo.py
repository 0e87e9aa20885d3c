"""Demo data of the catalogue: the e-SET pack of the AOC and the Diputació de Barcelona, and a
few services of the comarca's own, rolled out in three waves (pilot live, extension deploying,
consolidation planned) with a believable history, and some of the logged hours put against them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from accounts.services import get_user_by_email
from catalogue import services
from catalogue.models import Service
from core.scope import unrestricted
from extensions import db
from support.hours.models import TimeEntry

DOCS = "https://www.aoc.cat/serveis-aoc/"
# code, name, ca, es, en, provider, category, ticket category, description
SERVICES = (
    ("ERES", "ERES", "ERES", "ERES", "ERES", "diputacio", "e_administration", "e_administration",
     "Gestió d'expedients i registre electrònic per a ens petits (model e-SET)."),
    ("ETRAM", "e-TRAM", "e-TRAM", "e-TRAM", "e-TRAM", "aoc", "e_administration", "e_administration",
     "Tràmits genèrics en línia per a la ciutadania."),
    ("SEU", "Seu electrònica", "Seu electrònica", "Sede electrónica", "Electronic office", "aoc", "e_administration",
     "e_administration", "La seu electrònica de l'ajuntament."),
    ("ETAULER", "e-Tauler", "e-Tauler", "e-Tablón", "e-Noticeboard", "aoc", "e_administration", "e_administration",
     "Tauler d'edictes electrònic."),
    ("ENOTUM", "e-NOTUM", "e-NOTUM", "e-NOTUM", "e-NOTUM", "aoc", "e_administration", "e_administration",
     "Notificacions electròniques."),
    ("VIAOBERTA", "Via Oberta", "Via Oberta", "Vía Abierta", "Via Oberta", "aoc", "e_administration",
     "e_administration", "Consulta de dades d'altres administracions sense demanar papers."),
    ("SIGNATURA", "Signatura electrònica", "Signatura electrònica", "Firma electrónica", "Electronic signature",
     "aoc", "e_administration", "e_administration", "Certificats T-CAT i signatura dels càrrecs i del personal."),
    ("IARXIU", "i-ARXIU", "i-ARXIU", "i-ARXIU", "i-ARXIU", "aoc", "e_administration", "e_administration",
     "Arxiu electrònic dels documents i expedients."),
    ("TRANSP", "Portal de transparència", "Portal de transparència", "Portal de transparencia", "Transparency portal",
     "comarca", "transparency", "transparency_portal", "Publicació de la informació que la llei demana."),
    ("WIFI", "Wifi municipal", "Wifi municipal", "Wifi municipal", "Municipal Wi-Fi", "comarca", "infrastructure",
     "network", "Xarxa sense fils als equipaments municipals."),
    ("BACKUP", "Còpies de seguretat", "Còpies de seguretat", "Copias de seguridad", "Backups", "comarca",
     "infrastructure", "hardware", "Còpia diària fora de l'ajuntament, amb proves de recuperació."),
)
ESET = ("ERES", "ETRAM", "SEU", "ETAULER", "ENOTUM", "VIAOBERTA", "SIGNATURA", "IARXIU")
TECHNICIANS = ("tecnic@demo.councildesk.org", "tecnica@demo.councildesk.org", "tecnic2@demo.councildesk.org")
MANAGER = "manager@demo.councildesk.org"


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9, 30), dt.UTC)


def seed(ctx) -> None:
    with unrestricted():
        if db.session.scalar(select(func.count()).select_from(Service)):
            return
        manager = get_user_by_email(MANAGER)
        techs = [t for t in (get_user_by_email(e) for e in TECHNICIANS) if t is not None]
        created = {}
        for code, name, ca, es, en, provider, category, ticket_category, description in SERVICES:
            created[code] = services.create_service({
                "code": code, "name": name, "name_ca": ca, "name_es": es, "name_en": en, "provider": provider,
                "category": category, "ticket_category": ticket_category, "description": description,
                "documentation_url": DOCS if provider == "aoc" else ""}, actor=manager)
        councils = sorted(ctx.councils, key=lambda c: c.population)
        # The smallest councils first: e-SET is for councils of up to 5,000 inhabitants.
        third = max(1, len(councils) // 3)
        waves = {"pilot": councils[:third], "extension": councils[third:2 * third],
                 "consolidation": councils[2 * third:]}
        today = ctx.today
        for code in ESET:
            service = created[code]
            services.set_wave_target(service, "pilot", today - dt.timedelta(days=240), actor=manager)
            services.set_wave_target(service, "extension", today + dt.timedelta(days=60), actor=manager)
            services.set_wave_target(service, "consolidation", today + dt.timedelta(days=300), actor=manager)
            for wave, members in waves.items():
                for index, council in enumerate(members):
                    tech = techs[index % len(techs)] if techs else None
                    start = today - dt.timedelta(days=400 - 20 * index if wave == "pilot" else 120 - 5 * index)
                    values = {"wave": wave, "planned_on": start + dt.timedelta(days=60),
                              "technician_id": tech.id if tech else None,
                              "contact": f"secretaria@{council.slug}.cat"}
                    services.put_subscription(council, service, values, actor=manager, now=_at(start))
                    if wave in ("pilot", "extension"):
                        services.put_subscription(council, service, {"status": "deploying", "reason": "Formació feta"},
                                                  actor=tech, now=_at(start + dt.timedelta(days=30)))
                    if wave == "pilot":
                        went_live = start + dt.timedelta(days=70 + ctx.rng.randint(0, 40))
                        services.put_subscription(council, service, {"status": "live", "live_on": went_live},
                                                  actor=tech, now=_at(went_live))
                        if code == "ERES":
                            # The signed record of going live, kept as the council's evidence.
                            services.put_subscription(
                                council, service, {}, actor=tech, now=_at(went_live),
                                evidence=(f"Acta posada en marxa ERES - {council.name}.pdf",
                                          _record_pdf(service, council, went_live)))
        for council in councils:
            services.put_subscription(council, created["TRANSP"], {"wave": "pilot", "status": "live",
                                                                   "live_on": today - dt.timedelta(days=700)},
                                      actor=manager, now=_at(today - dt.timedelta(days=700)))
        for council in councils[::3]:
            services.put_subscription(council, created["BACKUP"], {"wave": "extension"}, actor=manager)
        _hours_against_services(ctx, waves["pilot"], [created[c] for c in ("ERES", "SIGNATURA", "TRANSP")])
        db.session.commit()
    ctx.notes.append(f"Service catalogue: {len(created)} services; /catalogue/matrix")


def _record_pdf(service, council, day: dt.date) -> bytes:
    """A one-page PDF standing for the signed record of a service going live (matplotlib's
    object API: no pyplot state in a process that may serve pages)."""
    import io

    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.27, 11.69))
    figure.text(0.1, 0.9, f"Acta de posada en marxa: {service.name}", fontsize=16)
    figure.text(0.1, 0.85, f"Ajuntament de {council.name}", fontsize=12)
    figure.text(0.1, 0.82, f"En servei des del {day.strftime('%d/%m/%Y')}", fontsize=12)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf", metadata={"CreationDate": None})
    return buffer.getvalue()


def _hours_against_services(ctx, councils, picked) -> None:
    """A share of the pilot councils' logged hours was e-administration work: say which service."""
    for council in councils:
        ids = list(db.session.scalars(select(TimeEntry.id).where(TimeEntry.council_id == council.id,
                                                                 TimeEntry.corrects_entry_id.is_(None))
                                      .order_by(TimeEntry.id)))
        chosen: dict[int, list[int]] = {}
        for entry_id in ids:
            if ctx.rng.random() < 0.25:
                chosen.setdefault(ctx.rng.choice(picked).id, []).append(entry_id)
        for service_id, entry_ids in chosen.items():
            db.session.execute(update(TimeEntry).where(TimeEntry.id.in_(entry_ids)).values(service_id=service_id))

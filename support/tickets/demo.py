"""Demo tickets: the requests behind the hours, consistent with the ledger.

Most time entries answer a ticket of the same council, opened that day or a few office
days before (a visit often solves what was asked earlier in the week); a few tickets are
quick answers with no time logged. About 110 a month across the comarca, like the entries.
Tickets are written in bulk with their full history (statuses, replies, internal notes,
ratings), and their SLA is computed by the same code as live tickets, as of the demo's
"now": some first replies and solutions come late, as they do. Numbers are handed out per
council and year in the order tickets were opened, and the counters set to match.

The step draws from its own generator (seeded from the day), not from ctx.rng, so adding
or changing tickets never changes the history the other domains draw.
"""

from __future__ import annotations

import datetime as dt
import random
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, func, insert, select, update

from accounts.models import User
from accounts.services import get_user_by_email
from core.calendar import is_business_day, office_calendar
from core.db import utcnow
from core.demo import DemoContext
from core.scope import unrestricted
from extensions import db
from inventory.models import Asset
from support.hours.demo import MONTHS
from support.hours.models import TimeEntry
from support.tickets import search
from support.tickets.models import Ticket, TicketChange, TicketComment, TicketCounter, TicketRating, TicketSlaBreach
from support.tickets.queue import queue_stand_in
from support.tickets.services import office_year
from support.tickets.sla_state import apply_sla

TICKET_TEXTS = {
    "hardware": (
        ("La impressora de Registre no imprimeix",
         "Quan enviem a imprimir no surt res i el llum taronja fa pampallugues. Ja l'hem apagada i encesa."),
        ("La multifunció fa les còpies ratllades",
         "Totes les còpies surten amb una ratlla negra al mig. Necessitem fer còpies per al ple de dijous."),
        ("L'ordinador de Secretaria va molt lent",
         "Triga més de cinc minuts a engegar i el programa d'expedients es queda penjat sovint."),
        ("No s'encén la pantalla de l'ordinador d'Alcaldia",
         "L'ordinador sembla que funciona però la pantalla es queda negra."),
        ("L'escàner no desa els documents a la carpeta",
         "Escanegem però els documents no apareixen a la carpeta compartida de Registre."),
        ("Cal preparar l'ordinador nou de Registre",
         "Ens ha arribat l'ordinador nou. Cal instal·lar-lo i passar-hi els documents de l'antic."),
    ),
    "software": (
        ("El programa de comptabilitat no s'obre",
         "Surt un missatge que diu que falta una llibreria i es tanca."),
        ("Cal actualitzar el programa del padró",
         "L'INE demana la versió nova per enviar les variacions del mes."),
        ("L'antivirus diu que ha caducat",
         "A l'ordinador de l'entrada surt un avís vermell de l'antivirus."),
        ("Windows demana reiniciar cada dia",
         "Cada matí surt l'avís d'actualitzacions i no acaba mai."),
    ),
    "network": (
        ("No tenim internet a l'ajuntament",
         "Des de primera hora no funciona internet a cap ordinador. El router té un llum vermell."),
        ("El Wi-Fi de la sala de plens no funciona",
         "Els regidors no es poden connectar a la xarxa durant el ple."),
        ("La connexió va molt lenta",
         "Des d'aquest matí carregar qualsevol pàgina triga molt."),
    ),
    "e_administration": (
        ("No puc signar decrets amb el certificat",
         "En signar a la plataforma d'expedients surt «certificat no vàlid»."),
        ("El certificat de l'alcaldessa caduca aviat",
         "Ens ha arribat l'avís que el certificat de representant caduca d'aquí a tres setmanes."),
        ("Error en enviar una notificació electrònica",
         "La notificació queda en estat «error» i no arriba a la persona interessada."),
        ("No podem entrar a la seu electrònica",
         "La seu demana el certificat i després es queda la pàgina en blanc."),
        ("El segell electrònic ha caducat",
         "Els justificants de registre surten sense segell."),
    ),
    "transparency_portal": (
        ("Hem de publicar les actes al portal de transparència",
         "Tenim les actes dels tres últims plens per publicar. Ens ajudeu?"),
        ("No es veuen els documents del portal",
         "Els enllaços del pressupost al portal de transparència donen error."),
    ),
    "accounts": (
        ("He oblidat la contrasenya del correu",
         "No puc entrar al correu de Secretaria des de dilluns."),
        ("Cal donar d'alta una treballadora nova",
         "Dilluns comença una administrativa nova: necessita usuari, correu i accés a les carpetes."),
        ("El mòbil de l'alcalde no rep el correu",
         "Des que ha canviat de mòbil no li arriben els correus."),
        ("No puc entrar a la carpeta compartida",
         "Surt que no tinc permisos per obrir la carpeta d'Urbanisme."),
    ),
    "other": (
        ("Preparar el projector per al ple",
         "El ple és dijous a les 19 h i volem projectar la presentació del pressupost."),
        ("Consulta sobre les còpies de seguretat",
         "Voldríem saber si les còpies del servidor es fan cada dia."),
    ),
}
# What the entry says → what the council was asking about.
_CATEGORY_WORDS = (
    ("transparència", "transparency_portal"), ("certificat", "e_administration"), ("signatura", "e_administration"),
    ("notificació", "e_administration"), ("seu electrònica", "e_administration"), ("segell", "e_administration"),
    ("decret", "e_administration"), ("router", "network"), ("wi-fi", "network"), ("cablejat", "network"),
    ("contrasenya", "accounts"), ("usuari", "accounts"), ("correu", "accounts"), ("padró", "software"),
    ("antivirus", "software"), ("comptabilitat", "software"), ("programari", "software"),
    ("impressora", "hardware"), ("tòner", "hardware"), ("escàner", "hardware"), ("pc", "hardware"),
    ("disc", "hardware"), ("servidor", "hardware"), ("equips", "hardware"), ("projector", "other"),
)
FIRST_REPLIES = (
    "Bon dia, ho mirem de seguida.",
    "Hola, ja ho tenim. Ens connectem en remot d'aquí a una estona.",
    "Bon dia, ho revisem en la visita d'aquesta setmana.",
    "Hola, ho estem mirant. Us diem alguna cosa aviat.",
)
QUESTIONS = (
    "Ens podeu dir quin missatge surt exactament? Una captura de pantalla ens aniria molt bé.",
    "Ens confirmeu a quin ordinador passa? Té l'etiqueta a la part del darrere.",
    "Quan us aniria bé que ens connectem? Necessitem que l'ordinador estigui encès.",
)
ANSWERS = (
    "Surt «Error 0x80070005: accés denegat».",
    "És l'ordinador de l'entrada, el que té l'etiqueta acabada en 003.",
    "Demà a partir de les 9 ens va bé.",
)
INTERNAL_NOTES = (
    "Cal demanar pressupost d'un tòner nou al proveïdor.",
    "El certificat s'ha de renovar presencialment: cal cita a l'oficina de registre.",
    "El router té el firmware antic; revisar-ho a la propera visita.",
    "La secretària prefereix que truquem abans de connectar-nos.",
    "Mateix problema que el mes passat: mirar si cal canviar el disc.",
)
CONFIRMATIONS = ("Ara ja funciona, moltes gràcies!", "Perfecte, gràcies per la rapidesa.",
                 "Tot correcte. Gràcies!")
RATING_COMMENTS = {5: ("Molt ràpids, gràcies!", "Perfecte, com sempre.", ""),
                   4: ("Bé, tot i que ha trigat una mica.", ""),
                   3: ("Resolt, però vam estar dos dies sense poder treballar.",),
                   2: ("Ha trigat massa.",), 1: ("Ningú ens va dir res en tot el dia.",)}
# Which of the council's equipment a request is about, from the words of its title: the asset
# page then lists the tickets of its machine, as it would in a real inventory.
_ASSET_WORDS = (
    (("impressora", "multifunció", "escàner", "còpies"), ("printer",)),
    (("ordinador", "pantalla", "windows", "antivirus"), ("desktop", "laptop")),
    (("internet", "wi-fi", "connexió", "router"), ("network",)),
    (("certificat", "segell", "signar"), ("certificate",)),
    (("còpies de seguretat", "servidor"), ("server",)),
)
CHANNELS = (("web", 62), ("phone", 20), ("email", 12), ("whatsapp", 4), ("chat", 2))
PRIORITIES = (("low", 15), ("normal", 55), ("high", 22), ("urgent", 8))
TICKET_SHARE = 0.85  # of the entries that answer a ticket
QUICK_SHARE = 0.12  # more tickets solved in a reply, without time logged


def _weighted(rng, pairs):
    return rng.choices([v for v, _w in pairs], weights=[w for _v, w in pairs])[0]


def _asset_for(title: str, council_id: int, assets: dict, rng) -> int | None:
    """An asset of the council the title speaks of (most of the time: people do not always say)."""
    text = title.lower()
    for words, kinds in _ASSET_WORDS:
        if any(word in text for word in words):
            candidates = [a for kind in kinds for a in assets.get((council_id, kind), ())]
            if candidates and rng.random() < 0.8:
                return rng.choice(candidates)
            return None
    return None


def _category(description: str, rng) -> str:
    text = description.lower()
    for word, category in _CATEGORY_WORDS:
        if word in text:
            return category
    return rng.choice(tuple(TICKET_TEXTS))


class _Clock:
    """Office instants for the demo: a local date and minute of the working day → UTC."""

    def __init__(self, calendar, tz):
        self.calendar = calendar
        self.tz = tz

    def at(self, day: dt.date, minute: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), self.tz).astimezone(dt.UTC)

    def later(self, start: dt.datetime, minutes: int) -> dt.datetime:
        return self.calendar.add_business_minutes(start, minutes)


def seed_tickets(ctx: DemoContext) -> None:
    with unrestricted():
        if db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.channel != "monitoring")):
            return
        rng = random.Random(f"councildesk-demo-tickets-{ctx.today.isoformat()}")
        tz = ZoneInfo(current_app.config["OFFICE_TIMEZONE"])
        clock = _Clock(office_calendar(), tz)
        real_now = utcnow()
        now = real_now if real_now.astimezone(tz).date() == ctx.today else clock.at(ctx.today, 12 * 60)
        clerks = {c.id: get_user_by_email(f"secretaria.{c.slug}@demo.councildesk.org") for c in ctx.councils}
        councils = {c.id: c for c in ctx.councils}
        entries = db.session.scalars(select(TimeEntry).where(TimeEntry.corrects_entry_id.is_(None))
                                     .order_by(TimeEntry.date, TimeEntry.id)).all()
        plans = []
        for entry in entries:
            if rng.random() < TICKET_SHARE:
                plans.append(_plan(rng, clock, entry.council_id, entry.date, entry.description, entry))
            if rng.random() < QUICK_SHARE:
                plans.append(_plan(rng, clock, entry.council_id, entry.date, "", None))
        plans = [p for p in plans if p["created_at"] < now] + _open_plans(rng, clock, ctx.councils, now)
        plans.sort(key=lambda p: (p["created_at"], p["council_id"]))

        assets: dict[tuple[int, str], list[int]] = {}
        for asset_id, council_id, kind in db.session.execute(
                select(Asset.id, Asset.council_id, Asset.kind).where(Asset.status == "in_use").order_by(Asset.id)):
            assets.setdefault((council_id, kind), []).append(asset_id)
        ids, counters, late = _write_tickets(plans, councils, clerks, clock, now, rng, assets)
        for (council_id, year), last in sorted(counters.items()):
            db.session.add(TicketCounter(council_id=council_id, year=year, last=last))
        db.session.flush()
        search.rebuild(ids)
        db.session.commit()
    ctx.notes.append(f"Tickets: {len(ids)} over {MONTHS} months ({late} with a late reply or solution), "
                     f"{sum(1 for p in plans if p['entry'] is not None)} time entries linked to them.")


def _plan(rng, clock: _Clock, council_id: int, day: dt.date, description: str, entry) -> dict:
    """When and how a ticket went: opened, answered, maybe asked the council, solved, closed."""
    category = _category(description, rng) if description else rng.choice(tuple(TICKET_TEXTS))
    priority = _weighted(rng, PRIORITIES)
    onsite = entry is not None and entry.mode == "onsite"
    # Opened that morning, or (a visit) one to three office days before.
    opened_day = day
    if onsite:
        # Urgent work is visited the same day; the rest waits for the technician's round.
        before = {"urgent": 0, "high": rng.randint(0, 1)}.get(priority, rng.randint(1, 3))
        for _i in range(before):
            opened_day -= dt.timedelta(days=1)
            while not is_business_day(clock.calendar, opened_day):
                opened_day -= dt.timedelta(days=1)
    minute = rng.randint(8 * 60, 13 * 60 + 30)
    if rng.random() < 0.08:
        minute = rng.randint(16 * 60, 21 * 60)  # a mail written after hours
    created = clock.at(opened_day, minute)
    # Mostly within the first-response targets (30 / 120 / 240 / 420 office minutes); a few not.
    reply_after = {"urgent": (3, 33), "high": (10, 130), "normal": (15, 258), "low": (30, 440)}[priority]
    first_reply = clock.later(created, rng.randint(*reply_after))
    work_done = clock.at(day, min(14 * 60 + 45, max(minute + 30, rng.randint(9 * 60, 14 * 60))))
    if entry is not None and work_done < first_reply:
        work_done = clock.later(first_reply, entry.minutes)
    elif entry is None:
        work_done = clock.later(first_reply, rng.randint(10, 90))
    ask = rng.random() < 0.15
    return {"council_id": council_id, "category": category, "priority": priority, "created_at": created,
            "first_reply": first_reply, "ask": ask, "resolved": max(work_done, first_reply + dt.timedelta(minutes=5)),
            "entry": entry, "channel": _weighted(rng, CHANNELS), "text": rng.choice(TICKET_TEXTS[category])}


def _open_plans(rng, clock: _Clock, councils: list, now: dt.datetime) -> list[dict]:
    """This week's requests still being worked: new ones nobody took yet, some in progress,
    some waiting for the council, a couple already late."""
    plans = []
    today = now.astimezone(clock.tz).date()
    for council in councils:
        for _i in range(rng.choice((0, 0, 1, 1, 2))):
            day = today
            for _j in range(rng.randint(0, 3)):
                day -= dt.timedelta(days=1)
                while not is_business_day(clock.calendar, day):
                    day -= dt.timedelta(days=1)
            created = clock.at(day, rng.randint(8 * 60, 14 * 60 + 30))
            if created >= now:
                created = now - dt.timedelta(minutes=rng.randint(20, 90))
            category = rng.choice(tuple(TICKET_TEXTS))
            priority = _weighted(rng, PRIORITIES)
            state = rng.choice(("new", "assigned", "in_progress", "in_progress", "waiting"))
            first_reply = clock.later(created, rng.randint(10, 200)) if state in ("in_progress", "waiting") else None
            plans.append({"council_id": council.id, "category": category, "priority": priority,
                          "created_at": created, "first_reply": first_reply or FAR, "ask": state == "waiting",
                          "resolved": FAR, "entry": None, "channel": _weighted(rng, CHANNELS),
                          "text": rng.choice(TICKET_TEXTS[category]), "unassigned": state == "new",
                          "unanswered": state == "waiting"})
    return plans


FAR = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def _write_tickets(plans, councils, clerks, clock: _Clock, now: dt.datetime, rng, assets: dict):
    """Every ticket's life as rows, then a handful of bulk INSERTs (not one ORM flush per row:
    the demo runs in the test suite, twice)."""
    technicians = {u.id: u for u in db.session.scalars(select(User).where(User.role == "technician"))}
    staff_ids = sorted(technicians)
    reopen = dt.timedelta(days=15)
    counters: dict[tuple[int, int], int] = {}
    rows, changes, comments, ratings, breaches, links = [], [], [], [], [], []
    for index, plan in enumerate(plans):
        council = councils[plan["council_id"]]
        clerk = clerks.get(council.id)
        entry = plan["entry"]
        tech = entry.technician if entry is not None else technicians[staff_ids[(council.id + index) % len(staff_ids)]]
        created, first_reply, resolved = plan["created_at"], plan["first_reply"], plan["resolved"]
        year = office_year(created)
        number = counters[(council.id, year)] = counters.get((council.id, year), 0) + 1
        title, description = plan["text"]
        t = SimpleNamespace(
            council_id=council.id, reference=f"{council.code}-{year}-{number:04d}", year=year, number=number,
            title=title, description=description, status="new", priority=plan["priority"],
            category=plan["category"], channel=plan["channel"], requester_id=clerk.id if clerk else None,
            assignee_id=None, created_by_id=clerk.id if clerk else tech.id,
            asset_id=_asset_for(title, council.id, assets, rng), related_ticket_id=None,
            monitoring_key=None, open_monitoring_key=None, created_at=created, updated_at=created,
            first_response_at=None, resolved_at=None, closed_at=None)
        events = []

        def change(at, field, old, new, actor, index=index, council=council):
            changes.append({"ticket": index, "council_id": council.id, "at": at, "field": field, "old_value": old,
                            "new_value": new, "actor_id": actor.id if actor else None})

        def comment(at, author, body, internal=False, index=index, council=council):
            comments.append({"ticket": index, "council_id": council.id, "author_id": author.id, "body": body,
                             "internal": internal, "created_at": at})

        def move(at, status, actor, t=t, events=events, change=change):
            change(at, "status", t.status, status, actor)
            events.append((at, status))
            t.status = status
            t.updated_at = at

        change(created, "status", None, "new", clerk)
        events.append((created, "new"))
        assigned_at = min(first_reply, created + dt.timedelta(minutes=rng.randint(2, 30)))
        if assigned_at <= now and not plan.get("unassigned"):
            change(assigned_at, "assignee", None, str(tech.id), tech)
            t.assignee_id = tech.id
            move(assigned_at, "assigned", tech)
        if first_reply <= now:
            comment(first_reply, tech, rng.choice(FIRST_REPLIES))
            t.first_response_at = first_reply
            move(first_reply, "in_progress", tech)
            if rng.random() < 0.25:
                comment(first_reply + dt.timedelta(minutes=3), tech, rng.choice(INTERNAL_NOTES), internal=True)
        if plan["ask"] and t.status == "in_progress":
            asked = min(now - dt.timedelta(minutes=1), first_reply + dt.timedelta(minutes=rng.randint(5, 60)))
            i = rng.randrange(len(QUESTIONS))
            comment(asked, tech, QUESTIONS[i])
            move(asked, "waiting_council", tech)
            answered = clock.later(asked, rng.randint(30, 600))
            if answered <= now and clerk is not None and not plan.get("unanswered"):
                comment(answered, clerk, ANSWERS[i])
                move(answered, "in_progress", clerk)
                resolved = max(resolved, clock.later(answered, 20))
        if t.status == "in_progress" and resolved <= now:
            done = entry.description if entry is not None else "Resolt en remot."
            comment(resolved, tech, f"Fet: {done}. Ens confirmeu que ja funciona?")
            move(resolved, "resolved", tech)
            t.resolved_at = resolved
            confirm = resolved + dt.timedelta(hours=rng.randint(1, 72))
            if clerk is not None and rng.random() < 0.55 and confirm <= now:
                comment(confirm - dt.timedelta(minutes=1), clerk, rng.choice(CONFIRMATIONS))
                move(confirm, "closed", clerk)
                t.closed_at = confirm
            elif resolved + reopen <= now:
                move(resolved + reopen, "closed", None)
                t.closed_at = resolved + reopen
            if clerk is not None and rng.random() < 0.6:
                score = _weighted(rng, ((5, 58), (4, 27), (3, 9), (2, 4), (1, 2)))
                ratings.append({"ticket": index, "council_id": council.id, "score": score,
                                "comment": rng.choice(RATING_COMMENTS[score]), "rated_by_id": clerk.id,
                                "created_at": min(now, resolved + dt.timedelta(hours=rng.randint(1, 48)))})
        for kind in apply_sla(t, events, now):
            due = t.first_response_due_at if kind == "first_response" else t.resolution_due_at
            breaches.append({"ticket": index, "council_id": council.id, "kind": kind, "due_at": due,
                             "detected_at": min(now, (due or now) + dt.timedelta(minutes=1))})
        if entry is not None:
            links.append((entry.id, index))
        rows.append(vars(t))

    ids = db.session.execute(insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True), rows).scalars().all()
    for model, children in ((TicketChange, changes), (TicketComment, comments), (TicketRating, ratings),
                            (TicketSlaBreach, breaches)):
        for child in children:
            child["ticket_id"] = ids[child.pop("ticket")]
        for start in range(0, len(children), 5000):
            db.session.execute(insert(model.__table__), children[start:start + 5000])
    # Paused and finished tickets sort by a stand-in made of their id, known only now.
    stand_ins = [{"tid": ids[index], "q": queue_stand_in(row["sla_state"], ids[index])}
                 for index, row in enumerate(rows) if row["sla_state"] in ("paused", "stopped")]
    if stand_ins:
        table = Ticket.__table__
        db.session.execute(update(table).where(table.c.id == bindparam("tid")).values(queue_at=bindparam("q")),
                           stand_ins)
    if links:
        db.session.execute(update(TimeEntry.__table__).where(TimeEntry.__table__.c.id == bindparam("entry"))
                           .values(ticket_id=bindparam("ticket")),
                           [{"entry": entry_id, "ticket": ids[index]} for entry_id, index in links])
    late = sum(1 for r in rows if r["first_response_breached"] or r["resolution_breached"])
    return ids, counters, late

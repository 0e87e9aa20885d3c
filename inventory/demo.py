"""Demo inventories for the Bages councils, scaled with population.

A village of 200 people has a couple of PCs in the town hall, a printer, the fibre router and
the signature certificates of its mayor and its secretary; a town of 3,000 adds a server, a
backup NAS, a switch, laptops, a domain and licences. Certificate expiry dates are spread so
that the expiring page and the reminders have something to show from day one. Everything is
drawn from `ctx.rng`, so the same seed gives the same inventory.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from accounts.services import get_user_by_email
from agreements.models import Council
from core.demo import DemoContext
from extensions import db
from inventory import services
from inventory.models import Asset

FIRST_NAMES = ("Maria", "Joan", "Montserrat", "Jordi", "Núria", "Josep", "Anna", "Pere", "Marta", "Ramon",
               "Laia", "Xavier", "Rosa", "Francesc", "Carme", "Miquel", "Mercè", "Lluís")
SURNAMES = ("Puig", "Vila", "Soler", "Casals", "Serra", "Pujol", "Font", "Riera", "Camps", "Roca", "Sala",
            "Vidal", "Prat", "Bosch", "Torra", "Mas", "Closa", "Espinalt")
ROOMS = ("Secretaria", "Alcaldia", "Registre", "Intervenció", "Serveis tècnics", "Recepció", "Biblioteca",
         "Jutjat de pau", "Serveis socials", "Brigada", "Arxiu", "Sala de plens", "Casal d'avis", "Escola bressol")
DESKTOPS = (("HP", "ProDesk 400 G7"), ("Lenovo", "ThinkCentre M70q Gen 3"), ("Dell", "OptiPlex 3000"),
            ("HP", "EliteDesk 800 G6"))
LAPTOPS = (("Lenovo", "ThinkPad E14 Gen 4"), ("HP", "ProBook 450 G9"), ("Dell", "Latitude 5440"))
PRINTERS = (("Ricoh", "IM C3000"), ("Kyocera", "ECOSYS M3145dn"), ("HP", "LaserJet Pro M404dn"),
            ("Brother", "MFC-L8690CDW"))
REGISTRARS = ("Arsys", "DonDominio", "CDmon")
TECHNICIAN = "tecnic@demo.councildesk.org"


def _of(name: str) -> str:
    """Catalan "of" before a place name: d'Avinyó, del Pont de Vilomara, de Mura."""
    if name.startswith("El "):
        return "del " + name[3:]
    if name[0].lower() in "aeiouàèéíòóúh":
        return "d'" + name
    return "de " + name


def _person(ctx: DemoContext) -> str:
    return f"{ctx.rng.choice(FIRST_NAMES)} {ctx.rng.choice(SURNAMES)} i {ctx.rng.choice(SURNAMES)}"


def _serial(ctx: DemoContext, prefix: str, length: int = 8) -> str:
    return prefix + "".join(ctx.rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(length))


def _days(ctx: DemoContext, lo: int, hi: int) -> dt.timedelta:
    return dt.timedelta(days=ctx.rng.randint(lo, hi))


def _certificate_expiry(ctx: DemoContext) -> dt.date:
    # Mostly comfortable, some due within the reminder windows, a few already expired: the
    # mix an office really has when it starts keeping track.
    band = ctx.rng.choices(("expired", "soon", "later", "far"), weights=(1, 3, 4, 6))[0]
    lo, hi = {"expired": (-40, -1), "soon": (0, 60), "later": (61, 365), "far": (366, 1400)}[band]
    return ctx.today + _days(ctx, lo, hi)


def _hardware(ctx: DemoContext, kind: str, name: str, room: str, make: tuple[str, str],
              os: str = "", host: str = "", ip: str = "", warranty_years: int = 3,
              age: tuple[int, int] = (60, 2600)) -> dict:
    purchased = ctx.today - _days(ctx, *age)
    return {"kind": kind, "name": name, "manufacturer": make[0], "model": make[1],
            "serial": _serial(ctx, make[0][:2].upper()), "os": os, "hostname": host, "ip_address": ip,
            "location": room, "purchased_on": purchased,
            "warranty_until": purchased + dt.timedelta(days=365 * warranty_years) if warranty_years else None}


def plan_for(ctx: DemoContext, council: Council, index: int) -> list[dict]:
    """The assets of one council, as values for services.create_asset."""
    pop = council.population
    net = f"192.168.{10 + index}"
    code = council.code
    rooms = list(ROOMS)
    assets: list[dict] = []

    desktops = max(2, min(14, round(pop / 250)))
    for n in range(1, desktops + 1):
        room = rooms[(n - 1) % len(rooms)]
        item = _hardware(ctx, "desktop", f"PC {room}", room, ctx.rng.choice(DESKTOPS),
                         os=ctx.rng.choice(("Windows 11 Pro", "Windows 11 Pro", "Windows 10 Pro")),
                         host=f"{code}-PC{n:02d}", ip=f"{net}.{20 + n}")
        item["assigned_to"] = _person(ctx) if room in ("Secretaria", "Alcaldia", "Registre", "Intervenció") else ""
        assets.append(item)
    for n in range(1, (pop >= 400) + (pop >= 2500) + 1):
        assets.append(_hardware(ctx, "laptop", "Portàtil " + ("alcaldia" if n == 1 else "serveis tècnics"),
                                "Alcaldia" if n == 1 else "Serveis tècnics", ctx.rng.choice(LAPTOPS),
                                os="Windows 11 Pro", host=f"{code}-LAP{n:02d}", age=(30, 1500)))
    if pop >= 1500:
        assets.append(_hardware(ctx, "server", "Servidor de fitxers i domini", "Arxiu",
                                ("HPE", "ProLiant MicroServer Gen10 Plus"), os="Windows Server 2022",
                                host=f"{code}-SRV01", ip=f"{net}.5", warranty_years=5, age=(200, 1800)))
    if pop >= 2500:
        assets.append(_hardware(ctx, "server", "NAS de còpies de seguretat", "Arxiu",
                                ("Synology", "DS920+"), os="DSM 7.2", host=f"{code}-NAS01", ip=f"{net}.6",
                                warranty_years=3, age=(100, 1400)))
    for n in range(1, 2 + pop // 1500):
        room = "Secretaria" if n == 1 else rooms[(n + 3) % len(rooms)]
        assets.append(_hardware(ctx, "printer", f"Impressora multifunció {room}", room,
                                ctx.rng.choice(PRINTERS), ip=f"{net}.{200 + n}", warranty_years=2))
    assets.append(_hardware(ctx, "network", "Router de fibra", "Arxiu",
                            ctx.rng.choice((("ZTE", "F6640"), ("Huawei", "HG8245Q2"))), ip=f"{net}.1",
                            warranty_years=0))
    if pop >= 1000:
        assets.append(_hardware(ctx, "network", "Commutador de xarxa", "Arxiu", ("TP-Link", "TL-SG1024DE"),
                                ip=f"{net}.2", warranty_years=0))
    if pop >= 2000:
        assets.append(_hardware(ctx, "network", "Punt d'accés wifi biblioteca", "Biblioteca",
                                ("Ubiquiti", "UniFi U6 Lite"), ip=f"{net}.3", warranty_years=2))
    if pop >= 1500:
        assets.append(_hardware(ctx, "mobile", "Mòbil de l'alcaldia", "Alcaldia",
                                ("Samsung", "Galaxy A54"), os="Android 14", warranty_years=2, age=(30, 900)))

    mayor = _person(ctx)
    secretary = _person(ctx)
    assets.append({"kind": "certificate", "name": "T-CAT de l'alcaldia", "holder": f"{mayor} (alcaldia)",
                   "issuer": "Consorci AOC", "media": "card", "serial": _serial(ctx, "", 16),
                   "expires_on": _certificate_expiry(ctx), "location": "Alcaldia", "assigned_to": mayor})
    assets.append({"kind": "certificate", "name": "T-CAT de secretaria-intervenció",
                   "holder": f"{secretary} (secretaria-intervenció)", "issuer": "Consorci AOC", "media": "card",
                   "serial": _serial(ctx, "", 16), "expires_on": _certificate_expiry(ctx),
                   "location": "Secretaria", "assigned_to": secretary})
    if pop >= 1000:
        assets.append({"kind": "certificate", "name": "Segell electrònic d'òrgan",
                       "holder": f"Ajuntament {_of(council.name)}", "issuer": "Consorci AOC", "media": "software",
                       "serial": _serial(ctx, "", 16), "expires_on": _certificate_expiry(ctx),
                       "location": "Servidor de fitxers", "assigned_to": secretary})
        assets.append({"kind": "domain", "name": f"{council.slug.replace('-', '')}.cat",
                       "holder": f"Ajuntament {_of(council.name)}", "issuer": ctx.rng.choice(REGISTRARS),
                       "expires_on": ctx.today + _days(ctx, 5, 360)})
    if pop >= 300:
        assets.append({"kind": "license", "name": "Antivirus dels equips", "manufacturer": "ESET",
                       "model": "PROTECT Entry", "seats": desktops + (pop >= 400) + (pop >= 2500),
                       "serial": _serial(ctx, "EAV-", 10), "purchased_on": ctx.today - _days(ctx, 30, 330),
                       "expires_on": ctx.today + _days(ctx, 3, 365)})
    if pop >= 1500:
        assets.append({"kind": "license", "name": "Ofimàtica i correu", "manufacturer": "Microsoft",
                       "model": "Microsoft 365 Empresa Bàsic", "seats": desktops // 2 + 2,
                       "expires_on": ctx.today + _days(ctx, 20, 365)})
    return assets


def seed(ctx: DemoContext) -> None:
    actor = get_user_by_email(TECHNICIAN)
    total = 0
    for index, council in enumerate(ctx.councils):
        if db.session.scalar(select(func.count()).select_from(Asset).where(Asset.council_id == council.id)):
            continue  # already seeded
        created = [services.create_asset(council, values, actor=actor, commit=False)
                   for values in plan_for(ctx, council, index)]
        db.session.commit()
        total += len(created)
        # A little history: the oldest PC retired, another one at the repair shop.
        desktops = sorted((a for a in created if a.kind == "desktop"), key=lambda a: a.purchased_on)
        if len(desktops) >= 6:
            services.set_status(desktops[0], "retired", actor=actor)
            services.update_asset(desktops[1], {"status": "repair", "notes": "Font d'alimentació avariada; "
                                                "enviat al servei tècnic del fabricant."}, actor=actor)
    if total:
        ctx.notes.append(f"Inventory: {total} assets in {len(ctx.councils)} councils.")

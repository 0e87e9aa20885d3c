"""Demo users: one of each role, plus a clerk for every demo council."""

from __future__ import annotations

from accounts import services
from agreements.models import Council

DEMO_PASSWORD = "councildesk-demo"  # noqa: S105  (the published demo password)
DOMAIN = "demo.councildesk.org"

STAFF = (
    ("admin", "admin", "Anna Puig (admin)"),
    ("manager", "manager", "Marc Soler (cap de servei)"),
    ("technician", "tecnic", "Jordi Vila (tècnic)"),
    ("technician", "tecnica", "Laia Ferrer (tècnica)"),
    ("technician", "tecnic2", "Pau Roca (tècnic)"),
)


def seed(councils: list[Council]) -> list[tuple[str, str, str]]:
    """Returns (role, email, council) for the logins worth printing."""
    logins = []
    for role, local, name in STAFF:
        email = f"{local}@{DOMAIN}"
        if services.get_user_by_email(email) is None:
            services.create_user(email=email, name=name, role=role, password=DEMO_PASSWORD, actor=None,
                                 published_password=True)
        logins.append((role, email, ""))
    for council in councils:
        email = f"secretaria.{council.slug}@{DOMAIN}"
        if services.get_user_by_email(email) is None:
            services.create_user(email=email, name=f"Secretaria {council.name}", role="clerk",
                                 council_id=council.id, password=DEMO_PASSWORD, actor=None,
                                 published_password=True)
        logins.append(("clerk", email, council.name))
    return logins

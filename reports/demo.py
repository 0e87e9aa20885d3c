"""Demo reports: three councils publish their transparency page, and last month is archived
as the monthly delivery would have done it (without mailing: demo addresses are not real)."""

from __future__ import annotations

from agreements.months import add_months, month_start
from core.demo import DemoContext
from core.scope import unrestricted
from reports import archive, publishing

PUBLISHED = ("mura", "avinyo", "castellgali")


def seed(ctx: DemoContext) -> None:
    by_slug = {c.slug: c for c in ctx.councils}
    with unrestricted():
        for slug in PUBLISHED:
            council = by_slug.get(slug)
            if council is not None and publishing.publication_of(council.id) is None:
                publishing.set_publication(council, True, actor=None)
        last_month = add_months(month_start(ctx.today), -1)
        # The office's report and one council's, enough to show the archive (each PDF draws its
        # charts, which is the slow part of a demo load).
        archive.office_month(last_month, language="ca", fmt="pdf")
        archive.office_month(last_month, language="ca", fmt="xlsx")
        if "mura" in by_slug:
            archive.council_month(by_slug["mura"], last_month)
    ctx.notes.append("Transparency pages: " + ", ".join(f"/public/{s}" for s in PUBLISHED if s in by_slug))

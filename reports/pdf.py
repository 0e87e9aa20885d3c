"""Monthly reports as PDF (ReportLab), per council and for the office, charts embedded.

A council's report is written in the council's language (`Council.language`), the office's
in the reader's (or, for the monthly delivery, each manager's). Everything in it comes from
the report services, under the caller's council scope, so a clerk's PDF can only ever hold
their own council. Text from the database goes into ReportLab's paragraph markup escaped:
a council named "<b>" stays a name.

The font is DejaVu Sans, shipped with matplotlib (so the charts and the text match): the PDF
standard fonts only know Latin-1, and a report must print "l·l", "ç" and "ñ" as well as any
name a council may have.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import threading
from pathlib import Path
from xml.sax.saxutils import escape

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from agreements.models import Agreement, Council
from agreements.months import month_start
from core.db import utcnow
from core.durations import format_duration
from core.numbers import format_share
from extensions import db
from reports import charts, consumption, figures, quality, texts

FONT = "CouncilDeskSans"
FONT_BOLD = "CouncilDeskSans-Bold"
_font_lock = threading.Lock()
_fonts_ready = False

INK = "#212529"
MUTED = "#6c757d"
HEAD_BG = "#1f3a5f"
ROW_ALT = "#f1f3f5"
OVER = "#b02a37"


def _register_fonts() -> None:
    global _fonts_ready
    with _font_lock:
        if _fonts_ready:
            return
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        spec = importlib.util.find_spec("matplotlib")
        folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "DejaVuSans-Bold.ttf")))
        addMapping(FONT, 0, 0, FONT)
        addMapping(FONT, 1, 0, FONT_BOLD)
        addMapping(FONT, 0, 1, FONT)
        addMapping(FONT, 1, 1, FONT_BOLD)
        _fonts_ready = True


class _Doc:
    """The pieces every report uses: styles, number formats in one language, tables."""

    def __init__(self, language: str):
        from reportlab.lib import colors
        from reportlab.lib.styles import ParagraphStyle

        _register_fonts()
        self.language = language
        self.colors = colors
        self.styles = {
            "title": ParagraphStyle("title", fontName=FONT_BOLD, fontSize=17, leading=21, textColor=INK,
                                    spaceAfter=2),
            "subtitle": ParagraphStyle("subtitle", fontName=FONT, fontSize=10.5, leading=14, textColor=MUTED,
                                       spaceAfter=8),
            "h2": ParagraphStyle("h2", fontName=FONT_BOLD, fontSize=12.5, leading=16, textColor=HEAD_BG,
                                 spaceBefore=10, spaceAfter=5),
            "body": ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12.5, textColor=INK),
            "small": ParagraphStyle("small", fontName=FONT, fontSize=7.5, leading=10, textColor=MUTED),
            "cell": ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10, textColor=INK),
            "cellb": ParagraphStyle("cellb", fontName=FONT_BOLD, fontSize=8, leading=10, textColor=INK),
            "head": ParagraphStyle("head", fontName=FONT_BOLD, fontSize=7.5, leading=9.5,
                                   textColor=colors.white),
        }

    # formats
    def duration(self, minutes) -> str:
        return "—" if minutes is None else format_duration(int(round(minutes)), self.language)

    def percent(self, ratio) -> str:
        return "—" if ratio is None else format_share(ratio, self.language)

    def number(self, value, fmt: str | None = None) -> str:
        return "—" if value is None else format_decimal(value, fmt, locale=self.language)

    def month(self, month: dt.date) -> str:
        return format_date(month, "LLLL yyyy", locale=self.language)

    def date(self, day: dt.date) -> str:
        return format_date(day, "medium", locale=self.language)

    # flowables
    def p(self, text: str, style: str = "body", *, markup: bool = False):
        from reportlab.platypus import Paragraph

        return Paragraph(text if markup else escape(str(text)), self.styles[style])

    def table(self, header: list[str], rows: list[list], widths: list[float], *, total: bool = False,
              align_right_from: int = 1, highlight: set[tuple[int, int]] | None = None):
        from reportlab.platypus import Table, TableStyle

        data = [[self.p(h, "head") for h in header]]
        for r, row in enumerate(rows):
            bold = total and r == len(rows) - 1
            data.append([cell if not isinstance(cell, str) else self.p(cell, "cellb" if bold else "cell")
                         for cell in row])
        table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
        style = [
            ("BACKGROUND", (0, 0), (-1, 0), self.colors.HexColor(HEAD_BG)),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, self.colors.HexColor("#dee2e6")),
        ]
        for r in range(1, len(data)):
            if r % 2 == 0:
                style.append(("BACKGROUND", (0, r), (-1, r), self.colors.HexColor(ROW_ALT)))
        if total:
            style.append(("LINEABOVE", (0, len(data) - 1), (-1, len(data) - 1), 0.8, self.colors.HexColor(INK)))
        table.setStyle(TableStyle(style))
        # Numbers right-aligned: paragraphs carry their own alignment.
        for r in range(len(data)):
            for c in range(align_right_from, len(data[r])):
                cell = data[r][c]
                if hasattr(cell, "style"):
                    cell.style = cell.style.clone(cell.style.name + "-r", alignment=2)
                    if highlight and (r - 1, c) in highlight:
                        cell.style = cell.style.clone(cell.style.name + "-o", textColor=self.colors.HexColor(OVER))
        return table

    def chart(self, spec: dict, width_mm: float = 178):
        from reportlab.lib.units import mm
        from reportlab.lib.utils import ImageReader
        from reportlab.platypus import Image

        data, _key = charts.render(spec, "png", dpi=150)
        w, h = ImageReader(io.BytesIO(data)).getSize()
        width = width_mm * mm
        return Image(io.BytesIO(data), width=width, height=width * h / w)

    def build(self, story: list, title: str, footer: str) -> bytes:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm
        from reportlab.platypus import SimpleDocTemplate

        buffer = io.BytesIO()
        page_label = _("Page %(page)s")

        def decorate(canvas, doc):
            canvas.saveState()
            canvas.setFont(FONT, 7.5)
            canvas.setFillColor(self.colors.HexColor(MUTED))
            canvas.drawString(16 * mm, 10 * mm, footer)
            canvas.drawRightString(A4[0] - 16 * mm, 10 * mm, page_label % {"page": doc.page})
            canvas.setStrokeColor(self.colors.HexColor(HEAD_BG))
            canvas.setLineWidth(2)
            canvas.line(16 * mm, A4[1] - 12 * mm, A4[0] - 16 * mm, A4[1] - 12 * mm)
            canvas.restoreState()

        doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=17 * mm,
                                bottomMargin=17 * mm, title=title, author=current_app.config["OFFICE_NAME"],
                                creator="CouncilDesk", lang=self.language, invariant=1)
        doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
        return buffer.getvalue()


def _closing(doc: _Doc) -> list:
    """The end of every monthly document: what the figures mean, and when it was generated."""
    from zoneinfo import ZoneInfo

    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    now = utcnow().astimezone(ZoneInfo(current_app.config["OFFICE_TIMEZONE"]))
    generated = _("Generated on %(when)s by CouncilDesk.", when=format_datetime(now, "medium", locale=doc.language))
    return [Spacer(1, 4 * mm), *(doc.p(str(line), "small") for line in texts.definitions()), Spacer(1, 2 * mm),
            doc.p(generated, "small")]


def _service_block(doc: _Doc, stats: quality.ServiceStats) -> list:
    from reportlab.lib.units import mm

    def share(met, measured, ratio):
        if not measured:
            return "—"
        return _("%(met)s of %(measured)s (%(percent)s)", met=met, measured=measured, percent=doc.percent(ratio))

    ratings = stats.ratings_count
    satisfaction = "—" if not ratings else _("%(average)s out of 5 (%(count)s ratings)",
                                               average=doc.number(round(stats.satisfaction, 1), "0.0"),
                                               count=ratings)
    distribution = "—" if not ratings else " · ".join(
        f"{score}★ {stats.ratings.get(score, 0)}" for score in (5, 4, 3, 2, 1))
    rows = [
        [_("Tickets opened"), doc.number(stats.opened)],
        [_("Tickets resolved"), doc.number(stats.resolved)],
        [_("First response within the SLA"), share(stats.first_response_met, stats.first_response_measured,
                                                  stats.first_response_ratio)],
        [_("Resolved within the SLA"), share(stats.resolution_met, stats.resolution_measured, stats.resolution_ratio)],
        [_("Median resolution time (office hours)"), doc.duration(stats.median_business_minutes)],
        [_("Median resolution time (calendar)"), doc.duration(stats.median_calendar_minutes)],
        [_("Satisfaction"), satisfaction],
        [_("Ratings by score"), distribution],
        [_("Availability (health checks)"), doc.percent(stats.availability) if stats.watched_minutes else "—"],
    ]
    return [doc.table([_("Service"), _("Figure")], rows, [75 * mm, 103 * mm], align_right_from=2)]


def _breakdown(doc: _Doc, stats: quality.ServiceStats) -> list:
    from reportlab.lib.units import mm

    out = []
    for title, labels, opened, resolved in (
            (_("Category"), texts.category_labels(), stats.by_category, stats.resolved_by_category),
            (_("Channel"), texts.channel_labels(), stats.by_channel, stats.resolved_by_channel)):
        keys = sorted(set(opened) | set(resolved), key=lambda k: (-opened.get(k, 0), -resolved.get(k, 0), k))
        rows = [[str(labels.get(k, k)), doc.number(opened.get(k, 0)), doc.number(resolved.get(k, 0))] for k in keys]
        if rows:
            out.append(doc.table([title, _("Opened"), _("Resolved")], rows, [98 * mm, 40 * mm, 40 * mm]))
    return out


def _usage_month_table(doc: _Doc, usage) -> list:
    from reportlab.lib.units import mm

    rows = []
    keys = (("base_minutes", _("Monthly hours (agreement)")), ("carried_minutes", _("Carried over")),
            ("allowance_minutes", _("Allowance")), ("used_minutes", _("Used")),
            ("remaining_minutes", _("Remaining")), ("excess_minutes", _("Excess")))
    highlight = set()
    for r, (key, label) in enumerate(keys):
        rows.append([label, doc.duration(getattr(usage.onsite, key)), doc.duration(getattr(usage.remote, key))])
        if key == "excess_minutes":
            for c, mode in ((1, "onsite"), (2, "remote")):
                if getattr(usage.mode(mode), key) > 0:
                    highlight.add((r, c))
    rows.append([_("Travel (recorded, not counted)"), doc.duration(usage.travel_minutes), ""])
    return [doc.table(["", _("On site"), _("Remote")], rows, [80 * mm, 49 * mm, 49 * mm], highlight=highlight)]


def council_month_pdf(council: Council, month: dt.date, language: str | None = None) -> bytes:
    """A council's monthly report: its hours, the year so far, the service, with charts."""
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Spacer

    month = month_start(month)
    language = language or council.language or current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(language):
        doc = _Doc(language)
        year_rows = {r.month: r for r in consumption.usage_report(month.year, council.id)[0] if r.month <= month}
        usage = year_rows.get(month)
        service = quality.merged(quality.service_by_council_month(month, month, council.id).values())
        agreement = db.session.scalar(select(Agreement).where(
            Agreement.council_id == council.id, Agreement.starts_on <= month, Agreement.ends_on >= month))
        title = _("Monthly service report")
        story = [
            doc.p(current_app.config["OFFICE_NAME"], "small"),
            doc.p(f"{title} · {doc.month(month)}", "title"),
            doc.p(" · ".join(x for x in (council.name, council.comarca,
                                         _("%(n)s inhabitants", n=doc.number(council.population))) if x),
                  "subtitle"),
        ]
        if agreement is not None:
            ref = f"{agreement.document_ref} · " if agreement.document_ref else ""
            story.append(doc.p(_("Agreement %(ref)s%(start)s – %(end)s", ref=ref, start=doc.date(agreement.starts_on),
                                 end=doc.date(agreement.ends_on)), "body"))
        if usage is not None:
            story.append(doc.p(_("The month is closed: these figures are final.") if usage.closed else
                               _("The month is still open: entries may still be added or corrected."), "small"))
        story.append(doc.p(_("Hours in %(month)s", month=doc.month(month)), "h2"))
        if usage is None:
            story.append(doc.p(_("No agreement covers this month."), "body"))
        else:
            story += _usage_month_table(doc, usage)
        story.append(Spacer(1, 4 * mm))
        story.append(doc.chart(figures.council_usage(council, month.year, until=month)))
        # The year so far, month by month.
        rows = []
        total = consumption.Totals()
        highlight = set()
        for m in sorted(year_rows):
            r = year_rows[m]
            total.add(r)
            excess = r.onsite.excess_minutes + r.remote.excess_minutes
            if excess:
                highlight.add((len(rows), 3))
            rows.append([doc.month(m).capitalize(),
                         f"{doc.duration(r.onsite.used_minutes)} / {doc.duration(r.onsite.allowance_minutes)}",
                         f"{doc.duration(r.remote.used_minutes)} / {doc.duration(r.remote.allowance_minutes)}",
                         doc.duration(excess), doc.duration(r.travel_minutes)])
        if rows:
            rows.append([_("Total"), f"{doc.duration(total.onsite.used)} / {doc.duration(total.onsite.allowance)}",
                         f"{doc.duration(total.remote.used)} / {doc.duration(total.remote.allowance)}",
                         doc.duration(total.excess), doc.duration(total.travel)])
            story.append(KeepTogether([
                doc.p(_("The year so far"), "h2"),
                doc.table([_("Month"), _("On site: used / allowance"), _("Remote: used / allowance"), _("Excess"),
                           _("Travel")], rows, [40 * mm, 42 * mm, 42 * mm, 27 * mm, 27 * mm], total=True,
                          highlight=highlight)]))
        story.append(KeepTogether([doc.p(_("Service in %(month)s", month=doc.month(month)), "h2"),
                                   *_service_block(doc, service)]))
        breakdown = _breakdown(doc, service)
        if breakdown:
            story.append(KeepTogether([doc.p(_("Tickets by category and channel"), "h2"), breakdown[0]]))
            story += breakdown[1:]
        story += _closing(doc)
        return doc.build(story, f"{title} · {council.name} · {doc.month(month)}",
                         f"{current_app.config['OFFICE_NAME']} · {council.name} · {doc.month(month)}")


def office_month_pdf(month: dt.date, language: str) -> bytes:
    """The office's monthly report: every council's hours and service, the comarca totals,
    the councils × months heatmap and the SLA trend of the year."""
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, PageBreak, Spacer

    month = month_start(month)
    with force_locale(language):
        doc = _Doc(language)
        office = consumption.office_year(month.year)
        cells = {k: v for k, v in office.cells.items() if k[1] <= month}
        month_rows = {c: r for (c, m), r in cells.items() if m == month}
        month_totals = consumption.totals_of(month_rows.values())
        year_totals = consumption.totals_of(cells.values())
        service = quality.service_by_council_month(month, month)
        per_council = quality.by_council(service)
        title = _("Monthly report of the office")
        story = [
            doc.p(current_app.config["OFFICE_NAME"], "small"),
            doc.p(f"{title} · {doc.month(month)}", "title"),
            doc.p(_("%(n)s councils with an agreement this month", n=len(month_rows)), "subtitle"),
            doc.p(_("Hours in %(month)s", month=doc.month(month)), "h2"),
        ]
        rows = []
        for label, t in ((doc.month(month).capitalize(), month_totals), (_("Year to date"), year_totals)):
            rows.append([label, doc.duration(t.onsite.allowance), doc.duration(t.onsite.used),
                         doc.duration(t.remote.allowance), doc.duration(t.remote.used), doc.duration(t.excess),
                         doc.duration(t.travel)])
        story.append(doc.table(["", _("On-site allowance"), _("On site used"), _("Remote allowance"), _("Remote used"),
                                _("Excess"), _("Travel")], rows,
                               [28 * mm, 24 * mm, 24 * mm, 24 * mm, 24 * mm, 26 * mm, 28 * mm]))
        story.append(doc.p(_("Councils at a glance"), "h2"))
        rows, highlight = [], set()
        for council in office.councils:
            r = month_rows.get(council.id)
            if r is None:
                continue
            s = per_council.get(council.id, quality.ServiceStats())
            excess = r.onsite.excess_minutes + r.remote.excess_minutes
            if excess:
                highlight.add((len(rows), 3))
            rows.append([council.name,
                         f"{doc.duration(r.onsite.used_minutes)} / {doc.duration(r.onsite.allowance_minutes)}",
                         f"{doc.duration(r.remote.used_minutes)} / {doc.duration(r.remote.allowance_minutes)}",
                         doc.duration(excess), doc.number(s.opened), doc.number(s.resolved),
                         doc.percent(s.resolution_ratio)])
        rows.append([_("Total"), f"{doc.duration(month_totals.onsite.used)} / {doc.duration(month_totals.onsite.allowance)}",
                     f"{doc.duration(month_totals.remote.used)} / {doc.duration(month_totals.remote.allowance)}",
                     doc.duration(month_totals.excess), doc.number(sum(s.opened for s in per_council.values())),
                     doc.number(sum(s.resolved for s in per_council.values())),
                     doc.percent(quality.merged(per_council.values()).resolution_ratio)])
        story.append(doc.table([_("Council"), _("On site: used / allowance"), _("Remote: used / allowance"),
                                _("Excess"), _("Opened"), _("Resolved"), _("On time")], rows,
                               [40 * mm, 32 * mm, 32 * mm, 18 * mm, 18 * mm, 19 * mm, 19 * mm], total=True,
                               highlight=highlight))
        comarca_of = {c.id: c.comarca or "" for c in office.councils}
        by_comarca: dict[str, consumption.Totals] = {}
        for council_id, r in month_rows.items():
            by_comarca.setdefault(comarca_of.get(council_id, ""), consumption.Totals()).add(r)
        if len(by_comarca) > 1:
            rows = [[name or _("(none)"), doc.duration(t.onsite.used), doc.duration(t.remote.used),
                     doc.duration(t.excess), doc.duration(t.travel)] for name, t in sorted(by_comarca.items())]
            story.append(KeepTogether([doc.p(_("Comarca totals"), "h2"),
                                       doc.table([_("Comarca"), _("On site used"), _("Remote used"), _("Excess"),
                                                  _("Travel")], rows, [60 * mm, 30 * mm, 30 * mm, 29 * mm, 29 * mm])]))
        story.append(PageBreak())
        office_cut = consumption.OfficeYear(office.year, office.months, office.councils, cells, office.by_council,
                                         office.by_month, office.by_comarca, office.totals)
        story.append(doc.chart(figures.heatmap(month.year, "total", office_cut)))
        story.append(Spacer(1, 4 * mm))
        story.append(doc.chart(figures.sla_trend(month.year, until=month)))
        story.append(KeepTogether([doc.p(_("Service in %(month)s", month=doc.month(month)), "h2"),
                                   *_service_block(doc, quality.merged(service.values()))]))
        story += _closing(doc)
        return doc.build(story, f"{title} · {doc.month(month)}",
                         f"{current_app.config['OFFICE_NAME']} · {doc.month(month)}")

"""CSV that spreadsheets open safely and correctly.

Formula injection: a cell whose text starts with `=`, `+`, `-`, `@`, a tab or a carriage
return is taken by Excel and LibreOffice as a formula (`=HYPERLINK(...)`, DDE payloads), so
text from users, agents or imports could run in whoever opens the export. Such cells are
neutralised by prefixing an apostrophe, as OWASP recommends; `restore` undoes it when the
file comes back in an import, so an export re-imported unchanged changes nothing.

Accents: Excel reads a CSV without a byte-order mark in the machine's ANSI code page, which
turns "Avinyó" into "AvinyÃ³" (GLPI's documentation warns about it). The files start with the
UTF-8 BOM, which Excel and LibreOffice both honour.

Only text is touched: numbers and dates are written as they are, so a negative number stays
a number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def neutralise(value):
    """The value, with an apostrophe in front if it is text a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def restore(value: str) -> str:
    """Undo `neutralise` on text read back from a CSV cell."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_PREFIXES:
        return value[1:]
    return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return neutralise(value) if isinstance(value, str) else str(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence], *, delimiter: str = ",", bom: bool = True) -> str:
    """A whole CSV document as text (encode it as UTF-8), every text cell neutralised."""
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([_cell(h) for h in header])
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence], *, delimiter: str = ",", bom: bool = True) -> bytes:
    return csv_text(header, rows, delimiter=delimiter, bom=bom).encode("utf-8")


def delimiter_for(locale: str) -> str:
    """The list separator Excel expects for a language: `;` where the comma is the decimal mark.

    Excel splits a CSV on the system's list separator, so a comma-separated file opened on a
    Catalan or Spanish Windows lands in a single column.
    """
    return "," if (locale or "").split("_")[0].split("-")[0] == "en" else ";"

"""Text search over tickets: title, description, replies and notes, on both databases.

One abstraction, two engines:

* every ticket has a `ticket_search` row holding its text **folded** by `fold` (lower case,
  accents and the Catalan middle dot gone: "Col·legi", "COL.LEGI" and "collegi" are one
  word), in two columns: what a clerk may see (reference, title, description, public
  replies) and the internal notes;
* PostgreSQL indexes that text with GIN over `to_tsvector('simple', ...)` (folding is done
  here, so the `simple` configuration, without stemming or stop words, is exactly right for
  Catalan and Spanish alike and needs no `unaccent` extension); SQLite with an FTS5 table that
  triggers keep in sync with `ticket_search` (migration 0005);
* a query is folded the same way and split into words; every word must match the start of
  a word of the ticket ("impres" finds "impressora"), on both engines;
* clerks are matched against the public column only, so a word that appears only in an
  internal note never finds a ticket for them.

Why a side table and not columns of `tickets`: the text grows with every reply, and the queue
reads `tickets` rows on every page; keeping the text apart keeps those rows small.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy import Integer, delete, func, literal_column, select, text, update

from extensions import db
from support.tickets.models import Ticket, TicketComment, TicketSearch

# Database objects of the search that are not ORM objects (see migration 0005), left out of
# the model/migration comparison by tests/test_migrations.py: the PostgreSQL GIN indexes, and
# the SQLite FTS5 table with its shadow tables and triggers.
UNMODELLED_PREFIXES = ("ix_ticket_search_public_fts", "ix_ticket_search_all_fts", "ticket_search_fts")

MAX_WORDS = 8
MIN_WORD = 2
# The same expressions as the indexes of migration 0005: PostgreSQL uses an expression index
# only for a query that repeats its expression.
_REGCONFIG = literal_column("'simple'::regconfig")
_SEPARATOR = literal_column("' '")

_MIDDLE_DOT = re.compile(r"l[·.\u2027\u22c5]l")
_WORD = re.compile(r"[^\W_]+")


def fold(value: str | None) -> str:
    """Text as the index stores it: words in lower case without accents, single spaces."""
    if not value:
        return ""
    value = _MIDDLE_DOT.sub("ll", value.lower().replace("\u0140", "l"))
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD.findall(plain))


def words(query: str | None) -> list[str]:
    """The words of a search, folded, without repeats; one-letter words say nothing."""
    out: list[str] = []
    for word in fold(query).split():
        if len(word) >= MIN_WORD and word not in out:
            out.append(word)
    return out[:MAX_WORDS]


def _public_document(ticket: Ticket) -> str:
    return fold(" ".join((ticket.reference, ticket.title, ticket.description or "")))


# --- keeping the documents ---------------------------------------------------------------

def index_ticket(ticket: Ticket) -> None:
    """The search row of a new ticket (in the ticket's transaction)."""
    db.session.add(TicketSearch(ticket_id=ticket.id, council_id=ticket.council_id,
                                public_text=_public_document(ticket), internal_text=""))


def index_comment(ticket_id: int, body: str, *, internal: bool) -> None:
    """Append a reply's words to its ticket's document (one UPDATE, however long the thread)."""
    folded = fold(body)
    if not folded:
        return
    column = TicketSearch.internal_text if internal else TicketSearch.public_text
    db.session.execute(update(TicketSearch).where(TicketSearch.ticket_id == ticket_id)
                       .values({column: column + " " + folded}))


def rebuild(ticket_ids: Iterable[int] | None = None) -> int:
    """Recompute the documents of some tickets (all: None) from the tickets and their replies.

    For bulk loads (the demo, benchmarks) and repairs; everyday writes append instead.
    Returns how many documents were written.
    """
    stmt = select(Ticket.id, Ticket.council_id, Ticket.reference, Ticket.title, Ticket.description)
    ids = None if ticket_ids is None else list(ticket_ids)
    if ids is not None:
        if not ids:
            return 0
        stmt = stmt.where(Ticket.id.in_(ids))
    tickets = db.session.execute(stmt.order_by(Ticket.id)).all()
    if not tickets:
        return 0
    public: dict[int, list[str]] = {t.id: [fold(" ".join((t.reference, t.title, t.description or "")))]
                                    for t in tickets}
    internal: dict[int, list[str]] = {t.id: [] for t in tickets}
    comments = select(TicketComment.ticket_id, TicketComment.body, TicketComment.internal)
    if ids is not None:
        comments = comments.where(TicketComment.ticket_id.in_(ids))
    for ticket_id, body, is_internal in db.session.execute(comments.order_by(TicketComment.id)):
        if ticket_id in public:
            (internal if is_internal else public)[ticket_id].append(fold(body))
    delete_stmt = delete(TicketSearch)
    if ids is not None:
        delete_stmt = delete_stmt.where(TicketSearch.ticket_id.in_(ids))
    db.session.execute(delete_stmt)
    rows = [{"ticket_id": t.id, "council_id": t.council_id, "public_text": " ".join(w for w in public[t.id] if w),
             "internal_text": " ".join(w for w in internal[t.id] if w)} for t in tickets]
    for start in range(0, len(rows), 5000):
        db.session.execute(TicketSearch.__table__.insert(), rows[start:start + 5000])
    return len(rows)


# --- searching ----------------------------------------------------------------------------

def matching_ticket_ids(query: str | None, *, include_internal: bool):
    """A SELECT of the ids of the tickets whose text has every word of `query` (as word
    starts), or None when the query has no word worth searching for.

    `include_internal` adds the internal notes (office staff); never for a clerk.
    Use it as `Ticket.id.in_(...)`: the ticket query carries the council scope.
    """
    terms = words(query)
    if not terms:
        return None
    if db.session.get_bind().dialect.name == "postgresql":
        document = TicketSearch.public_text
        if include_internal:
            document = TicketSearch.public_text.op("||")(_SEPARATOR).op("||")(TicketSearch.internal_text)
        tsquery = " & ".join(f"{term}:*" for term in terms)
        vector = func.to_tsvector(_REGCONFIG, document)
        return select(TicketSearch.ticket_id).where(vector.op("@@")(func.to_tsquery(_REGCONFIG, tsquery)))
    fts = (text("SELECT rowid AS ticket_id FROM ticket_search_fts WHERE ticket_search_fts MATCH :match")
           .bindparams(match=_fts_expression(terms, include_internal)).columns(ticket_id=Integer)
           .subquery("ticket_search_match"))
    return select(fts.c.ticket_id)


def _fts_expression(terms: list[str], include_internal: bool) -> str:
    # FTS5: each word a quoted prefix phrase (the words are letters and digits only, so the
    # quoting cannot be escaped); a column filter keeps clerks to the public text.
    expression = " AND ".join(f'"{term}"*' for term in terms)
    if not include_internal:
        expression = "public_text : (" + expression + ")"
    return expression


# Above this many matching tickets, SQLite finds a page of a search faster by walking the
# queue's index and testing each ticket against the matches than by fetching every match
# and sorting them (measured by bench/ticket_queue.py: 75,000 matches of a million tickets
# cost 130 ms fetched and sorted, 10 ms walked).
SCAN_ABOVE = 5000


def match_criterion(query: str | None, *, include_internal: bool, walk_index: bool):
    """The WHERE criterion of the tickets matching `query`, or None when there is nothing
    to search for. Use it on a query of `Ticket`, which carries the council scope.

    `walk_index`: the other filters are all answered by the index the page is read in
    (status, council, assignee, with the page's order), so that reading it in order until a
    page is full stops early when the word is common. PostgreSQL's planner makes that choice
    itself from its statistics; SQLite's does not, so it is made here from the number of
    matches, which FTS5 counts from its index at little cost.
    """
    ids = matching_ticket_ids(query, include_internal=include_internal)
    if ids is None:
        return None
    if walk_index and db.session.get_bind().dialect.name == "sqlite":
        count = db.session.execute(
            text("SELECT count(*) FROM ticket_search_fts WHERE ticket_search_fts MATCH :match"),
            {"match": _fts_expression(words(query), include_internal)}).scalar()
        if count > SCAN_ABOVE:
            # `id + 0` is no longer the primary key to SQLite, so it cannot drive the query
            # from the matches: it reads the page's index in order and tests each ticket.
            return (Ticket.id + 0).in_(ids)
    return Ticket.id.in_(ids)

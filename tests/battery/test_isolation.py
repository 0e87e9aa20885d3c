"""The tenant isolation matrix: every route × method, as council A's clerk (pages with a
session, the API with a personal token) and as nobody, with both councils' every text
field full of canary words (tests/battery/canaries.py).

Built on the access tests' walker (tests/test_access_policy.py enumerates app.url_map; the
providers in tests/samples/ give every path argument a value per council), so a route added
later, reports' included, is walked without touching this file. For each route and method:

- **own**: the URL with council A's objects, a body that names council B's objects
  wherever the operation takes an id (`council_id`, `asset_id`, `ticket_id`...);
- **cross**: the URL with council B's objects (404, always, when it differs from own);
- **probe** (GETs): own URL with B's ids, slug and canary word as query arguments
  (`?q=zqxbqz&council_id=...`): filters and search must not open a side channel.

Nothing council A's clerk or an anonymous caller receives (page, JSON, CSV, XLSX, SVG, PDF
text, headers, redirects) contains council B's canaries: its canary word, slug, ticket
references, its clerks' addresses. After the walk, council B's rows are exactly as they were
(clerk A's writes never reached them), no row of one council points at another council's
row, and the mails sent to council A's people (through a real SMTP server, after every
scheduler job has run) carry nothing of council B. Then the same the other way round: council
B's clerk against council A, with council A seeded first (the lower ids).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
import zipfile
from collections import Counter

import pytest
import sqlalchemy as sa
from battery_support import variants
from canaries import WORDS, seed_council
from test_access_policy import _ARG, _collection_app, _url

from core.access import policy_for

ROLES = ("anonymous", "clerk")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _content(side):
    """A council's records themselves (not the clerk's name in the menu): the positive control."""
    return re.compile(rf"{WORDS[side]} (ticket|comment|asset|entry|agent|ssh|attachment|rating|import)", re.I)


def _word_mark(side):
    word = WORDS[side]
    return lambda field: f"{word.capitalize()} {field}"


def _rules():
    app = _collection_app()
    out = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.rule, rule.endpoint, method))
    return out


# --- what a response says, as text ---------------------------------------------------------

def _pdf_text(data: bytes) -> str:
    if shutil.which("pdftotext") is None:
        return data.decode("latin-1")
    proc = subprocess.run(["pdftotext", "-q", "-", "-"], input=data, capture_output=True, timeout=60)
    return proc.stdout.decode(errors="replace")


def response_text(resp) -> tuple[str, str]:
    """(kind, text): everything a reader could see in the response, headers included."""
    head = "\n".join(f"{k}: {v}" for k, v in resp.headers.items())
    data = resp.get_data()
    mimetype = resp.mimetype or ""
    if data[:4] == b"PK\x03\x04":  # XLSX, ODS, DOCX: XML in a zip
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            body = "\n".join(archive.read(name).decode(errors="replace") for name in archive.namelist()
                             if name.endswith((".xml", ".rels", ".txt", ".csv")))
        return "zip", head + body
    if mimetype == "application/pdf" or data[:5] == b"%PDF-":
        return "pdf", head + _pdf_text(data)
    if mimetype.startswith("image/") and mimetype != "image/svg+xml":
        # A raster chart cannot be read here; the routes that draw them are listed in the report.
        return "raster", head
    return mimetype or "bytes", head + data.decode(errors="replace")


class Canaries:
    def __init__(self, world, side: str, references: list[str]):
        council = world.council_a if side == "a" else world.council_b
        clerk = world.clerk_a if side == "a" else world.clerk_b
        self.slug = re.compile(re.escape(council.slug), re.I)
        self.patterns = [re.compile(WORDS[side], re.I), re.compile(re.escape(clerk.email), re.I),
                         re.compile(re.escape(f"colleague.{side}@"), re.I)]
        self.patterns += [re.compile(rf"(?<![A-Za-z0-9]){re.escape(r)}(?![0-9])") for r in references]

    def found(self, text: str, *, slug: bool = True) -> list[str]:
        """Where the text shows a canary. `slug=False` when the request itself carried the
        slug (a query argument echoed in a link or a form is not a leak)."""
        hits = []
        for pattern in self.patterns + ([self.slug] if slug else []):
            match = pattern.search(text)
            if match:
                hits.append(text[max(0, match.start() - 60):match.end() + 60].replace("\n", " "))
        return hits


# --- bodies that name the other council's objects --------------------------------------------

def _resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _value(doc, name, schema, ids, today):
    schema = _resolve(doc, schema)
    options = schema.get("anyOf") or [schema]
    schema = next((_resolve(doc, o) for o in options if _resolve(doc, o).get("type") != "null"), schema)
    if name in ids and schema.get("type") == "integer":
        return ids[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return max(schema.get("minimum", 1), min(60, schema.get("maximum", 60)))
    if kind == "number":
        return 50.0
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if schema.get("format") == "date":
        return today.isoformat()
    if schema.get("format") == "date-time":
        return dt.datetime.now(dt.UTC).isoformat()
    if schema.get("pattern") == r"^\d{4}-\d{2}$" or name == "month":
        return today.strftime("%Y-%m")
    return "probe text"[: schema.get("maxLength", 100)] or "p"


def api_body(doc, path: str, method: str, ids: dict, today) -> dict | None:
    op = doc["paths"].get(path, {}).get(method.lower(), {})
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    schema = _resolve(doc, schema)
    return {name: _value(doc, name, prop, ids, today) for name, prop in schema.get("properties", {}).items()}


def form_body(ids: dict, today) -> dict:
    body = {k: str(v) for k, v in ids.items() if k.endswith("_id")}
    body.update(title="probe", description="probe", body="probe", comment="probe", name="probe", score="3",
                minutes="30", travel_minutes="0", mode="remote", date=today.isoformat(), category="other",
                priority="normal", status="in_progress", kind="desktop", council=str(ids.get("council_id", "")),
                council_id=str(ids.get("council_id", "")))
    return body


# --- the database, seen from the other council ------------------------------------------------

def council_rows(db, council_id: int) -> dict[str, list[tuple]]:
    out = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name == "councils":
                stmt = sa.select(table).where(table.c.id == council_id)
            elif "council_id" in table.c:
                stmt = sa.select(table).where(table.c.council_id == council_id)
            else:
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(stmt.order_by(*order))]
    return out


def cross_council_references(db) -> list[str]:
    """Rows of one council whose foreign keys point at a row of another council."""
    problems = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if "council_id" not in table.c:
                continue
            for fk in table.foreign_keys:
                if fk.parent.name == "council_id":
                    continue
                target = fk.column.table.alias("target")  # self-references too (previous_agreement_id)
                if fk.column.table.name == "councils":
                    target_council = target.c.id
                elif "council_id" in target.c:
                    target_council = target.c.council_id
                else:
                    continue
                joined = table.join(target, fk.parent == target.c[fk.column.name])
                stmt = sa.select(sa.func.count()).select_from(joined).where(
                    target_council.is_not(None), table.c.council_id != target_council)
                n = conn.execute(stmt).scalar_one()
                if n:
                    problems.append(f"{n} rows of {table.name}.{fk.parent.name} point at another council's "
                                    f"{fk.column.table.name}")
    return problems


# --- the walk -----------------------------------------------------------------------------------

@pytest.mark.slow
# Both ways: the council seeded first has the lower ids, so a filter that compares ids, or
# takes "the first" council, shows up in one direction or the other.
@pytest.mark.parametrize(("viewer", "other"), [("a", "b"), ("b", "a")], ids=["A-sees-B", "B-sees-A"])
def test_tenant_isolation_matrix(app, db, world, mail_app, smtp_sink, english, viewer, other):
    from accounts import services as accounts
    from remote import scheduler

    today = dt.date.today()
    council_of = {"a": world.council_a, "b": world.council_b}
    clerk = {"a": world.clerk_a, "b": world.clerk_b}[viewer]
    seeded_other = seed_council(app, world, other, _word_mark(other))
    seeded_own = seed_council(app, world, viewer, _word_mark(viewer))
    ids_own, ids_other = seeded_own.ids, seeded_other.ids
    canaries = Canaries(world, other, seeded_other.references)
    content_own = _content(viewer)
    me, them = viewer.upper(), other.upper()

    def run_jobs():
        # Every job of the scheduler, as the scheduler would run it (the SSH round aside: it
        # would dial the samples' TEST-NET host), the outbox last so that their mails leave.
        jobs = [spec for spec, _t in scheduler.active_jobs(app) if spec.id != "remote.ssh_round"]
        jobs.sort(key=lambda spec: spec.id == "core.mail_outbox")
        at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        for spec in jobs:
            outcome = scheduler.execute(app, spec, at, "battery:1")
            assert outcome in ("ok", "duplicate"), (spec.id, outcome)
        db.session.commit()

    run_jobs()
    db.session.commit()
    before = council_rows(db, council_of[other].id)
    assert sum(len(v) for v in before.values()) > 40, f"council {them} must hold data for the matrix to mean anything"

    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    clerk_token = accounts.create_token(clerk, "matrix", actor=None)[1]
    db.session.commit()

    failures: list[str] = []
    tried = Counter()
    statuses = Counter()
    kinds = Counter()
    own_canary_pages = set()
    opaque = set()

    def client_as(role, api):
        client = app.test_client()
        if role == "clerk" and not api:
            with client.session_transaction() as sess:
                sess["_user_id"] = clerk.get_id()
                sess["_fresh"] = True
        return client

    def send(role, method, url, api, body=None, query=None):
        client = client_as(role, api)
        headers = {"Authorization": f"Bearer {clerk_token}"} if role == "clerk" and api else {}
        kwargs = {"headers": headers, "query_string": query or {}}
        if method in WRITE_METHODS and body is not None:
            kwargs["json" if api else "data"] = body
        return client.open(url, method=method, **kwargs)

    def inspect(resp, role, method, url, variant, rule):
        tried[(role, variant)] += 1
        statuses[(role, "write" if method in WRITE_METHODS else "read", resp.status_code)] += 1
        where = f"{role} {method} {url} [{variant}]"
        if resp.status_code >= 500:
            failures.append(f"{where}: {resp.status_code}")
        kind, text = response_text(resp)
        kinds[kind] += 1
        if kind == "raster":
            opaque.add(rule)
        hits = canaries.found(text, slug=variant != "probe" and seeded_other.slug not in url)
        if hits:
            failures.append(f"{where}: council {them}'s canary in the answer ({resp.status_code}): {hits[:2]}")
        if role == "clerk" and variant == "own" and content_own.search(text):
            own_canary_pages.add(rule)

    def walk_one(rule, method, policy, api, own_url, cross_url, body):
        for role in ROLES:
            resp = send(role, method, own_url, api, body)
            inspect(resp, role, method, own_url, "own", rule)
            if cross_url != own_url:
                resp = send(role, method, cross_url, api, body)
                inspect(resp, role, method, cross_url, "cross", rule)
                if role == "clerk" and policy is not None and policy.kind == "roles" and resp.status_code != 404:
                    failures.append(f"clerk {me} got {resp.status_code} for council {them}'s {method} {cross_url}")
            if method == "GET":
                query = {k: v for k, v in ids_other.items() if isinstance(v, int | str)}
                # Searches match the start of words: the canary word less its last letter
                # finds every canary, and its echo in the page is not the canary itself.
                query.update(q=WORDS[other][:-1], search=WORDS[other][:-1], council=seeded_other.slug,
                             slug=seeded_other.slug)
                resp = send(role, method, own_url, api, query=query)
                inspect(resp, role, method, own_url, "probe", rule)

    walk = _rules()
    for phase in ("read", "write"):
        for rule, endpoint, method in walk:
            if (method in WRITE_METHODS) != (phase == "write"):
                continue
            policy = policy_for(app, endpoint)
            api = rule.startswith("/api/v1")
            if rule == "/logout" or (policy is not None and policy.kind == "agent") or "<secret>" in rule:
                # Signing out ends the walk's session; agent routes take agent tokens only
                # (the access tests prove users are refused there); a secret URL (a personal
                # calendar feed) is its owner's credential, whoever presents it, and
                # tests/support/visits/test_calendar_feed.py checks it holds only its owner's
                # council.
                continue
            path = _ARG.sub(lambda m: "{" + m.group(1) + "}", rule)
            body = (api_body(doc, path, method, ids_other, today) if api else form_body(ids_other, today)) \
                if method in WRITE_METHODS else None
            for fixed in variants(rule):
                try:
                    own_url, cross_url = _url(rule, {**ids_own, **fixed}), _url(rule, {**ids_other, **fixed})
                except AssertionError as exc:  # a path argument no provider in tests/samples/ knows
                    failures.append(str(exc))
                    continue
                walk_one(rule, method, policy, api, own_url, cross_url, body)

    # The clerk's writes never reached the other council, and nothing links the two councils.
    db.session.expire_all()
    assert council_rows(db, council_of[other].id) == before, f"clerk {me}'s requests changed council {them}'s rows"
    failures.extend(cross_council_references(db))

    # Mails: what the walk and every scheduler job sent to the clerk's council's people.
    run_jobs()
    db.session.commit()
    people = {clerk.email, f"colleague.{viewer}@test.example.org", council_of[viewer].contact_email}
    mails = [m for m in smtp_sink.messages if any(p and p in str(m["To"]) for p in people)]
    for message in mails:
        text = str(message["Subject"]) + "\n" + "\n".join(
            part.get_content() for part in message.walk() if part.get_content_maintype() == "text")
        hits = canaries.found(text)
        if hits:
            failures.append(f"mail to {message['To']} ({message['Subject']}): council {them}'s canary: {hits[:2]}")

    routes = {(rule, method) for rule, _e, method in walk}
    print(f"\nisolation matrix, clerk {me} against council {them}: {len(routes)} route×method pairs, roles {ROLES}; requests {dict(tried)} "
          f"({sum(tried.values())} in all); council {me}'s canaries seen on {len(own_canary_pages)} routes as its "
          f"clerk (exports among them: {sorted(r for r in own_canary_pages if 'export' in r or 'chart' in r)}); "
          f"answers read by kind {dict(kinds)}; {len(mails)} mails to council {me}'s people of {len(smtp_sink.messages)} sent; raster answers "
          f"not read: {sorted(opaque)}; fields that refused the canary: {sorted(set(seeded_other.refused))}; "
          f"statuses: {sorted(statuses.items())}")
    assert not failures, "\n".join(failures[:40]) + (f"\n... and {len(failures) - 40} more" if len(failures) > 40 else "")
    # The positive control: the clerk does see their own council's canaries on its pages, so
    # the pages walked really render the seeded data.
    assert len(own_canary_pages) >= 15, sorted(own_canary_pages)
    assert mails, f"no mail reached council {me}'s people: the mail check proved nothing"

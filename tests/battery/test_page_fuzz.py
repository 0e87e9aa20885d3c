"""Hostile query strings and form values on every HTML page, as every role: never a 5xx.

The API is fuzzed by schemathesis (test_schemathesis.py); this walks the pages. Every GET
route outside /api is asked, as each role, with query strings whose keys are the filters the
pages read plus those that clash with URL building (`endpoint`, `_method`, path argument
names), and whose values are the inputs that were 500s (issue 14: "²", year 9999, year 1...).
Then every POST form found on those pages is sent back with hostile values in each of its
fields. Forms that end the session are left out, so the walk keeps its role.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

from route_samples import samples
from test_access_policy import _url

ROLES = ("clerk", "technician", "manager", "admin")
HOSTILE = ("²", "١٢", "9999-12-31", "0001-01-01T00:00:00+05:00", "-1", "99999999999999999999999",
           "'\"><svg onload=alert(1)>", "invoice\u202efdp.exe", "%", "..", "2026-02-30", "a" * 3000)
KEYS = ("endpoint", "_method", "_external", "_anchor", "values", "slug", "council", "council_id", "asset_id",
        "ticket_id", "q", "status", "show", "sort", "kind", "assignee", "priority", "sla", "category", "day",
        "date", "month", "year", "job", "outcome", "after", "range", "problems", "mode", "role", "next",
        "lang", "sep", "expiring", "technician", "object_id", "asset", "page", "limit")
# Forms that sign the walker out or end its other sessions.
SKIP_ACTIONS = ("logout", "sign-out", "signout", "sessions", "/account/totp", "/password")


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, list[str]]] = []
        self._current: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self._current = (attrs.get("action") or "", [])
            self.forms.append(self._current)
        elif (tag in ("input", "select", "textarea") and self._current is not None and attrs.get("name")
              and attrs.get("type") not in ("submit", "file")):
            self._current[1].append(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def _page_routes(app, values):
    out = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.rule.startswith(("/api/", "/static")) or rule.endpoint == "static":
            continue
        out.append((rule.rule, _url(rule.rule, values)))
    return out


def test_pages_answer_hostile_queries_and_forms_without_a_server_error(app, world, client_for):
    values = samples(world, "a")
    samples(world, "b")
    routes = _page_routes(app, values)
    requests = 0
    routes_hit: set[str] = set()
    failures: list[tuple] = []
    forms_sent = 0
    for role in ROLES:
        client = client_for(world.by_role[role])
        forms: dict[str, list[str]] = {}
        for rule, url in routes:
            for value in HOSTILE:
                resp = client.get(url, query_string=dict.fromkeys(KEYS, value))
                requests += 1
                routes_hit.add(rule)
                if resp.status_code >= 500:
                    failures.append((role, "GET", url, value[:20], resp.status_code))
                if resp.status_code == 200 and resp.mimetype == "text/html" and value == HOSTILE[0]:
                    parser = _Forms()
                    parser.feed(resp.get_data(as_text=True))
                    for action, names in parser.forms:
                        target = urlsplit(action).path or urlsplit(url).path
                        if target.startswith("/") and not any(s in target for s in SKIP_ACTIONS):
                            forms.setdefault(target, sorted(set(names) - {"csrf_token"}))
        for target, names in sorted(forms.items()):
            for value in HOSTILE:
                resp = client.post(target, data=dict.fromkeys(names, value))
                requests += 1
                forms_sent += 1
                routes_hit.add("POST " + target)
                if resp.status_code >= 500:
                    failures.append((role, "POST", target, value[:20], resp.status_code))
    print(f"\npage fuzzing: {requests} requests ({forms_sent} form posts) across {len(routes_hit)} routes "
          f"and {len(ROLES)} roles, {len(failures)} answers of 5xx")
    assert not failures, failures[:20]

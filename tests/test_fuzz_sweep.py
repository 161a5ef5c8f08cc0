"""The fuzz sweep: every route, GET and POST, with hostile values in every parameter and field.

Routes are walked and filled as in tests/test_isolation_sweep.py (one org's own objects this
time, requested by its administrator, and by a visitor where a page answers visitors). Each
page is read first: its links' query parameters and its forms' fields (input / select /
textarea names, with the values the page gives them) are what gets fuzzed, plus a few names
views read without a form (COMMON). A small fixed set of values, not all combinations: every
parameter at once gets each of a few hostile values (NUL, huge, negative, 10,000 characters,
an unknown choice), then each parameter alone gets the sharpest value for its kind (SHARP: an
id that is not one, an unknown choice, deep JSON in a text area, a value that is not a URL
where one is expected...) and, if it holds a number or an id, a huge number; the others keep
the page's own values so the request goes as deep as a real one. Of numbered fields (level
1..10 of a process, the rows of a formset) the first of each pattern stands for the rest.
The hostile requests are dealt out over SHARDS tests, which parallel workers share.

Asserted: no 5xx anywhere; a refusal (4xx, an error message, or a form shown again with
errors) changes no row (counts, max ids, versions and timestamps of every app table and of
users and organisations). Each request runs in a savepoint rolled back afterwards, so one
hostile request that succeeds (a 10,000-character name is a valid name) cannot change what
the next one finds.
"""
from __future__ import annotations

import logging
import re
import time
from collections import Counter
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.messages import constants as message_levels
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.urls import Resolver404, resolve

from access.actions import do_sign_up
from access.models import Organization, User
from teams import roles
from tests.conftest import _drop_cache_keys
from tests.test_isolation_sweep import (
    FILLERS, SKIPPED, TEAM, Unfillable, World, build_world, fill, walk,
)

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-42"
NUL = "fuzz\x00nul"
HUGE = "9" * 30
BIGINT_EDGE = str(2**63)
DEEP_JSON = '{"any": [' * 600 + '{"all": []}' + "]}" * 600
LONG = "x" * 10_000
# Every parameter gets each of these with the others (all at once); then each parameter alone
# gets HUGE and the sharpest value for its kind of field (SHARP, default LONG), the others
# keeping the page's values.
HOSTILE = [HUGE, "-1", "no-such-choice", LONG]
SHARP = {
    "number": BIGINT_EDGE, "hidden": "no-such-id", "select": "no-such-choice", "checkbox": "no-such-choice",
    "radio": "no-such-choice", "textarea": DEEP_JSON, "url": "javascript:alert(1)", "date": "2026-02-30",
    "datetime-local": "2026-02-30T25:61", "email": "not an address",
}
# Kinds of field whose value is read as a number or an id: each also gets HUGE on its own
# (an integer past the column's range); free text gets only its sharpest value.
ID_KINDS = {"hidden", "number", "select", "radio", "checkbox"}
NOT_A_URL = "//evil.example/"
URL_NAMES = {"next", "url", "website", "return", "redirect"}
# Names views read from the query or the body without a form on the page.
COMMON = ["q", "page", "per_page", "sort", "field", "value", "after", "person", "module", "pk", "ids", "next",
          "related_module", "related_pk", "saved", "columns", "op", "version", "membership", "user", "org"]
# Module kinds swept: deals (numbers, percent, lookups), accounts, and a team module.
KINDS = ["deals", "accounts", TEAM]
# POSTs not swept for the logged-in requester: logging out ends the session the sweep uses.
NO_POST = {"logout"}


# --- reading pages ---------------------------------------------------------------------------

class PageParser(HTMLParser):
    """Forms (method, action, fields with their page values and kinds) and links with queries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._options: list[str] = []
        self._selected: list[str] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("href", "hx-get", "hx-post", "action", "data-url"):
            if "?" in a.get(key, ""):
                self.links.append(a[key])
        if tag == "form":
            self._form = {"method": a.get("method", "get").lower(), "action": a.get("action", ""),
                          "fields": {}, "kinds": {}, "files": []}
            self.forms.append(self._form)
        form = self._form
        if tag == "option" and form is not None and self._select:
            self._options.append(a.get("value", ""))
            if "selected" in a:
                self._selected.append(a.get("value", ""))
            return
        if form is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "file":
                form["files"].append(name)
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    form["fields"].setdefault(name, []).append(a.get("value", "on"))
                form["kinds"].setdefault(name, kind)
            elif kind not in ("submit", "button", "image", "reset"):
                form["fields"].setdefault(name, []).append(a.get("value", "") or _plausible(name, kind))
                form["kinds"].setdefault(name, kind)
        elif tag == "select":
            self._select, self._options, self._selected = name, [], []
            form["kinds"].setdefault(name, "select")
        elif tag == "textarea":
            self._textarea = name
            form["kinds"].setdefault(name, "textarea")
            form["fields"].setdefault(name, [""])

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea and data.strip():
            self._form["fields"][self._textarea] = [data]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._form is not None and self._select:
            self._form["fields"][self._select] = self._selected or self._options[:1]
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _plausible(name: str, kind: str) -> str:
    """A valid value for an empty field, so that one hostile field at a time goes deep."""
    if kind == "email" or "email" in name:
        return "fuzz@example.test"
    if kind == "password" or "password" in name:
        return PASSWORD
    if kind == "number":
        return "1"
    if kind == "date":
        return "2026-01-15"
    if kind == "url":
        return "https://example.test/"
    return "fuzz"


def _one_of_each_pattern(names) -> list[str]:
    """The first of each run of numbered fields (level 1..10, row 0..4 of a formset): the same
    code reads them all, so one of them stands for the rest."""
    seen, chosen = set(), []
    for name in names:
        pattern = re.sub(r"\d+", "#", name)
        if pattern not in seen:
            seen.add(pattern)
            chosen.append(name)
    return chosen


def _route_name(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


# --- the database ----------------------------------------------------------------------------

def _state_sql() -> str:
    """One query: per table of the apps (and users, organisations) its row count, max id, and
    the sum / max of its version and timestamp columns."""
    parts = []
    models = [m for m in apps.get_models() if m._meta.app_label in ("access", "crm", "teams", "locking",
                                                                     "automation")] + [User, Organization]
    for model in dict.fromkeys(models):
        if model._meta.proxy or not model._meta.managed:
            continue
        table = connection.ops.quote_name(model._meta.db_table)
        columns = {f.column for f in model._meta.concrete_fields}
        extra = [f"coalesce(sum({c}), 0)::text" for c in ("version",) if c in columns]
        extra += [f"coalesce(max({c})::text, '')" for c in ("modified_at", "updated_at", "deleted_at") if c in columns]
        extra += ["count(*) filter (where is_active)::text"] if "is_active" in columns else []
        pk = connection.ops.quote_name(model._meta.pk.column)
        values = " || '/' || ".join([f"count(*)::text", f"coalesce(max({pk})::text, '')", *extra])
        parts.append(f"select '{model._meta.label}', {values} from {table}")
    return " union all ".join(parts)


def db_state(sql: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(cursor.fetchall())


# --- requests --------------------------------------------------------------------------------

class Requester:
    def __init__(self, user: User | None, label: str) -> None:
        self.user, self.label = user, label
        self.client = Client(raise_request_exception=False)
        if user is not None:
            self.client.force_login(user)

    def relogin_if_needed(self, response) -> None:
        cookie = response.cookies.get(settings.SESSION_COOKIE_NAME)
        if self.user is not None and cookie is not None:
            self.client = Client(raise_request_exception=False)
            self.client.force_login(self.user)


def is_refusal(response) -> bool:
    if response.status_code >= 400:
        return True
    storage = getattr(response.wsgi_request, "_messages", None)
    if storage is not None and any(m.level >= message_levels.ERROR for m in getattr(storage, "_queued_messages", [])):
        return True
    if response.wsgi_request.method == "POST" and response.status_code == 200 and not getattr(
            response, "streaming", False):
        text = response.content.decode("utf-8", "replace")
        return "is-invalid" in text or "errorlist" in text or "invalid-feedback" in text
    return False


@pytest.fixture
def world(db) -> tuple[User, World]:
    admin = do_sign_up(org_name="Fuzz Org", username="fuzz-admin", email="f@fuzz.test", password=PASSWORD,
                       first_name="Fuzz", last_name="Admin")
    from access.visibility import bind_org

    admin = bind_org(admin.user, admin.org, admin)
    built = build_world(admin.org, "Fuzz", owner=admin, admin=admin, children=True, org_prefix="Fuzz")
    roles.forget(admin)
    return admin, built


# Every page is read in each shard (cheap); the hostile requests are dealt out over the shards,
# so that parallel test workers share the sweep.
SHARDS = 3


@pytest.mark.parametrize("shard", range(SHARDS))
def test_fuzz_sweep(shard: int, world, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    started = time.monotonic()
    caplog.set_level(logging.CRITICAL, logger="django.request")
    admin, w = world
    sql = _state_sql()
    cache_prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    requesters = [Requester(admin, "admin"), Requester(None, "visitor")]
    failures: list[str] = []
    statuses: Counter = Counter()
    untaught: list[str] = []
    count = 0

    start: dict[str, str] = {}

    def attempt(requester: Requester, method: str, url: str, data: dict | None = None, what: str = "") -> Any:
        nonlocal count
        count += 1
        with transaction.atomic():  # every request is rolled back: the state before is `start`
            if method == "GET":
                response = requester.client.get(url, data or {})
            else:
                response = requester.client.post(url, data or {})
            refused = is_refusal(response)
            after = db_state(sql) if refused else start
            transaction.set_rollback(True)
        if method == "POST" and not refused:
            _drop_cache_keys(cache_prefix)  # what the rolled-back write cached is gone too
        requester.relogin_if_needed(response)
        statuses[(requester.label, response.status_code // 100)] += 1
        label = f"{method} {url} {what} as {requester.label}"
        if response.status_code >= 500:
            exc = getattr(response, "exc_info", None)
            failures.append(f"{label}: {response.status_code} {exc[1]!r}" if exc else f"{label}: {response.status_code}")
        elif refused and start != after:
            changed = sorted(k for k in after if start.get(k) != after[k])
            failures.append(f"{label}: refused ({response.status_code}) but changed {', '.join(changed)}")
        return response

    # 1. Every route, filled with the org's own objects.
    urls: list[str] = []
    for route in walk():
        if any(route.pattern.startswith(prefix) for prefix in SKIPPED):
            continue
        if not route.buildable or any(name not in FILLERS for name in route.kwargs):
            untaught.append(route.label)
            continue
        for kind in (KINDS if "module" in route.kwargs else [TEAM]):
            try:
                filled = fill(route, kind, [w] * len(route.kwargs))
            except Unfillable:
                continue
            url = route.url({k: f.value for k, f in filled.items()})
            if url not in urls:
                urls.append(url)

    # 2. Read each page (as admin and visitor): its forms and its links with queries.
    get_targets: dict[tuple[str, str], dict[str, list[str]]] = {}  # (requester, path) -> base query
    post_targets: dict[tuple[str, str, tuple], tuple[str, dict, dict, list]] = {}
    for requester in requesters:
        for url in urls:
            response = requester.client.get(url)
            requester.relogin_if_needed(response)
            if response.status_code >= 500:
                failures.append(f"GET {url} as {requester.label}: {response.status_code}")
            if requester.user is None and response.status_code in (301, 302) and "/login/" in response.get(
                    "Location", ""):
                continue  # visitors are sent to log in: nothing more to try as one
            get_targets.setdefault((requester.label, url), {})
            if response.status_code >= 400 or "html" not in response.get("Content-Type", ""):
                post_targets.setdefault((requester.label, url, ()), (url, {}, {}, []))
                continue
            parser = PageParser()
            parser.feed(response.content.decode("utf-8", "replace"))
            for link in parser.links:
                parts = urlsplit(link)
                path = parts.path or url
                if parts.netloc or not path.startswith("/") or _route_name(path) is None:
                    continue
                query = {}
                for key, value in parse_qsl(parts.query, keep_blank_values=True):
                    query.setdefault(key, []).append(value)
                get_targets.setdefault((requester.label, path), {}).update(query)
            for form in parser.forms:
                action = form["action"] or url
                parts = urlsplit(action)
                path = parts.path or url
                if parts.netloc or _route_name(path) is None:
                    continue
                if form["method"] == "get":
                    get_targets.setdefault((requester.label, path), {}).update(
                        {k: v for k, v in form["fields"].items()})
                    continue
                target = path + (f"?{parts.query}" if parts.query else "")
                key = (requester.label, _route_name(path), tuple(sorted(form["fields"])))
                post_targets.setdefault(key, (target, form["fields"], form["kinds"], form["files"]))

    get_targets = {key: get_targets[key] for key in sorted(get_targets)[shard::SHARDS]}
    post_targets = {key: post_targets[key] for key in sorted(post_targets, key=repr)[shard::SHARDS]}
    by_label = {r.label: r for r in requesters}
    start = db_state(sql)

    # 3. GET: each parameter in turn with each hostile value, then all of them at once.
    for (label, path), base in get_targets.items():
        requester = by_label[label]
        names = list(dict.fromkeys([*base, *COMMON]))
        response = attempt(requester, "GET", path, {name: NUL for name in names}, "(NUL everywhere)")
        if response.status_code != 400:
            failures.append(f"GET {path} with NUL as {label}: {response.status_code}, not 400")
        # A page whose links and forms carry no query gets fewer: views read little of it.
        for value in (HOSTILE if base else [HUGE, LONG]):
            attempt(requester, "GET", path, {name: value for name in names}, f"(all={value[:12]})")
        for name in base:
            for value in HOSTILE[:2]:
                attempt(requester, "GET", path, {**base, name: value}, f"({name}={value[:12]})")

    # 4. POST: each field in turn with each hostile value (the others as the page had them),
    #    every field at once with each, and the COMMON names on pages without a form.
    for (label, name_of_route, _fields), (target, fields, kinds, files) in post_targets.items():
        requester = by_label[label]
        if requester.user is not None and name_of_route in NO_POST:
            continue
        uploads = {name: SimpleUploadedFile("fuzz.txt", b"fuzz") for name in files}
        base = {k: v for k, v in fields.items() if k != "csrfmiddlewaretoken"}
        names = list(base) or COMMON
        response = attempt(requester, "POST", target, {**{n: NUL for n in names}, **uploads}, "(NUL everywhere)")
        if response.status_code != 400:
            failures.append(f"POST {target} with NUL as {label}: {response.status_code}, not 400")
        for value in (HUGE, "-1", LONG):  # unknown choices and ids: field by field, below
            attempt(requester, "POST", target, {**{n: value for n in names}, **uploads}, f"(all={value[:12]})")
        for name in _one_of_each_pattern(base):
            kind = kinds.get(name, "text")
            values = [NOT_A_URL if name in URL_NAMES else SHARP.get(kind, LONG)]
            if kind in ID_KINDS:
                values.insert(0, HUGE)
            for value in values:
                fresh = {n: SimpleUploadedFile("fuzz.txt", b"fuzz") for n in files}
                attempt(requester, "POST", target, {**base, name: value, **fresh}, f"({name}={value[:12]})")

    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\nfuzz sweep, shard {shard + 1}/{SHARDS}: {len(urls)} URLs, {len(get_targets)} GET targets, {len(post_targets)} forms, "
              f"{count} requests in {elapsed:.1f} s; answers {dict(sorted(statuses.items()))}; "
              f"{len(failures)} failures; not built: {', '.join(untaught) or 'none'}")
    assert not untaught, f"teach the sweep (FILLERS in test_isolation_sweep) how to fill: {untaught}"
    if failures:
        pytest.fail(f"{len(failures)} fuzz failures:\n" + "\n".join(failures[:200]), pytrace=False)

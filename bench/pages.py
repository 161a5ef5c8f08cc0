"""Benchmark of whole pages at 1,000,000 accounts: test client and gunicorn, admin vs standard user.

Usage (env as for the app: DATABASE_URL, REDIS_URL, DJANGO_SETTINGS_MODULE=config.settings)::

    python bench/pages.py [--accounts N] [--team-records T] [--runs R] [--warmup W] [--http-runs H]
                          [--sql-runs S] [--no-http] [--no-explain] [--only TEXT]

It builds (or reuses) "Pages Bench Org" with N accounts (0.3 N contacts, 0.2 N deals) and a team
module of T records, "Pages Other Org" with N/10 accounts (rows the tenant filter must exclude) and
"Pages Small Org" with 200 accounts and 200 team records (to compare query counts with); see
bench/pages_data.py. Then, for the org admin and for a standard user whom 3 sharing rules and
1,000 manual shares include, it times every page of PAGES:

- through Django's test client (server time: middleware, view, SQL, template), p50/p95;
- over HTTP against gunicorn with 2 workers (client-side time of one request at a time), p50/p95;
- the number of SQL queries of each page on the small and the large org (exit status 1 when a page
  runs more on the large one);
- each page's main SQL (as captured from the page) against its hand-written twin, written around
  the same visibility predicate (the WHERE `access.visible` compiles for that user), p50/p95;
- EXPLAIN (ANALYZE, BUFFERS) of each main SQL.

A page whose URL does not exist yet (NoReverseMatch or 404) is reported as "not available".
See docs/benchmarks.md, "Pages". This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402

from access import seal  # noqa: E402
from access.visibility import bind_org  # noqa: E402
from bench import pages_data  # noqa: E402
from bench.pages_twins import same_rows, twins_for  # noqa: E402
from bench.timing import percentile, require_migrated  # noqa: E402

GOAL_MS = 150.0
TYPEAHEAD_GOAL_MS = 50.0
USER_RATIO_GOAL = 1.2
TWIN_RATIO_GOAL = 1.5
SEARCH_CANDIDATES = ("search:search", "crm:search", "search", "crm:global_search")


@dataclass
class Page:
    name: str
    url: Callable[[pages_data.OrgBench], str]  # may raise NoReverseMatch: not available yet
    kind: str  # which twins apply (see bench/pages_twins.py)
    params: dict[str, str] = field(default_factory=dict)
    goal_ms: float = GOAL_MS


def _search_url(bench: pages_data.OrgBench) -> str:
    for name in SEARCH_CANDIDATES:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    raise NoReverseMatch("no global search URL")


def _module_url(name: str, module: str, *args: Any) -> Callable[[pages_data.OrgBench], str]:
    return lambda bench: reverse(name, args=[bench.team_module.key if module == "team" else module, *args])


PAGES = [
    Page("accounts list", _module_url("crm:list", "accounts"), "list"),
    Page("accounts list, sort by name", _module_url("crm:list", "accounts"), "list", {"sort": "name"}),
    Page("accounts list, sort by score", _module_url("crm:list", "accounts"), "list", {"sort": "{score}"}),
    Page("accounts list, search 星辰", _module_url("crm:list", "accounts"), "list", {"q": "星辰"}),
    Page("accounts list, page 50", _module_url("crm:list", "accounts"), "list", {"page": "50"}),
    Page("account detail", lambda b: reverse("crm:detail", args=["accounts", b.account_id]), "detail"),
    Page("accounts kanban", _module_url("crm:kanban", "accounts"), "kanban"),
    Page("deals kanban", _module_url("crm:kanban", "deals"), "kanban"),
    Page("account type-ahead 星辰", _module_url("crm:lookup", "accounts"), "lookup", {"q": "星辰"},
         TYPEAHEAD_GOAL_MS),
    Page("global search Acme", _search_url, "search", {"q": "Acme"}),
    Page("global search 星辰科技", _search_url, "search", {"q": "星辰科技"}),
    Page("global search 上海", _search_url, "search", {"q": "上海"}),
    Page("team list", _module_url("crm:list", "team"), "list"),
    Page("team kanban", _module_url("crm:kanban", "team"), "kanban"),
    Page("team chart", _module_url("crm:chart", "team"), "chart"),
    Page("Requests tab", lambda b: reverse("teams:requests"), "requests"),
]


def page_path(page: Page, bench: pages_data.OrgBench) -> str | None:
    """The page's path for this org, or None when its URL does not exist yet."""
    try:
        url = page.url(bench)
    except NoReverseMatch:
        return None
    params = {k: v.format(score=bench.score_key) for k, v in page.params.items()}
    return url + ("?" + urllib.parse.urlencode(params) if params else "")


# --------------------------------------------------------------------------- the test client
def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def get(client: Client, path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. whitenoise's "no STATIC_ROOT" on a bench checkout
        return client.get(path)


def captured(client: Client, path: str) -> tuple[int, list[str], tuple[float, str]]:
    """(status, every SQL statement of one request, (ms, text) of its slowest statement), after
    one request to fill per-process caches."""
    get(client, path)
    with CaptureQueriesContext(connection) as queries:
        status = get(client, path).status_code
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default={"time": "0", "sql": ""})
    return status, [q["sql"] for q in queries.captured_queries], (float(slowest["time"]) * 1000, slowest["sql"])


def time_client(client: Client, path: str, runs: int, warmup: int) -> tuple[list[float], list[float]]:
    """Whole-request times and, for each, the part spent executing SQL (ms)."""
    for _ in range(warmup):
        get(client, path)
    times, in_sql = [], []
    spent = [0.0]

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - started

    for _ in range(runs):
        spent[0] = 0.0
        started = time.perf_counter()
        with connection.execute_wrapper(wrapper):
            get(client, path)
        times.append((time.perf_counter() - started) * 1000)
        in_sql.append(spent[0] * 1000)
    return times, in_sql


# --------------------------------------------------------------------------- gunicorn
class Gunicorn:
    """gunicorn with 2 sync workers on a loopback port, DEBUG off, for the HTTP timings."""

    def __init__(self, port: int) -> None:
        self.port = port
        env = {**os.environ, "DEBUG": "false"}
        self.log = tempfile.TemporaryFile()  # a file, not a pipe: nobody reads it while requests run
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.5)
        self.stop()
        self.log.seek(0)
        raise SystemExit(f"gunicorn did not start:\n{self.log.read().decode(errors='replace')[-2000:]}")

    def get(self, path: str, cookie: str) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers={"Cookie": cookie})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def time(self, path: str, cookie: str, runs: int, warmup: int) -> list[float]:
        for _ in range(warmup):
            self.get(path, cookie)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            self.get(path, cookie)
            times.append((time.perf_counter() - started) * 1000)
        return times

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def session_cookie(client: Client) -> str:
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


# --------------------------------------------------------------------------- SQL vs twin
def raw_runner(sql: str, params: Any = None) -> Callable[[], list]:
    def run() -> list:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    return run


def alternate(first: Callable[[], Any], second: Callable[[], Any], runs: int) -> tuple[list[float], list[float]]:
    """Both a few times untimed, then R runs each, alternating which goes first (ms)."""
    for _ in range(2):
        first()
        second()
    a: list[float] = []
    b: list[float] = []
    for i in range(runs):
        pair = ((first, a), (second, b))
        for fn, times in (pair if i % 2 == 0 else pair[::-1]):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
    return a, b


def _walk(node: dict, out: list[dict]) -> None:
    out.append(node)
    for child in node.get("Plans", []):
        _walk(child, out)


def explain(sql: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the page's own SQL text, summarised in one line."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    nodes: list[dict] = []
    _walk(top, nodes)
    scans = []
    for node in nodes:
        if "Scan" in node["Node Type"] and node.get("Relation Name", "").startswith(("crm_", "teams_")) or (
                "Index Name" in node and node["Index Name"].startswith(("account", "contact", "deal", "teamrecord"))):
            target = node.get("Index Name") or node.get("Relation Name", "")
            removed = node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
            scans.append(f"{node['Node Type']} {target} (rows {node['Actual Rows'] * node.get('Actual Loops', 1):g}"
                         + (f", filter removed {removed:g}" if removed else "") + ")")
    sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
    sort = f"; {sorts[0]['Node Type']} {sorts[0].get('Sort Method', '')}" if sorts else ""
    return (f"{top['Node Type']}, {plan[0]['Execution Time']:.1f} ms exec, {plan[0]['Planning Time']:.1f} ms plan, "
            f"{top.get('Shared Hit Blocks', 0) + top.get('Shared Read Blocks', 0)} buffers{sort}; "
            + "; ".join(dict.fromkeys(scans)))


# --------------------------------------------------------------------------- report helpers
def p50_p95(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), percentile(times, 95)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@dataclass
class PageResult:
    page: Page
    user: str
    path: str | None
    status: int | None = None
    client: tuple[float, float] | None = None
    http: tuple[float, float] | None = None
    queries_small: int | None = None
    queries_large: int | None = None
    in_sql: float | None = None  # p50 of the part of a request spent executing SQL (ms)
    slowest: tuple[float, str] = (0.0, "")  # the request's slowest statement: (ms, SQL)
    twins: list[tuple[str, float, float, float, float, str]] = field(default_factory=list)
    plans: list[tuple[str, str]] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.path is not None and self.status not in (404, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000, help="accounts in the large org (default 1000000)")
    parser.add_argument("--team-records", type=int, default=100_000, help="records of its team module (100000)")
    parser.add_argument("--runs", type=int, default=20, help="timed test-client requests per page and user (20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (3)")
    parser.add_argument("--http-runs", type=int, default=20, help="timed HTTP requests per page and user (20)")
    parser.add_argument("--sql-runs", type=int, default=20, help="timed runs of each main SQL and its twin (20)")
    parser.add_argument("--port", type=int, default=8765, help="gunicorn's loopback port (8765)")
    parser.add_argument("--no-http", action="store_true", help="skip the gunicorn timings")
    parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN plans")
    parser.add_argument("--only", default="", help="only pages whose name contains this text")
    parser.add_argument("--build-only", action="store_true", help="build or check the fixtures, then stop")
    args = parser.parse_args()
    if settings.DEBUG:
        print("warning: DEBUG is on; the figures include its overhead (set DEBUG=false).")
    require_migrated()
    started_load = load()
    # Other sizes get orgs of their own, so a quick run never rebuilds the million rows.
    suffix = "" if (args.accounts, args.team_records) == (1_000_000, 100_000) else f" {args.accounts}"
    tag = suffix.strip()
    # The fixtures are built by the owner (DATABASE_AS_OWNER=1 ... --build-only); run as the
    # application's role, the pages are timed behind the tenant seal and this only checks them.
    with seal.cross_org("bench: building or checking the fixtures"):
        large = pages_data.ensure_org(f"Pages Bench Org{suffix}", f"pbench{tag}",
                                      pages_data.Sizes.for_accounts(args.accounts, args.team_records))
        pages_data.ensure_org(f"Pages Other Org{suffix}", f"pother{tag}",
                              pages_data.Sizes.for_accounts(args.accounts // 10, 1000))
        small = pages_data.ensure_org("Pages Small Org", "psmall", pages_data.Sizes.for_accounts(200, 200))
        for bench in (large, small):
            pages_data.build_field_indexes(bench)
        pages_data.vacuum_analyze()
        if args.build_only:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT version(), (SELECT count(*) FROM crm_account), (SELECT count(*) FROM crm_contact), "
                           "(SELECT count(*) FROM crm_deal), (SELECT count(*) FROM teams_teamrecord), current_user, "
                           "row_security_active('crm_account')")
            version, *totals, role, sealed = cursor.fetchone()
    print(version)
    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, DEBUG={settings.DEBUG}")
    print(f"rows: crm_account {totals[0]}, crm_contact {totals[1]}, crm_deal {totals[2]}, teams_teamrecord {totals[3]}")
    print(f"large org: {large.sizes}; small org: {small.sizes}")
    print(f"database role: {role}; tenant seal (row-level security) {'on' if sealed else 'off'}")
    print(f"load average at start (before the fixtures): {started_load}; now: {load()}", flush=True)

    pages = [p for p in PAGES if args.only in p.name]
    users = {"admin": (large.admin, small.admin), "standard": (large.standard, small.standard)}
    results: list[PageResult] = []
    server = None if args.no_http else Gunicorn(args.port)
    try:
        for role, (large_user, small_user) in users.items():
            large_client, small_client = client_for(large_user), client_for(small_user)
            cookie = session_cookie(large_client)
            for page in pages:
                result = PageResult(page, role, page_path(page, large))
                results.append(result)
                if result.path is None:
                    continue
                result.status, sql_large, result.slowest = captured(large_client, result.path)
                if result.status == 404:
                    continue
                small_path = page_path(page, small)
                _status, sql_small, _slowest = captured(small_client, small_path)
                result.queries_large, result.queries_small = len(sql_large), len(sql_small)
                times, in_sql = time_client(large_client, result.path, args.runs, args.warmup)
                result.client, result.in_sql = p50_p95(times), statistics.median(in_sql)
                if server is not None:
                    result.http = p50_p95(server.time(result.path, cookie, args.http_runs, args.warmup))
                sealed_to_large = seal.bound(large.org.pk, large_user.pk)  # as the page's request is
                sealed_to_large.__enter__()
                bound = bind_org(type(large_user).objects.get(pk=large_user.pk), large.org)
                for twin in twins_for(page.kind, bound, large, result.path, sql_large):
                    run_main, run_hand = raw_runner(twin.main_sql), raw_runner(*twin.hand)
                    agree = same_rows(run_main(), run_hand())
                    main, hand = alternate(run_main, run_hand, args.sql_runs)
                    (m50, m95), (h50, h95) = p50_p95(main), p50_p95(hand)
                    note = "; ".join(filter(None, [twin.note, "" if agree else "RESULTS DIFFER"]))
                    result.twins.append((twin.label, m50, m95, h50, h95, note))
                    if not args.no_explain:
                        result.plans.append((twin.label, explain(twin.main_sql)))
                if not result.twins and not args.no_explain and result.slowest[1].startswith(("SELECT", "(SELECT")):
                    # No twin for this page (e.g. global search): the plan of its slowest statement.
                    result.plans.append(("slowest statement", explain(result.slowest[1])))
                sealed_to_large.__exit__(None, None, None)
                print(f"  {role:<8} {page.name:<32} status {result.status} client p50/p95 "
                      f"{fmt(result.client[0])}/{fmt(result.client[1])} ms (SQL {fmt(result.in_sql)})"
                      + (f", http {fmt(result.http[0])}/{fmt(result.http[1])} ms" if result.http else "")
                      + f", queries {result.queries_small} -> {result.queries_large}", flush=True)
    finally:
        if server is not None:
            server.stop()
    ended_load = load()
    failed = report(results)
    print(f"\nload average at start: {started_load}; at end: {ended_load}")
    if failed:
        print("FAILED: some pages run more queries on the large org than on the small one.")
        sys.exit(1)


def report(results: list[PageResult]) -> bool:
    """Prints the tables (Markdown, for docs/benchmarks.md); True when query counts grow."""
    by_key = {(r.page.name, r.user): r for r in results}
    names = list(dict.fromkeys(r.page.name for r in results))
    print("\n### Page times (ms): test client (server time) and HTTP via gunicorn (2 workers)\n")
    print("| page | admin p50 | admin p95 | standard p50 | standard p95 | std/admin p95 | HTTP admin p50/p95 "
          "| HTTP std p50/p95 | goal p95 | queries 200 → large (admin, std) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    grew = False
    misses = []
    for name in names:
        admin, std = by_key.get((name, "admin")), by_key.get((name, "standard"))
        if not (admin and admin.available) and not (std and std.available):
            print(f"| {name} | not available | | | | | | | | |")
            continue
        cells = []
        for r in (admin, std):
            cells += [fmt(r.client[0]), fmt(r.client[1])] if r and r.client else ["—", "—"]
        ratio = (std.client[1] / admin.client[1]) if admin and std and admin.client and std.client else None
        https = [f"{fmt(r.http[0])} / {fmt(r.http[1])}" if r and r.http else "—" for r in (admin, std)]
        counts = []
        for r in (admin, std):
            if r and r.queries_large is not None:
                more = r.queries_large > r.queries_small
                grew |= more
                counts.append(f"{r.queries_small} → {r.queries_large}" + (" **MORE**" if more else ""))
        goal = admin.page.goal_ms if admin else GOAL_MS
        print(f"| {name} | {' | '.join(cells)} | {fmt(ratio)}x | {' | '.join(https)} | {goal:.0f} | "
              f"{', '.join(counts)} |")
        for r in (admin, std):
            if r and r.client and r.client[1] > goal:
                misses.append(f"{name} ({r.user}): p95 {r.client[1]:.0f} ms > {goal:.0f} ms "
                              f"({r.client[1] / goal:.1f}x the goal)")
        if ratio is not None and ratio > USER_RATIO_GOAL:
            misses.append(f"{name}: standard/admin {ratio:.2f}x > {USER_RATIO_GOAL}x")
    print("\n### Where the time goes (test client, p50 ms)\n")
    print("| page | user | request | of which SQL | the rest (Python: view, ORM, template) | slowest statement |")
    print("|---|---|---:|---:|---:|---|")
    for r in results:
        if r.client and r.in_sql is not None:
            ms, sql = r.slowest
            print(f"| {r.page.name} | {r.user} | {r.client[0]:.0f} | {r.in_sql:.0f} | {r.client[0] - r.in_sql:.0f} | "
                  f"{ms:.0f} ms: `{sql[:70].replace('|', '/')}…` |")
    print("\n### Main SQL vs hand-written twin (ms; same predicate)\n")
    print("| page | user | query | page SQL p50 | p95 | twin p50 | p95 | ratio p50 | ratio p95 | note |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        for label, m50, m95, h50, h95, note in r.twins:
            ratio = m95 / h95 if h95 else 0
            print(f"| {r.page.name} | {r.user} | {label} | {m50:.1f} | {m95:.1f} | {h50:.1f} | {h95:.1f} | "
                  f"{m50 / h50 if h50 else 0:.2f}x | {ratio:.2f}x | {note} |")
            if ratio > TWIN_RATIO_GOAL:
                misses.append(f"{r.page.name} ({r.user}) {label}: page SQL {ratio:.2f}x its twin")
    if any(r.plans for r in results):
        print("\n### EXPLAIN (ANALYZE, BUFFERS) of the main SQL\n")
        for r in results:
            for label, plan in r.plans:
                print(f"- {r.page.name}, {r.user}, {label}: {plan}")
    print("\n### Goals missed\n")
    for miss in misses or ["none"]:
        print(f"- {miss}")
    return grew


if __name__ == "__main__":
    import urllib.error  # noqa: F401  (urllib.request's errors)
    import urllib.parse  # noqa: F401

    main()

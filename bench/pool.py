"""Benchmark of the customer pool at 10,000, 100,000 and 1,000,000 waiting records: is its cost flat?

Usage (env as for the app: DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, DJANGO_SETTINGS_MODULE)::

    python bench/pool.py [--sizes 10000,100000,1000000] [--runs R] [--warmup W] [--claim-runs C]
                         [--recycle-runs K] [--only TEXT] [--no-explain] [--build-only]

For each size it builds (or reuses: see bench/pool_data.py) an organisation whose leads pool holds
that many waiting leads (masked phone and e-mail), the same 20 reps and 10,000 claimed leads, and
measures, smallest size first:

- as a pool member rep, through Django's test client (middleware, view, SQL, template): the pool
  list's first page, a keyset page half-way down the pool, the leads list sorted by company (the
  sort a member has over the pool's records: the pool list itself is newest entries first),
  a search (`q=星辰`), a filter on an unmasked field (company) and on a masked one (phone);
- the claim of 1 and of 20 waiting records through `pool.actions.do_claim_records` (a fresh user
  object each time, as a request has), each released back to the pool afterwards (not timed), so
  the pool keeps its size;
- the pool dashboard, as the pool's administrator;
- the recycling job over the pool (`pool.recycle_actions.sweep`, what the beat job runs per pool),
  with about 1 in 31 claimed leads due and 2 in 31 to be warned; the claimed leads are reset before
  every run.

It prints, for each size and item, p50/p95 (ms) and the number of SQL statements, then a table
across sizes (the query counts must be equal: exit status 1 if one grows) and, with EXPLAIN, the
plan of each item's slowest statement at the largest size. See docs/benchmarks.md, "Customer
pool". This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from access.models import User  # noqa: E402
from access.visibility import bind_org  # noqa: E402
from bench import pool_data  # noqa: E402
from bench.timing import percentile, require_migrated  # noqa: E402
from pool import actions as pool_actions  # noqa: E402
from pool.models import PoolState  # noqa: E402
from pool.recycle_actions import sweep  # noqa: E402
from pool.views import cursor as page_cursor  # noqa: E402

SIZES = (10_000, 100_000, 1_000_000)


@dataclass
class Item:
    name: str
    kind: str  # "page" (test client, as `who`), "claim" (n records), "recycle"
    who: str = "rep"
    path: Callable[[pool_data.PoolBench], str] | None = None
    claim: int = 0


def _list(**params: str) -> Callable[[pool_data.PoolBench], str]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return lambda b: reverse("crm:list", args=["leads"]) + (f"?{query}" if query else "")


def _half_way(bench: pool_data.PoolBench) -> str:
    """The pool list's keyset page that starts half-way down the pool (the cursor is read with
    an OFFSET once, not timed)."""
    state = (PoolState.objects.filter(org=bench.org, pool=bench.pool, in_pool=True)
             .order_by("-entered_at", "-record_id")[bench.size // 2])
    return reverse("pool:list", args=[bench.pool.pk]) + f"?after={page_cursor(state)}"


ITEMS = [
    Item("pool list, first page", "page", path=lambda b: reverse("pool:list", args=[b.pool.pk])),
    Item("pool list, keyset page half-way", "page", path=_half_way),
    Item("leads list, sorted by company", "page", path=_list(sort="company")),
    Item("leads list, search 星辰", "page", path=_list(q="星辰")),
    Item("leads list, filter company 星辰 (unmasked)", "page", path=_list(company="星辰")),
    Item("leads list, filter phone 0013 (masked)", "page", path=_list(phone="0013")),
    Item("claim 1 record", "claim", claim=1),
    Item("claim 20 records", "claim", claim=20),
    Item("pool dashboard (pool admin)", "page", who="pool_admin",
         path=lambda b: reverse("pool:dashboard", args=[b.pool.pk])),
    Item("recycling job (sweep of the pool)", "recycle"),
]


@dataclass
class Result:
    item: Item
    size: int
    times: list[float] = field(default_factory=list)
    queries: int = 0
    status: int | None = None
    slowest: tuple[float, str] = (0.0, "")
    note: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        return percentile(self.times, 95)


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- pages
def _get(client: Client, path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. whitenoise's "no STATIC_ROOT" on a bench checkout
        return client.get(path)


def _slowest(queries: CaptureQueriesContext) -> tuple[float, str]:
    found = max(queries.captured_queries, key=lambda q: float(q["time"]), default={"time": "0", "sql": ""})
    return float(found["time"]) * 1000, found["sql"]


def measure_page(result: Result, client: Client, path: str, runs: int, warmup: int) -> None:
    """`warmup` untimed requests (they fill the per-process and Redis caches, as a warm server
    has them), `runs` timed ones, then one more whose statements are counted."""
    result.status = _get(client, path).status_code
    if result.status != 200:
        return
    for _ in range(warmup):
        _get(client, path)
    for _ in range(runs):
        started = time.perf_counter()
        _get(client, path)
        result.times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        _get(client, path)
    result.queries, result.slowest = len(queries.captured_queries), _slowest(queries)


# --------------------------------------------------------------------------- claims
def _fresh(user: User, bench: pool_data.PoolBench) -> User:
    """A new user object bound to the org, as each request has (no memo of an earlier call)."""
    return bind_org(User.objects.get(pk=user.pk), bench.org)


def _waiting_ids(bench: pool_data.PoolBench, count: int, rng: random.Random) -> list[int]:
    """`count` waiting leads the rep never held (so no cool-down), from a random place in the
    pool: a range read of the (org, module, record_id) index."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(record_id), max(record_id) FROM pool_poolstate WHERE org_id = %s AND pool_id = %s "
                       "AND in_pool", [bench.org.pk, bench.pool.pk])
        low, high = cursor.fetchone()
        cursor.execute("""SELECT record_id FROM pool_poolstate WHERE org_id = %s AND module = 'leads'
                          AND record_id >= %s AND pool_id = %s AND in_pool
                          AND former_owner_id IS DISTINCT FROM %s ORDER BY record_id LIMIT %s""",
                       [bench.org.pk, rng.randint(low, high), bench.pool.pk, bench.rep.pk, count])
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) == count else _waiting_ids(bench, count, rng)


def measure_claims(result: Result, bench: pool_data.PoolBench, runs: int, warmup: int) -> None:
    schema = bench.schema()
    rng = random.Random(result.size * 31 + result.item.claim)

    def one(capture: bool) -> float:
        ids = _waiting_ids(bench, result.item.claim, rng)
        rep = _fresh(bench.rep, bench)
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            rows = pool_actions.do_claim_records(schema, ids, actor=rep)
            spent = (time.perf_counter() - started) * 1000
        if len(rows) != len(ids):
            raise SystemExit(f"claimed {len(rows)} of {len(ids)}")
        if capture:
            result.queries, result.slowest = len(queries.captured_queries), _slowest(queries)
        # Back to the pool, so it keeps its size (not timed).
        pool_actions.do_release_records(schema, ids, bench.pool.pk, actor=_fresh(bench.rep, bench),
                                        reason="Bench: back to the pool")
        return spent

    one(capture=True)
    for _ in range(warmup):
        one(capture=False)
    result.times = [one(capture=False) for _ in range(runs)]
    result.status = 200


# --------------------------------------------------------------------------- recycling
def measure_recycling(result: Result, bench: pool_data.PoolBench, runs: int) -> None:
    """Each run: the claimed leads reset (not timed), then one sweep of the pool, as the beat job
    runs it. One untimed run first (it also sends the day's warnings: later runs find them sent,
    as a retried job does); the last run's statements are counted."""
    done: list[dict[str, int]] = []
    for i in range(runs + 1):
        pool_data.reset_claimed(bench)
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            done.append(sweep(bench.policy, timezone.now()))
            spent = (time.perf_counter() - started) * 1000
        if i > 0:
            result.times.append(spent)
    result.queries, result.slowest = len(queries.captured_queries), _slowest(queries)
    pool_data.reset_claimed(bench)
    result.status = 200
    result.note = f"{done[-1]['recycled']} recycled a run"


# --------------------------------------------------------------------------- EXPLAIN
def _walk(node: dict, out: list[dict]) -> None:
    out.append(node)
    for child in node.get("Plans", []):
        _walk(child, out)


def explain(sql: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a captured statement, in one line: time, buffers, the scans."""
    if not sql.lstrip().upper().startswith("SELECT"):
        return "(not a SELECT)"
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
        if "Scan" in node["Node Type"]:
            target = node.get("Index Name") or node.get("Relation Name", "")
            rows = node["Actual Rows"] * node.get("Actual Loops", 1)
            removed = node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
            scans.append(f"{node['Node Type']} {target} (rows {rows:g}" + (f", removed {removed:g}" if removed else "")
                         + ")")
    return (f"{plan[0]['Execution Time']:.1f} ms, {top.get('Shared Hit Blocks', 0) + top.get('Shared Read Blocks', 0)}"
            f" buffers; " + "; ".join(dict.fromkeys(scans)))


# --------------------------------------------------------------------------- main
def run_size(bench: pool_data.PoolBench, items: list[Item], args: argparse.Namespace) -> list[Result]:
    clients = {}
    for who, user in (("rep", bench.rep), ("pool_admin", bench.pool_admin)):
        clients[who] = Client()
        clients[who].force_login(user)
    results = []
    for item in items:
        result = Result(item, bench.size)
        if item.kind == "page":
            measure_page(result, clients[item.who], item.path(bench), args.runs, args.warmup)
        elif item.kind == "claim":
            measure_claims(result, bench, args.claim_runs, 1)
        else:
            measure_recycling(result, bench, args.recycle_runs)
        times = f"{result.p50:8.1f} {result.p95:8.1f}" if result.times else f"{'—':>8} {'—':>8}"
        print(f"  {item.name:<44} {times} {result.queries:5d}  status {result.status} "
              f"slowest {result.slowest[0]:.1f} ms {result.note}", flush=True)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="waiting records per pool, smallest first (10000,100000,1000000)")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page (20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (3)")
    parser.add_argument("--claim-runs", type=int, default=20, help="timed claims of each batch size (20)")
    parser.add_argument("--recycle-runs", type=int, default=5, help="timed recycling runs (5, after one untimed)")
    parser.add_argument("--only", default="", help="only items whose name contains this text")
    parser.add_argument("--no-explain", action="store_true", help="skip the plans of the slowest statements")
    parser.add_argument("--build-only", action="store_true", help="build or check the fixtures, then stop")
    args = parser.parse_args()
    if settings.DEBUG:
        print("warning: DEBUG is on; the figures include its overhead (set DEBUG=false).")
    require_migrated()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    items = [i for i in ITEMS if args.only.lower() in i.name.lower()]
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(f"PostgreSQL {version}; {os.cpu_count()} cores; load average at start {load()}", flush=True)
    started = time.perf_counter()
    by_size: dict[int, list[Result]] = {}
    benches = {}
    for size in sizes:
        benches[size] = pool_data.ensure_org(size)
        if args.build_only:
            continue
        print(f"\n{size:,} waiting records (load {load()}):\n  {'item':<44} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'SQL':>5}", flush=True)
        by_size[size] = run_size(benches[size], items, args)
    print(f"\nload average at end {load()}; {time.perf_counter() - started:.0f} s", flush=True)
    if args.build_only:
        return
    header = " | ".join(f"{s:,}: p50 / p95 (SQL)" for s in sizes)
    print(f"\n| item | {header} | largest / smallest p50 |")
    print("|---|" + "---:|" * len(sizes) + "---:|")
    grew = []
    for index, item in enumerate(items):
        cells, row = [], [by_size[s][index] for s in sizes]
        for result in row:
            cells.append(f"{result.p50:.1f} / {result.p95:.1f} ({result.queries})" if result.times else "—")
        ratio = f"{row[-1].p50 / row[0].p50:.2f}x" if row[0].times and row[-1].times else "—"
        print(f"| {item.name} | " + " | ".join(cells) + f" | {ratio} |")
        if len({r.queries for r in row}) > 1:
            grew.append(item.name)
    if not args.no_explain:
        print(f"\nSlowest statement of each item at {sizes[-1]:,} (EXPLAIN ANALYZE):")
        for result in by_size[sizes[-1]]:
            ms, sql = result.slowest
            try:
                summary = explain(sql)
            except Exception as exc:  # a statement that needs its transaction (FOR UPDATE ...)
                summary = f"(no plan: {type(exc).__name__})"
            print(f"- {result.item.name}: {ms:.1f} ms in the run; {summary}\n    {sql[:300]}")
    if grew:
        print(f"\nQuery counts differ across sizes: {', '.join(grew)}")
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Benchmark of the record list page's queries: ORM through `access.visible` vs hand-written SQL.

Usage (env as for the app: DATABASE_URL, REDIS_URL, DJANGO_SETTINGS_MODULE=config.settings)::

    python bench/list_views.py [--accounts N] [--runs R] [--warmup W] [--q TEXT]

It builds (or reuses) a bench organisation "Bench Org" with N accounts, then times, for
a standard user under a "private" org-wide default, for the admin, and for a search by
the standard user, the page-1 query and the count step of the accounts list, each
against the same query written by hand around the same visibility predicate (the WHERE
`access.visible` compiles for that user) and run through a raw cursor. It prints p50/p95
in milliseconds, the ORM/hand-written ratio, and an EXPLAIN (ANALYZE, BUFFERS) summary.
See docs/benchmarks.md. This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import secrets
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import QuerySet  # noqa: E402

from access.actions import do_add_user, do_set_org_default, do_sign_up  # noqa: E402
from access.models import Membership, Organization, OrgWideDefault, User  # noqa: E402
from access.visibility import bind_org, visible  # noqa: E402
from crm import selectors  # noqa: E402
from crm.models import Account  # noqa: E402
from crm.modules import get_module  # noqa: E402
from crm.schema import BoundSchema  # noqa: E402
from bench.pages_twins import predicate, search_condition  # noqa: E402
from bench.timing import percentile, require_migrated, timed_runs  # noqa: E402

ORG_NAME = "Bench Org"
OTHER_ORG_NAME = "Bench Other Org"
ADMIN_USERNAME = "bench_admin"
OTHER_ADMIN_USERNAME = "bench_other_admin"
STANDARD_USERS = 20  # so one standard user owns ~5% of the accounts
PER_PAGE = 25  # the list view's default page size
OTHER_ORG_SHARE = 2  # the second org gets N // OTHER_ORG_SHARE accounts
# Company-name parts for fixture names; the default search term appears in 1 of 40 parts.
NAME_PARTS = [
    "星辰", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "蓝天", "华夏", "Stark",
    "Wayne", "Tyrell", "Soylent", "Cyberdyne", "龙腾", "Aperture", "Oscorp", "Wonka", "金山", "Zenith",
    "Northwind", "Contoso", "Fabrikam", "Litware", "Adatum", "Tailspin", "Wingtip", "Proseware", "Lucerne",
    "Fourth Coffee", "长江", "泰山", "东方", "万达", "Nimbus", "Vertex", "Quantum", "Pioneer", "Summit", "Harbor",
]
SUFFIXES = ["Ltd", "Inc", "GmbH", "科技有限公司", "Group", "Labs", "Systems", "Partners", "贸易有限公司", "Holdings"]
CITIES = ["Beijing", "Shanghai", "Shenzhen", "Berlin", "London", "New York", "Singapore", "Chennai", "São Paulo"]
INDUSTRIES = ["technology", "manufacturing", "finance", "healthcare", "retail", "education", "other"]


# --------------------------------------------------------------------------- fixtures
@dataclass
class Bench:
    org: Organization
    admin: User
    standard: User  # the measured standard user (owns ~5% of the accounts)
    other_org: Organization


def _ensure_org(name: str, admin_username: str, standard_users: int) -> tuple[Organization, User, list[User]]:
    """The org, its bound admin and its standard users, created through the access actions."""
    membership = (Membership.objects.select_related("org", "user")
                  .filter(org__name=name, user__username=admin_username).first())
    if membership is None:
        # Random passwords: bench users are not meant to log in.
        membership = do_sign_up(org_name=name, username=admin_username, email=f"{admin_username}@bench.example",
                                password=secrets.token_urlsafe(16), first_name="Bench", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    users = []
    for i in range(1, standard_users + 1):
        username = f"{admin_username.removesuffix('_admin')}_user{i:02d}"
        existing = User.objects.filter(username=username, memberships__org=org).first()
        if existing is None:
            existing = do_add_user(org, username=username, email=f"{username}@bench.example",
                                   password=secrets.token_urlsafe(16), role=Membership.Role.STANDARD,
                                   first_name="Bench", last_name=f"User {i:02d}", actor=admin).user
        users.append(existing)
    return org, admin, users


def _insert_accounts(org: Organization, owners: list[int], admin_id: int, n: int) -> None:
    """Fixture data for measurement only: rows written in SQL, not through crm.actions
    (N record actions with their timeline entries would take far too long), so they
    carry no timeline. Owners, names and times come from a hash of the row number:
    deterministic, spread evenly over the owners and over about a year; 2% are soft-deleted.
    """
    sql = f"""
        INSERT INTO {Account._meta.db_table}
            (org_id, owner_id, version, custom, created_at, created_by_id, modified_at, modified_by_id,
             deleted_at, deleted_by_id, name, industry, employees, website, phone, city, country, description)
        SELECT %(org)s,
               (%(owners)s::bigint[])[1 + mod(h, cardinality(%(owners)s::bigint[]))],
               1, '{{}}'::jsonb, t - interval '30 days', %(admin)s, t, %(admin)s,
               CASE WHEN mod(i, 50) = 0 THEN t END, CASE WHEN mod(i, 50) = 0 THEN %(admin)s END,
               (%(parts)s::text[])[1 + mod(h / 97, cardinality(%(parts)s::text[]))] || ' '
                   || (%(suffixes)s::text[])[1 + mod(h / 9973, cardinality(%(suffixes)s::text[]))] || ' ' || i,
               (%(industries)s::text[])[1 + mod(h / 7, cardinality(%(industries)s::text[]))],
               mod(h, 5000), 'https://example.com/' || i,
               '+86138' || lpad(mod(i * 7919, 100000000)::text, 8, '0'),
               (%(cities)s::text[])[1 + mod(h / 13, cardinality(%(cities)s::text[]))], '', ''
        FROM generate_series(1, %(n)s) AS i,
             LATERAL (SELECT hashint4(i)::bigint + 2147483648 AS h,
                             now() - i * interval '5 minutes' - mod(i * 31, 300) * interval '1 second' AS t) AS x
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": org.pk, "owners": owners, "admin": admin_id, "n": n, "parts": NAME_PARTS,
                             "suffixes": SUFFIXES, "industries": INDUSTRIES, "cities": CITIES})


def ensure_fixtures(n: int) -> Bench:
    """Create or reuse the bench orgs; rebuild the account rows unless Bench Org already has N."""
    org, admin, users = _ensure_org(ORG_NAME, ADMIN_USERNAME, STANDARD_USERS)
    other_org, other_admin, other_users = _ensure_org(OTHER_ORG_NAME, OTHER_ADMIN_USERNAME, 2)
    do_set_org_default(org, "accounts", OrgWideDefault.Level.PRIVATE, actor=admin)
    do_set_org_default(other_org, "accounts", OrgWideDefault.Level.PRIVATE, actor=other_admin)
    table = Account._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE org_id = %s", [org.pk])
        have = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {table} WHERE org_id = %s", [other_org.pk])
        have_other = cursor.fetchone()[0]
    if have == n and have_other == n // OTHER_ORG_SHARE:
        print(f"Reusing {ORG_NAME}: {n} accounts (+{have_other} in {OTHER_ORG_NAME}).")
    else:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            # Fixture rows only (no timeline, no contacts or deals point at them).
            cursor.execute(f"DELETE FROM {table} WHERE org_id IN (%s, %s)", [org.pk, other_org.pk])
            _insert_accounts(org, [u.pk for u in users], admin.pk, n)
            _insert_accounts(other_org, [u.pk for u in [other_admin, *other_users]], other_admin.pk,
                             n // OTHER_ORG_SHARE)
        print(f"Built {n} accounts in {ORG_NAME} and {n // OTHER_ORG_SHARE} in {OTHER_ORG_NAME} "
              f"in {time.perf_counter() - started:.1f} s.")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")  # fresh statistics and visibility map, as in steady state
    standard = bind_org(users[0], org)
    return Bench(org=org, admin=admin, standard=standard, other_org=other_org)


# --------------------------------------------------------------------------- timing
@dataclass
class Result:
    label: str
    orm: list[float]
    hand: list[float]
    rows: Any = None

    def line(self) -> str:
        o50, o95 = statistics.median(self.orm), percentile(self.orm, 95)
        h50, h95 = statistics.median(self.hand), percentile(self.hand, 95)
        rows = f"{len(self.rows)} rows" if isinstance(self.rows, list) else f"count={self.rows}"
        return (f"{self.label:<30} {o50:8.2f} {o95:8.2f} {h50:8.2f} {h95:8.2f} "
                f"{o50 / h50:8.2f}x {o95 / h95:8.2f}x   {rows}")


HEADER = (f"{'query':<30} {'ORM p50':>8} {'ORM p95':>8} {'SQL p50':>8} {'SQL p95':>8} "
          f"{'p50 ratio':>9} {'p95 ratio':>9}   result")


def measure(label: str, orm: Callable[[], Any], hand: Callable[[], Any], runs: int, warmup: int,
            *, check: bool = True) -> Result:
    """Warm up both, then R timed runs each, alternating which goes first (milliseconds).
    `check`: the two must return the same rows or count (not when the ORM shows an estimate)."""
    orm_value, hand_value = orm(), hand()
    if check and orm_value != hand_value:
        raise SystemExit(f"{label}: ORM and hand-written SQL disagree: {orm_value!r} != {hand_value!r}")
    for _ in range(warmup):
        orm()
        hand()
    orm_times: list[float] = []
    hand_times: list[float] = []
    gc.collect()
    for i in range(runs):
        pair = ((orm, orm_times), (hand, hand_times))
        for fn, times in (pair if i % 2 == 0 else pair[::-1]):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
    return Result(label, orm_times, hand_times, orm_value)


# --------------------------------------------------------------------------- the queries
def list_queryset(user: User, schema: BoundSchema, q: str = "") -> QuerySet:
    """What RecordListView.get builds for page 1 with the default sort (pk the tie-break)."""
    base = visible(user, schema, "view").select_related(*schema.select_related)
    base = selectors.search(base, schema, q, user)
    return base.order_by("-modified_at", "-pk")


def orm_page(user: User, schema: BoundSchema, q: str = "") -> Callable[[], Any]:
    def run() -> list[int]:
        return [a.pk for a in list(list_queryset(user, schema, q)[:PER_PAGE])]
    return run


def orm_count(user: User, schema: BoundSchema, q: str = "") -> Callable[[], Any]:
    def run() -> int:
        return selectors.BoundedCountPaginator(list_queryset(user, schema, q), PER_PAGE).count
    return run


def hand_where(user: User, schema: BoundSchema, q: str) -> str:
    """The WHERE written around the view's own predicate: the condition `visible()` compiles for
    this user (org, live rows, every grant of access.visibility.named_grants ORed, values inlined),
    and the search condition written by hand (UPPER(field) LIKE over the search fields)."""
    return predicate(user, schema) + search_condition(schema, "crm_account", q)


def hand_page(user: User, schema: BoundSchema, q: str = "") -> Callable[[], Any]:
    sql = (f"SELECT crm_account.*, u.* FROM crm_account JOIN access_user u ON u.id = crm_account.owner_id "
           f"WHERE {hand_where(user, schema, q)} ORDER BY crm_account.modified_at DESC, crm_account.id DESC "
           f"LIMIT {PER_PAGE}")

    def run() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql)  # values inlined: no parameters
            return [row[0] for row in cursor.fetchall()]
    return run


def hand_count(user: User, schema: BoundSchema, q: str = "") -> Callable[[], Any]:
    """The bounded count as the paginator reads it: at most cap+1 rows."""
    sql = (f"SELECT count(*) FROM (SELECT 1 FROM crm_account WHERE {hand_where(user, schema, q)} "
           f"LIMIT {selectors.count_cap() + 1}) AS s")

    def run() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
    return run


# --------------------------------------------------------------------------- plans
def _walk(node: dict, out: list[dict]) -> None:
    out.append(node)
    for child in node.get("Plans", []):
        _walk(child, out)


def count_sql(queryset: QuerySet) -> tuple[str, None]:
    """The SQL of the list's bounded count (as the paginator runs it), with values inlined."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        selectors.bounded_count(queryset)
    return captured.captured_queries[-1]["sql"], None


def explain(query: QuerySet | tuple[str, Any]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a queryset or SQL, summarised: top node, scans, indexes, time."""
    sql, params = query.query.sql_with_params() if isinstance(query, QuerySet) else query
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    nodes: list[dict] = []
    _walk(top, nodes)
    scans = []
    for node in nodes:
        kind = node["Node Type"]
        if "Scan" in kind:
            target = node.get("Index Name") or node.get("Relation Name", "")
            removed = node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
            scans.append(f"{kind} {target}".strip() + (f" (filter removed {removed:g} rows)" if removed else ""))
    seq = [n.get("Relation Name") for n in nodes if n["Node Type"] == "Seq Scan"]
    return (f"  top: {top['Node Type']} (rows={top['Actual Rows']:g}, "
            f"actual {top['Actual Total Time']:.2f} ms; execution {plan[0]['Execution Time']:.2f} ms, "
            f"planning {plan[0]['Planning Time']:.2f} ms; shared hit={top.get('Shared Hit Blocks', 0)} "
            f"read={top.get('Shared Read Blocks', 0)})\n"
            f"  scans: {'; '.join(scans)}\n"
            f"  indexes used: {'yes' if not seq else 'NO: sequential scan on ' + ', '.join(seq)}")


# --------------------------------------------------------------------------- the view
def view_sql(user: User, path: str) -> list[str]:
    """The account-table SQL the real list view runs (test client; verifies what we time)."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    with warnings.catch_warnings(), CaptureQueriesContext(connection) as captured:
        warnings.simplefilter("ignore")  # e.g. whitenoise's "no STATIC_ROOT" on a bench checkout
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} -> {response.status_code}")
    return [q["sql"] for q in captured.captured_queries if '"crm_account"' in q["sql"]]


def _page_shape(sql: str) -> str:
    """A page query without its select list and page size, for comparison."""
    return re.sub(r" LIMIT \d+$", "", sql[sql.index(" FROM "):])


def check_view(bench: Bench, schema: BoundSchema, q: str) -> None:
    """Compares the page query the real view runs with the one timed here."""
    from django.urls import reverse

    url = reverse("crm:list", args=["accounts"])
    cases = [("standard", bench.standard, "", url), ("admin", bench.admin, "", url),
             ("standard search", bench.standard, q, f"{url}?{urlencode({'q': q})}")]
    print("View check: the page query of GET /m/accounts/ vs the timed queryset")
    for label, user, text, path in cases:
        try:
            seen = view_sql(user, path)
        except Exception as exc:  # the page may need things a bench checkout lacks
            print(f"  {label}: could not render the view ({exc!r}); skipped")
            continue
        timed = _page_shape(connection.ops.compose_sql(
            *list_queryset(user, schema, text)[:PER_PAGE].query.sql_with_params()))
        pages = [_page_shape(sql) for sql in seen if " LIMIT " in sql and "COUNT(" not in sql.upper()]
        others = ", ".join(sql.split(" FROM ")[0].split('"crm_account"')[0].strip(' ,"').split(" AS ")[0]
                           for sql in seen if " LIMIT " not in sql or "COUNT(" in sql.upper())
        prefix = f"  {label}: {len(seen)} queries on crm_account ({others}, page);"
        if timed in pages:
            print(f"{prefix} page query: the same as timed")
        else:
            print(f"{prefix} page query DIFFERS:\n    view:  {pages or seen}\n    timed: {timed}")
    print()


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts in Bench Org (default 100000)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--q", default="星辰", help="search text for the search case (default 星辰)")
    args = parser.parse_args()
    if settings.DEBUG:
        print("warning: DEBUG is on; every query is also logged in memory, which adds overhead.")

    require_migrated()
    bench = ensure_fixtures(args.accounts)
    module = get_module("accounts", bench.org)
    schema = module.bind(bench.org)  # the view binds once per request, in dispatch
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FILTER (WHERE org_id = %s AND deleted_at IS NULL AND owner_id = %s), "
                       "count(*) FILTER (WHERE org_id = %s AND deleted_at IS NULL), count(*) FROM crm_account",
                       [bench.org.pk, bench.standard.pk, bench.org.pk])
        own, live, total = cursor.fetchone()
    print(f"{version}")
    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"crm_account: {total} rows; {ORG_NAME}: {live} live; standard user {bench.standard.username} "
          f"owns {own} live ({own / max(live, 1):.1%}); accounts default: private")
    print(f"runs={args.runs} warmup={args.warmup} per_page={PER_PAGE} q={args.q!r}\n")

    check_view(bench, schema, args.q)

    std, adm, q = bench.standard, bench.admin, args.q
    estimate = {(u, text): selectors.planner_estimate(list_queryset(u, schema, text).order_by())
                for u, text in ((std, ""), (adm, ""), (std, q))}
    cases = [("standard", std, ""), ("admin", adm, ""), ("standard search", std, q)]
    results = []
    for label, user, text in cases:
        results.append(measure(f"{label}: page 1", orm_page(user, schema, text), hand_page(user, schema, text),
                               args.runs, args.warmup))
        results.append(measure(f"{label}: count step", orm_count(user, schema, text),
                               hand_count(user, schema, text), args.runs, args.warmup))
    build = timed_runs(lambda: list_queryset(std, schema)[:PER_PAGE].query.sql_with_params(), args.runs,
                       args.warmup)
    print("Times in ms (ORM = visible(...) queryset / BoundedCountPaginator; SQL = hand-written around the same "
          "predicate, raw cursor)")
    print(HEADER)
    for result in results:
        print(result.line())
    print(f"\nORM query building and SQL compilation alone (standard page 1, no database): "
          f"p50 {statistics.median(build):.2f} ms, p95 {percentile(build, 95):.2f} ms")
    print(f"Planner estimates of the visible rows: standard {estimate[std, '']}, admin {estimate[adm, '']}, "
          f"search {estimate[std, q]} (the count step counts at most {selectors.count_cap()} + 1 rows and shows "
          f"'{selectors.count_cap()}+' above)")

    print("\nEXPLAIN (ANALYZE, BUFFERS), standard user, page 1:")
    print(explain(list_queryset(std, schema)[:PER_PAGE]))
    print("EXPLAIN (ANALYZE, BUFFERS), standard user, count:")
    print(explain(count_sql(list_queryset(std, schema))))
    print("EXPLAIN (ANALYZE, BUFFERS), admin, page 1:")
    print(explain(list_queryset(adm, schema)[:PER_PAGE]))
    print("EXPLAIN (ANALYZE, BUFFERS), admin, count:")
    print(explain(count_sql(list_queryset(adm, schema))))
    print("EXPLAIN (ANALYZE, BUFFERS), standard user search, page 1:")
    print(explain(list_queryset(std, schema, q)[:PER_PAGE]))
    print("EXPLAIN (ANALYZE, BUFFERS), admin search, count (not timed above):")
    print(explain(count_sql(list_queryset(adm, schema, q))))


if __name__ == "__main__":
    main()

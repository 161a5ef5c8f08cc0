"""Benchmark: what record locking adds to saving a record.

Usage (env as for the app: DATABASE_URL, REDIS_URL, DJANGO_SETTINGS_MODULE=config.settings)::

    python bench/locking_save.py [--runs R] [--warmup W]

Three organisations with the same deal, saved by their administrator through
`crm.actions.do_update_record` (one committed transaction per save, as a page would):

- **none**: no lock configuration for deals;
- **5 rules, no match**: locking on, five lock rules whose criteria the deal does not match;
- **5 rules, locked, exempt**: the same five rules, the deal matches one of them and the
  administrator is exempt (the rule locks it for the "Read-only" profile), so the save goes
  through and reads the record's lock rows.

Saves alternate between the organisations (the order rotates each run) so that drift of the
machine affects all cases alike. Prints p50/p95 in milliseconds, queries per save, the
overhead of each case over "none", and the mean time spent inside locking's guard and
after-write hook. See docs/benchmarks.md. This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from access.actions import do_sign_up  # noqa: E402
from access.models import Membership, Profile  # noqa: E402
from access.visibility import bind_org  # noqa: E402
from crm import actions  # noqa: E402
from crm.models import Deal  # noqa: E402
from locking import actions as locking  # noqa: E402
from locking import selectors  # noqa: E402
from bench.timing import percentile, require_migrated  # noqa: E402

# Five rules on different fields and operators; the "locked" case's deal is won.
RULES = [
    ("Closed deals", {"all": [{"field": "stage", "op": "in", "value": ["won", "lost"]}]}),
    ("Huge deals", {"all": [{"field": "amount", "op": "gt", "value": "1000000000"}]}),
    ("Old deals", {"all": [{"field": "close_date", "op": "lt", "value": "2000-01-01"}]}),
    ("Named", {"all": [{"field": "name", "op": "starts_with", "value": "LOCKED"}]}),
    ("Discounted", {"any": [{"field": "discount", "op": "gte", "value": "90"},
                            {"all": [{"field": "stage", "op": "eq", "value": "negotiation"},
                                     {"field": "amount", "op": "lt", "value": "0"}]}]}),
]
CASES = [("none", None, "proposal"), ("5 rules, no match", RULES, "proposal"),
         ("5 rules, locked, exempt", RULES, "won")]


def ensure_case(label: str, rules: list | None, stage: str):
    """The case's org (made through the actions, reused on later runs), its admin and its deal."""
    name = f"Bench Locking: {label}"
    username = "bench_lock_" + "".join(c for c in label if c.isalnum())[:20].lower()
    membership = Membership.objects.select_related("org", "user").filter(org__name=name,
                                                                         user__username=username).first()
    if membership is None:
        membership = do_sign_up(org_name=name, username=username, email=f"{username}@bench.example",
                                password=secrets.token_urlsafe(16), first_name="Bench", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    if rules is not None and not selectors.lock_rules(org, "deals").exists():
        read_only = Profile.objects.get(org=org, name="Read-only")
        locking.do_save_lock_config(org, "deals", enabled=True, actor=admin)
        for rule_name, criteria in rules:
            locking.do_create_lock_rule(org, "deals", name=rule_name, criteria=criteria, actor=admin,
                                        locked_for="selected", profiles=[read_only.pk])
    deal = Deal.objects.filter(org=org, deleted_at__isnull=True).first()
    if deal is None:
        deal = actions.do_create_record("deals", {"name": "Bench deal", "stage": stage, "amount": "100"}, actor=admin)
    return admin, deal


def save(admin, deal, n: int) -> None:
    # As a page would, with the version the user saw: the one the previous save left.
    saved = actions.do_update_record(deal, {"amount": str(100 + n % 2)}, version=deal.version, actor=admin,
                                     path="page")
    deal.version = saved.version


class Stopwatch:
    """Time spent inside locking's guard and after-write hook (wrapped where they are registered:
    guards in access.decisions, after-write hooks in crm.guards)."""

    def __init__(self) -> None:
        from access import decisions
        from crm import guards

        from locking.actions import sync_rule_locks
        from locking.guards import locking_guard

        self.total = 0.0
        for registry, function in ((decisions._guards, locking_guard), (guards._after_write, sync_rule_locks)):
            registry[registry.index(function)] = self.wrap(function)

    def wrap(self, function):
        def timed(*args):
            started = time.perf_counter()
            try:
                return function(*args)
            finally:
                self.total += time.perf_counter() - started

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="timed saves per case (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed saves per case first (default 20)")
    args = parser.parse_args()
    if settings.DEBUG:
        print("warning: DEBUG is on; every query is also logged in memory, which adds overhead.")
    require_migrated()
    cases = [(label, *ensure_case(label, rules, stage)) for label, rules, stage in CASES]
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0])
    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}")
    print(f"runs={args.runs} warmup={args.warmup}\n")

    queries = {}
    for label, admin, deal in cases:
        for n in range(args.warmup):
            save(admin, deal, n)
        with CaptureQueriesContext(connection) as captured:
            save(admin, deal, args.warmup)
        queries[label] = len(captured)
    times: dict[str, list[float]] = {label: [] for label, _admin, _deal in cases}
    in_locking: dict[str, float] = {label: 0.0 for label, _admin, _deal in cases}
    stopwatch = Stopwatch()
    for run in range(args.runs):
        rotated = cases[run % len(cases):] + cases[:run % len(cases)]
        for label, admin, deal in rotated:
            stopwatch.total = 0.0
            started = time.perf_counter()
            save(admin, deal, run)
            times[label].append((time.perf_counter() - started) * 1000)
            in_locking[label] += stopwatch.total

    base = statistics.median(times["none"])
    base95 = percentile(times["none"], 95)
    print(f"{'case':<26} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'p50 vs none':>12} {'p95 vs none':>12} "
          f"{'in locking':>11}")
    for label, _admin, _deal in cases:
        p50, p95 = statistics.median(times[label]), percentile(times[label], 95)
        mean_locking = in_locking[label] / args.runs * 1000
        print(f"{label:<26} {p50:8.2f} {p95:8.2f} {queries[label]:8d} {100 * (p50 / base - 1):+11.1f}% "
              f"{100 * (p95 / base95 - 1):+11.1f}% {mean_locking:8.3f} ms")
    print("\nin locking: mean time per save inside the locking guard and after-write hook (cache round trip "
          "for the configuration, criteria evaluated in memory).")


if __name__ == "__main__":
    main()

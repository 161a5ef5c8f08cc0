"""What every bench script needs: a check that the database is migrated, timed runs, percentiles.
Import after django.setup()."""
from __future__ import annotations

import time
from typing import Any, Callable

from django.db import connection


def require_migrated() -> None:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise SystemExit(f"{len(plan)} migration(s) not applied to {connection.settings_dict['NAME']}: "
                         "run `python manage.py migrate` first.")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def timed_runs(fn: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    """`warmup` untimed calls, then `runs` timed ones (milliseconds each)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times

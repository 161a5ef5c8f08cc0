"""The pools' background work, run by Celery beat."""
from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=600, max_retries=5)
def recycle_pools() -> dict[str, int]:
    """Return due claimed records to their pools and warn their owners (idempotent: a second
    run, or a run restarted half-way, returns and warns nothing twice)."""
    from access import seal

    from .recycle_actions import run_recycling

    totals: dict[str, int] = {}
    for _org in seal.each_org():
        for key, count in run_recycling().items():
            totals[key] = totals.get(key, 0) + count
    return totals

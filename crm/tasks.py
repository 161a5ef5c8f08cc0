"""Scheduled record work, run by Celery beat."""
from __future__ import annotations

from celery import shared_task

from . import actions


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def purge_recycle_bin() -> int:
    """Delete for good what has sat in the recycle bin longer than RECYCLE_BIN_DAYS (idempotent)."""
    return actions.do_purge_recycle_bin(path="system")

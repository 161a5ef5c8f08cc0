"""Celery tasks of workflow rules: retries of failed actions, and the beat jobs of date-based
rules and scheduled actions (config.settings.CELERY_BEAT_SCHEDULE). All are idempotent."""
from __future__ import annotations

from celery import shared_task

from . import workflow


@shared_task(acks_late=True)
def retry_workflow_run(run_id: int, attempt: int = 1) -> bool | None:
    """Retry the failed actions of a run; while some still fail, again later (with backoff)."""
    outcome = workflow.retry_run(run_id)
    if outcome is False:
        workflow.schedule_retry(run_id, attempt + 1)
    return outcome


@shared_task(acks_late=True)
def run_workflow_dates() -> int:
    from .workflow_schedule import scan_date_rules

    return scan_date_rules()


@shared_task(acks_late=True)
def run_scheduled_actions() -> int:
    from .workflow_schedule import run_due_actions

    return run_due_actions()

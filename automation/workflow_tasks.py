"""Celery tasks of workflow rules: retries of failed actions, and the beat jobs of date-based
rules and scheduled actions (config.settings.CELERY_BEAT_SCHEDULE). All are idempotent."""
from __future__ import annotations

from celery import shared_task

from access import seal
# The tasks the e-mail and webhook actions queue: a worker must know them from its start (its
# consumer refuses a task type it did not know then), not only once it ran such an action.
from .mail_tasks import send_rule_email  # noqa: F401
from .webhook_tasks import deliver_webhook  # noqa: F401
from .workflow import retry_workflow_run  # noqa: F401  (the retry task lives with the engine)
from .workflow_schedule import run_due_actions, scan_date_rules


@shared_task(acks_late=True)
def run_workflow_dates() -> int:
    return sum(scan_date_rules() for _org in seal.each_org())


@shared_task(acks_late=True)
def run_scheduled_actions() -> int:
    return sum(run_due_actions() for _org in seal.each_org())

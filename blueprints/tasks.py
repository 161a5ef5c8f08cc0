"""Background work of blueprints: enrolling a module's records when a version is published, a
transition's after-actions (after its commit), and the SLA escalation (run by beat every five
minutes)."""
from __future__ import annotations

from celery import shared_task

from access import seal
from . import sla
from .actions.after import do_run_after_actions
from .actions.transitions import do_enrol_records


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=5)
def enrol_records(blueprint_id: int, after_pk: int = 0) -> int:
    """Enrol one batch, then queue the next (idempotent: records inside a blueprint are left)."""
    entered, last = do_enrol_records(blueprint_id, after_pk=after_pk)
    if last is not None:
        enrol_records.delay(blueprint_id, last)
    return entered


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=5)
def escalate_overdue() -> int:
    """Tell the chosen people about every record overdue in its state, once per stay."""
    return sum(sla.escalate_overdue() for _org in seal.each_org())


@shared_task(acks_late=True)
def run_after_actions(run_id: int) -> str | None:
    """Do a transition's after-actions (idempotent: a run done already is left). A failing action
    is retried by automation's `retry_workflow_run`, with the workflow rules' backoff."""
    run = do_run_after_actions(run_id)
    return run.status if run is not None else None

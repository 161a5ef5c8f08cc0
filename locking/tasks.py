"""Locking jobs run by Celery workers."""
from __future__ import annotations

from celery import shared_task

from access.visibility import bind_org

from . import actions
from .models import LockJob


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def apply_rule_to_existing(job_id: int) -> dict[str, int] | None:
    """Lock or unlock the module's stored records to match the job's rule, recording progress
    on the job row. Idempotent: a second run finds nothing left to change."""
    job = LockJob.objects.select_related("org", "rule", "created_by").filter(pk=job_id).first()
    if job is None or job.status == LockJob.Status.DONE:
        return None
    if job.rule is None:
        actions.do_fail_apply_job(job, "The lock rule was deleted.")
        return None
    actor = bind_org(job.created_by, job.org) if job.created_by is not None else None
    try:
        return actions.do_apply_rule_to_existing(job.rule, actor=actor, path="system", job=job)
    except Exception as exc:  # the page shows why the job stopped
        actions.do_fail_apply_job(job, str(exc))
        raise


actions.register_job_runner(apply_rule_to_existing.delay)

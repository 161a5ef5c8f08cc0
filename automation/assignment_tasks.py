"""Assignment jobs (a rule run over chosen records or a whole filtered list), in batches by id.

Each task does one batch after the job's cursor, records the progress, and queues the next
batch. Every record's assignment is keyed by the job and the record, so a batch run twice (a
lost acknowledgement, a worker killed mid-batch) assigns nothing twice and counts nothing twice."""
from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.http import QueryDict
from kombu.exceptions import OperationalError

from access.visibility import bind_org, visible
from crm.modules import get_module

from .assignment_actions import assign_with_status, do_record_job_progress, register_job_runner
from .assignment_models import AssignmentJob
from .run_models import RuleRun

logger = logging.getLogger(__name__)

BATCH = 200


def queue_job(job_id: int) -> None:
    try:
        run_assignment_job.delay(job_id)
    except (OSError, OperationalError):  # the broker is down: the job page offers to resume it
        logger.exception("Could not queue assignment job %s", job_id)


def list_queryset(schema: Any, user: Any, filters: dict[str, list[str]]):
    """The records a list page with these filters (and search) shows `user`, as the page builds them."""
    from crm import selectors
    from crm.filters import build_filterset

    query = QueryDict(mutable=True)
    for key, values in (filters or {}).items():
        query.setlist(key, [str(v) for v in values])
    base = selectors.search(visible(user, schema, "view"), schema, query.get("q", ""), user)
    filterset = build_filterset(schema, query or None, base, user)
    # As on the page: valid filters apply; an invalid one filters nothing.
    return filterset.qs if filterset.is_bound else base


def batch_ids(job: AssignmentJob, limit: int = BATCH) -> list[int]:
    """The next ids after the cursor, in id order."""
    if job.trigger == "selected":
        return [pk for pk in job.record_ids if pk > job.cursor][:limit]
    user = bind_org(job.created_by, job.org)
    schema = get_module(job.module, job.org).bind(job.org)
    rows = list_queryset(schema, user, job.filters).filter(pk__gt=job.cursor).order_by("pk")
    return list(rows.values_list("pk", flat=True)[:limit])


@shared_task(bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300,
             max_retries=5)
def run_assignment_job(self, job_id: int) -> int:
    """One batch of the job; returns how many records it handled."""
    job = AssignmentJob.objects.select_related("org", "rule", "created_by").filter(pk=job_id).first()
    if job is None or job.status in (AssignmentJob.Status.DONE, AssignmentJob.Status.FAILED):
        return 0
    if job.rule is None or job.created_by is None:
        do_record_job_progress(job, cursor=job.cursor, error="The rule or the person who started the job is gone.")
        return 0
    try:
        ids = batch_ids(job)
        if not ids:
            do_record_job_progress(job, cursor=job.cursor, finished=True)
            return 0
        assigned = failed = 0
        for pk in ids:
            status, _text = assign_with_status(job.rule, pk, trigger=job.trigger, key=f"job:{job.pk}:{pk}")
            assigned += status == RuleRun.Status.DONE
            failed += status == RuleRun.Status.FAILED
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            do_record_job_progress(job, cursor=job.cursor, error=repr(exc))
        raise
    row = do_record_job_progress(job, cursor=ids[-1], processed=len(ids), assigned=assigned, failed=failed)
    if row is not None and row.status == AssignmentJob.Status.RUNNING:
        queue_job(job.pk)  # this task moved the cursor: it (and only it) queues the next batch
    return len(ids)


register_job_runner(queue_job)

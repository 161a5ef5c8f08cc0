"""Jobs the broker refused while it was down (docs/operations.md, "Faults"): kept in the database
by the task class (access.seal_tasks) and sent again by beat (access.tasks.send_unsent)."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from . import seal
from .models import UnsentJob

logger = logging.getLogger(__name__)

BATCH = 500


def do_keep(name: str, task_id: str, args, kwargs, org_id: int | None, options: dict) -> UnsentJob:
    not_before = options.get("eta") or timezone.now() + timedelta(seconds=options.get("countdown") or 0)
    return UnsentJob.objects.create(task=name, task_id=task_id, args=list(args or ()), kwargs=dict(kwargs or {}),
                                    queue=options.get("queue") or "", bound_org_id=org_id, not_before=not_before)


def do_send_due(tasks) -> int:
    """Send the kept jobs that are due, oldest first, each bound to its organisation; stop at the
    first refusal (the broker is still down) and leave the rest for the next run. `tasks` is the
    Celery app's task registry."""
    sent = 0
    with transaction.atomic():
        due = list(UnsentJob.objects.select_for_update(skip_locked=True)
                   .filter(not_before__lte=timezone.now()).order_by("not_before", "id")[:BATCH])
        for job in due:
            task = tasks.get(job.task)
            if task is None:
                logger.error("unsent job %s names no known task %s: dropped", job.pk, job.task)
                job.delete()
                continue
            options = {"task_id": job.task_id, "keep_unsent": False}
            if job.queue:
                options["queue"] = job.queue
            try:
                with seal.bound(job.bound_org_id):
                    task.apply_async(job.args, job.kwargs, **options)
            except BrokerDown:
                logger.warning("the broker still refuses jobs; %s wait", len(due) - sent)
                break
            job.delete()
            sent += 1
    return sent

"""Background record work, run by Celery (beat for the scheduled ones)."""
from __future__ import annotations

from celery import Task, shared_task
from django.db import DatabaseError

from . import actions, field_indexes


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def purge_recycle_bin() -> int:
    """Delete for good what has sat in the recycle bin longer than RECYCLE_BIN_DAYS (idempotent)."""
    return actions.do_purge_recycle_bin(path="system")


class FieldIndexTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        """Called once the retries are spent: the field shows "failed" and the reason."""
        field_indexes.mark_failed(args[0], exc)


# A build can fail for a while (a lock it waits for times out, the server restarts): retried
# with backoff before the field is marked failed.
@shared_task(base=FieldIndexTask, acks_late=True, autoretry_for=(DatabaseError,), retry_backoff=True,
             retry_backoff_max=600, max_retries=5)
def sync_field_index(field_id: int) -> str:
    """Build or drop a custom field's expression index to match the field (idempotent)."""
    return field_indexes.sync(field_id)

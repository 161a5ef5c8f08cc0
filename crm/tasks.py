"""Background record work, run by Celery (beat for the scheduled ones)."""
from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError, transaction

from access import seal
from access.seal_tasks import SealedTask

from . import field_indexes
from .actions.recycle_bin import do_purge_recycle_bin


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def purge_recycle_bin() -> int:
    """Delete for good what has sat in the recycle bin longer than RECYCLE_BIN_DAYS (idempotent)."""
    return sum(do_purge_recycle_bin(path="system") for _org in seal.each_org())


class FieldIndexTask(SealedTask):
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


def schedule_field_index(definition) -> None:
    """Called by the field actions inside their transaction: the field shows its index as
    building (or none), and the job syncs it once the change is committed. Robust: a broker
    that is down must not undo a saved field; it stays "building" until `manage.py index_fields`
    (or the settings page's rebuild button) enqueues it again."""
    field_indexes.mark_scheduled(definition)
    field_id = definition.pk
    transaction.on_commit(lambda: sync_field_index.delay(field_id), robust=True)

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from kombu.exceptions import OperationalError

from crm.events import RecordEvent

from .delivery import WATCHED, deliver

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=5)
def deliver_record_event(event_id: str, module: str, org_id: int, record_id: int, actor_id: int | None,
                         changes: dict) -> int:
    return deliver(event_id, module, org_id, record_id, actor_id, changes)


def on_record_event(event: RecordEvent) -> None:
    """Subscribed to record events (after commit): queue a task with ids, no more."""
    if event.kind not in ("owner_changed", "updated") or not any(k in event.changes for k in WATCHED):
        return
    changes = {k: v for k, v in event.changes.items() if k in WATCHED}
    # The event's own id: every retry of the task carries it, so it notifies each person once.
    try:
        deliver_record_event.delay(uuid.uuid4().hex, event.module, event.org_id, event.record_id,
                                   event.actor_id, changes)
    except (OSError, OperationalError):  # the broker is down: the change is saved; losing its notification must not undo that
        logger.exception("Could not queue the notifications of %s %s", event.module, event.record_id)

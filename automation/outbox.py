"""The event outbox: each record event is written in its change's transaction and queued after
the commit (automation.tasks); the task deletes it when every stage is done, and a sweeper
re-queues any left behind (a process died, the broker was down)."""
from __future__ import annotations

import datetime as dt

from django.db.models import F
from django.utils import timezone

from crm.events import RecordEvent

from .run_models import PendingEvent

REQUEUE_AFTER = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 10


def write(events: list[RecordEvent]) -> list[int]:
    """Inside the change's transaction, in one INSERT (or COPY): the new rows' ids."""
    from crm.actions.bulk import copy_values

    # A batch's events (an import's) go by COPY.
    return copy_values(PendingEvent, [{"org_id": event.org_id, "event_id": event.id, "payload": event.as_json()}
                                      for event in events])


def take(pending_id: int) -> RecordEvent | None:
    """The event to handle (counting the attempt), or None when it is handled already."""
    row = PendingEvent.objects.filter(pk=pending_id).first()
    if row is None:
        return None
    PendingEvent.objects.filter(pk=pending_id).update(attempts=F("attempts") + 1)
    return RecordEvent.from_json(row.payload)


def failed(pending_id: int, error: str) -> None:
    PendingEvent.objects.filter(pk=pending_id).update(last_error=error[:2000])


def done(pending_id: int) -> None:
    PendingEvent.objects.filter(pk=pending_id).delete()


def stale(now: dt.datetime | None = None, limit: int = 1000) -> list[int]:
    """The events not handled within REQUEUE_AFTER (marked queued again now)."""
    now = now or timezone.now()
    ids = list(PendingEvent.objects.filter(queued_at__lt=now - REQUEUE_AFTER, attempts__lt=MAX_ATTEMPTS)
               .order_by("pk").values_list("pk", flat=True)[:limit])
    if ids:
        PendingEvent.objects.filter(pk__in=ids).update(queued_at=now)
    return ids

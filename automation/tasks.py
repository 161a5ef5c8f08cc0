from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from kombu.exceptions import OperationalError

from access import seal
from crm.events import RecordEvent

from . import outbox, pipeline
from .rule_kinds import RULE_PREFIX
from .delivery import deliver, relevant_changes

logger = logging.getLogger(__name__)


def record_events(events: list[RecordEvent]) -> None:
    """Durable listener of crm.events (inside the change's transaction): write the events to the
    outbox and queue them once the change commits."""
    pending_ids = outbox.write(events)
    if len(pending_ids) > 1:  # a batch (an import's rows): one task for all, not one per event
        transaction.on_commit(lambda: enqueue_many(pending_ids))
    else:
        transaction.on_commit(lambda: [enqueue(pending_id) for pending_id in pending_ids])


def enqueue(pending_id: int) -> None:
    try:
        process_event.delay(pending_id)
    except (OSError, OperationalError):  # the broker is down: the sweeper queues it later
        logger.exception("Could not queue record event %s", pending_id)


def enqueue_many(pending_ids: list[int]) -> None:
    try:
        process_events.delay(pending_ids)
    except (OSError, OperationalError):  # the broker is down: the sweeper queues them later
        logger.exception("Could not queue %d record events", len(pending_ids))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=5)
def process_event(pending_id: int) -> bool:
    """Run every stage for one outbox event, then delete it. A retry (or a second delivery of the
    same message) re-runs stages that key their work by the event id, so nothing happens twice."""
    event = outbox.take(pending_id)
    if event is None:  # handled already
        return False
    try:
        pipeline.run_stages(event)
    except Exception as exc:
        outbox.failed(pending_id, repr(exc))
        raise
    outbox.done(pending_id)
    return True


@shared_task(acks_late=True)
def process_events(pending_ids: list[int]) -> int:
    """A batch's events, one after the other, each exactly as `process_event` runs it. One that
    fails is queued again on its own (with process_event's retries), so the batch is not redone
    and the others are not held back. Returns how many were handled here."""
    handled = 0
    for pending_id in pending_ids:
        try:
            handled += bool(process_event.run(pending_id))
        except Exception:
            logger.exception("Record event %s failed in its batch; queued on its own", pending_id)
            enqueue(pending_id)
    return handled


@shared_task
def sweep_pending_events() -> int:
    found = 0
    for _org in seal.each_org():  # queued with their org bound
        ids = outbox.stale()
        for pending_id in ids:
            enqueue(pending_id)
        found += len(ids)
    return found


def notify_stage(event: RecordEvent) -> None:
    """The notifications stage: owners, assignees and requesters told of what changed."""
    changes = relevant_changes(event.kind, event.changes)
    if changes:
        deliver(event.id, event.module, event.org_id, event.record_id, event.actor_id, changes,
                include_actor=event.path.startswith(RULE_PREFIX))

"""The task that POSTs one webhook delivery, retrying with exponential backoff."""
from __future__ import annotations

from celery import shared_task

from . import webhook_actions


@shared_task(bind=True, acks_late=True, max_retries=None)  # the delivery counts its own attempts
def deliver_webhook(self, delivery_pk: int) -> bool:
    """One attempt of the delivery (by id); scheduled again after a network error or a 5xx, until
    WEBHOOK_MAX_ATTEMPTS, when the delivery and its rule run are marked failed."""
    outcome = webhook_actions.do_attempt_delivery(delivery_pk)
    if not outcome.done:
        raise self.retry(countdown=outcome.retry_in)
    return True

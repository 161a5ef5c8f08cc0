"""The only writers of webhook deliveries and their attempts."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .mail_actions import fail_run
from .webhook_models import WebhookAttempt, WebhookDelivery
from .webhook_net import post

# Retried: no answer (network error, timeout), 5xx, and 408/429 (the receiver asks to come back).
# Other 4xx (and 3xx, which are not followed) are final: the same bytes would be refused again.
RETRY_STATUSES = {408, 429}


def retryable(status: int | None) -> bool:
    return status is None or status >= 500 or status in RETRY_STATUSES


def backoff_seconds(attempt: int) -> float:
    """Wait after failed attempt number `attempt` (1, 2, ...): base, 2 x base, 4 x base ... up to an hour."""
    return min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1), 3600.0)


def do_create_delivery(**values) -> tuple[WebhookDelivery, bool]:
    """The delivery for the action's key, new or (a re-run action) the one made before."""
    key, org_id = values.pop("key"), values.pop("org_id")
    return WebhookDelivery.objects.get_or_create(org_id=org_id, key=key, defaults=values)


@dataclass
class Outcome:
    done: bool  # nothing more to do (succeeded, failed for good, or not this worker's turn)
    retry_in: float = 0.0


def do_attempt_delivery(delivery_pk: int) -> Outcome:
    """One attempt, logged. The row is locked for the attempt (at most the timeout), so two
    deliveries of the same task message never POST at the same time; a delivery that has
    succeeded or failed for good is left alone."""
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True)
                    .filter(pk=delivery_pk, status=WebhookDelivery.Status.PENDING).first())
        if delivery is None:
            return Outcome(done=True)
        number = delivery.attempts + 1
        headers = {"Content-Type": "application/json", "User-Agent": "TeamCRM-Webhook/1",
                   "X-CRM-Delivery": delivery.delivery_id}
        if delivery.signature:
            headers["X-CRM-Signature"] = delivery.signature
        response = post(delivery.url, delivery.body.encode(), headers)
        WebhookAttempt.objects.create(org_id=delivery.org_id, delivery=delivery, number=number,
                                      status_code=response.status, response_body=response.body,
                                      error=response.error, duration_ms=response.duration_ms)
        delivery.attempts = number
        ok = response.status is not None and 200 <= response.status < 300
        again = not ok and retryable(response.status) and number < settings.WEBHOOK_MAX_ATTEMPTS
        if not again:
            delivery.status = WebhookDelivery.Status.SUCCEEDED if ok else WebhookDelivery.Status.FAILED
            delivery.finished_at = timezone.now()
        delivery.save(update_fields=["attempts", "status", "finished_at"])
        if not ok and not again:
            why = response.error or _("HTTP status %(status)s") % {"status": response.status}
            fail_run(delivery.org_id, delivery.run_id, _("Webhook to %(url)s failed at attempt %(count)d: %(why)s")
                     % {"url": delivery.url, "count": number, "why": why})
        return Outcome(done=not again, retry_in=backoff_seconds(number) if again else 0.0)

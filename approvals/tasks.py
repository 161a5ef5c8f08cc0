"""Notifications of approval steps, sent by a worker after the step commits: the approvers when a
level opens (or a step is delegated to them), the submitter on the outcome. Idempotent: each
notification is keyed by the step, so a retried task writes nothing twice."""
from __future__ import annotations

import logging

from celery import shared_task
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

REQUESTED, APPROVED, REJECTED, RECALLED = "approval_requested", "approval_approved", "approval_rejected", "approval_recalled"


def queue_notices(request_id: int, event: str, step_id: int) -> None:
    try:
        send_approval_notices.delay(request_id, event, step_id)
    except (OSError, OperationalError):  # the broker is down: tell them now rather than never
        logger.exception("Could not queue approval notices for request %s", request_id)
        send_approval_notices(request_id, event, step_id)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=5)
def send_approval_notices(request_id: int, event: str, step_id: int) -> int:
    from automation.delivery import notify_users

    from .models import ApprovalRequest, ApprovalStep

    request = ApprovalRequest.objects.select_related("process").filter(pk=request_id).first()
    step = ApprovalStep.objects.filter(pk=step_id, request_id=request_id).first()
    if request is None or step is None:
        return 0
    params = {"process": request.process.name, "message": step.comment}
    if event == "level_opened":
        users, kind = request.waiting_on if request.awaiting else [], REQUESTED
    elif event == "delegated":
        users, kind = [step.delegated_to_id], REQUESTED
    else:
        users = [request.submitter_id]
        kind = {"approved": APPROVED, "rejected": REJECTED}.get(event, RECALLED)
    return notify_users(request.org_id, users, kind, request.module, request.record_id,
                        f"approval:{request.pk}:{step.pk}", actor_id=step.actor_id, params=params)

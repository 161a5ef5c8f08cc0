"""Beat's job for jobs the broker refused (access.unsent)."""
from __future__ import annotations

from celery import current_app, shared_task

from . import unsent


@shared_task
def send_unsent() -> int:
    return unsent.do_send_due(current_app.tasks)

"""The task that sends one e-mail of a workflow rule."""
from __future__ import annotations

import smtplib

from celery import shared_task

from . import mail_actions

MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_rule_email(self, email_id: int) -> bool:
    """Send the queued e-mail (by id) once; retried with exponential backoff when the mail server
    fails, marked failed (and its rule run with it) after the last try."""
    try:
        return mail_actions.do_send_email(email_id)
    except (OSError, smtplib.SMTPException) as exc:
        if self.request.retries >= MAX_RETRIES:
            mail_actions.do_fail_email(email_id, repr(exc), self.request.retries + 1)
            return False
        raise self.retry(exc=exc, countdown=min(30 * 2 ** self.request.retries, 3600))

"""E-mail about a notification: composed in the recipient's language with an absolute link to
the record, sent once by its own task."""
from __future__ import annotations

import logging
from typing import Iterable

from celery import shared_task
from celery.exceptions import Retry
from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.text import Truncator
from kombu.exceptions import OperationalError

from .messages import path, render

logger = logging.getLogger(__name__)
EXCERPT_CHARS = 500


def absolute(url_path: str) -> str:
    return settings.SITE_URL.rstrip("/") + url_path


def compose(notification) -> EmailMessage | None:
    """The e-mail for a notification, or None when the recipient has no address or can no
    longer open the record (never send about what someone cannot open)."""
    from .delivery import what_they_may_read

    recipient = notification.recipient
    if not recipient.email or not recipient.is_active:
        return None
    note_id = (notification.params or {}).get("note")
    may_open, note = what_they_may_read(recipient.pk, notification.org_id, notification.module,
                                        notification.record_id, note_id if isinstance(note_id, int) else None)
    if not may_open:
        return None
    with translation.override(recipient.language or settings.LANGUAGE_CODE):
        text = render(notification)
        excerpt = Truncator(note).chars(EXCERPT_CHARS)
        context = {"text": text, "excerpt": excerpt, "url": absolute(path(notification)),
                   "preferences_url": absolute(reverse("automation:preferences"))}
        subject = Truncator(text).chars(150).replace("\n", " ")
        body = render_to_string("automation/notification_email.txt", context)
    return EmailMessage(subject=subject, body=body, to=[recipient.email])


def _send(notification) -> bool:
    message = compose(notification)
    if message is None:
        return False
    message.send()
    return True


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=600, max_retries=8)
def send_notification_email(notification_id: int) -> bool:
    """Send one notification's e-mail; a retry, or the same task twice, sends it once."""
    from .actions import do_email_notification

    return do_email_notification(notification_id, _send)


def queue_emails(ids: Iterable[int]) -> None:
    """Queue the e-mails (call after commit). A broker that is down (or, with tasks run eagerly,
    a mail server that is) costs the e-mail, never the in-app notification, which is already
    written; a retried delivery queues the e-mails still unsent."""
    for pk in ids:
        try:
            send_notification_email.delay(pk)
        except (OSError, OperationalError, Retry):
            logger.exception("Could not queue or send the e-mail of notification %s", pk)

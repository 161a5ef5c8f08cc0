"""The e-mail about a notification, composed in the recipient's language with an absolute link
to the record. Sent by `delivery.send_notification_email`, which checks first that the
recipient may still open the record."""
from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.text import Truncator

from .messages import path, render

EXCERPT_CHARS = 500


def absolute(url_path: str) -> str:
    return settings.SITE_URL.rstrip("/") + url_path


def compose(notification, note: str = "") -> EmailMessage | None:
    """The e-mail for a notification (with the text of its note, for a mention), or None when
    the recipient has no address."""
    recipient = notification.recipient
    if not recipient.email or not recipient.is_active:
        return None
    with translation.override(recipient.language or settings.LANGUAGE_CODE):
        text = render(notification)
        context = {"text": text, "excerpt": Truncator(note).chars(EXCERPT_CHARS), "url": absolute(path(notification)),
                   "preferences_url": absolute(reverse("automation:preferences"))}
        subject = Truncator(text).chars(150).replace("\n", " ")
        body = render_to_string("automation/notification_email.txt", context)
    return EmailMessage(subject=subject, body=body, to=[recipient.email])

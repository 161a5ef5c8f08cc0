"""Template helpers of the notifications bell."""
from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def bell_poll_seconds() -> int:
    """How often the bell asks for the unread count (NOTIFICATION_POLL_SECONDS)."""
    return max(1, int(settings.NOTIFICATION_POLL_SECONDS))

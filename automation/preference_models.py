"""Each user's choice, per kind of notification, of how to be told: in the app, by e-mail,
both or not at all. No row means the default, in the app."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization


class Channel(models.TextChoices):
    IN_APP = "in_app", _("In the app")
    EMAIL = "email", _("By e-mail")
    BOTH = "both", _("In the app and by e-mail")
    NONE = "none", _("Not at all")


class NotificationPreference(models.Model):
    """Per org, since a person in two organisations may want different things from each."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.IN_APP)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user", "kind"], name="uniq_notification_preference")]

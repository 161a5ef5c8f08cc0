from django.conf import settings
from django.db import models

from access.models import Organization

from .preference_models import Channel, NotificationPreference  # noqa: F401


class Notification(models.Model):
    """One message to one user about one record. The text is rendered from `kind` and `params`
    when it is shown, so each reader sees it in their own language."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    kind = models.CharField(max_length=40)
    module = models.CharField(max_length=60)
    record_id = models.BigIntegerField()
    params = models.JSONField(default=dict, blank=True)
    # One per (event, recipient, kind): a retried delivery finds it and writes nothing.
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # The recipient's preference when it was written: shown in the app, e-mailed (once: emailed_at).
    in_app = models.BooleanField(default=True)
    by_email = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="uniq_notification_key")]
        indexes = [
            models.Index(fields=["org", "recipient", "-created_at"], name="notification_inbox"),
            models.Index(fields=["org", "recipient"], name="notification_unread",
                         condition=models.Q(read_at__isnull=True, in_app=True)),
        ]


from .run_models import PendingEvent, RuleRun  # noqa: E402,F401
from .assignment_models import AssignmentEntry, AssignmentJob, AssignmentRule  # noqa: E402,F401
from .mail_models import EmailTemplate, OutgoingEmail  # noqa: E402,F401
from .webhook_models import WebhookAttempt, WebhookDelivery  # noqa: E402,F401
from .workflow_models import ScheduledAction, WorkflowRule  # noqa: E402,F401
from .rule_models import LayoutRule, ValidationRule  # noqa: E402,F401  (validation and layout rules)

"""Webhook deliveries of workflow rules and every attempt's response."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization


class WebhookDelivery(models.Model):
    """One POST of one rule action for one record: the body and its signature are fixed when the
    rule runs, so every retry sends the same bytes (receivers dedupe by the delivery id)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)  # the action's key: a re-run action finds its delivery
    delivery_id = models.CharField(max_length=32)  # sent as X-CRM-Delivery
    rule_kind = models.CharField(max_length=20)
    rule_id = models.BigIntegerField()
    run_id = models.BigIntegerField(null=True, blank=True)
    module = models.CharField(max_length=60)
    record_id = models.BigIntegerField()
    url = models.URLField(max_length=2000)
    body = models.TextField()
    signature = models.CharField(max_length=80, blank=True)  # "sha256=<hex>", empty without a secret
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="uniq_webhook_delivery")]
        indexes = [
            models.Index(fields=["org", "-created_at"], name="webhook_delivery_log"),
            models.Index(fields=["org", "rule_kind", "rule_id", "-created_at"], name="webhook_delivery_rule"),
        ]


class WebhookAttempt(models.Model):
    """One try: the response status and the first 2 KB of its body, or the error, and how long it took."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "delivery", "number"], name="uniq_webhook_attempt")]

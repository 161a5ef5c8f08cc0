"""The event outbox and the execution log of rules."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization


class PendingEvent(models.Model):
    """A record event written in the same transaction as the change that caused it, and deleted
    once automation has handled it: a worker or web process dying after the commit loses nothing
    (the sweeper queues what is left)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                            db_index=False)  # the unique (org, event) index serves it
    event_id = models.CharField(max_length=32)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "event_id"], name="uniq_pending_event")]
        indexes = [models.Index(fields=["queued_at"], name="pending_event_queued")]


class RuleRun(models.Model):
    """One run of one rule on one record (or one dry run over many): what triggered it, what
    each action did, and errors. `key` makes a run happen once: a retried task finds its run."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    rule_kind = models.CharField(max_length=20)  # assignment, workflow
    rule_id = models.BigIntegerField()
    module = models.CharField(max_length=60)
    record_id = models.BigIntegerField(null=True, blank=True)
    trigger = models.CharField(max_length=40)  # created, updated, deleted, date, scheduled, manual, list
    key = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    actions = models.JSONField(default=list, blank=True)  # [{"action": ..., "result": ..., "error": ...}]
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "rule_kind", "rule_id", "key"], name="uniq_rule_run")]
        indexes = [
            models.Index(fields=["org", "rule_kind", "rule_id", "-started_at"], name="rule_run_log"),
            models.Index(fields=["org", "-started_at"], name="rule_run_failed",
                         condition=models.Q(status="failed")),
        ]

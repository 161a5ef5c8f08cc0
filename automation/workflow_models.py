"""Workflow rules: when something happens to a record of a module (or a date on it comes due),
and the record matches the criteria, do the rule's actions (now, or after a delay)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization


class WorkflowRule(models.Model):
    class Trigger(models.TextChoices):
        CREATE = "create", _("When a record is created")
        EDIT = "edit", _("When a record is edited")
        CREATE_OR_EDIT = "create_or_edit", _("When a record is created or edited")
        FIELD_CHANGE = "field_change", _("When chosen fields change")
        DELETE = "delete", _("When a record is deleted")
        DATE = "date", _("On a date of the record")

    class Repeat(models.TextChoices):
        NONE = "", _("Once")
        MONTHLY = "monthly", _("Every month")
        YEARLY = "yearly", _("Every year")

    class Unit(models.TextChoices):
        HOURS = "hours", _("hours")
        DAYS = "days", _("days")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=60)  # the module key: org modules and team modules alike
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=False)
    # Whom the rule acts as: the administrator or manager who activated it (automation.runas).
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    activated_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.CREATE)
    trigger_fields = models.JSONField(default=list, blank=True)  # field keys, for FIELD_CHANGE
    trigger_value = models.JSONField(null=True, blank=True)  # the new value wanted (JSON form); None: any change
    date_field = models.CharField(max_length=60, blank=True)  # for DATE
    date_before = models.BooleanField(default=True)
    date_amount = models.PositiveIntegerField(default=0)
    date_unit = models.CharField(max_length=5, choices=Unit.choices, default=Unit.DAYS)
    repeat = models.CharField(max_length=10, choices=Repeat.choices, default=Repeat.NONE, blank=True)
    # Date rules: occurrences up to here were looked for already; the next scan starts a little
    # before it (a lost scan only costs a wider window; runs are keyed, so none doubles).
    scanned_until = models.DateTimeField(null=True, blank=True)
    once_per_record = models.BooleanField(default=False)
    criteria = models.JSONField(null=True, blank=True)
    # [{"type": kind, ...its settings, "delay": None | {"amount": n, "unit": "hours"|"days"}}]
    actions = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["org", "module", "position"], name="workflow_rule_order"),
                   models.Index(fields=["trigger"], name="workflow_rule_active_date",
                                condition=models.Q(active=True, trigger="date"))]

    def __str__(self) -> str:
        return self.name


class ScheduledAction(models.Model):
    """One delayed action of one run: done once by the beat job when `due_at` has passed."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(WorkflowRule, on_delete=models.CASCADE, related_name="scheduled")
    module = models.CharField(max_length=60)
    record_id = models.BigIntegerField()
    due_at = models.DateTimeField()
    action_index = models.PositiveIntegerField()
    action = models.JSONField()  # the action as it was when scheduled
    trigger = models.CharField(max_length=40)
    depth = models.PositiveIntegerField(default=0)  # of the event that scheduled it
    key = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="uniq_scheduled_action")]
        indexes = [models.Index(fields=["due_at"], name="scheduled_action_due",
                                condition=models.Q(status="pending")),
                   models.Index(fields=["org", "rule", "-due_at"], name="scheduled_action_rule")]

"""Approval processes: a module's process (trigger, entry criteria, ordered levels of approvers,
final actions), and each record's approval request with its steps.

The request's lifecycle is fixed in code (django-fsm): awaiting (pending, or delegated) ->
approved, rejected or recalled. A record has at most one awaiting request (a partial unique index).
Who an awaiting request waits on now is also kept as rows (`ApprovalWaiter`), which the access
grant and My Work read through one index.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from access.models import Organization


class ApprovalProcess(models.Model):
    class Trigger(models.TextChoices):
        CREATE = "create", _("When a record is created")
        EDIT = "edit", _("When a record is edited")
        CREATE_OR_EDIT = "create_or_edit", _("When a record is created or edited")
        BUTTON = "button", _("When someone clicks “Submit for approval”")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=60)
    name = models.CharField(_("name"), max_length=100)
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices, default=Trigger.BUTTON)
    criteria = models.JSONField(_("entry criteria"), default=dict, blank=True)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(default=1)
    # Process admins: the step goes to them when nobody active can decide, and they may take over.
    admins = models.JSONField(_("process admins"), default=list, blank=True)  # user ids
    editable_fields = models.JSONField(_("fields editable while pending"), default=list, blank=True)
    on_approve = models.JSONField(default=list, blank=True)  # automation action kinds' format
    on_reject = models.JSONField(default=list, blank=True)
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["org", "module", "position"], name="approval_process_module")]
        constraints = [models.UniqueConstraint(fields=["org", "module", "name"], name="uniq_approval_process_name")]

    def __str__(self) -> str:
        return self.name


class ApprovalLevel(models.Model):
    class Rule(models.TextChoices):
        ANY = "any", _("Any one approver")
        ALL = "all", _("All approvers")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    process = models.ForeignKey(ApprovalProcess, on_delete=models.CASCADE, related_name="levels")
    order = models.PositiveIntegerField()
    # {"users": [ids], "roles": [ids], "groups": [ids], "manager": bool, "team_manager": bool,
    #  "superiors": N (one user from each of the owner's N nearest superior roles)}
    approvers = models.JSONField(default=dict)
    rule = models.CharField(_("rule"), max_length=3, choices=Rule.choices, default=Rule.ANY)

    class Meta:
        ordering = ["order", "pk"]
        indexes = [models.Index(fields=["org", "process", "order"], name="approval_level_order")]


AWAITING = ("pending", "delegated")


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELEGATED = "delegated", _("Delegated")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        RECALLED = "recalled", _("Recalled")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    process = models.ForeignKey(ApprovalProcess, on_delete=models.PROTECT, related_name="requests")
    module = models.CharField(max_length=60)
    record_id = models.BigIntegerField()
    record_name = models.CharField(max_length=255, blank=True)  # as it was when submitted
    status = FSMField(default=Status.PENDING, choices=Status.choices)
    level = models.PositiveIntegerField(default=1)  # the current level's order number (1-based position)
    # The current level's approvers: [{"users": [ids], "label": text, "done": bool}], one slot each
    # ("all": every slot must approve; "any": one approval is enough).
    slots = models.JSONField(default=list, blank=True)
    rule = models.CharField(max_length=3, default="any")
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True)
    level_opened_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The awaiting approvers' ids (the same as the request's `waiters` rows, which are indexed).
    waiting_on = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["org", "module", "record_id"], name="approval_request_record"),
            models.Index(fields=["org", "status"], name="approval_request_status"),
        ]
        constraints = [models.UniqueConstraint(fields=["org", "module", "record_id"], name="uniq_awaiting_approval",
                                               condition=models.Q(status__in=AWAITING))]

    def __str__(self) -> str:
        return f"{self.process} · {self.record_name}"

    @property
    def awaiting(self) -> bool:
        return self.status in AWAITING

    # The lifecycle. The action that calls a transition saves the row it locked.
    @transition(field=status, source=list(AWAITING), target=Status.PENDING)
    def open_level(self) -> None:
        """The next level opens (or the first, at submission)."""

    @transition(field=status, source=list(AWAITING), target=Status.DELEGATED)
    def delegate(self) -> None:
        """An approver handed their part to someone else."""

    @transition(field=status, source=list(AWAITING), target=Status.APPROVED)
    def approve(self) -> None:
        """The last level approved."""

    @transition(field=status, source=list(AWAITING), target=Status.REJECTED)
    def reject(self) -> None:
        """An approver rejected: earlier levels are void and the process stops."""

    @transition(field=status, source=list(AWAITING), target=Status.RECALLED)
    def recall(self) -> None:
        """The submitter (or an admin) took the request back."""


class ApprovalWaiter(models.Model):
    """One approver an awaiting request waits on now, kept in step with `waiting_on` by the
    actions. Its index answers "which records await me" in one scan: the access grant that lets
    approvers open the record they are asked to judge, and My Work's list."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="waiters")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=60)
    record_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["org", "user", "module", "record_id"], name="approval_waiter_user")]
        constraints = [models.UniqueConstraint(fields=["org", "request", "user"], name="uniq_approval_waiter")]


class ApprovalStep(models.Model):
    class Decision(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        DELEGATED = "delegated", _("Delegated")
        RECALLED = "recalled", _("Recalled")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="steps")
    level = models.PositiveIntegerField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    delegated_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    taken_over = models.BooleanField(default=False)  # a process admin decided in an approver's place
    void = models.BooleanField(default=False)  # an approval voided by a later rejection
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["org", "request", "level"], name="approval_step_request")]

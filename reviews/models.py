"""Review processes and the cases they open.

- ReviewProcess: per module (by key, org and team modules alike). A record created (or
  resubmitted) through one of `paths` whose values match `criteria` is put under review: up to
  MAX_FIELDS fields are checked by the `reviewers` (users, org roles, groups, the record's owner).
- ReviewCase: one per record under review. `reviewer_ids` are resolved when the case opens (or
  reopens), so who may review a case is one indexed lookup, not a walk over roles and groups.
  `verdicts` holds one entry per field: {"verdict": reviewed|corrected|rejected, "by": user id,
  "by_name", "at", "reason"}. While a case is open or rejected the record is "under review".
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization

MAX_FIELDS = 10
NAME_MAX = 100
# Where a record can come from: the values of `WriteContext.path` (an API path may carry more
# after a colon). Web forms do not exist yet: a process may list them already.
PATHS = {
    "page": _("Record page"),
    "request": _("Requests tab"),
    "import": _("Import"),
    "webform": _("Web forms"),
    "api": _("API"),
}


class ReviewProcess(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)  # a module key: "leads", "team-12"
    name = models.CharField(_("name"), max_length=NAME_MAX)
    active = models.BooleanField(_("active"), default=True)
    criteria = models.JSONField(_("criteria"), default=dict, blank=True)  # crm.criteria JSON; empty: every record
    paths = models.JSONField(_("entry paths"), default=list)  # keys of PATHS
    # {"users": [ids], "roles": [ids], "groups": [ids], "owner": bool}
    reviewers = models.JSONField(_("reviewers"), default=dict)
    fields = models.JSONField(_("fields to review"), default=list)  # up to MAX_FIELDS field keys
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "name"], name="uniq_reviewprocess_name")]
        indexes = [models.Index(fields=["org", "module", "active"], name="reviewprocess_org_module")]

    def __str__(self) -> str:
        return self.name


class ReviewCase(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Under review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    UNDER_REVIEW = (Status.OPEN, Status.REJECTED)

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    process = models.ForeignKey(ReviewProcess, on_delete=models.PROTECT, related_name="cases")
    module = models.CharField(max_length=100)
    record_id = models.BigIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    path = models.CharField(max_length=100)  # the entry path that opened it
    fields = models.JSONField(default=list)  # the process's fields when the case opened
    reviewer_ids = ArrayField(models.BigIntegerField(), default=list)
    verdicts = models.JSONField(default=dict)
    rounds = models.PositiveIntegerField(default=1)  # 1 + times resubmitted
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "record_id"], name="uniq_reviewcase_record")]
        indexes = [
            # The list filter and the holds: records of a module under review.
            models.Index(fields=["org", "module", "status"], name="reviewcase_org_module_status"),
            # The review queue and My Work: open cases, newest first.
            models.Index(fields=["org", "status", "-opened_at"], name="reviewcase_org_status"),
        ]

    def __str__(self) -> str:
        return f"{self.process} #{self.record_id}"

    @property
    def under_review(self) -> bool:
        return self.status in self.UNDER_REVIEW

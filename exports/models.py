"""An export too large to download at once: written by a Celery job to a file that only the
person who asked for it may download, until its link expires."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.models import Organization


class ExportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    module_label = models.CharField(max_length=200, blank=True)  # as the list was called when asked
    format = models.CharField(max_length=10, choices=Format.choices)
    # The list as the user saw it: its query string (search, filters, sort) and chosen columns,
    # and the language the file is written in. The job reads it again as that user.
    query = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=20, default="en")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)  # rows to write, known once counted
    processed = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True, max_length=300)
    filename = models.CharField(max_length=200, blank=True)  # the name the download is saved under
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Indexes of tenant tables start with the org; the hourly purge reads the jobs of the last
        # month (older ones are deleted) across orgs without one.
        indexes = [models.Index(fields=["org", "user", "-created_at"], name="exportjob_org_user_created")]

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(100, int(100 * self.processed / self.total)) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.EXPIRED)

    @property
    def expired(self) -> bool:
        return self.status == self.Status.EXPIRED or (
            self.expires_at is not None and self.expires_at <= timezone.now())

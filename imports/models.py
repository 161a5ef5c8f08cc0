"""An import of a spreadsheet into one module: the uploaded file, its mapping, the dry run's
preview, the run's counts and the records it wrote (so it can be undone). Rows change only
through imports.actions."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization


class ImportJob(models.Model):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")  # waiting for its mapping
        CHECKING = "checking", _("Dry run")  # the dry run is going through the rows
        CHECKED = "checked", _("Ready to import")  # the dry run's preview is there to confirm
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        UNDOING = "undoing", _("Undoing")  # a large undo, going through its records in a job
        UNDONE = "undone", _("Undone")

    class Duplicates(models.TextChoices):
        SKIP = "skip", _("Skip the row")
        UPDATE = "update", _("Update the existing record")
        CREATE = "create", _("Create a new record anyway")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500)  # in the default storage
    file_format = models.CharField(max_length=10)  # csv or xlsx
    encoding = models.CharField(max_length=40, blank=True)  # csv: the encoding it is read with
    headers = models.JSONField(default=list)
    samples = models.JSONField(default=list)  # the first rows, shown on the mapping page
    total_rows = models.PositiveIntegerField(default=0)
    # column index (as text) -> field key ("owner" for the owner); unmapped columns are skipped
    mapping = models.JSONField(default=dict)
    duplicates = models.CharField(max_length=10, choices=Duplicates.choices, default=Duplicates.SKIP)
    match_fields = models.JSONField(default=list)  # field keys a row is matched on (all must agree)
    day_first = models.BooleanField(default=True)  # 03/12/2026 is 3 December
    all_or_nothing = models.BooleanField(default=False)
    # where the new records go besides their owner (imports.placement): "pool:12", or empty
    place = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    preview = models.JSONField(default=list)  # the dry run's first rows: {row, outcome, reason, title}
    expected = models.JSONField(default=dict)  # the dry run's counts
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)  # file rows committed (a re-run resumes after them)
    error = models.TextField(blank=True)  # why the job stopped, or why nothing was written
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    undo_report = models.JSONField(default=dict)
    undo_total = models.PositiveIntegerField(default=0)  # records the undo goes through
    undo_done = models.PositiveIntegerField(default=0)  # of them, committed (a re-run resumes after them)

    class Meta:
        indexes = [models.Index(fields=["org", "module", "-created_at"], name="importjob_org_module")]

    def __str__(self) -> str:
        return self.file_name

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.UNDONE)


class ImportTemplate(models.Model):
    """A saved mapping: column headers (normalised) -> field keys, with the import's options."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    name = models.CharField(_("name"), max_length=100)
    columns = models.JSONField(default=dict)
    options = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "name"], name="importtemplate_unique_name")]

    def __str__(self) -> str:
        return self.name


class ImportedRecord(models.Model):
    """A record an import created or updated, with what it wrote, so the import can be undone:
    `written` holds the values the import left (JSON forms), `before` the values it replaced."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")

    # One row per imported record: only the (job, row) index, which serves the job too.
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="records", db_index=False)
    row = models.PositiveIntegerField()
    record_id = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    written = models.JSONField(default=dict)
    before = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["job", "row"], name="importedrecord_job_rows")]


class ImportFailure(models.Model):
    """A row the import did not write, with its cells as read and the reason: the error file."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="failures")
    row = models.PositiveIntegerField()
    cells = models.JSONField(default=list)
    reason = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["org", "job", "row"], name="importfailure_job_row")]

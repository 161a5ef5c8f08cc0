"""Assignment rules: who gets a new record of a module (its owner for org modules, its assignee
for team modules). A rule is a list of entries tried in order; the first whose criteria match
the record decides, and the fallback owner takes what no entry matches (or what a matching entry
has nobody free for). A module has at most one active rule."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Group, Organization, OrgRole


class AssignmentRule(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)  # a module key: "leads", "team-12"
    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(default=False)
    # The rule acts as whoever activated it, through the same actions and guards as their own changes.
    run_as = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    fallback_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    # Org modules: which picklist says a record is still open, and which of its values are closed
    # (load balancing counts open records). Team modules use their done statuses.
    status_field = models.CharField(max_length=100, blank=True)
    closed_values = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["org", "module"], name="assignrule_org_module")]
        constraints = [models.UniqueConstraint(fields=["org", "module"], condition=models.Q(active=True),
                                               name="uniq_active_assignment_rule")]

    def __str__(self) -> str:
        return self.name


class AssignmentEntry(models.Model):
    """Criteria -> one user, or a pool of users taken in turn (round robin) or by fewest open
    records (load balancing), skipping inactive users and users at their cap."""

    class Method(models.TextChoices):
        USER = "user", _("Assign to one user")
        ROUND_ROBIN = "round_robin", _("Round robin")
        LOAD_BALANCE = "load_balance", _("Load balancing (fewest open records)")

    class Pool(models.TextChoices):
        USERS = "users", _("Chosen users")
        ROLE = "role", _("Members of a role")
        GROUP = "group", _("Members of a group")
        TEAM = "team", _("Members of a team space")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(AssignmentRule, on_delete=models.CASCADE, related_name="entries")
    order = models.PositiveIntegerField(default=0)
    criteria = models.JSONField(null=True, blank=True)  # None: every record
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.ROUND_ROBIN)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    pool = models.CharField(max_length=10, choices=Pool.choices, default=Pool.USERS)
    pool_users = models.JSONField(default=list, blank=True)  # user ids
    pool_role = models.ForeignKey(OrgRole, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pool_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pool_space = models.ForeignKey("teams.TeamSpace", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    cap = models.PositiveIntegerField(null=True, blank=True)  # at most this many open records per user
    # Round robin: the user who got the last record; the next goes to the next user id after it.
    # Read and written under a row lock in the assignment's own transaction.
    last_user_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["order", "pk"]
        indexes = [models.Index(fields=["org", "rule", "order"], name="assignentry_rule_order")]


class AssignmentJob(models.Model):
    """A run of a rule over chosen records or a whole filtered list, in batches, with progress.
    `cursor` is the last record id done: a re-run resumes after it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(AssignmentRule, null=True, on_delete=models.SET_NULL, related_name="jobs")
    module = models.CharField(max_length=100)
    trigger = models.CharField(max_length=20)  # selected, list
    record_ids = models.JSONField(default=list, blank=True)  # chosen records (trigger "selected")
    filters = models.JSONField(default=dict, blank=True)  # the list page's query (trigger "list")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    total_capped = models.BooleanField(default=False)
    processed = models.PositiveIntegerField(default=0)
    assigned = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "-created_at"], name="assignjob_org_created")]

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(100, int(100 * self.processed / self.total)) if self.total else 0

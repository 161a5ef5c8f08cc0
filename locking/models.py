"""Record locking configuration and state, per module (org modules and team modules alike).

- LockConfig: one row per (org, module): locking on/off, manual locking on/off, who may lock
  by hand, and what a manual lock restricts for whom.
- LockRule: up to five per module; records matching the criteria are locked (RecordLock rows).
- FieldLock: fields read-only for some users, from creation or while criteria match.
- RecordLock: the locks in force on one record: manual, by rule, or an admin's override
  that suspends one rule's lock.

Who a lock applies to is a "scope": everyone, or users with one of the selected profiles,
org roles (a role covers its subordinates) or team roles (team modules only). Profiles, roles
and team roles are stored as JSON lists (ids, or team role names), validated by the actions
against the org, so the guard decides from memory without joins.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from access.models import Organization

# Restricted actions a lock can forbid. The "edit" family changes field values.
EDIT = "edit"
BULK_EDIT = "bulk_edit"
IMPORT_UPDATE = "import_update"
EDIT_FAMILY = (EDIT, BULK_EDIT, IMPORT_UPDATE)
RESTRICTED_ACTIONS = {
    EDIT: _("Edit"),
    "delete": _("Delete"),
    "change_owner": _("Change owner"),
    "add_note": _("Add notes"),
    "edit_note": _("Edit notes"),
    "delete_note": _("Delete notes"),
    "add_attachment": _("Add attachments"),
    "delete_attachment": _("Delete attachments"),
    BULK_EDIT: _("Bulk edit"),
    IMPORT_UPDATE: _("Import update"),
}
# "Edit by default": every way of changing field values (page, bulk, import).
DEFAULT_RESTRICTED = list(EDIT_FAMILY)
TEAM_ROLES = ("manager", "member", "participant", "requester")
MAX_RULES_PER_MODULE = 5


class LockScope(models.Model):
    """Who a lock applies to (others are exempt) and what it forbids them."""

    class LockedFor(models.TextChoices):
        ALL = "all", _("All users")
        SELECTED = "selected", _("Selected profiles and roles")

    locked_for = models.CharField(_("locked for"), max_length=10, choices=LockedFor.choices,
                                  default=LockedFor.ALL)
    profiles = models.JSONField(_("profiles"), default=list, blank=True)  # Profile ids
    roles = models.JSONField(_("roles"), default=list, blank=True)  # OrgRole ids (and their subordinates)
    team_roles = models.JSONField(_("team roles"), default=list, blank=True)  # names from TEAM_ROLES
    restricted_actions = models.JSONField(_("restricted actions"), default=list, blank=True)
    editable_fields = models.JSONField(_("fields editable while locked"), default=list, blank=True)  # field keys

    class Meta:
        abstract = True


class LockConfig(LockScope):
    """A module's locking switches. The scope fields describe what a manual lock restricts."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    enabled = models.BooleanField(_("locking on"), default=False)
    manual_enabled = models.BooleanField(_("manual locking on"), default=False)
    # Who may lock and unlock by hand, besides org administrators (and, on team modules,
    # the team's managers while "manager" is listed).
    locker_profiles = models.JSONField(_("profiles who may lock"), default=list, blank=True)
    locker_roles = models.JSONField(_("roles who may lock"), default=list, blank=True)
    locker_team_roles = models.JSONField(_("team roles who may lock"), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module"], name="uniq_lockconfig_module")]


class LockRule(LockScope):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    name = models.CharField(_("name"), max_length=100)
    criteria = models.JSONField(_("criteria"), default=dict)  # crm.criteria JSON, validated
    # Lock when an approval process approves the record (automation's event); meanwhile the
    # criteria are evaluated on the record's fields like any rule.
    on_approval = models.BooleanField(_("lock after approval"), default=False)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "name"], name="uniq_lockrule_name")]
        indexes = [models.Index(fields=["org", "module", "position"], name="lockrule_org_module")]

    def __str__(self) -> str:
        return self.name


class FieldLock(models.Model):
    """Fields read-only for the selected users: always (from creation) when `criteria` is
    null, else while the stored record matches `criteria`. Independent of record locks."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    name = models.CharField(_("name"), max_length=100)
    fields = models.JSONField(_("fields"), default=list)  # field keys
    locked_for = models.CharField(_("locked for"), max_length=10, choices=LockScope.LockedFor.choices,
                                  default=LockScope.LockedFor.SELECTED)
    profiles = models.JSONField(_("profiles"), default=list, blank=True)
    roles = models.JSONField(_("roles"), default=list, blank=True)
    team_roles = models.JSONField(_("team roles"), default=list, blank=True)
    criteria = models.JSONField(_("criteria"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["org", "module"], name="fieldlock_org_module")]

    def __str__(self) -> str:
        return self.name


class RecordLock(models.Model):
    """A lock on one record. `override` rows are not locks: they record that an administrator
    lifted `rule`'s lock, which stays lifted until the record stops matching the rule."""

    class Kind(models.TextChoices):
        MANUAL = "manual", _("Manual")
        RULE = "rule", _("Rule")
        OVERRIDE = "override", _("Override")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    record_id = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    rule = models.ForeignKey(LockRule, null=True, blank=True, on_delete=models.CASCADE, related_name="locks")
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    locked_by_name = models.CharField(max_length=200, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    locked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "module", "record_id"], condition=models.Q(kind="manual"),
                                    name="uniq_recordlock_manual"),
            models.UniqueConstraint(fields=["org", "module", "record_id", "rule"],
                                    condition=models.Q(kind__in=["rule", "override"]), name="uniq_recordlock_rule"),
        ]
        indexes = [models.Index(fields=["org", "module", "record_id"], name="recordlock_record")]


class LockJob(models.Model):
    """A run of "apply this rule to existing records", with its progress and final counts."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    rule = models.ForeignKey(LockRule, null=True, on_delete=models.SET_NULL, related_name="jobs")
    rule_name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)  # records to lock or unlock, known once counted
    processed = models.PositiveIntegerField(default=0)
    locked = models.PositiveIntegerField(default=0)
    unlocked = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "-created_at"], name="lockjob_org_created")]

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.processed / self.total) if self.total else 0

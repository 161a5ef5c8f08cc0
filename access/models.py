"""Tenants, users and memberships: the bottom of the dependency graph."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Lower
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Organization(models.Model):
    class TwoFactorPolicy(models.TextChoices):
        NOBODY = "nobody", _("Nobody (each user chooses)")
        ADMINS = "admins", _("Administrators")
        EVERYONE = "everyone", _("Everyone")

    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Who must use two-factor authentication to work in this organisation (access.two_factor).
    two_factor_policy = models.CharField(_("two-factor authentication required for"), max_length=20,
                                         choices=TwoFactorPolicy.choices, default=TwoFactorPolicy.NOBODY,
                                         db_default=TwoFactorPolicy.NOBODY)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person; what they may do depends on their membership of the current org."""

    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="en")
    last_org = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Set by an administrator who sets the password: the user is sent to the change-password
    # page until they choose their own (access.middleware.PasswordChangeRequiredMiddleware).
    must_change_password = models.BooleanField(_("must change password at next login"), default=False,
                                               db_default=False)  # rows inserted by SQL (benches, tests) too

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        # Lists sorted by owner read the users in name order and each one's records from the
        # record table's (org, owner, id) index (crm.tables.order_path).
        indexes = [models.Index(fields=["first_name", "last_name", "id"], name="user_name_sort")]
        # One user per e-mail address, whatever its case (sign-up, an administrator adding a user).
        constraints = [models.UniqueConstraint(Lower("email"), condition=~models.Q(email=""),
                                               name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        STANDARD = "standard", _("Standard user")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("org role"), max_length=20, choices=Role.choices, default=Role.STANDARD)
    is_active = models.BooleanField(_("active"), default=True)
    department = models.CharField(_("department"), max_length=100, blank=True)
    # Senior executives: view every record of every team module.
    team_modules_admin = models.BooleanField(_("team modules admin"), default=False)
    profile = models.ForeignKey("Profile", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    org_role = models.ForeignKey("OrgRole", null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user"], name="uniq_membership_org_user")]
        indexes = [models.Index(fields=["org", "user"], name="membership_org_user")]

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN


class OrgWideDefault(models.Model):
    """The baseline a standard user gets on a module's records they do not own."""

    class Level(models.TextChoices):
        PRIVATE = "private", _("Private")
        PUBLIC_READ = "public_read", _("Public read only")
        PUBLIC_READ_WRITE = "public_read_write", _("Public read/write")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="defaults")
    module = models.CharField(max_length=100)
    level = models.CharField(max_length=20, choices=Level.choices, default=Level.PUBLIC_READ_WRITE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module"], name="uniq_owd_org_module")]


class PublicField(models.Model):
    """A field of an org module that anyone who can see a record linking to it may read
    (e.g. an account's industry, shown on a team record that looks the account up)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    field_key = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "field_key"], name="uniq_public_field")]


PERMISSIONS = ("create", "view", "edit", "delete", "import", "export", "manage")


class Profile(models.Model):
    """What a user may do per module (create, view, edit, delete, import, export, manage settings)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="profiles")
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # {"*": {"view": true, ...}, "deals": {"delete": false}}: a module entry overrides "*".
    permissions = models.JSONField(default=dict)
    # {"deals": {"amount": "read_only", "discount": "hidden"}}
    field_levels = models.JSONField(default=dict, blank=True)
    is_system = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="uniq_profile_name")]

    def __str__(self) -> str:
        return self.name

    def allows(self, module: str, permission: str) -> bool:
        for scope in (module, "*"):
            value = (self.permissions.get(scope) or {}).get(permission)
            if value is not None:
                return bool(value)
        return False

    def field_level(self, module: str, field_key: str) -> str:
        return (self.field_levels.get(module) or {}).get(field_key, "read_write")


class OrgRole(models.Model):
    """A node of the org chart. Users see the records owned by users in roles below theirs."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="org_roles")
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=500, db_index=True, editable=False)  # "/3/7/": ancestors and self

    class Meta:
        indexes = [models.Index(fields=["org", "path"], name="orgrole_org_path")]

    def __str__(self) -> str:
        return self.name


class Group(models.Model):
    """A named set of users and roles, for sharing rules (later: assignment rules, approvals).

    Manual shares with a group are django-guardian group permissions, which name a Django auth
    group: each of our groups has one, created and deleted with it. Who belongs to the group is
    resolved here (its users and the users of its roles), never through the auth group."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(_("name"), max_length=100)
    auth_group = models.OneToOneField("auth.Group", on_delete=models.CASCADE, related_name="org_group",
                                      editable=False)
    users = models.ManyToManyField(User, blank=True, related_name="org_groups")
    roles = models.ManyToManyField(OrgRole, blank=True, related_name="groups")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="uniq_group_name")]

    def __str__(self) -> str:
        return self.name


class SharingRule(models.Model):
    class Subject(models.TextChoices):
        ROLE = "role", _("Role")
        ROLE_AND_BELOW = "role_and_below", _("Role and subordinates")
        GROUP = "group", _("Group")

    class Access(models.TextChoices):
        READ = "read", _("Read only")
        READ_WRITE = "read_write", _("Read/write")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sharing_rules")
    module = models.CharField(max_length=100)
    name = models.CharField(_("name"), max_length=100)
    # Which records: owned by members of a role/group, or matching criteria (crm criteria JSON).
    owner_kind = models.CharField(max_length=20, choices=Subject.choices, blank=True)
    owner_role = models.ForeignKey(OrgRole, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    owner_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    criteria = models.JSONField(null=True, blank=True)
    # Shared with whom.
    target_kind = models.CharField(max_length=20, choices=Subject.choices)
    target_role = models.ForeignKey(OrgRole, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    target_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    access = models.CharField(max_length=20, choices=Access.choices, default=Access.READ)

    class Meta:
        indexes = [models.Index(fields=["org", "module"], name="sharingrule_org_module")]


class AccessLog(models.Model):
    """Every export and bulk download: who, what, how many, with which filters."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    user_name = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=40)
    module = models.CharField(max_length=100)
    count = models.PositiveIntegerField(default=0)
    filters = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "-at"], name="accesslog_org_at")]


class AuditEntryQuerySet(models.QuerySet):
    """The audit log only grows: rows are neither changed nor deleted through the ORM (the
    organisation's own deletion still removes them, through the database cascade)."""

    def update(self, **kwargs):  # type: ignore[override]
        # The one change allowed: a deleted user's entries keep the copied name (on_delete=SET_NULL).
        if kwargs != {"actor": None}:
            raise PermissionError("The audit log is append-only.")
        return super().update(**kwargs)

    def delete(self):  # type: ignore[override]
        raise PermissionError("The audit log is append-only.")


class AuditEntry(models.Model):
    """One configuration change of an organisation: who (and their name then), when, what kind of
    change, to which object (and its name then), the values before and after, and the request.
    Written only by `access.audit.record`, from the actions that make the change."""

    class Event(models.TextChoices):
        FIELD_CREATED = "field.created", _("Custom field created")
        FIELD_CHANGED = "field.changed", _("Custom field changed")
        FIELD_RETIRED = "field.retired", _("Custom field retired")
        FIELD_RESTORED = "field.restored", _("Custom field restored")
        FIELD_MOVED = "field.moved", _("Custom field moved")
        ORG_DEFAULT_CHANGED = "org_default.changed", _("Org-wide default changed")
        PUBLIC_FIELDS_CHANGED = "public_fields.changed", _("Public fields changed")
        USER_ADDED = "user.added", _("User added")
        USER_ACTIVATED = "user.activated", _("User activated")
        USER_DEACTIVATED = "user.deactivated", _("User deactivated")
        USER_ROLE_CHANGED = "user.admin_role_changed", _("User's administrator role changed")
        USER_TEAM_MODULES_ADMIN = "user.team_modules_admin", _("Team modules admin changed")
        USER_PROFILE_CHANGED = "user.profile_changed", _("User's profile changed")
        USER_ORG_ROLE_CHANGED = "user.org_role_changed", _("User's role changed")
        PROFILE_CREATED = "profile.created", _("Profile created")
        PROFILE_CHANGED = "profile.changed", _("Profile renamed or described")
        PROFILE_PERMISSIONS_CHANGED = "profile.permissions", _("Profile permissions changed")
        PROFILE_FIELD_LEVELS_CHANGED = "profile.field_levels", _("Profile field permissions changed")
        PROFILE_DELETED = "profile.deleted", _("Profile deleted")
        ROLE_CREATED = "role.created", _("Role created")
        ROLE_RENAMED = "role.renamed", _("Role renamed")
        ROLE_MOVED = "role.moved", _("Role moved")
        ROLE_DELETED = "role.deleted", _("Role deleted")
        GROUP_CREATED = "group.created", _("Group created")
        GROUP_CHANGED = "group.changed", _("Group changed")
        GROUP_DELETED = "group.deleted", _("Group deleted")
        SHARING_RULE_CREATED = "sharing_rule.created", _("Sharing rule created")
        SHARING_RULE_DELETED = "sharing_rule.deleted", _("Sharing rule deleted")
        LOCK_SETTINGS_CHANGED = "lock_settings.changed", _("Lock settings changed")
        LOCK_RULE_CREATED = "lock_rule.created", _("Lock rule created")
        LOCK_RULE_CHANGED = "lock_rule.changed", _("Lock rule changed")
        LOCK_RULE_DELETED = "lock_rule.deleted", _("Lock rule deleted")
        FIELD_LOCK_SAVED = "field_lock.saved", _("Field lock saved")
        FIELD_LOCK_DELETED = "field_lock.deleted", _("Field lock deleted")
        TEAM_SPACE_CREATED = "team_space.created", _("Team space created")
        TEAM_MODULE_CREATED = "team_module.created", _("Team module created")
        TEAM_MODULE_CHANGED = "team_module.changed", _("Team module changed")
        TEAM_MODULE_RETIRED = "team_module.retired", _("Team module retired")
        TEAM_MODULE_RESTORED = "team_module.restored", _("Team module restored")
        TEAM_MEMBER_SET = "team_member.set", _("Team member added or role changed")
        TEAM_MEMBER_REMOVED = "team_member.removed", _("Team member removed")
        REQUESTERS_CHANGED = "requesters.changed", _("Requesters changed")
        USER_PASSWORD_SET = "user.password_set", _("User's password set by an administrator")
        USER_LOCKOUT_LIFTED = "user.lockout_lifted", _("Failed-login lockout lifted")
        TWO_FACTOR_POLICY_CHANGED = "two_factor_policy.changed", _("Two-factor requirement changed")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(_("time"), default=timezone.now)
    # The actor's name is copied: the entry still says who after the user is gone or renamed.
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(_("actor"), max_length=200, blank=True)
    event = models.CharField(_("event"), max_length=40, choices=Event.choices)
    object_type = models.CharField(_("object type"), max_length=60)
    object_id = models.CharField(_("object id"), max_length=100, blank=True)
    object_name = models.CharField(_("object"), max_length=200, blank=True)
    old_value = models.JSONField(_("before"), null=True, blank=True, encoder=DjangoJSONEncoder)
    new_value = models.JSONField(_("after"), null=True, blank=True, encoder=DjangoJSONEncoder)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [
            models.Index(fields=["org", "-at", "-id"], name="auditentry_org_at"),
            models.Index(fields=["org", "event", "-at"], name="auditentry_org_event"),
            models.Index(fields=["org", "actor", "-at"], name="auditentry_org_actor"),
            models.Index(fields=["org", "object_type", "object_id", "-at"], name="auditentry_org_object"),
        ]

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def __str__(self) -> str:
        return f"{self.get_event_display()}: {self.object_name}"


@receiver(pre_save, sender=AuditEntry)
def _refuse_changing_an_entry(sender: type, instance: AuditEntry, **kwargs) -> None:
    """An entry is written once; saving it again would rewrite history."""
    if not instance._state.adding:
        raise PermissionError("The audit log is append-only.")


class UnsentJob(models.Model):
    """A background job the broker refused (Redis was down), kept until beat sends it again
    (access.tasks.send_unsent). Only the task's name and arguments (ids) are kept, with the
    organisation it was published under, so it runs bound to that organisation as it would have."""

    task = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    queue = models.CharField(max_length=200, blank=True)
    bound_org_id = models.BigIntegerField(null=True)
    not_before = models.DateTimeField(default=timezone.now)
    kept_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["not_before", "id"], name="unsentjob_due")]

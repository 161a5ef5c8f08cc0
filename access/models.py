"""Tenants, users and memberships: the bottom of the dependency graph."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organization(models.Model):
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person; what they may do depends on their membership of the current org."""

    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="en")
    last_org = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

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

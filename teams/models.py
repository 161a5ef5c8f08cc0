"""Team spaces, their members and team modules (record types a team manager builds)."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from access.models import Organization
from crm.models import FieldDefinition, bigram_index, trigram_index
from crm.schema import pick_label


class TeamSpace(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["org", "name_en"], name="teamspace_org_name")]

    def __str__(self) -> str:
        return pick_label(self.name_en, self.name_zh)


class TeamMember(models.Model):
    class Role(models.TextChoices):
        MANAGER = "manager", _("Manager")
        MEMBER = "member", _("Member")
        PARTICIPANT = "participant", _("Participant")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    space = models.ForeignKey(TeamSpace, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    role = models.CharField(_("team role"), max_length=20, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "user"], name="uniq_team_member")]
        indexes = [models.Index(fields=["org", "user"], name="teammember_org_user")]


class TeamModule(models.Model):
    """A record type of a team space. `name_en`/`name_zh` are its (plural) name, used for lists,
    tabs and menus; `name_singular_*` name one record ("New case study")."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    space = models.ForeignKey(TeamSpace, on_delete=models.CASCADE, related_name="modules")
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100, blank=True)
    name_singular_en = models.CharField(_("name of one record (English)"), max_length=100, blank=True)
    name_singular_zh = models.CharField(_("name of one record (Chinese)"), max_length=100, blank=True)
    icon = models.CharField(_("icon"), max_length=40, default="kanban")
    # [{"value", "label_en", "label_zh", "color"}]; the first is where new requests start.
    statuses = models.JSONField(_("statuses"), default=list)
    manager_only_statuses = models.JSONField(_("statuses only managers may set"), default=list, blank=True)
    done_statuses = models.JSONField(_("statuses that count as done"), default=list, blank=True)
    due_field = models.ForeignKey(FieldDefinition, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    retired = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["org", "space"], name="teammodule_org_space")]
        # Two modules of one space with the same name would be indistinguishable in every menu.
        constraints = [
            models.UniqueConstraint("org", "space", Lower("name_en"), name="uniq_teammodule_space_name_en"),
            models.UniqueConstraint("org", "space", Lower("name_zh"), name="uniq_teammodule_space_name_zh",
                                    condition=~models.Q(name_zh="")),
        ]

    @property
    def key(self) -> str:
        return f"team-{self.pk}"

    def __str__(self) -> str:
        return self.label_plural

    @property
    def label_plural(self) -> str:
        """The module's name in the user's language, for lists, tabs and menus."""
        return pick_label(self.name_en, self.name_zh)

    @property
    def label_singular(self) -> str:
        """What one record is called in the user's language ("case study")."""
        # Chinese nouns have no plural form: the module's Chinese name serves when no singular is set.
        return pick_label(self.name_singular_en or self.name_en, self.name_singular_zh or self.name_zh)

    @property
    def first_status(self) -> str:
        return self.statuses[0]["value"] if self.statuses else ""


class Requester(models.Model):
    """A user of another team allowed to submit requests to a team module."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.ForeignKey(TeamModule, on_delete=models.CASCADE, related_name="requesters")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["module", "user"], name="uniq_module_requester")]
        indexes = [models.Index(fields=["org", "user"], name="requester_org_user")]


class TeamRecord(models.Model):
    """A record of a team module: typed core columns plus JSONB `data` keyed by field key."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.ForeignKey(TeamModule, on_delete=models.PROTECT, related_name="records")
    space = models.ForeignKey(TeamSpace, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    title = models.CharField(pgettext_lazy("a record's name", "title"), max_length=255)
    status = models.CharField(_("status"), max_length=60, blank=True)
    version = models.PositiveIntegerField(default=1)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    modified_at = models.DateTimeField(auto_now=True)
    modified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["org", "module", "-modified_at", "-id"], name="teamrecord_module_modified",
                         condition=models.Q(deleted_at__isnull=True)),
            models.Index(fields=["org", "module", "status", "-modified_at"], name="teamrecord_module_status",
                         condition=models.Q(deleted_at__isnull=True)),
            models.Index(fields=["org", "module", "owner", "-modified_at"], name="teamrecord_module_owner",
                         condition=models.Q(deleted_at__isnull=True)),
            models.Index(fields=["org", "module", "assignee", "-modified_at"], name="teamrecord_module_assignee",
                         condition=models.Q(deleted_at__isnull=True)),
            models.Index(fields=["org", "requested_by"], name="teamrecord_requested_by"),
            # A module's list sorted by a core column, pk as the tie-break (crm.tables.order_path).
            *[models.Index(fields=["org", "module", name, "id"], name=f"teamrecord_sort_{name}",
                           condition=models.Q(deleted_at__isnull=True))
              for name in ("title", "status", "owner", "assignee", "requested_by")],
            GinIndex(fields=["data"], opclasses=["jsonb_path_ops"], name="teamrecord_data_gin"),
            # The global search and the list's search box (title is the team modules' search field).
            trigram_index("title", "teamrecord_title_trgm"),
            bigram_index("title", "teamrecord_title_bigram"),
        ]

    # The module key is per row; crm.actions resolves the schema through it.
    @property
    def MODULE_KEY(self) -> str:  # noqa: N802 - same name as the org models' class attribute
        return f"team-{self.module_id}"

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("crm:detail", args=[self.MODULE_KEY, self.pk])


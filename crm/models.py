"""The record core and the org modules. Rows change only through crm.actions."""
from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Func, TextField
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from access.models import Organization

from .fieldspec import Choice, FieldSpec


def trigram_index(field: str, name: str) -> GinIndex:
    """Substring search that works for Chinese: UPPER(col) LIKE '%q%' served by pg_trgm."""
    return GinIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=name)


# Lists and boards read live rows only; every index below is partial on this condition.
LIVE = models.Q(deleted_at__isnull=True)


class Bigrams(Func):
    """crm_bigrams(text): every two-character substring of a text (SQL function of migration
    crm 0008). A two-character term has no trigram, so pg_trgm cannot serve it; this can."""

    function = "crm_bigrams"
    output_field = ArrayField(TextField())


def bigram_index(field: str, name: str) -> GinIndex:
    """Two-character substring search, as `crm_bigrams(UPPER(col)) @> ARRAY[UPPER(q)]`."""
    return GinIndex(Bigrams(Upper(field)), name=name, condition=LIVE)


def sort_indexes(prefix: str, *fields: str) -> list[models.Index]:
    """One (org, field, id) index per sortable standard column: a list sorted by the column,
    with pk as the tie-break, reads one page of the index instead of sorting every row."""
    return [models.Index(fields=["org", name, "id"], condition=LIVE, name=f"{prefix}_sort_{name}")
            for name in fields]


def board_indexes(prefix: str, *fields: str) -> list[models.Index]:
    """One (org, field, newest first) index per picklist a kanban groups by: a column's cards
    (field = value, newest first) and the per-value counts read it."""
    return [models.Index(fields=["org", name, "-modified_at", "-id"], condition=LIVE,
                         name=f"{prefix}_board_{name}") for name in fields]


class Record(models.Model):
    """Columns every org record has."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("owner"))
    version = models.PositiveIntegerField(default=1)
    custom = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    modified_at = models.DateTimeField(auto_now=True)
    modified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        abstract = True
        # Lists show live rows only: partial indexes let counts and pages skip the recycle bin.
        indexes = [
            models.Index(fields=["org", "owner", "-modified_at"], name="%(class)s_org_owner",
                         condition=models.Q(deleted_at__isnull=True)),
            models.Index(fields=["org", "-modified_at", "-id"], name="%(class)s_org_modified",
                         condition=models.Q(deleted_at__isnull=True)),
            models.Index(fields=["org", "owner", "id"], name="%(class)s_sort_owner", condition=LIVE),
            GinIndex(fields=["custom"], opclasses=["jsonb_path_ops"], name="%(class)s_custom_gin"),
        ]

    MODULE_KEY = ""

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("crm:detail", args=[self.MODULE_KEY, self.pk])


def pooled_owner() -> models.ForeignKey:
    """The owner of a record type a customer pool holds (leads, accounts): empty while the record
    sits in a pool (`pool_id` set, owner NULL) waiting to be claimed. A contact's owner too: the
    contacts of an account entering a pool go with it, ownerless while their account waits."""
    return models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+", verbose_name=_("owner"))


def pool_indexes(prefix: str) -> list[models.Index]:
    """Rows waiting in a pool, by pool: the pool members' grant reads them."""
    return [models.Index(fields=["org", "pool_id", "-modified_at", "-id"], name=f"{prefix}_in_pool",
                         condition=models.Q(deleted_at__isnull=True, owner__isnull=True))]


class Account(Record):
    MODULE_KEY = "accounts"
    owner = pooled_owner()
    # The customer pool the record belongs to (pool.Pool id; no foreign key so crm needs no pool
    # app): it is in that pool while it has no owner, and returns there when released.
    pool_id = models.BigIntegerField(null=True, blank=True)
    name = models.CharField(_("account name"), max_length=255)
    industry = models.CharField(_("industry"), max_length=50, blank=True)
    employees = models.IntegerField(_("employees"), null=True, blank=True)
    website = models.CharField(_("website"), max_length=500, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)

    class Meta(Record.Meta):
        indexes = Record.Meta.indexes + [
            trigram_index("name", "account_name_trgm"),
            trigram_index("phone", "account_phone_trgm"),
            bigram_index("name", "account_name_bigram"),
            *sort_indexes("account", "name", "industry", "employees", "website", "phone", "city", "country"),
            *board_indexes("account", "industry"),
            *pool_indexes("account"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(Record):
    MODULE_KEY = "contacts"
    # Empty only while its account waits in a customer pool (it went there with the account; the
    # pool's members see it through the account, and whoever claims the account gets it).
    owner = pooled_owner()
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts",
                                verbose_name=_("account"))
    title = models.CharField(_("title"), max_length=100, blank=True)
    email = models.CharField(_("email"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)

    class Meta(Record.Meta):
        indexes = Record.Meta.indexes + [
            models.Index(fields=["org", "account"], name="contact_org_account"),
            trigram_index("last_name", "contact_last_trgm"),
            trigram_index("first_name", "contact_first_trgm"),
            trigram_index("email", "contact_email_trgm"),
            trigram_index("phone", "contact_phone_trgm"),
            bigram_index("first_name", "contact_first_bigram"),
            bigram_index("last_name", "contact_last_bigram"),
            *sort_indexes("contact", "first_name", "last_name", "account", "title", "email", "phone"),
            # Ownerless contacts by account: the pool grant's "account IN (waiting accounts)" and
            # the claim that hands them to the account's new owner read it.
            models.Index(fields=["org", "account", "-modified_at", "-id"], name="contact_in_pool",
                         condition=models.Q(deleted_at__isnull=True, owner__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Lead(Record):
    MODULE_KEY = "leads"
    owner = pooled_owner()
    pool_id = models.BigIntegerField(null=True, blank=True)  # as on Account
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100)
    company = models.CharField(_("company"), max_length=255, blank=True)
    email = models.CharField(_("email"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=30, default="new")
    source = models.CharField(_("source"), max_length=30, blank=True)

    class Meta(Record.Meta):
        indexes = Record.Meta.indexes + [
            trigram_index("first_name", "lead_first_trgm"),
            trigram_index("last_name", "lead_last_trgm"),
            trigram_index("company", "lead_company_trgm"),
            trigram_index("email", "lead_email_trgm"),
            trigram_index("phone", "lead_phone_trgm"),
            bigram_index("first_name", "lead_first_bigram"),
            bigram_index("last_name", "lead_last_bigram"),
            bigram_index("company", "lead_company_bigram"),
            *sort_indexes("lead", "first_name", "last_name", "company", "email", "phone", "status", "source"),
            *board_indexes("lead", "status", "source"),
            *pool_indexes("lead"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Deal(Record):
    MODULE_KEY = "deals"
    name = models.CharField(_("deal name"), max_length=255)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals",
                                verbose_name=_("account"))
    stage = models.CharField(_("stage"), max_length=30, default="qualification")
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2, null=True, blank=True)
    discount = models.DecimalField(_("discount %"), max_digits=5, decimal_places=2, null=True, blank=True)
    close_date = models.DateField(_("close date"), null=True, blank=True)

    class Meta(Record.Meta):
        indexes = Record.Meta.indexes + [
            models.Index(fields=["org", "account"], name="deal_org_account"),
            models.Index(fields=["org", "stage"], name="deal_org_stage"),
            trigram_index("name", "deal_name_trgm"),
            bigram_index("name", "deal_name_bigram"),
            *sort_indexes("deal", "name", "account", "stage", "amount", "discount", "close_date"),
            *board_indexes("deal", "stage"),
        ]

    def __str__(self) -> str:
        return self.name


class Task(Record):
    MODULE_KEY = "tasks"
    subject = models.CharField(_("subject"), max_length=255)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=30, default="not_started")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("assignee"))
    related_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    related_id = models.BigIntegerField(null=True, blank=True)
    related = GenericForeignKey("related_type", "related_id")

    class Meta(Record.Meta):
        indexes = Record.Meta.indexes + [
            models.Index(fields=["org", "assignee"], name="task_org_assignee"),
            models.Index(fields=["org", "related_type", "related_id"], name="task_org_related"),
            trigram_index("subject", "task_subject_trgm"),
            bigram_index("subject", "task_subject_bigram"),
            *sort_indexes("task", "subject", "due_date", "status", "assignee"),
            *board_indexes("task", "status"),
        ]

    def __str__(self) -> str:
        return self.subject


class ShareDetails(models.Model):
    """What a manual share keeps besides guardian's permission row: the tenant, who, when."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class UserShare(ShareDetails, UserObjectPermissionBase):
    """A record shared by hand with a user: guardian's direct foreign-key user permission
    (`view_<model>` for read only, plus `change_<model>` for read/write). See access.shares."""

    class Meta(UserObjectPermissionBase.Meta):
        abstract = True


class GroupShare(ShareDetails, GroupObjectPermissionBase):
    """A record shared by hand with a group (through the group's hidden auth group)."""

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = True


class AccountUserShare(UserShare):
    content_object = models.ForeignKey(Account, on_delete=models.CASCADE)


class AccountGroupShare(GroupShare):
    content_object = models.ForeignKey(Account, on_delete=models.CASCADE)


class ContactUserShare(UserShare):
    content_object = models.ForeignKey(Contact, on_delete=models.CASCADE)


class ContactGroupShare(GroupShare):
    content_object = models.ForeignKey(Contact, on_delete=models.CASCADE)


class LeadUserShare(UserShare):
    content_object = models.ForeignKey(Lead, on_delete=models.CASCADE)


class LeadGroupShare(GroupShare):
    content_object = models.ForeignKey(Lead, on_delete=models.CASCADE)


class DealUserShare(UserShare):
    content_object = models.ForeignKey(Deal, on_delete=models.CASCADE)


class DealGroupShare(GroupShare):
    content_object = models.ForeignKey(Deal, on_delete=models.CASCADE)


class TaskUserShare(UserShare):
    content_object = models.ForeignKey(Task, on_delete=models.CASCADE)


class TaskGroupShare(GroupShare):
    content_object = models.ForeignKey(Task, on_delete=models.CASCADE)


class AttachedToRecord(models.Model):
    """Rows that hang off one record of any module (notes, attachments, timeline)."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    record_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    record_id = models.BigIntegerField()
    record = GenericForeignKey("record_type", "record_id")

    class Meta:
        abstract = True
        indexes = [models.Index(fields=["org", "record_type", "record_id"], name="%(class)s_org_record")]


class Note(AttachedToRecord):
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(_("note"))
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in_notes")
    created_at = models.DateTimeField(auto_now_add=True)


class Attachment(AttachedToRecord):
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to="attachments/%Y/%m/")
    name = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    content_type = models.CharField(max_length=100, blank=True)
    deliverable = models.BooleanField(default=False)  # shown to team requesters
    # A file field's file (its key, e.g. "f_12"): part of the field's value, not of the record's
    # attachments list; "" for a file attached to the record.
    field_key = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)


class TimelineEntry(AttachedToRecord):
    """One event on a record. Written by actions only; never edited or deleted by the app."""

    # Every record write adds an entry, so its indexes and checks are kept to what is read: the
    # (org, record type, record, at) index serves the org too; content types are never deleted
    # while their records exist, so that key is not checked by the database on every insert.
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    record_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+", db_index=False,
                                    db_constraint=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=False)
    path = models.CharField(max_length=50)  # how: page, inline, bulk, import, api, rule, system
    kind = models.CharField(max_length=40)
    changes = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "record_type", "record_id", "-at"], name="timeline_org_record_at")]


class FieldDefinition(models.Model):
    """An org-defined custom field of an org module, stored in the record's JSON `custom` column."""

    class IndexState(models.TextChoices):
        """Where the field's expression index stands (crm.field_indexes builds it in the background)."""

        NONE = "none", _("none")
        BUILDING = "building", _("building")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    api_name = models.SlugField(_("API name"), max_length=60)
    label_en = models.CharField(_("label (English)"), max_length=100)
    label_zh = models.CharField(_("label (Chinese)"), max_length=100, blank=True)
    field_type = models.CharField(_("type"), max_length=20)
    required = models.BooleanField(_("required"), default=False)
    default = models.JSONField(_("default"), null=True, blank=True, encoder=DjangoJSONEncoder)
    options = models.JSONField(_("options"), default=list, blank=True)
    help_text = models.CharField(_("help text"), max_length=255, blank=True)
    order = models.PositiveIntegerField(default=0)
    public = models.BooleanField(_("public"), default=False)
    retired = models.BooleanField(_("retired"), default=False)
    # Team module fields also use these:
    target = models.CharField(_("lookup target"), max_length=100, blank=True)
    unique = models.BooleanField(_("unique"), default=False)
    section = models.CharField(_("section"), max_length=100, blank=True)
    shown_to_requesters = models.BooleanField(_("shown to requesters"), default=False)
    in_list = models.BooleanField(_("shown in lists"), default=False)
    index_state = models.CharField(max_length=10, choices=IndexState.choices, default=IndexState.NONE)
    index_error = models.TextField(blank=True)  # why the last build failed

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "module", "api_name"], name="uniq_field_api_name")]
        indexes = [models.Index(fields=["org", "module", "order"], name="fielddef_org_module")]

    @property
    def key(self) -> str:
        return f"f_{self.pk}"

    @property
    def json_column(self) -> str:
        return "data" if self.module.startswith("team-") else "custom"

    def spec(self) -> FieldSpec:
        return FieldSpec(
            key=self.key, label_en=self.label_en, label_zh=self.label_zh, type=self.field_type, storage="custom",
            json_column=self.json_column, target=self.target, unique=self.unique,
            required=self.required,
            options=tuple(Choice(o["value"], o.get("label_en") or o["value"], o.get("label_zh", ""),
                                 o.get("color", "")) for o in self.options or []),
            public=self.public, help_text=self.help_text, default=self.default, api_name=self.api_name,
            definition_id=self.pk, in_list=self.in_list, searchable=self.field_type in ("text", "email", "phone"),
        )


class RecordLink(models.Model):
    """The value of a JSON-stored lookup field, kept as a real row so "which records point at
    this one" (the 360 view) is an indexed query. The id is also in the JSON for reads."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    field = models.ForeignKey(FieldDefinition, on_delete=models.CASCADE, related_name="+")
    source_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    source_id = models.BigIntegerField()
    target_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    target_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["field", "source_type", "source_id"],
                                               name="uniq_link_field_source")]
        indexes = [models.Index(fields=["org", "target_type", "target_id"], name="recordlink_target")]

"""The module schema: one description of a record type, for org modules (concrete
models) and team modules alike. Every feature reads fields through it and never asks
which kind of module it has."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from django.db.models import QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from .fieldtypes import FieldType, get_type


@dataclass(frozen=True)
class Choice:
    value: str
    label_en: str
    label_zh: str = ""
    color: str = ""

    @property
    def label(self) -> str:
        return pick_label(self.label_en, self.label_zh)


def pick_label(label_en: Any, label_zh: str = "") -> str:
    if label_zh and (get_language() or "en").lower().startswith("zh"):
        return label_zh
    return str(label_en)


@dataclass(frozen=True)
class FieldSpec:
    key: str  # column name, or f_<id> for JSON-stored fields: immutable, never the label
    label_en: Any
    type: str
    storage: str = "column"  # "column" or "custom" (a key in the JSON column `json_column`)
    json_column: str = "custom"  # "custom" on org modules, "data" on team records
    label_zh: str = ""
    required: bool = False
    options: tuple[Choice, ...] = ()
    editable: bool = True
    public: bool = False
    help_text: str = ""
    target: str = ""  # module key a lookup points to
    default: Any = None
    api_name: str = ""
    definition_id: int | None = None
    in_list: bool = False  # shown as a list column by default
    unique: bool = False
    searchable: bool = False

    @property
    def label(self) -> str:
        return pick_label(self.label_en, self.label_zh)

    @property
    def field_type(self) -> FieldType:
        return get_type(self.type)

    @property
    def is_custom(self) -> bool:
        return self.storage == "custom"

    @property
    def is_reference(self) -> bool:
        return self.type in ("user", "lookup")

    @property
    def orm_path(self) -> str:
        """The ORM path for filters on a column field (`account_id` for a lookup)."""
        return f"{self.key}_id" if self.is_reference else self.key

    def option_values(self) -> set[str]:
        return {c.value for c in self.options}

    def option_value_for_label(self, text: str) -> str | None:
        lowered = text.lower()
        for c in self.options:
            if lowered in (c.label_en.lower(), c.label_zh.lower()):
                return c.value
        return None

    def option_label(self, value: str) -> str:
        for c in self.options:
            if c.value == value:
                return c.label
        return value

    def option_color(self, value: str) -> str:
        for c in self.options:
            if c.value == value:
                return c.color
        return ""

    def choices(self) -> Iterable[tuple[str, str]]:
        return [(c.value, c.label) for c in self.options]

    # --- values on a record ------------------------------------------------------
    def get_value(self, record: Any) -> Any:
        if self.is_custom:
            return self.field_type.from_json((getattr(record, self.json_column) or {}).get(self.key))
        if self.is_reference:
            return getattr(record, f"{self.key}_id")
        return getattr(record, self.key)

    def set_value(self, record: Any, value: Any) -> None:
        if self.is_custom:
            data = dict(getattr(record, self.json_column) or {})
            json_value = self.field_type.to_json(value)
            if json_value is None:
                data.pop(self.key, None)
            else:
                data[self.key] = json_value
            setattr(record, self.json_column, data)
        elif self.is_reference:
            setattr(record, f"{self.key}_id", value)
        else:
            setattr(record, self.key, value if value is not None or self.type not in TEXT_COLUMN_TYPES else "")

    def display(self, record: Any) -> str:
        value = self.get_value(record)
        if self.is_reference and not self.is_custom and value is not None:
            related = getattr(record, self.key, None)
            return str(related) if related is not None else ""
        return self.field_type.display(value, self)


# Text columns are NOT NULL with "" as empty, as Django recommends.
TEXT_COLUMN_TYPES = {"text", "long_text", "email", "phone", "url", "picklist"}


@dataclass
class ModuleSchema:
    """An org module: a concrete model with real columns plus JSON custom fields."""

    key: str
    model: Any
    label_en: Any
    label_plural_en: Any
    icon: str
    core_fields: tuple[FieldSpec, ...]
    title_field: str
    access_user_fields: tuple[str, ...] = ("owner",)
    default_access: str = "public_read_write"
    related: tuple[tuple[str, str], ...] = ()  # (module key, lookup field on it) shown on detail pages
    select_related: tuple[str, ...] = ("owner",)
    order: int = 0
    kind: str = "org"

    @property
    def label(self) -> str:
        """What one record is called, in the user's language (same as `label_singular`)."""
        return str(self.label_en)

    @property
    def label_singular(self) -> str:
        return self.label

    @property
    def label_plural(self) -> str:
        """The module's name for lists, tabs and menus, in the user's language."""
        return str(self.label_plural_en)

    def base_queryset(self, org) -> QuerySet:
        return self.model.objects.filter(org=org)

    def new_record(self, org, **values: Any) -> Any:
        """An unsaved record of this module (team modules add their module and space)."""
        return self.model(org=org, **values)

    def can_create(self, user) -> bool:
        """Whether the user may create records here (any active member, for org modules)."""
        return True

    def can_open(self, user) -> bool:
        """Whether the module's pages exist for the user at all (else 404): the profile's view switch."""
        from access.visibility import module_allowed

        return module_allowed(user, self.key, "view")

    def can_configure(self, user) -> bool:
        """Whether the user may change this module's fields (org administrators)."""
        from access.visibility import is_org_admin

        return is_org_admin(user)

    def field_allowed(self, spec: "FieldSpec", user) -> bool:
        """Whether the user may see this field at all (profile field permissions; team
        requesters see fewer)."""
        from access.visibility import field_level

        return field_level(user, self.key, spec.key) != "hidden"

    def notes_for(self, notes, user):
        """Notes the user may read on a record they can see (team requesters see fewer)."""
        return notes

    def attachments_for(self, attachments, user):
        return attachments

    def reads_all_notes(self, user) -> bool:
        """Whether `notes_for` leaves every note to this user (so a deleted note's timeline entry
        is theirs to see too)."""
        return True

    def sees_all_attachments(self, user) -> bool:
        """Whether `attachments_for` leaves every file to this user."""
        return True

    def definitions(self, org):
        from .models import FieldDefinition

        return FieldDefinition.objects.filter(org=org, module=self.key).order_by("order", "pk")

    def bind(self, org) -> "BoundSchema":
        """The schema with this org's custom fields (one query)."""
        return BoundSchema(self, org, [d.spec() for d in self.definitions(org) if not d.retired])


@dataclass
class BoundSchema:
    module: ModuleSchema
    org: Any
    custom_fields: list[FieldSpec] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def bind(self, org) -> "BoundSchema":
        """Already bound: itself for the same org (no second read of its fields)."""
        return self if org.pk == self.org.pk else self.module.bind(org)

    @property
    def fields(self) -> list[FieldSpec]:
        return list(self.module.core_fields) + self.custom_fields

    def field(self, key: str) -> FieldSpec:
        for spec in self.fields:
            if spec.key == key or (spec.api_name and spec.api_name == key):
                return spec
        raise KeyError(key)

    def has_field(self, key: str) -> bool:
        try:
            self.field(key)
        except KeyError:
            return False
        return True

    @property
    def editable_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.editable]

    def fields_for(self, user) -> list[FieldSpec]:
        return [f for f in self.fields if self.module.field_allowed(f, user)]

    @property
    def search_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.searchable]

    def public_fields(self) -> list[FieldSpec]:
        """Fields marked public by an administrator (one query)."""
        from access.models import PublicField

        keys = set(PublicField.objects.filter(org=self.org, module=self.key).values_list("field_key", flat=True))
        return [f for f in self.fields if f.key in keys]

    @property
    def list_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.in_list]


OWNER_FIELD = FieldSpec("owner", _("Owner"), "user", editable=False, in_list=True)

"""The module schema: one description of a record type, for org modules (concrete
models) and team modules alike. Every feature reads fields through it and never asks
which kind of module it has."""
from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field
from typing import Any, Callable

from django.db.models import QuerySet
from django.db.models.base import ModelState
from django.utils.translation import gettext_lazy as _

from .fieldspec import Choice, FieldSpec, pick_label  # noqa: F401  (Choice, pick_label: re-exported)


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

    def record_maker(self, org, **values: Any) -> Callable[[], Any]:
        """Unsaved records like `new_record(org, **values)`, each a copy of one made here: a batch
        makes thousands, and copying costs a tenth of a model's __init__. Dicts and lists (the
        JSON columns) are copied too, so no two records share one."""
        prototype = self.new_record(org, **values)
        cls, base, cache = type(prototype), dict(prototype.__dict__), prototype._state.fields_cache
        base.pop("_state", None)
        mutable = [key for key, value in base.items() if isinstance(value, (dict, list))]

        def make() -> Any:
            record = cls.__new__(cls)
            record.__dict__.update(base)
            for key in mutable:
                record.__dict__[key] = copy(base[key])
            state = ModelState()
            state.fields_cache = dict(cache)
            record._state = state
            return record

        return make

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
        """The field by key or API name (the first field that has it). Looked up in a dict kept on
        the bound schema: a batch asks this dozens of times per row."""
        memo, custom = self.__dict__.get("_field_index_memo"), self.custom_fields
        if memo is None or memo[0] is not custom or memo[1] != len(custom):
            memo = self._memo()
        found = memo[2].get(key)  # (checked here, not through _memo: a batch asks dozens of times a row)
        if found is None:
            raise KeyError(key)
        return found

    def _field_index(self) -> dict[str, FieldSpec]:
        return self._memo()[2]

    def _memo(self) -> tuple:
        """(custom fields list, its length, key -> spec, editable specs), rebuilt when the custom
        fields are replaced or grow."""
        memo = self.__dict__.get("_field_index_memo")
        if memo is not None and memo[0] is self.custom_fields and memo[1] == len(self.custom_fields):
            return memo
        index: dict[str, FieldSpec] = {}
        fields = self.fields
        for spec in fields:
            index.setdefault(spec.key, spec)
            if spec.api_name:
                index.setdefault(spec.api_name, spec)
        memo = self.__dict__["_field_index_memo"] = (self.custom_fields, len(self.custom_fields), index,
                                                     tuple(f for f in fields if f.editable))
        return memo

    def has_field(self, key: str) -> bool:
        return key in self._field_index()

    @property
    def editable_fields(self) -> list[FieldSpec]:
        return list(self._memo()[3])

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

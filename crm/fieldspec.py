"""A field as every feature sees it (`FieldSpec`), its picklist options (`Choice`) and labels in
the user's language. Apart from `crm.schema` so that `crm.models` (a custom field definition
builds its spec) and `crm.schema` (which reads the definitions) do not import each other."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable

from django.utils.translation import get_language

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

    @cached_property
    def field_type(self) -> FieldType:
        # Cached on the spec (a frozen dataclass still has a __dict__): a batch asks it for every cell.
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

    @property
    def value_path(self) -> str:
        """The ORM path of the stored value: the column, or the key inside the JSON column."""
        return f"{self.json_column}__{self.key}" if self.is_custom else self.orm_path

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

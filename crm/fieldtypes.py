"""The field-type registry: one place that knows, for each type, how to clean, store,
show, filter and compare a value. Shared by org custom fields and team fields.

Python values: text types -> str, integer -> int, decimal/currency/percent -> Decimal,
date -> date, datetime -> aware datetime, boolean -> bool, picklist -> str,
multi_select -> list[str], user/lookup -> int (the id). JSON values (custom columns,
timeline diffs) are their plain JSON forms: numbers as strings, dates as ISO strings.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import models
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _

from .file_values import NewFile, StoredFile, check_upload

TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "starts_with", "is_empty", "is_not_empty")
ORDERED_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_empty", "is_not_empty")
DATE_OPS = ORDERED_OPS + ("before_days", "after_days")
CHOICE_OPS = ("eq", "ne", "in", "not_in", "is_empty", "is_not_empty")
BOOL_OPS = ("eq", "ne", "is_empty", "is_not_empty")
MULTI_OPS = ("contains", "is_empty", "is_not_empty")


class FieldType:
    name = ""
    label = ""
    operators: tuple[str, ...] = TEXT_OPS
    db_field: type[models.Field] = models.TextField
    case_insensitive = False  # text compares ignore case (eq, contains, starts_with)

    # --- values -------------------------------------------------------------------
    def clean(self, value: Any, spec: Any = None) -> Any:
        """Parse user input (form data, JSON, CSV text) into the Python value, or raise."""
        if value in (None, ""):
            return None
        return self.parse(value, spec)

    def parse(self, value: Any, spec: Any) -> Any:
        return str(value).strip() or None

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: Any) -> Any:
        return value

    def display(self, value: Any, spec: Any = None) -> str:
        return "" if value in (None, "", []) else str(value)

    # --- forms ----------------------------------------------------------------------
    def form_field(self, spec: Any, **kwargs: Any) -> forms.Field:
        return forms.CharField(max_length=255, **kwargs)


class TextType(FieldType):
    name, label = "text", _("Text")
    case_insensitive = True


class LongTextType(TextType):
    name, label = "long_text", _("Long text")

    def form_field(self, spec, **kwargs):
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **kwargs)


class EmailType(TextType):
    name, label = "email", _("Email")

    def parse(self, value, spec):
        value = str(value).strip().lower()
        EmailValidator(message=_("Enter a valid email address."))(value)
        return value

    def form_field(self, spec, **kwargs):
        return forms.EmailField(**kwargs)


PHONE_RE = re.compile(r"^\+?[0-9]{3,20}$")


PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def normalize_phone(value: str) -> str:
    """Phones are stored normalized (digits, leading +) so substring search finds them."""
    return PHONE_PUNCTUATION.sub("", value)


class PhoneType(TextType):
    name, label = "phone", _("Phone")

    def parse(self, value, spec):
        value = normalize_phone(str(value).strip())
        if not PHONE_RE.match(value):
            raise ValidationError(_("Enter a valid phone number (digits, spaces, dashes, an optional leading +)."))
        return value


class URLType(TextType):
    name, label = "url", _("URL")

    def parse(self, value, spec):
        value = str(value).strip()
        if "://" not in value:
            value = "https://" + value
        URLValidator(message=_("Enter a valid URL."))(value)
        return value

    def form_field(self, spec, **kwargs):
        return forms.CharField(max_length=500, **kwargs)


class IntegerType(FieldType):
    name, label = "integer", _("Integer")
    operators = ORDERED_OPS
    db_field = models.BigIntegerField

    def parse(self, value, spec):
        if isinstance(value, bool):
            raise ValidationError(_("Enter a whole number."))
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError(_("Enter a whole number."))
        if not number.is_finite() or number != number.to_integral_value() or abs(number) > 2**62:
            raise ValidationError(_("Enter a whole number."))
        return int(number)

    def form_field(self, spec, **kwargs):
        return forms.IntegerField(**kwargs)


class DecimalType(FieldType):
    name, label = "decimal", _("Decimal")
    operators = ORDERED_OPS
    db_field = models.DecimalField
    places = 4

    def parse(self, value, spec):
        if isinstance(value, bool):
            raise ValidationError(_("Enter a number."))
        try:
            number = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValidationError(_("Enter a number."))
        if not number.is_finite() or abs(number) >= Decimal(10) ** 14:
            raise ValidationError(_("Enter a number."))
        if -number.as_tuple().exponent > self.places:
            raise ValidationError(_("Use at most %(places)d decimal places.") % {"places": self.places})
        return number

    def to_json(self, value):
        return None if value is None else str(value)

    def from_json(self, value):
        return None if value in (None, "") else Decimal(str(value))

    def display(self, value, spec=None):
        return "" if value is None else formats.number_format(value, use_l10n=True, force_grouping=True)

    def form_field(self, spec, **kwargs):
        return forms.DecimalField(decimal_places=self.places, max_digits=18, **kwargs)


class CurrencyType(DecimalType):
    name, label = "currency", _("Currency")
    places = 2


class PercentType(DecimalType):
    name, label = "percent", _("Percent")
    places = 2

    def parse(self, value, spec):
        number = super().parse(str(value).strip().rstrip("%"), spec)
        if number < 0 or number > 100:
            raise ValidationError(_("Enter a percentage between 0 and 100."))
        return number

    def display(self, value, spec=None):
        return "" if value is None else f"{formats.number_format(value, use_l10n=True)}%"

    def form_field(self, spec, **kwargs):
        return forms.DecimalField(decimal_places=self.places, max_digits=5, min_value=0, max_value=100, **kwargs)


class DateType(FieldType):
    name, label = "date", _("Date")
    operators = DATE_OPS
    db_field = models.DateField

    def parse(self, value, spec):
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            parsed = parse_date(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError(_("Enter a valid date (YYYY-MM-DD)."))
        return parsed

    def to_json(self, value):
        return None if value is None else value.isoformat()

    def from_json(self, value):
        return None if value in (None, "") else dt.date.fromisoformat(value)

    def display(self, value, spec=None):
        return "" if value is None else formats.date_format(value, "SHORT_DATE_FORMAT")

    def form_field(self, spec, **kwargs):
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **kwargs)


class DateTimeType(FieldType):
    name, label = "datetime", _("Date and time")
    operators = DATE_OPS
    db_field = models.DateTimeField

    def parse(self, value, spec):
        if isinstance(value, dt.datetime):
            parsed = value
        else:
            try:
                parsed = parse_datetime(str(value).strip())
            except ValueError:
                parsed = None
            if parsed is None:
                raise ValidationError(_("Enter a valid date and time (YYYY-MM-DD HH:MM)."))
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed.astimezone(dt.timezone.utc)

    def to_json(self, value):
        return None if value is None else value.astimezone(dt.timezone.utc).isoformat()

    def from_json(self, value):
        return None if value in (None, "") else dt.datetime.fromisoformat(value)

    def display(self, value, spec=None):
        return "" if value is None else formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")

    def form_field(self, spec, **kwargs):
        return forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), **kwargs)


class BooleanType(FieldType):
    name, label = "boolean", _("Checkbox")
    operators = BOOL_OPS
    db_field = models.BooleanField
    TRUE = {"true", "1", "yes", "y", "on", "是"}
    FALSE = {"false", "0", "no", "n", "off", "否"}

    def clean(self, value, spec=None):
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError(_("Enter yes or no."))

    def display(self, value, spec=None):
        return "" if value is None else (_("Yes") if value else _("No"))

    def form_field(self, spec, **kwargs):
        kwargs["required"] = False
        return forms.NullBooleanField(widget=forms.Select(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))]),
                                      **kwargs)


class PicklistType(FieldType):
    name, label = "picklist", _("Picklist")
    operators = CHOICE_OPS

    def parse(self, value, spec):
        value = str(value).strip()
        valid = spec.option_values() if spec is not None else None
        if valid is not None and value not in valid:
            # Accept a label typed by a person (e.g. in an import), map it to its value.
            by_label = spec.option_value_for_label(value)
            if by_label is None:
                raise ValidationError(_("“%(value)s” is not one of the choices.") % {"value": value})
            value = by_label
        return value

    def display(self, value, spec=None):
        if value in (None, ""):
            return ""
        return spec.option_label(value) if spec is not None else str(value)

    def form_field(self, spec, **kwargs):
        return forms.ChoiceField(choices=[("", "—")] + list(spec.choices()), **kwargs)


class MultiSelectType(FieldType):
    name, label = "multi_select", _("Multi-select")
    operators = MULTI_OPS

    def clean(self, value, spec=None):
        if value in (None, "", []):
            return None
        if isinstance(value, str):
            value = [part.strip() for part in re.split(r"[;,]", value) if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValidationError(_("Choose one or more of the choices."))
        picklist = PicklistType()
        cleaned = []
        for item in value:
            item = picklist.parse(item, spec)
            if item not in cleaned:
                cleaned.append(item)
        return sorted(cleaned) or None

    def display(self, value, spec=None):
        if not value:
            return ""
        return ", ".join(spec.option_label(v) if spec is not None else v for v in value)

    def form_field(self, spec, **kwargs):
        return forms.MultipleChoiceField(choices=list(spec.choices()), widget=forms.CheckboxSelectMultiple, **kwargs)


class ReferenceType(FieldType):
    """A reference by id: the user and lookup types."""

    operators = CHOICE_OPS
    db_field = models.BigIntegerField

    def parse(self, value, spec):
        if hasattr(value, "pk"):
            return value.pk
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValidationError(_("Choose a valid option."))


class UserType(ReferenceType):
    name, label = "user", _("User")


class LookupType(ReferenceType):
    name, label = "lookup", _("Lookup")


class FileType(FieldType):
    name, label = "file", _("File")
    operators = ("is_empty", "is_not_empty")

    def clean(self, value, spec=None):
        if value is None or value is False or value == "":  # False: the form's "clear" box
            return None
        if isinstance(value, (StoredFile, NewFile)):
            return value
        if isinstance(value, dict) and "name" in value:  # the stored JSON value, kept as it is
            return self.from_json(value)
        if all(hasattr(value, attr) for attr in ("read", "name", "size")):
            check_upload(value)
            return NewFile(value)
        raise ValidationError(_("Upload a file: this field keeps only files uploaded to it."))

    def to_json(self, value):
        if value is None:
            return None
        if isinstance(value, NewFile):  # judged by guards before it is stored: no id yet
            return {"name": value.name, "size": value.size}
        return {"id": value.id, "name": value.name, "size": value.size}

    def from_json(self, value):
        if not isinstance(value, dict):
            return None
        return StoredFile(value.get("id"), str(value.get("name") or ""), int(value.get("size") or 0))

    def display(self, value, spec=None):
        return "" if value is None else value.name

    def form_field(self, spec, **kwargs):
        from .file_forms import RecordFileField

        return RecordFileField(**kwargs)


REGISTRY: dict[str, FieldType] = {
    t.name: t
    for t in (
        TextType(), LongTextType(), IntegerType(), DecimalType(), CurrencyType(), PercentType(), DateType(),
        DateTimeType(), BooleanType(), EmailType(), PhoneType(), URLType(), PicklistType(), MultiSelectType(),
        UserType(), LookupType(), FileType(),
    )
}

# Types that may be added as custom fields (org modules and team modules alike).
CUSTOM_FIELD_TYPES = list(REGISTRY)

# Changing a field's type keeps stored values only along these paths.
SAFE_TYPE_CHANGES = {
    ("text", "long_text"), ("long_text", "text"), ("integer", "decimal"), ("integer", "currency"),
    ("decimal", "currency"), ("currency", "decimal"), ("picklist", "text"), ("email", "text"), ("phone", "text"),
    ("url", "text"),
}


def get_type(name: str) -> FieldType:
    return REGISTRY[name]


def type_choices(names: list[str] | None = None) -> list[tuple[str, str]]:
    return [(t.name, t.label) for t in REGISTRY.values() if names is None or t.name in names]

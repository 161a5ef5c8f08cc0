"""Criteria as rows of field / operator / value (the editor of sharing rules, lock rules, field
locks and reassigning records), criteria described as a sentence, and the sharing-rule form.

They live in `crm`, beside the criteria they edit (`crm.criteria`): `access` knows no schemas.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from django import forms
from django.utils.translation import gettext, gettext_lazy as _

from access.linked import linked_names
from access.models import Group, OrgRole, SharingRule, User
from access.settings_forms import RoleChoiceField, org_roles
from config.params import load_json, optional_id

from .modules import get_module
from .widgets import TYPEAHEAD_TEXTS, picker_url

OPERATOR_LABELS = {
    "eq": _("equals"), "ne": _("does not equal"), "in": _("is one of"), "not_in": _("is none of"),
    "contains": _("contains"), "starts_with": _("starts with"), "gt": _("is greater than"),
    "gte": _("is at least"), "lt": _("is less than"), "lte": _("is at most"), "between": _("is between"),
    "is_empty": _("is empty"), "is_not_empty": _("is not empty"),
    "before_days": _("is before today + N days"), "after_days": _("is after today + N days"),
}
# How a typed value is read for an operator (the criteria validator checks it further).
LIST_OPS = {"in", "not_in", "between"}
NO_VALUE_OPS = {"is_empty", "is_not_empty"}


# --- criteria as rows -----------------------------------------------------------------------------

class CriteriaFieldSelect(forms.Select):
    """A row's field: the fields whose value is a record or a member carry their type-ahead's URL,
    so static/js/typeahead.js turns the row's value into a type-ahead when one is chosen."""

    def __init__(self, pickers: dict[str, str]) -> None:
        super().__init__()
        self.pickers = pickers

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if value in self.pickers:
            option["attrs"]["data-lookup-url"] = self.pickers[value]
        return option


class CriteriaRowsForm(forms.Form):
    """Criteria as rows of field / operator / value, or as JSON: the editor of sharing rules and
    lock rules. `check_condition` lets a form check each row where it can name the row."""

    ROWS = 5

    joiner = forms.ChoiceField(label=_("Records matching"), initial="all",
                               choices=[("all", _("all of the conditions")), ("any", _("any of the conditions"))])
    criteria = forms.CharField(
        label=_("…or the criteria as JSON"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('For example {"all": [{"field": "stage", "op": "in", "value": ["won"]}]}'))

    def add_criteria_fields(self, fields: Iterable[tuple[str, str]], schema: Any = None) -> None:
        """The rows over `fields` (key, label); with the module's bound `schema`, a row whose field
        is a lookup or a user takes its value (ids) from a type-ahead."""
        field_choices = [("", "—"), *fields]
        op_choices = [("", "—"), *OPERATOR_LABELS.items()]
        pickers = {spec.key: picker_url(spec) for spec in schema.fields if picker_url(spec)} if schema else {}
        for i in range(self.ROWS):
            self.fields[f"c{i}_field"] = forms.ChoiceField(label=_("Field"), choices=field_choices, required=False,
                                                           widget=CriteriaFieldSelect(pickers))
            self.fields[f"c{i}_op"] = forms.ChoiceField(label=_("Operator"), choices=op_choices, required=False)
            self.fields[f"c{i}_value"] = forms.CharField(label=_("Value"), required=False, max_length=500,
                                                         widget=forms.TextInput(attrs=dict(TYPEAHEAD_TEXTS)))
        if pickers:
            self.name_picked_values(schema, pickers)

    def name_picked_values(self, schema: Any, pickers: dict[str, str]) -> None:
        """Rows whose value is ids of records or members start as type-aheads showing their names
        (one query per such row; a record is named as `access.linked` names it)."""
        for i in range(self.ROWS):
            key, value = self[f"c{i}_field"].value(), self[f"c{i}_value"].value() or ""
            if key not in pickers:
                continue
            attrs = self.fields[f"c{i}_value"].widget.attrs
            attrs["data-lookup-url"] = pickers[key]
            ids = [optional_id(part) for part in str(value).split(",") if part.strip()]
            if not ids or None in ids:
                continue  # not ids: shown as typed, and the criteria check says what is wrong
            spec = schema.field(key)
            if spec.type == "lookup":
                names = linked_names(schema.org, get_module(spec.target, schema.org), ids)
            else:
                names = {u.pk: str(u) for u in User.objects.filter(memberships__org=schema.org, pk__in=ids)}
            attrs["data-data"] = json.dumps([{"id": pk, "text": names.get(pk, str(pk))} for pk in ids],
                                            ensure_ascii=False)

    def rows(self) -> list[dict[str, Any]]:
        return [{"field": self[f"c{i}_field"], "op": self[f"c{i}_op"], "value": self[f"c{i}_value"]}
                for i in range(self.ROWS)]

    @classmethod
    def criteria_initial(cls, criteria: dict | None) -> dict[str, Any]:
        """Simple criteria fill the rows; anything else is shown as JSON."""
        if not criteria:
            return {}
        joiner, items = next(iter(criteria.items()))
        if len(items) > cls.ROWS or any("field" not in item for item in items):
            return {"criteria": json.dumps(criteria, ensure_ascii=False)}
        initial: dict[str, Any] = {"joiner": joiner}
        for i, item in enumerate(items):
            value = item.get("value")
            initial[f"c{i}_field"], initial[f"c{i}_op"] = item["field"], item["op"]
            initial[f"c{i}_value"] = ", ".join(map(str, value)) if isinstance(value, list) else (
                "" if value is None else str(value))
        return initial

    def check_condition(self, row: int, condition: dict[str, Any]) -> bool:
        """False (after adding an error to the row) leaves the row out."""
        return True

    def clean_criteria(self) -> dict | None:
        text = self.cleaned_data.get("criteria", "").strip()
        if not text:
            return None
        try:
            return load_json(text)  # bounded: size, depth, no NUL
        except ValueError as exc:
            raise forms.ValidationError(str(exc))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        conditions = []
        for i in range(self.ROWS):
            field, op, value = data.get(f"c{i}_field"), data.get(f"c{i}_op"), (data.get(f"c{i}_value") or "").strip()
            if not field and not op and not value:
                continue
            if not field:
                self.add_error(f"c{i}_field", _("Choose a field."))
                continue
            if not op:
                self.add_error(f"c{i}_op", _("Choose an operator."))
                continue
            condition: dict[str, Any] = {"field": field, "op": op}
            if op in LIST_OPS:
                condition["value"] = [part.strip() for part in value.split(",") if part.strip()]
            elif op not in NO_VALUE_OPS:
                condition["value"] = value
            if self.check_condition(i, condition):
                conditions.append(condition)
        if conditions and data.get("criteria"):
            self.add_error("criteria", _("Give the criteria either as rows or as JSON, not both."))
        elif conditions:
            data["criteria"] = {data.get("joiner") or "all": conditions}
        return data


def describe_criteria(criteria: dict, bound: Any) -> str:
    """Criteria as a sentence of field labels, operators and values."""
    joiner, items = next(iter(criteria.items()))
    parts = []
    for item in items:
        if "field" not in item:
            parts.append(f"({describe_criteria(item, bound)})")
            continue
        label = bound.field(item["field"]).label if bound.has_field(item["field"]) else item["field"]
        value = item.get("value")
        value = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
        parts.append(" ".join(filter(None, [label, str(OPERATOR_LABELS.get(item["op"], item["op"])), value])))
    return f" {gettext('and') if joiner == 'all' else gettext('or')} ".join(parts)


# --- sharing rules ------------------------------------------------------------------------------

class SharingRuleForm(CriteriaRowsForm):
    SUBJECTS = SharingRule.Subject.choices

    name = forms.CharField(label=_("Name"), max_length=100)
    owner_kind = forms.ChoiceField(
        label=_("Share the records owned by members of"), required=False,
        choices=[("", _("— nobody: share the records matching the criteria below —")), *SUBJECTS])
    owner_role = RoleChoiceField(label=_("Owners' role"), queryset=OrgRole.objects.none(), required=False)
    owner_group = forms.ModelChoiceField(label=_("Owners' group"), queryset=Group.objects.none(), required=False)
    target_kind = forms.ChoiceField(label=_("Share with"), choices=SUBJECTS)
    target_role = RoleChoiceField(label=_("Role"), queryset=OrgRole.objects.none(), required=False)
    target_group = forms.ModelChoiceField(label=_("Group"), queryset=Group.objects.none(), required=False)
    access = forms.ChoiceField(label=_("Access"), choices=SharingRule.Access.choices,
                               initial=SharingRule.Access.READ)

    def __init__(self, *args: Any, org: Any, fields: list[tuple[str, str]], schema: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queryset, labels = org_roles(org)
        groups = Group.objects.filter(org=org).order_by("name")
        for prefix in ("owner", "target"):
            self.fields[f"{prefix}_role"].queryset = queryset
            self.fields[f"{prefix}_role"].labels = labels
            self.fields[f"{prefix}_group"].queryset = groups
        self.add_criteria_fields(fields, schema)

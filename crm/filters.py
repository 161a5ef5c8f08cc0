"""List filters built from the module schema. Every filter becomes a criteria condition,
so lists, rules and saved views share one implementation (crm.criteria)."""
from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from access.masking import masks_for, unmasked_where
from access.visibility import visible

from . import criteria
from .forms import org_members
from .modules import get_module
from .schema import BoundSchema, FieldSpec
from .widgets import lookup_widget, member_widget

RANGE_TYPES = {"integer", "decimal", "currency", "percent", "date", "datetime"}
TEXT_TYPES = {"text", "long_text", "email", "phone", "url"}


class CriteriaFilterSet(django_filters.FilterSet):
    schema: BoundSchema
    user: Any = None

    def filter_queryset(self, queryset):
        """Each filter is checked as a condition first: one the criteria refuse (a percent of
        1337, a number too large to store) is an error on its field and filters nothing."""
        conditions = []
        for name, value in list(self.form.cleaned_data.items()):  # add_error drops entries
            condition = self.condition_for(name, value)
            if condition is None:
                continue
            try:
                conditions.append(criteria.validate({"all": [condition]}, self.schema)["all"][0])
            except criteria.CriteriaError as exc:
                self.form.add_error(name, exc.messages)
        if not conditions:
            return queryset
        queryset = queryset.filter(criteria.to_q({"all": conditions}, self.schema))
        # A field masked on some records (a pool's) is not filtered by there: no probing its value.
        masks = masks_for(self.user, self.schema) if self.user is not None else []
        for condition in conditions:
            unmasked = unmasked_where(masks, condition["field"])
            if unmasked is not None:
                queryset = queryset.filter(unmasked)
        return queryset

    def condition_for(self, name: str, value: Any) -> dict | None:
        if value in (None, "", [], ()) or (hasattr(value, "exists") and not value.exists()):
            return None
        key, _sep, part = name.partition("__")
        spec = self.schema.field(key)
        if part == "min":
            return {"field": key, "op": "gte", "value": _json(spec, value)}
        if part == "max":
            return {"field": key, "op": "lte", "value": _json(spec, value)}
        if spec.type in TEXT_TYPES:
            return {"field": key, "op": "contains", "value": value}
        if spec.type == "picklist":
            return {"field": key, "op": "in", "value": list(value)}
        if spec.type == "multi_select":
            return {"field": key, "op": "contains", "value": value}
        if spec.type == "boolean":
            return {"field": key, "op": "eq", "value": value}
        if spec.type == "user":
            return {"field": key, "op": "in", "value": [u.pk for u in value]}
        if spec.type == "lookup":
            return {"field": key, "op": "eq", "value": value.pk}
        return None


def _json(spec: FieldSpec, value: Any) -> Any:
    return spec.field_type.to_json(value)


def filters_for(spec: FieldSpec, org: Any, user: Any = None) -> dict[str, django_filters.Filter]:
    label = spec.label
    if spec.type in TEXT_TYPES:
        return {spec.key: django_filters.CharFilter(label=label)}
    if spec.type in RANGE_TYPES:
        form_field = spec.field_type.form_field(spec, required=False)
        widget = form_field.widget
        filter_class = {
            "integer": django_filters.NumberFilter, "decimal": django_filters.NumberFilter,
            "currency": django_filters.NumberFilter, "percent": django_filters.NumberFilter,
            "date": django_filters.DateFilter, "datetime": django_filters.DateTimeFilter,
        }[spec.type]
        return {
            f"{spec.key}__min": filter_class(label=_("%(field)s from") % {"field": label}, widget=widget),
            f"{spec.key}__max": filter_class(label=_("%(field)s to") % {"field": label}, widget=widget),
        }
    if spec.type == "picklist":
        return {spec.key: django_filters.MultipleChoiceFilter(label=label, choices=list(spec.choices()),
                                                              widget=forms.SelectMultiple(attrs={"size": 3}))}
    if spec.type == "multi_select":
        return {spec.key: django_filters.ChoiceFilter(label=label, choices=list(spec.choices()))}
    if spec.type == "boolean":
        return {spec.key: django_filters.BooleanFilter(label=label)}
    if spec.type == "lookup":
        # Also reached from a record's related lists ("All"). Only records the user may see can
        # be chosen (the posted id is checked against this queryset, which is never listed).
        try:
            target = get_module(spec.target, org)
        except Http404:  # the module it pointed to was retired: nothing left to choose from
            return {}
        return {spec.key: django_filters.ModelChoiceFilter(
            label=label, queryset=visible(user, target, "view"), widget=lookup_widget(target.key))}
    if spec.type == "user":
        return {spec.key: django_filters.ModelMultipleChoiceFilter(
            label=label, queryset=org_members(org), widget=member_widget(multiple=True))}
    return {}


def build_filterset(schema: BoundSchema, data: Any, queryset: Any, user: Any = None) -> CriteriaFilterSet:
    """Filters for the fields the user may see (hidden fields cannot be probed by filtering)."""
    attrs: dict[str, Any] = {"schema": schema, "user": user}
    for spec in (schema.fields_for(user) if user is not None else schema.fields):
        attrs.update(filters_for(spec, schema.org, user))
    meta = type("Meta", (), {"model": schema.model, "fields": []})
    attrs["Meta"] = meta
    filterset_class = type("RecordFilterSet", (CriteriaFilterSet,), attrs)
    return filterset_class(data, queryset=queryset)

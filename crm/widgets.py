"""Type-ahead pickers for lookup and user fields.

The widget renders a plain <select> holding only the chosen option(s) and the URL of a search
endpoint (crm.lookup_views); static/js/typeahead.js turns it into a type-ahead (Tom Select).
The form field keeps its queryset, so what is posted is still checked against it, and Django
reads it only for the posted id, never in full."""
from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from config.params import optional_id

# What typeahead.js shows, in the page's language.
TYPEAHEAD_TEXTS = {
    "data-placeholder": _("Type to search…"),
    "data-no-results": _("No matches"),
    "data-clear-label": _("Clear"),
    "data-remove-label": _("Remove"),
}


def picker_url(spec: Any) -> str:
    """The type-ahead search behind a field whose value is a record or a member ("" for others)."""
    if spec.type == "lookup":
        return reverse_lazy("crm:lookup", args=[spec.target])
    if spec.type == "user":
        return reverse_lazy("crm:member_lookup")
    return ""


class TypeaheadSelect(forms.Select):
    def __init__(self, url: str = "", attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.url = url

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"].update({"data-lookup-url": self.url, **TYPEAHEAD_TEXTS})
        return context

    def optgroups(self, name: str, value: list[Any], attrs: dict[str, Any] | None = None) -> list:
        everything = self.choices
        self.choices = self.chosen_choices({str(v) for v in value if v not in (None, "")})
        try:
            return super().optgroups(name, value, attrs)
        finally:
            self.choices = everything

    def chosen_choices(self, chosen: set[str]) -> list[tuple[Any, Any]]:
        """The blank choice and the chosen ones: one query by id on a model field's queryset."""
        queryset = getattr(self.choices, "queryset", None)
        if queryset is None:
            return [(value, label) for value, label in self.choices if value == "" or str(value) in chosen]
        field = self.choices.field
        blank = [("", field.empty_label)] if field.empty_label is not None and not self.allow_multiple_selected else []
        ids = [pk for pk in map(optional_id, chosen) if pk is not None]
        return blank + [self.choices.choice(obj) for obj in queryset.filter(pk__in=ids)] if ids else blank


class TypeaheadSelectMultiple(TypeaheadSelect, forms.SelectMultiple):
    pass


def lookup_widget(module_key: str, multiple: bool = False) -> TypeaheadSelect:
    url = reverse_lazy("crm:lookup", args=[module_key])
    return TypeaheadSelectMultiple(url) if multiple else TypeaheadSelect(url)


def member_widget(multiple: bool = False) -> TypeaheadSelect:
    url = reverse_lazy("crm:member_lookup")
    return TypeaheadSelectMultiple(url) if multiple else TypeaheadSelect(url)

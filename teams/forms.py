from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.forms import FieldDefinitionForm, org_members

from .actions import ICONS
from .models import TeamMember


class SpaceForm(forms.Form):
    name_en = forms.CharField(label=_("Name (English)"), max_length=100)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=100, required=False)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    managers = forms.ModelMultipleChoiceField(label=_("Managers"), queryset=None, required=False)

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["managers"].queryset = org_members(org)


class MemberForm(forms.Form):
    user = forms.ModelChoiceField(label=_("User"), queryset=None)
    role = forms.ChoiceField(label=_("Team role"), choices=TeamMember.Role.choices, initial=TeamMember.Role.MEMBER)

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = org_members(org)


class TeamModuleForm(forms.Form):
    name_en = forms.CharField(label=_("Name (English)"), max_length=100,
                              help_text=_("Plural, as in lists and menus (e.g. Case studies)."))
    name_singular_en = forms.CharField(label=_("Name of one record (English)"), max_length=100, required=False,
                                       help_text=_("As in “New case study”. Empty: the name above."))
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=100, required=False)
    name_singular_zh = forms.CharField(label=_("Name of one record (Chinese)"), max_length=100, required=False,
                                       help_text=_("Empty: the Chinese name above."))
    icon = forms.ChoiceField(label=_("Icon"), choices=[(i, i) for i in ICONS])
    statuses = forms.CharField(
        label=_("Statuses"), widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One per line, in order: value | English label | Chinese label | colour. "
                    "The first is where new requests start; the status field drives the kanban columns."))
    manager_only_statuses = forms.CharField(label=_("Statuses only managers may set"), required=False,
                                            help_text=_("Values, separated by commas (e.g. done)."))
    done_statuses = forms.CharField(label=_("Statuses that count as done"), required=False,
                                    help_text=_("Values, separated by commas."))
    due_field = forms.TypedChoiceField(label=_("Due date field"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, date_fields: list = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["due_field"].choices = [("", "—")] + [(d.pk, d.label_en) for d in date_fields]

    def parsed_statuses(self) -> list[dict]:
        return FieldDefinitionForm.parse_options(self.cleaned_data.get("statuses", ""))

    @staticmethod
    def values(text: str) -> list[str]:
        return [part.strip() for part in (text or "").split(",") if part.strip()]


class TeamFieldForm(FieldDefinitionForm):
    unique = forms.BooleanField(label=_("Unique"), required=False)
    section = forms.CharField(label=_("Section"), required=False, max_length=100)
    shown_to_requesters = forms.BooleanField(label=_("Shown to requesters"), required=False)
    in_list = forms.BooleanField(label=_("Shown in lists"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The type may change later where no stored value is lost (the action checks).
        self.fields["field_type"].disabled = False
        self.fields["field_type"].required = True

"""Forms of the review pages. They parse what people type; `reviews.actions` decides what is
allowed (its errors are put back on these fields)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import Group, OrgRole
from crm.forms import SchemaCriteriaForm, org_members
from crm.widgets import member_widget

from .models import MAX_FIELDS, NAME_MAX, PATHS

CHECKBOXES = forms.CheckboxSelectMultiple


class ReviewProcessForm(SchemaCriteriaForm):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    paths = forms.MultipleChoiceField(label=_("Applies to records entered through"), widget=CHECKBOXES,
                                      choices=list(PATHS.items()))
    fields_to_review = forms.MultipleChoiceField(
        label=_("Fields to review"), widget=CHECKBOXES,
        help_text=_("Up to %(limit)d fields. The reviewers mark each reviewed, correct it or reject it.")
        % {"limit": MAX_FIELDS})
    reviewer_users = forms.ModelMultipleChoiceField(label=_("Reviewers: users"), required=False,
                                                    queryset=Group.objects.none(),
                                                    widget=member_widget(multiple=True))
    reviewer_roles = forms.ModelMultipleChoiceField(label=_("Reviewers: everyone in these roles"), required=False,
                                                    queryset=OrgRole.objects.none(), widget=CHECKBOXES)
    reviewer_groups = forms.ModelMultipleChoiceField(label=_("Reviewers: everyone in these groups"), required=False,
                                                     queryset=Group.objects.none(), widget=CHECKBOXES)
    reviewer_owner = forms.BooleanField(label=_("Reviewers: the record's owner"), required=False)

    def __init__(self, *args: Any, schema: Any, **kwargs: Any) -> None:
        self.schema = schema
        super().__init__(*args, **kwargs)
        self.add_criteria_fields()
        org = schema.org
        self.fields["fields_to_review"].choices = [(spec.key, spec.label) for spec in schema.editable_fields]
        self.fields["reviewer_users"].queryset = org_members(org)
        self.fields["reviewer_roles"].queryset = OrgRole.objects.filter(org=org).order_by("name")
        self.fields["reviewer_groups"].queryset = Group.objects.filter(org=org).order_by("name")

    @classmethod
    def initial_for(cls, process: Any) -> dict[str, Any]:
        if process is None:
            return {"active": True, "paths": ["page", "request"]}
        reviewers = process.reviewers or {}
        return {"name": process.name, "active": process.active, "paths": process.paths,
                "fields_to_review": process.fields, "reviewer_users": reviewers.get("users", []),
                "reviewer_roles": reviewers.get("roles", []), "reviewer_groups": reviewers.get("groups", []),
                "reviewer_owner": reviewers.get("owner", False), **cls.criteria_initial(process.criteria)}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "active": data["active"], "paths": data["paths"],
                "fields": data["fields_to_review"], "criteria": data.get("criteria") or {},
                "reviewers": {"users": [u.pk for u in data["reviewer_users"]],
                              "roles": [r.pk for r in data["reviewer_roles"]],
                              "groups": [g.pk for g in data["reviewer_groups"]], "owner": data["reviewer_owner"]}}


ERROR_FIELDS = {"fields": "fields_to_review", "reviewers": "reviewer_users"}

"""Forms of the assignment rules' pages. They parse what people type; the actions in
`automation.assignment_actions` decide what is allowed (their errors are put back on these fields)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import Group, OrgRole, User
from access.settings_forms import RoleChoiceField, org_roles
from crm.forms import MemberChoiceField, SchemaCriteriaForm, org_members
from crm.widgets import member_widget

from .assignment_models import AssignmentEntry, AssignmentRule

# Picklist values that usually mean "closed", offered as the initial choice for a new rule.
CLOSED_WORDS = {"won", "lost", "completed", "done", "closed", "unqualified", "cancelled", "canceled"}


def picklists(schema: Any) -> list[Any]:
    return [spec for spec in schema.fields if spec.type == "picklist"]


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    fallback_user = MemberChoiceField(
        queryset=User.objects.none(), label=_("Fallback owner"), required=False,
        help_text=_("Gets the records no entry matches, or that the matching entry has nobody free for."))
    status_field = forms.ChoiceField(
        label=_("Status field"), required=False,
        help_text=_("Load balancing and caps count the records each user holds that are still open."))
    closed_values = forms.MultipleChoiceField(label=_("Values that mean closed"), required=False,
                                              widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, schema: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        self.fields["fallback_user"].queryset = org_members(schema.org)
        self.is_team = getattr(schema, "team_module", None) is not None
        if self.is_team:
            self.fields["fallback_user"].label = _("Fallback assignee")
            del self.fields["status_field"], self.fields["closed_values"]
            return
        lists = picklists(schema)
        self.fields["status_field"].choices = [("", _("— none: every record counts as open —"))] + [
            (spec.key, spec.label) for spec in lists]
        # "field:value", so one list of checkboxes serves whichever field is chosen.
        self.fields["closed_values"].choices = [(f"{spec.key}:{option.value}", f"{spec.label}: {option.label}")
                                                for spec in lists for option in spec.options]

    @classmethod
    def initial_for(cls, rule: AssignmentRule | None, schema: Any) -> dict[str, Any]:
        if rule is not None:
            return {"name": rule.name, "fallback_user": rule.fallback_user_id, "status_field": rule.status_field,
                    "closed_values": [f"{rule.status_field}:{v}" for v in rule.closed_values]}
        lists = picklists(schema)
        field = next((spec for spec in lists if spec.key in ("status", "stage")), None)
        if field is None:
            return {}
        return {"status_field": field.key,
                "closed_values": [f"{field.key}:{o.value}" for o in field.options if o.value in CLOSED_WORDS]}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.is_team:
            return data
        field = data.get("status_field") or ""
        chosen = data.get("closed_values") or []
        others = [value for value in chosen if value.partition(":")[0] != field]
        if others:
            self.add_error("closed_values", _("Choose only values of the status field."))
        data["closed_values"] = [value.partition(":")[2] for value in chosen if value.partition(":")[0] == field]
        return data

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        fallback = data.get("fallback_user")
        return {"name": data["name"], "fallback_user_id": fallback.pk if fallback else None,
                "status_field": data.get("status_field", ""), "closed_values": data.get("closed_values", [])}


class EntryForm(SchemaCriteriaForm):
    """One entry: which records (criteria rows), and who gets them."""

    method = forms.ChoiceField(label=_("Assign"), choices=AssignmentEntry.Method.choices,
                               initial=AssignmentEntry.Method.ROUND_ROBIN, widget=forms.RadioSelect)
    user = MemberChoiceField(queryset=User.objects.none(), label=_("User"), required=False)
    pool = forms.ChoiceField(label=_("Distribute among"), choices=AssignmentEntry.Pool.choices,
                             initial=AssignmentEntry.Pool.USERS, widget=forms.RadioSelect)
    pool_users = forms.ModelMultipleChoiceField(queryset=User.objects.none(), label=_("Users"), required=False,
                                                widget=member_widget(multiple=True))
    pool_role = RoleChoiceField(queryset=OrgRole.objects.none(), label=_("Role"), required=False)
    pool_group = forms.ModelChoiceField(queryset=Group.objects.none(), label=_("Group"), required=False)
    pool_space = forms.ModelChoiceField(queryset=None, label=_("Team space"), required=False)
    cap = forms.IntegerField(label=_("At most this many open records per user"), required=False, min_value=1,
                             help_text=_("Users holding this many open records are skipped. Empty: no limit."))

    def __init__(self, *args: Any, schema: Any, **kwargs: Any) -> None:
        from teams.models import TeamSpace

        super().__init__(*args, **kwargs)
        self.schema = schema
        org = schema.org
        members = org_members(org)
        self.fields["user"].queryset = members
        self.fields["pool_users"].queryset = members
        roles, labels = org_roles(org)
        self.fields["pool_role"].queryset = roles
        self.fields["pool_role"].labels = labels
        self.fields["pool_group"].queryset = Group.objects.filter(org=org).order_by("name")
        spaces = TeamSpace.objects.filter(org=org).order_by("name_en")
        team_module = getattr(schema, "team_module", None)
        if team_module is not None:
            spaces = spaces.filter(pk=team_module.space_id)
        self.fields["pool_space"].queryset = spaces
        self.fields["criteria"].help_text = _("Leave the criteria empty to match every record.")
        self.add_criteria_fields()

    @classmethod
    def initial_for(cls, entry: AssignmentEntry | None) -> dict[str, Any]:
        if entry is None:
            return {}
        return {"method": entry.method, "user": entry.user_id, "pool": entry.pool, "pool_users": entry.pool_users,
                "pool_role": entry.pool_role_id, "pool_group": entry.pool_group_id,
                "pool_space": entry.pool_space_id, "cap": entry.cap, **cls.criteria_initial(entry.criteria)}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data

        def pk(name: str) -> int | None:
            value = data.get(name)
            return value.pk if value is not None else None

        return {"criteria": data.get("criteria"), "method": data["method"], "user_id": pk("user"),
                "pool": data["pool"], "pool_users": [u.pk for u in data.get("pool_users") or []],
                "pool_role_id": pk("pool_role"), "pool_group_id": pk("pool_group"),
                "pool_space_id": pk("pool_space"), "cap": data.get("cap")}

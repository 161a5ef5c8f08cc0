"""Forms of the record locking settings pages. They parse what people type; the actions in
`locking.actions` decide what is allowed (their errors are put back on these fields)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import Profile
from access.settings_forms import org_roles, sorted_role_choices
from crm.forms import SchemaCriteriaForm

from .models import DEFAULT_RESTRICTED, RESTRICTED_ACTIONS, TEAM_ROLES, LockScope

TEAM_ROLE_LABELS = {"manager": _("Managers"), "member": _("Members"), "participant": _("Participants"),
                    "requester": _("Requesters")}
CHECKBOXES = forms.CheckboxSelectMultiple


def _ints(values: list[str]) -> list[int]:
    return [int(v) for v in values]


class ScopeForm(forms.Form):
    """Who a lock applies to: everyone, or the chosen profiles, roles and (team modules) team roles."""

    locked_for = forms.ChoiceField(label=_("Locked for"), choices=LockScope.LockedFor.choices,
                                   initial=LockScope.LockedFor.ALL, widget=forms.RadioSelect)
    profiles = forms.MultipleChoiceField(label=_("Profiles"), required=False, widget=CHECKBOXES)
    roles = forms.MultipleChoiceField(label=_("Roles (and their subordinates)"), required=False, widget=CHECKBOXES)
    team_roles = forms.MultipleChoiceField(label=_("Team roles"), required=False, widget=CHECKBOXES)

    def __init__(self, *args: Any, org: Any, schema: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        self.is_team = getattr(schema, "team_module", None) is not None
        profiles = [(str(pk), name) for pk, name in Profile.objects.filter(org=org).order_by("name")
                    .values_list("pk", "name")]
        _queryset, labels = org_roles(org)
        roles = [(str(pk), label) for pk, label in sorted_role_choices(labels)]
        team_roles = [(role, TEAM_ROLE_LABELS[role]) for role in TEAM_ROLES]
        for prefix in self.scope_prefixes():
            self.fields[f"{prefix}profiles"].choices = profiles
            self.fields[f"{prefix}roles"].choices = roles
            if self.is_team:
                self.fields[f"{prefix}team_roles"].choices = team_roles
            else:
                del self.fields[f"{prefix}team_roles"]

    def scope_prefixes(self) -> list[str]:
        return [""]

    def scope(self, prefix: str = "") -> dict[str, Any]:
        data = self.cleaned_data
        values = {f"{prefix}profiles": _ints(data.get(f"{prefix}profiles") or []),
                  f"{prefix}roles": _ints(data.get(f"{prefix}roles") or []),
                  f"{prefix}team_roles": list(data.get(f"{prefix}team_roles") or [])}
        if prefix == "":
            values["locked_for"] = data["locked_for"]
        return values

    def field_choices(self) -> list[tuple[str, str]]:
        return [(spec.key, spec.label) for spec in self.schema.editable_fields]


class RestrictionsMixin(forms.Form):
    restricted_actions = forms.MultipleChoiceField(label=_("Restricted actions"), widget=CHECKBOXES,
                                                   choices=list(RESTRICTED_ACTIONS.items()),
                                                   initial=DEFAULT_RESTRICTED)
    editable_fields = forms.MultipleChoiceField(label=_("Fields still editable while locked"), required=False,
                                                widget=CHECKBOXES)


class LockConfigForm(RestrictionsMixin, ScopeForm):
    """A module's switches, who may lock by hand, and what a manual lock restricts for whom."""

    enabled = forms.BooleanField(label=_("Locking on for this module"), required=False)
    manual_enabled = forms.BooleanField(label=_("Manual locking on"), required=False)
    locker_profiles = forms.MultipleChoiceField(label=_("Profiles who may lock and unlock by hand"),
                                                required=False, widget=CHECKBOXES)
    locker_roles = forms.MultipleChoiceField(label=_("Roles who may lock and unlock by hand"), required=False,
                                             widget=CHECKBOXES)
    locker_team_roles = forms.MultipleChoiceField(label=_("Team roles who may lock and unlock by hand"),
                                                  required=False, widget=CHECKBOXES)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["editable_fields"].choices = self.field_choices()
        self.fields["locked_for"].label = _("A manual lock applies to")

    def scope_prefixes(self) -> list[str]:
        return ["", "locker_"]

    @classmethod
    def initial_for(cls, config: Any, schema: Any) -> dict[str, Any]:
        if config is None:
            is_team = getattr(schema, "team_module", None) is not None
            return {"locked_for": "all", "restricted_actions": DEFAULT_RESTRICTED,
                    "locker_team_roles": ["manager"] if is_team else []}
        return {"enabled": config.enabled, "manual_enabled": config.manual_enabled, **_scope_initial(config),
                "locker_profiles": [str(v) for v in config.locker_profiles],
                "locker_roles": [str(v) for v in config.locker_roles], "locker_team_roles": config.locker_team_roles,
                "restricted_actions": config.restricted_actions, "editable_fields": config.editable_fields}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {"enabled": data["enabled"], "manual_enabled": data["manual_enabled"], **self.scope(),
                  "restricted_actions": data["restricted_actions"], "editable_fields": data["editable_fields"]}
        lockers = self.scope("locker_")
        values.update(lockers)
        if not self.is_team:
            values["locker_team_roles"] = []
        return values


def _scope_initial(row: Any) -> dict[str, Any]:
    return {"locked_for": row.locked_for, "profiles": [str(v) for v in row.profiles],
            "roles": [str(v) for v in row.roles], "team_roles": list(row.team_roles)}


class LockRuleForm(SchemaCriteriaForm, RestrictionsMixin, ScopeForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    on_approval = forms.BooleanField(label=_("Lock after approval"), required=False,
                                     help_text=_("Lock a matching record when an approval process approves it."))

    field_order = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["editable_fields"].choices = self.field_choices()
        self.add_criteria_fields()

    @classmethod
    def initial_for(cls, rule: Any) -> dict[str, Any]:
        if rule is None:
            return {"locked_for": "all", "restricted_actions": DEFAULT_RESTRICTED}
        return {"name": rule.name, "on_approval": rule.on_approval, **_scope_initial(rule),
                "restricted_actions": rule.restricted_actions, "editable_fields": rule.editable_fields,
                **cls.criteria_initial(rule.criteria)}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "criteria": data.get("criteria") or {"all": []}, **self.scope(),
                "restricted_actions": data["restricted_actions"], "editable_fields": data["editable_fields"],
                "on_approval": data["on_approval"]}


class FieldLockForm(SchemaCriteriaForm, ScopeForm):
    """Fields read-only for the chosen users, from creation (no criteria) or while criteria match."""

    name = forms.CharField(label=_("Name"), max_length=100)
    fields_ = forms.MultipleChoiceField(label=_("Read-only fields"), widget=CHECKBOXES)

    field_order = ["name", "fields_"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fields_"].choices = self.field_choices()
        self.fields["locked_for"].initial = LockScope.LockedFor.SELECTED
        self.fields["criteria"].help_text = _("Leave the criteria empty to keep the fields read-only from the "
                                              "record's creation on.")
        self.add_criteria_fields()

    @classmethod
    def initial_for(cls, field_lock: Any) -> dict[str, Any]:
        if field_lock is None:
            return {"locked_for": "selected"}
        return {"name": field_lock.name, "fields_": field_lock.fields, **_scope_initial(field_lock),
                **cls.criteria_initial(field_lock.criteria)}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "fields": data["fields_"], "criteria": data.get("criteria"), **self.scope()}


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=1000)

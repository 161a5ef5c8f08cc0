"""Forms of the blueprint pages: a new blueprint, a draft's settings (entry criteria, start state,
time limits per state), a transition (side form of the editor) and performing a transition."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import Group, OrgRole
from crm.forms import SchemaCriteriaForm, form_field_for, initial_value, org_members

from . import selectors
from .models import Blueprint, Transition

TEAM_ROLE_CHOICES = [("manager", _("Manager")), ("member", _("Member")), ("participant", _("Participant"))]
UNITS = [("days", _("days")), ("hours", _("hours"))]


class BlueprintForm(SchemaCriteriaForm):
    """A new blueprint: its name, the picklist it runs on, and which records it governs."""

    name = forms.CharField(label=_("Name"), max_length=120)
    field = forms.ChoiceField(label=_("State field"))

    def __init__(self, *args: Any, schema: Any, **kwargs: Any) -> None:
        self.schema = schema
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [(s.key, s.label) for s in selectors.picklist_fields(schema)]
        self.add_criteria_fields()


class SettingsForm(SchemaCriteriaForm):
    """A draft's settings, with a time limit (SLA) per state."""

    name = forms.CharField(label=_("Name"), max_length=120)
    start_state = forms.ChoiceField(label=_("New records start in"))

    def __init__(self, *args: Any, schema: Any, blueprint: Blueprint, **kwargs: Any) -> None:
        self.schema = schema
        self.blueprint = blueprint
        self.states = selectors.state_choices(schema, blueprint.field)
        if "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(blueprint)
        super().__init__(*args, **kwargs)
        self.fields["start_state"].choices = self.states
        members = org_members(schema.org)
        for index, (value, label) in enumerate(self.states):
            self.fields[f"sla{index}_amount"] = forms.IntegerField(label=label, required=False, min_value=0,
                                                                   max_value=8760)
            self.fields[f"sla{index}_unit"] = forms.ChoiceField(label=_("Unit"), choices=UNITS, initial="days")
            self.fields[f"sla{index}_manager"] = forms.BooleanField(label=_("Tell the owner's manager"),
                                                                    required=False)
            self.fields[f"sla{index}_users"] = forms.ModelMultipleChoiceField(
                label=_("Tell these users"), queryset=members, required=False,
                widget=forms.SelectMultiple(attrs={"size": 3}))
        self.add_criteria_fields()

    @classmethod
    def initial_for(cls, blueprint: Blueprint) -> dict[str, Any]:
        initial = {"name": blueprint.name, "start_state": blueprint.start_state,
                   **cls.criteria_initial(blueprint.criteria)}
        return initial

    def sla_rows(self) -> list[dict[str, Any]]:
        rows = []
        for index, (value, label) in enumerate(self.states):
            rule = (self.blueprint.sla or {}).get(value) or {}
            if not self.is_bound:
                self.initial.update({f"sla{index}_amount": rule.get("amount"), f"sla{index}_unit": rule.get("unit", "days"),
                                     f"sla{index}_manager": rule.get("manager"), f"sla{index}_users": rule.get("users")})
            rows.append({"label": label, "amount": self[f"sla{index}_amount"], "unit": self[f"sla{index}_unit"],
                         "manager": self[f"sla{index}_manager"], "users": self[f"sla{index}_users"]})
        return rows

    def sla(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {value: {"amount": data.get(f"sla{i}_amount") or 0, "unit": data.get(f"sla{i}_unit"),
                        "manager": data.get(f"sla{i}_manager"),
                        "users": [u.pk for u in data.get(f"sla{i}_users") or []]}
                for i, (value, _label) in enumerate(self.states) if data.get(f"sla{i}_amount")}


class TransitionForm(SchemaCriteriaForm):
    """A transition, edited in the editor's side form. Its "before" criteria are the rows."""

    name = forms.CharField(label=_("Name"), max_length=100)
    any_state = forms.BooleanField(label=_("From every state (a common transition)"), required=False)
    from_states = forms.MultipleChoiceField(label=_("From"), required=False, widget=forms.CheckboxSelectMultiple)
    to_state = forms.ChoiceField(label=_("To"))
    parallel = forms.CharField(label=_("Parallel group"), required=False, max_length=60,
                               help_text=_("Transitions with the same group and target are sign-offs: the record "
                                           "moves once all of them are done."))
    users = forms.ModelMultipleChoiceField(label=_("Users"), queryset=None, required=False,
                                           widget=forms.SelectMultiple(attrs={"size": 4}))
    roles = forms.ModelMultipleChoiceField(label=_("Roles"), queryset=None, required=False)
    groups = forms.ModelMultipleChoiceField(label=_("Groups"), queryset=None, required=False)
    team_roles = forms.MultipleChoiceField(label=_("Team roles"), choices=TEAM_ROLE_CHOICES, required=False,
                                           widget=forms.CheckboxSelectMultiple)
    owner = forms.BooleanField(label=_("The record's owner"), required=False)
    assignee = forms.BooleanField(label=_("The record's assignee"), required=False)
    during_fields = forms.MultipleChoiceField(label=_("Fields to fill"), required=False,
                                              widget=forms.CheckboxSelectMultiple)
    required_fields = forms.MultipleChoiceField(label=_("…of which required"), required=False,
                                                widget=forms.CheckboxSelectMultiple)
    note = forms.BooleanField(label=_("A note is required"), required=False)
    attachment = forms.BooleanField(label=_("A file is required"), required=False)
    checklist = forms.CharField(label=_("Checklist (one item a line)"), required=False,
                                widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, schema: Any, blueprint: Blueprint, **kwargs: Any) -> None:
        self.schema = schema
        super().__init__(*args, **kwargs)
        states = selectors.state_choices(schema, blueprint.field)
        self.fields["from_states"].choices = states
        self.fields["to_state"].choices = states
        org = schema.org
        self.fields["users"].queryset = org_members(org)
        self.fields["roles"].queryset = OrgRole.objects.filter(org=org).order_by("path")
        self.fields["groups"].queryset = Group.objects.filter(org=org).order_by("name")
        if getattr(schema, "team_module", None) is None:
            del self.fields["team_roles"]
        if not schema.has_field("assignee"):
            del self.fields["assignee"]
        fillable = [(s.key, s.label) for s in schema.editable_fields if s.key != blueprint.field]
        self.fields["during_fields"].choices = fillable
        self.fields["required_fields"].choices = fillable
        self.add_criteria_fields()

    @classmethod
    def initial_for(cls, transition: Transition | None) -> dict[str, Any]:
        if transition is None:
            return {}
        owners, during = transition.owners or {}, transition.during or {}
        return {"name": transition.name, "any_state": transition.any_state, "from_states": transition.from_states,
                "to_state": transition.to_state, "parallel": transition.parallel,
                "users": owners.get("users"), "roles": owners.get("roles"), "groups": owners.get("groups"),
                "team_roles": owners.get("team_roles"), "owner": owners.get("owner"),
                "assignee": owners.get("assignee"),
                "during_fields": [f["key"] for f in during.get("fields") or []],
                "required_fields": [f["key"] for f in during.get("fields") or [] if f.get("required")],
                "note": during.get("note"), "attachment": during.get("attachment"),
                "checklist": "\n".join(during.get("checklist") or []), **cls.criteria_initial(transition.before)}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        required = set(data.get("required_fields") or [])
        fields = list(dict.fromkeys([*(data.get("during_fields") or []), *required]))
        return {
            "name": data["name"], "any_state": data.get("any_state"), "from_states": data.get("from_states") or [],
            "to_state": data.get("to_state"), "parallel": data.get("parallel", ""),
            "owners": {"users": [u.pk for u in data.get("users") or []], "roles": [r.pk for r in data.get("roles") or []],
                       "groups": [g.pk for g in data.get("groups") or []], "team_roles": data.get("team_roles") or [],
                       "owner": data.get("owner"), "assignee": data.get("assignee")},
            "before": data.get("criteria") or {},
            "during": {"fields": [{"key": key, "required": key in required} for key in fields],
                       "note": data.get("note"), "attachment": data.get("attachment"),
                       "checklist": [line.strip() for line in (data.get("checklist") or "").splitlines() if line.strip()]},
        }


class PerformForm(forms.Form):
    """What a transition asks of its performer: fields (shown with their current values), a note,
    a file, a checklist."""

    def __init__(self, *args: Any, schema: Any, transition: Transition, record: Any, actor: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        during = transition.during or {}
        self.field_keys = []
        for item in during.get("fields") or []:
            if not schema.has_field(item["key"]):
                continue
            spec = schema.field(item["key"])
            field = form_field_for(spec, schema, actor)
            field.required = bool(item.get("required"))
            field.initial = initial_value(spec, record)
            self.fields[spec.key] = field
            self.field_keys.append(spec.key)
        if during.get("note"):
            self.fields["note"] = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}),
                                                  max_length=10000)
        if during.get("attachment"):
            self.fields["attachment"] = forms.FileField(label=_("File"))
        if during.get("checklist"):
            self.fields["checklist"] = forms.MultipleChoiceField(
                label=_("Checklist"), choices=[(item, item) for item in during["checklist"]],
                widget=forms.CheckboxSelectMultiple, required=True)

    def values(self) -> dict[str, Any]:
        return {key: self.cleaned_data.get(key) for key in self.field_keys}

"""The approval process form: name, trigger, entry criteria (crm's criteria rows), admins,
fields editable while pending, up to LEVELS levels of approvers, and the final actions (in
automation's action format, as JSON, checked by each action kind)."""
from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import Group, OrgRole
from config.params import load_json
from crm.forms import SchemaCriteriaForm, org_members
from crm.widgets import member_widget

from .models import ApprovalLevel, ApprovalProcess

LEVELS = 3
CHECKBOXES = forms.CheckboxSelectMultiple
ACTIONS_HELP = _('A list of actions, e.g. [{"type": "field_update", "field": "stage", "value": "won"}, '
                 '{"type": "notify", "owner": true, "message": "Approved"}]. Kinds: %(kinds)s.')


class ProcessForm(SchemaCriteriaForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    trigger = forms.ChoiceField(label=_("Trigger"), choices=ApprovalProcess.Trigger.choices)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    admins = forms.ModelMultipleChoiceField(label=_("Process admins"), required=False, queryset=None,
                                            widget=member_widget(multiple=True),
                                            help_text=_("They receive steps nobody active can decide and may take over "
                                                   "any step. Organisation administrators always may."))
    editable_fields = forms.MultipleChoiceField(label=_("Fields editable while pending"), required=False,
                                                widget=CHECKBOXES)
    on_approve = forms.CharField(label=_("Actions on final approval"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    on_reject = forms.CharField(label=_("Actions on rejection"), required=False,
                                widget=forms.Textarea(attrs={"rows": 3}))

    field_order = ["name", "trigger", "active"]

    def __init__(self, *args: Any, org: Any, schema: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from automation.workflow_actions import action_kinds

        self.schema = schema
        self.add_criteria_fields()
        members = org_members(org)
        roles = [(str(r.pk), str(r)) for r in OrgRole.objects.filter(org=org).order_by("path")]
        groups = [(str(g.pk), str(g)) for g in Group.objects.filter(org=org).order_by("pk")]
        self.fields["admins"].queryset = members
        self.fields["editable_fields"].choices = [(f.key, f.label) for f in schema.editable_fields]
        kinds = ", ".join(f"{k.type} ({k.label()})" for k in action_kinds())
        self.fields["on_approve"].help_text = ACTIONS_HELP % {"kinds": kinds}
        self.is_team = getattr(schema, "team_module", None) is not None
        for n in range(1, LEVELS + 1):
            self.fields[f"l{n}_rule"] = forms.ChoiceField(label=_("Who decides"), choices=ApprovalLevel.Rule.choices, required=False,
                                                          initial="any")
            self.fields[f"l{n}_users"] = forms.ModelMultipleChoiceField(
                label=_("Users"), required=False, queryset=members, widget=member_widget(multiple=True))
            self.fields[f"l{n}_roles"] = forms.MultipleChoiceField(label=_("Roles"), required=False, choices=roles,
                                                                   widget=CHECKBOXES)
            self.fields[f"l{n}_groups"] = forms.MultipleChoiceField(label=_("Groups"), required=False,
                                                                    choices=groups, widget=CHECKBOXES)
            self.fields[f"l{n}_manager"] = forms.BooleanField(label=_("The owner's manager (role tree)"),
                                                              required=False)
            if self.is_team:
                self.fields[f"l{n}_team_manager"] = forms.BooleanField(label=_("The team space's manager"),
                                                                       required=False)
            self.fields[f"l{n}_superiors"] = forms.IntegerField(
                label=_("One user from each of the owner's N nearest superior roles"), required=False,
                min_value=0, max_value=10)

    def levels(self) -> list[dict[str, Any]]:
        return [{"n": n, "fields": [self[f"l{n}_{name}"] for name in
                                    ("rule", "users", "roles", "groups", "manager", "team_manager", "superiors")
                                    if f"l{n}_{name}" in self.fields]} for n in range(1, LEVELS + 1)]

    @classmethod
    def initial_for(cls, process: ApprovalProcess | None) -> dict[str, Any]:
        if process is None:
            return {"trigger": "button", "active": True}
        initial = {"name": process.name, "trigger": process.trigger, "active": process.active,
                   "admins": [str(a) for a in process.admins], "editable_fields": process.editable_fields,
                   "on_approve": json.dumps(process.on_approve, ensure_ascii=False) if process.on_approve else "",
                   "on_reject": json.dumps(process.on_reject, ensure_ascii=False) if process.on_reject else "",
                   **cls.criteria_initial(process.criteria if (process.criteria or {}).get("all", [None]) else None)}
        for n, level in enumerate(process.levels.order_by("order", "pk")[:LEVELS], start=1):
            approvers = level.approvers
            initial.update({f"l{n}_rule": level.rule, f"l{n}_users": [str(i) for i in approvers.get("users", [])],
                            f"l{n}_roles": [str(i) for i in approvers.get("roles", [])],
                            f"l{n}_groups": [str(i) for i in approvers.get("groups", [])],
                            f"l{n}_manager": approvers.get("manager"), f"l{n}_team_manager": approvers.get("team_manager"),
                            f"l{n}_superiors": approvers.get("superiors") or None})
        return initial

    def _actions(self, key: str) -> list[dict]:
        text = (self.cleaned_data.get(key) or "").strip()
        if not text:
            return []
        try:
            value = load_json(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc))
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise forms.ValidationError(_("Give a list of actions, each an object with a “type”."))
        return value

    def clean_on_approve(self) -> list[dict]:
        return self._actions("on_approve")

    def clean_on_reject(self) -> list[dict]:
        return self._actions("on_reject")

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        levels = []
        for n in range(1, LEVELS + 1):
            approvers = {"users": [u.pk for u in data.get(f"l{n}_users") or []], "roles": data.get(f"l{n}_roles") or [],
                         "groups": data.get(f"l{n}_groups") or [], "manager": bool(data.get(f"l{n}_manager")),
                         "team_manager": bool(data.get(f"l{n}_team_manager")),
                         "superiors": data.get(f"l{n}_superiors") or 0}
            if any(approvers.values()):
                levels.append({"rule": data.get(f"l{n}_rule") or "any", "approvers": approvers})
        return {"name": data["name"], "trigger": data["trigger"], "active": data.get("active", False),
                "criteria": data.get("criteria") or {"all": []}, "admins": [u.pk for u in data.get("admins") or []],
                "editable_fields": data.get("editable_fields") or [], "levels": levels,
                "on_approve": data.get("on_approve") or [], "on_reject": data.get("on_reject") or []}

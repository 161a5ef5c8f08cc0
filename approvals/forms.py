"""The approval process form: name, trigger, entry criteria (crm's criteria rows), admins,
fields editable while pending and up to LEVELS levels of approvers. The page shows the levels in
use and one empty level; "Add level" shows the next (all LEVELS are in the page, hidden). Levels
after the last one with approvers are left out; an empty level before it is an error (the
action names it). The final actions are edited with the workflow rules' action editor
(`automation.workflow_forms.ActionEditor`), beside this form."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import Group, OrgRole
from crm.forms import SchemaCriteriaForm, org_members
from crm.widgets import member_widget

from .actions import MAX_LEVELS
from .models import ApprovalLevel, ApprovalProcess

LEVELS = MAX_LEVELS
CHECKBOXES = forms.CheckboxSelectMultiple
APPROVER_FIELDS = ("users", "roles", "groups", "manager", "team_manager", "superiors")


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

    field_order = ["name", "trigger", "active"]

    def __init__(self, *args: Any, org: Any, schema: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        self.level_errors: dict[int, list[str]] = {}  # the action's errors about a level, by number
        self.add_criteria_fields()
        members = org_members(org)
        roles = [(str(r.pk), str(r)) for r in OrgRole.objects.filter(org=org).order_by("path")]
        groups = [(str(g.pk), str(g)) for g in Group.objects.filter(org=org).order_by("pk")]
        self.fields["admins"].queryset = members
        self.fields["editable_fields"].choices = [(f.key, f.label) for f in schema.editable_fields]
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

    def _filled(self, n: int) -> bool:
        """Whether level n has an approver: in the data posted, else in the initial values."""
        for name in APPROVER_FIELDS:
            key = f"l{n}_{name}"
            if key not in self.fields:
                continue
            value = self.data.getlist(key) if self.is_bound and hasattr(self.data, "getlist") else (
                self.data.get(key) if self.is_bound else self.initial.get(key))
            if isinstance(value, (list, tuple)):
                value = [v for v in value if v not in (None, "")]
            if value not in (None, "", [], False, 0, "0"):
                return True
        return False

    def last_filled(self) -> int:
        return max((n for n in range(1, LEVELS + 1) if self._filled(n)), default=0)

    def levels(self) -> list[dict[str, Any]]:
        """Each level's fields, its errors, and whether it starts hidden: the page shows the
        levels up to the last one in use (or with an error) and one more."""
        with_errors = [n for n in range(1, LEVELS + 1) if n in self.level_errors or
                       any(key.startswith(f"l{n}_") for key in (self.errors if self.is_bound else {}))]
        shown = min(LEVELS, max([self.last_filled(), *with_errors], default=0) + 1)
        return [{"n": n, "hidden": n > shown, "errors": self.level_errors.get(n, []),
                 "fields": [self[f"l{n}_{name}"] for name in ("rule", *APPROVER_FIELDS) if f"l{n}_{name}" in self.fields]}
                for n in range(1, LEVELS + 1)]

    def more_levels(self) -> bool:
        return any(level["hidden"] for level in self.levels())

    @classmethod
    def initial_for(cls, process: ApprovalProcess | None) -> dict[str, Any]:
        if process is None:
            return {"trigger": "button", "active": True}
        initial = {"name": process.name, "trigger": process.trigger, "active": process.active,
                   "admins": [str(a) for a in process.admins], "editable_fields": process.editable_fields,
                   **cls.criteria_initial(process.criteria if (process.criteria or {}).get("all", [None]) else None)}
        for n, level in enumerate(process.levels.order_by("order", "pk")[:LEVELS], start=1):
            approvers = level.approvers
            initial.update({f"l{n}_rule": level.rule, f"l{n}_users": [str(i) for i in approvers.get("users", [])],
                            f"l{n}_roles": [str(i) for i in approvers.get("roles", [])],
                            f"l{n}_groups": [str(i) for i in approvers.get("groups", [])],
                            f"l{n}_manager": approvers.get("manager"), f"l{n}_team_manager": approvers.get("team_manager"),
                            f"l{n}_superiors": approvers.get("superiors") or None})
        return initial

    def values(self) -> dict[str, Any]:
        """The process as the action takes it (without the final actions): the levels up to the last
        one with approvers, an empty one before it included (the action refuses it by number)."""
        data = self.cleaned_data
        levels = []
        for n in range(1, self.last_filled() + 1):
            approvers = {"users": [u.pk for u in data.get(f"l{n}_users") or []], "roles": data.get(f"l{n}_roles") or [],
                         "groups": data.get(f"l{n}_groups") or [], "manager": bool(data.get(f"l{n}_manager")),
                         "team_manager": bool(data.get(f"l{n}_team_manager")),
                         "superiors": data.get(f"l{n}_superiors") or 0}
            levels.append({"rule": data.get(f"l{n}_rule") or "any", "approvers": approvers})
        return {"name": data["name"], "trigger": data["trigger"], "active": data.get("active", False),
                "criteria": data.get("criteria") or {"all": []}, "admins": [u.pk for u in data.get("admins") or []],
                "editable_fields": data.get("editable_fields") or [], "levels": levels}

"""Forms of the workflow rule pages: the rule (trigger, criteria) and its list of actions, one row
per action with a small settings form per kind. Kinds registered elsewhere plug in through the
registry: a kind with a `form_class` attribute brings its own settings form (a Django form
taking `schema=` and `org=`, with a `config()` method); any other kind is given its settings as
JSON. The kinds' `clean` (via `workflow_rule_actions`) decides what is valid."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from access.models import OrgRole
from crm.forms import SchemaCriteriaForm, org_members
from crm.modules import all_modules
from crm.widgets import member_widget

from .workflow_actions import action_kind, action_kinds
from .workflow_models import WorkflowRule
from .workflow_rule_actions import MAX_ACTIONS

YES = forms.BooleanField


class WorkflowRuleForm(SchemaCriteriaForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    trigger = forms.ChoiceField(label=_("Trigger"), choices=WorkflowRule.Trigger.choices)
    trigger_fields = forms.MultipleChoiceField(label=_("Fields"), required=False,
                                               widget=forms.SelectMultiple(attrs={"size": 5}))
    trigger_value = forms.CharField(label=_("Changes to (leave empty for any change)"), required=False,
                                    max_length=255)
    date_amount = forms.IntegerField(label=_("How long"), required=False, min_value=0, initial=0)
    date_unit = forms.ChoiceField(label=_("Unit"), choices=WorkflowRule.Unit.choices, initial="days")
    date_before = forms.TypedChoiceField(label=_("Before or after"), coerce=lambda v: v == "before",
                                         choices=[("before", _("before")), ("after", _("after"))], initial="before")
    date_field = forms.ChoiceField(label=_("Date field"), required=False)
    repeat = forms.ChoiceField(label=_("Repeat"), choices=WorkflowRule.Repeat.choices, required=False)
    once_per_record = forms.TypedChoiceField(
        label=_("How often per record"), coerce=lambda v: v == "once", initial="every",
        choices=[("every", _("Every time the trigger happens")), ("once", _("Only the first time (once per record)"))])

    field_order = ["name", "trigger"]

    def __init__(self, *args: Any, schema: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        self.fields["trigger_fields"].choices = [(spec.key, spec.label) for spec in schema.fields]
        self.fields["date_field"].choices = [("", "—")] + [(spec.key, spec.label) for spec in schema.fields
                                                          if spec.type in ("date", "datetime")]
        self.add_criteria_fields()

    @classmethod
    def initial_for(cls, rule: WorkflowRule | None) -> dict[str, Any]:
        if rule is None:
            return {"trigger": "create", "once_per_record": "every", "date_before": "before", "date_unit": "days"}
        value = rule.trigger_value
        return {"name": rule.name, "trigger": rule.trigger, "trigger_fields": rule.trigger_fields,
                "trigger_value": "" if value is None else (", ".join(map(str, value)) if isinstance(value, list)
                                                           else str(value)),
                "date_field": rule.date_field, "date_amount": rule.date_amount, "date_unit": rule.date_unit,
                "date_before": "before" if rule.date_before else "after", "repeat": rule.repeat,
                "once_per_record": "once" if rule.once_per_record else "every",
                **cls.criteria_initial(rule.criteria)}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "trigger": data["trigger"], "trigger_fields": data.get("trigger_fields") or [],
                "trigger_value": data.get("trigger_value") or None, "date_field": data.get("date_field") or "",
                "date_before": data.get("date_before", True), "date_amount": data.get("date_amount") or 0,
                "date_unit": data.get("date_unit") or "days", "repeat": data.get("repeat") or "",
                "once_per_record": data.get("once_per_record", False), "criteria": data.get("criteria")}


# --- the settings of each kind ------------------------------------------------------------------

class KindForm(forms.Form):
    """Settings of one kind of action; `config()` is what its `clean` is given."""

    def __init__(self, *args: Any, schema: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema, self.org = schema, org

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        return dict(config)

    def config(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class FieldUpdateForm(KindForm):
    field = forms.ChoiceField(label=_("Field"))
    value = forms.CharField(label=_("New value (empty to clear)"), required=False, max_length=1000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [("", "—")] + [(s.key, s.label) for s in self.schema.editable_fields]

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        value = config.get("value")
        return {"field": config.get("field"),
                "value": ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else value)}

    def config(self) -> dict[str, Any]:
        value: Any = self.cleaned_data.get("value", "")
        key = self.cleaned_data.get("field")
        if key and self.schema.has_field(key) and self.schema.field(key).type == "multi_select":
            value = [part.strip() for part in value.split(",") if part.strip()]
        return {"field": key, "value": value}


class NotifyForm(KindForm):
    users = forms.ModelMultipleChoiceField(label=_("Users"), queryset=OrgRole.objects.none(), required=False,
                                           widget=member_widget(multiple=True))
    roles = forms.MultipleChoiceField(label=_("Members of the roles"), required=False,
                                      widget=forms.SelectMultiple(attrs={"size": 3}))
    owner = YES(label=_("The owner"), required=False)
    manager = YES(label=_("The owner's manager (the role above the owner's)"), required=False)
    requester = YES(label=_("The requester"), required=False)
    message = forms.CharField(label=_("Message ({{field}} inserts a field's value)"), max_length=500,
                              widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = org_members(self.org)
        self.fields["roles"].choices = [(str(r.pk), r.name) for r in OrgRole.objects.filter(org=self.org)
                                        .order_by("path")]
        if not self.schema.has_field("requested_by"):
            del self.fields["requester"]

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"users": [u.pk for u in data.get("users") or []], "roles": data.get("roles") or [],
                "owner": data.get("owner"), "manager": data.get("manager"), "requester": data.get("requester", False),
                "message": data.get("message", "")}


class CreateTaskForm(KindForm):
    subject = forms.CharField(label=_("Subject ({{field}} inserts a field's value)"), max_length=255)
    due_in_days = forms.IntegerField(label=_("Due in (days)"), required=False, min_value=0, max_value=3650)
    owner = forms.ChoiceField(label=_("Owner"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("record_owner", _("The record's owner")),
                                        ("rule_author", _("The person who activated the rule")),
                                        *[(str(u.pk), str(u)) for u in org_members(self.org)[:200]]]


class CreateRecordForm(KindForm):
    module = forms.ChoiceField(label=_("Module"))
    values = forms.CharField(
        label=_("Values, one “field: value” a line"), widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Field keys of the new record's module; a value may be {{field}} of this record, "
                    "e.g. “title: Onboard {{name}}”. A lookup back to this record is filled in by itself."))
    link_field = forms.CharField(label=_("Lookup field back to this record (optional)"), required=False,
                                 max_length=60)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["module"].choices = [("", "—")] + [
            (m.key, f"{m.label_plural} · {m.team_module.space}" if getattr(m, "team_module", None) else m.label_plural)
            for m in all_modules(self.org)]

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        values = config.get("values") or {}
        return {"module": config.get("module"), "link_field": config.get("link_field", ""),
                "values": "\n".join(f"{key}: {value}" for key, value in values.items())}

    def clean_values(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["values"].splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep or not key.strip():
                raise forms.ValidationError(_("Line %(line)d: write “field: value”.") % {"line": number})
            found[key.strip()] = value.strip()
        return found


class AssignForm(KindForm):
    rule = forms.ChoiceField(label=_("Assignment rule"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from .rule_kinds import rule_model

        rule_class = rule_model("assignment")
        rules = (rule_class.objects.filter(org=self.org, module=self.schema.key).order_by("pk")
                 if rule_class is not None else [])
        self.fields["rule"].choices = [("", "—")] + [(str(r.pk), str(r)) for r in rules]


class JsonSettingsForm(KindForm):
    settings = forms.CharField(label=_("Settings (JSON)"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"settings": json.dumps(config, ensure_ascii=False)}

    def clean_settings(self) -> dict[str, Any]:
        from config.params import load_json

        text = (self.cleaned_data.get("settings") or "").strip()
        if not text:
            return {}
        try:
            value = load_json(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc))
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Give the settings as a JSON object."))
        return value

    def config(self) -> dict[str, Any]:
        return dict(self.cleaned_data.get("settings") or {})


SETTINGS_FORMS: dict[str, type[KindForm]] = {
    "field_update": FieldUpdateForm, "notify": NotifyForm, "create_task": CreateTaskForm,
    "create_record": CreateRecordForm, "assign": AssignForm,
}


def settings_form_class(type_: str) -> type[forms.Form]:
    kind = action_kind(type_)
    return SETTINGS_FORMS.get(type_) or getattr(kind, "form_class", None) or JsonSettingsForm


# --- the rows of actions ------------------------------------------------------------------------

class ActionRowForm(forms.Form):
    type = forms.ChoiceField(label=_("Action"), required=False,
                             widget=forms.Select(attrs={"data-action-type": ""}))
    delay_amount = forms.IntegerField(label=_("Delay"), required=False, min_value=0, max_value=87600)
    delay_unit = forms.ChoiceField(label=_("Unit"), choices=WorkflowRule.Unit.choices, initial="days")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [("", _("— none (remove) —"))] + [(k.type, k.label()) for k in action_kinds()]


class ActionRow:
    """One action: its row form and one settings form per kind (the chosen one is shown). Its
    fields are named "<prefix><index>-..." ("a0-type" for a rule's first action); without
    `delay` the row has no delay (actions run at once)."""

    def __init__(self, index: int, schema: Any, org: Any, data: Any = None, action: dict[str, Any] | None = None,
                 *, prefix: str = "a", delay: bool = True):
        self.index = index
        self.delay = delay
        prefix = f"{prefix}{index}"
        action = action or {}
        delay_value = action.get("delay") or {}
        self.form = ActionRowForm(data, prefix=prefix, initial={
            "type": action.get("type", ""), "delay_amount": delay_value.get("amount"),
            "delay_unit": delay_value.get("unit", "days")})
        if not delay:
            del self.form.fields["delay_amount"], self.form.fields["delay_unit"]
        self.kinds = []
        for kind in action_kinds():
            form_class = settings_form_class(kind.type)
            config = {k: v for k, v in action.items() if k not in ("type", "delay")} if action.get("type") == kind.type \
                else {}
            initial = form_class.initial_from(config) if hasattr(form_class, "initial_from") and config else {}
            self.kinds.append((kind, form_class(data, prefix=f"{prefix}-{kind.type}", initial=initial, schema=schema,
                                                org=org)))

    @property
    def chosen(self) -> str:
        return str(self.form["type"].value() or "")

    def settings_form(self) -> Any:
        return next((form for kind, form in self.kinds if kind.type == self.chosen), None)

    def action(self) -> dict[str, Any] | None:
        """The action as posted ({"type", ...settings, "delay"}), None when removed or invalid."""
        if not self.form.is_valid() or not self.form.cleaned_data["type"]:
            return None
        settings = self.settings_form()
        if settings is None or not settings.is_valid():
            return None
        amount = self.form.cleaned_data.get("delay_amount")
        delay = {"amount": amount, "unit": self.form.cleaned_data.get("delay_unit") or "days"} if amount else None
        return {"type": self.chosen, **settings.config(), "delay": delay}

    def is_valid(self) -> bool:
        if not self.form.is_valid():
            return False
        if not self.form.cleaned_data["type"]:
            return True
        settings = self.settings_form()
        return settings is not None and settings.is_valid()

    def add_error(self, setting: str, messages: list[str]) -> None:
        settings = self.settings_form()
        if setting == "type" or (setting == "delay" and "delay_amount" in self.form.fields):
            self.form.add_error("type" if setting == "type" else "delay_amount", messages)
        elif settings is not None and setting in settings.fields:
            settings.add_error(setting, messages)
        else:
            self.form.add_error(None, messages)


def action_rows(schema: Any, org: Any, data: Any = None, actions: list[dict[str, Any]] | None = None, *,
                prefix: str = "a", delay: bool = True) -> list[ActionRow]:
    """The rows posted (those whose type field was sent), or the rule's actions and one empty row."""
    options = {"prefix": prefix, "delay": delay}
    if data is not None:
        return [ActionRow(i, schema, org, data, **options) for i in range(MAX_ACTIONS) if f"{prefix}{i}-type" in data]
    actions = list(actions or [])
    return ([ActionRow(i, schema, org, action=a, **options) for i, a in enumerate(actions)]
            or [ActionRow(0, schema, org, **options)])


# --- a list of actions on a page ----------------------------------------------------------------

@dataclass(frozen=True)
class EditorKind:
    prefix: str  # of its rows' fields
    delay: bool  # whether its actions may wait


# The lists of actions pages edit with rows, by name: the name gives the page's element ids and
# lets the row view (`ActionRowView`, `?editor=<name>`) build a row of the right kind.
ACTION_EDITORS: dict[str, EditorKind] = {"workflow": EditorKind("a", True)}


def register_action_editor(name: str, *, prefix: str, delay: bool = True) -> None:
    ACTION_EDITORS[name] = EditorKind(prefix, delay)


class ActionEditor:
    """One list of actions on a page (a workflow rule's, an approval process's final actions):
    its rows, drawn by "automation/includes/action_editor.html" with the button that adds a row."""

    max = MAX_ACTIONS

    def __init__(self, name: str, schema: Any, org: Any, data: Any = None,
                 actions: list[dict[str, Any]] | None = None) -> None:
        kind = ACTION_EDITORS[name]
        self.name, self.prefix, self.delay = name, kind.prefix, kind.delay
        self.rows = action_rows(schema, org, data, actions, prefix=kind.prefix, delay=kind.delay)
        self.next_index = max([row.index for row in self.rows], default=-1) + 1
        self._posted: list[tuple[ActionRow, dict[str, Any]]] | None = None

    @property
    def full(self) -> bool:
        return self.next_index >= MAX_ACTIONS

    def is_valid(self) -> bool:
        return all([row.is_valid() for row in self.rows])

    def posted(self) -> list[tuple[ActionRow, dict[str, Any]]]:
        """The rows that hold an action, with it (removed rows left out), in order."""
        if self._posted is None:
            pairs = [(row, row.action()) for row in self.rows]
            self._posted = [(row, action) for row, action in pairs if action is not None]
        return self._posted

    def actions(self) -> list[dict[str, Any]]:
        return [action for _row, action in self.posted()]

    def apply_errors(self, errors: dict[str, list[str]], key: str) -> dict[str, list[str]]:
        """Put each "<key>.<n>.<setting>" error (as the actions name them) under the setting of the
        row of the n-th action; return the other errors."""
        rows = [row for row, _action in self.posted()]
        rest: dict[str, list[str]] = {}
        for name, messages in errors.items():
            parts = name.split(".")
            if len(parts) == 3 and parts[0] == key and parts[1].isdigit() and int(parts[1]) < len(rows):
                rows[int(parts[1])].add_error(parts[2], messages)
            else:
                rest[name] = messages
        return rest

"""Forms of the validation and layout rule pages. They parse what people type; the actions in
`automation.rule_actions` decide what is allowed (their errors are put back on these fields)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.forms import SchemaCriteriaForm

from .rule_models import MESSAGE_MAX, NAME_MAX, ValidationRule

CHECKBOXES = forms.CheckboxSelectMultiple


class RuleForm(SchemaCriteriaForm):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, schema: Any, **kwargs: Any) -> None:
        self.schema = schema
        super().__init__(*args, **kwargs)
        self.add_criteria_fields()

    def field_choices(self) -> list[tuple[str, str]]:
        return [(spec.key, spec.label) for spec in self.schema.editable_fields]


class ValidationRuleForm(RuleForm):
    mode = forms.ChoiceField(label=_("Refuse the save when"), widget=forms.RadioSelect,
                             initial=ValidationRule.Mode.MUST_NOT_MATCH, choices=[
                                 (ValidationRule.Mode.MUST_NOT_MATCH, _("the record matches the criteria")),
                                 (ValidationRule.Mode.MUST_MATCH, _("the record does not match the criteria"))])
    message_en = forms.CharField(label=_("Error message (English)"), max_length=MESSAGE_MAX,
                                 widget=forms.TextInput)
    message_zh = forms.CharField(label=_("Error message (Chinese)"), max_length=MESSAGE_MAX, required=False,
                                 help_text=_("Shown to users who read Chinese; the English message otherwise."))
    field = forms.ChoiceField(label=_("Show the message next to"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [("", _("— above the form —")), *self.field_choices()]

    @classmethod
    def initial_for(cls, rule: Any) -> dict[str, Any]:
        if rule is None:
            return {"active": True, "mode": ValidationRule.Mode.MUST_NOT_MATCH}
        return {"name": rule.name, "active": rule.active, "mode": rule.mode, "message_en": rule.message_en,
                "message_zh": rule.message_zh, "field": rule.field, **cls.criteria_initial(rule.criteria)}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "criteria": data.get("criteria"), "mode": data["mode"],
                "message_en": data["message_en"], "message_zh": data["message_zh"], "field": data["field"],
                "active": data["active"]}


class LayoutRuleForm(RuleForm):
    show_fields = forms.MultipleChoiceField(
        label=_("Show these fields"), required=False, widget=CHECKBOXES,
        help_text=_("Hidden while no active rule shows them."))
    hide_fields = forms.MultipleChoiceField(label=_("Hide these fields"), required=False, widget=CHECKBOXES)
    require_fields = forms.MultipleChoiceField(label=_("Make these fields required"), required=False,
                                               widget=CHECKBOXES)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("show_fields", "hide_fields", "require_fields"):
            self.fields[name].choices = self.field_choices()

    @classmethod
    def initial_for(cls, rule: Any) -> dict[str, Any]:
        if rule is None:
            return {"active": True}
        return {"name": rule.name, "active": rule.active, "show_fields": rule.show_fields,
                "hide_fields": rule.hide_fields, "require_fields": rule.require_fields,
                **cls.criteria_initial(rule.criteria)}

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "criteria": data.get("criteria"), "show_fields": data["show_fields"],
                "hide_fields": data["hide_fields"], "require_fields": data["require_fields"],
                "active": data["active"]}

"""Pages of validation rules and layout rules (a module's list, a rule's form, delete, activate,
reorder), and the record form's layout endpoint.

Settings pages exist only for whoever may configure the module (org administrators; team
managers for their team modules): anyone else, and any other org's rule id, gets 404. Every
write goes through `automation.rule_actions`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _, gettext_lazy
from django.views import View

from access.decisions import module_field_rules
from access.settings_forms import apply_errors
from crm.criteria import criteria_problem
from crm.criteria_forms import OPERATOR_LABELS, describe_criteria
from crm.views import ModuleView

from . import rule_actions as actions
from .rule_engine import rule_layout
from .rule_forms import LayoutRuleForm, ValidationRuleForm
from .rule_models import LayoutRule, ValidationRule
from .settings_views import configurable_schema


@dataclass(frozen=True)
class Kind:
    """What differs between the two kinds of rules on their pages."""

    name: str  # "validation" or "layout": the tab and the URL names
    rule_model: type
    form: type
    create: Callable
    update: Callable
    drop: Callable
    set_active: Callable
    move: Callable
    label: Any  # "validation rule", for messages

    def list_url(self, module_key: str) -> str:
        return reverse(f"automation:{self.name}_rules", args=[module_key])


VALIDATION = Kind("validation", ValidationRule, ValidationRuleForm, actions.do_create_validation_rule,
                  actions.do_update_validation_rule, actions.do_delete_validation_rule,
                  actions.do_set_validation_rule_active, actions.do_move_validation_rule,
                  gettext_lazy("validation rule"))
LAYOUT = Kind("layout", LayoutRule, LayoutRuleForm, actions.do_create_layout_rule, actions.do_update_layout_rule,
              actions.do_delete_layout_rule, actions.do_set_layout_rule_active, actions.do_move_layout_rule,
              gettext_lazy("layout rule"))


def nav_template() -> str:
    """The automation tabs of a module (with the order of execution) when present, else a header."""
    from django.template import TemplateDoesNotExist
    from django.template.loader import get_template

    try:
        get_template("automation/includes/rules_nav.html")
        return "automation/includes/rules_nav.html"
    except TemplateDoesNotExist:
        return "automation/includes/rule_header.html"


class RuleSettingsView(LoginRequiredMixin, View):
    """Resolves the rule named in the URL (by org and id) and its module before anything else,
    so a missing, foreign or unconfigurable one is 404 whatever the method."""

    kind: Kind = VALIDATION

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        self.rule = None
        module_key = kwargs.get("module")
        rule_pk = kwargs.pop(f"{self.kind.name}_rule_pk", None)
        if rule_pk is not None:
            self.rule = self.kind.rule_model.objects.filter(org=request.org, pk=rule_pk).first()
            if self.rule is None:
                raise Http404
            module_key = self.rule.module
        self.schema = configurable_schema(request, module_key)
        return super().dispatch(request, *args, **kwargs)

    def back(self):
        return redirect(self.kind.list_url(self.schema.key))


def _labels(schema: Any, keys: list[str]) -> list[str]:
    return [schema.field(key).label if schema.has_field(key) else key for key in keys]


class RuleListView(RuleSettingsView):
    """A module's rules of one kind, in their order, with their switches."""

    def get(self, request, module):
        schema = self.schema
        rules = list(self.kind.rule_model.objects.filter(org=request.org, module=schema.key).order_by("position", "pk"))
        for rule in rules:
            rule.problem = criteria_problem(rule.criteria, schema)
            rule.described = "" if rule.problem else describe_criteria(rule.criteria, schema)
            if self.kind is VALIDATION:
                rule.field_label = _labels(schema, [rule.field])[0] if rule.field else ""
            else:
                rule.shows, rule.hides = _labels(schema, rule.show_fields), _labels(schema, rule.hide_fields)
                rule.requires = _labels(schema, rule.require_fields)
        return render(request, f"automation/{self.kind.name}_rules.html", {
            "module": schema, "rules": rules, "tab": self.kind.name, "back_url": back_url(schema),
            "nav_template": nav_template()})


def back_url(schema: Any) -> str:
    """Where the module's other settings live."""
    team_module = getattr(schema, "team_module", None)
    if team_module is not None:
        return reverse("teams:module_settings", args=[team_module.pk])
    return reverse("crm:settings_fields", args=[schema.key])


class RuleFormView(RuleSettingsView):
    """Create (module in the URL) or change (rule in the URL) a rule."""

    def render_form(self, request, form, status=200):
        return render(request, f"automation/{self.kind.name}_rule_form.html", {
            "module": self.schema, "rule": self.rule, "form": form, "operators": OPERATOR_LABELS,
            "tab": self.kind.name, "nav_template": nav_template()}, status=status)

    def get(self, request, module=None):
        form = self.kind.form(initial=self.kind.form.initial_for(self.rule), schema=self.schema)
        return self.render_form(request, form)

    def post(self, request, module=None):
        form = self.kind.form(request.POST, schema=self.schema)
        if form.is_valid():
            try:
                if self.rule is None:
                    rule = self.kind.create(request.org, self.schema.key, actor=request.user, **form.values())
                else:
                    rule = self.kind.update(self.rule, actor=request.user, **form.values())
                messages.success(request, _("Rule “%(name)s” saved.") % {"name": rule.name})
                return self.back()
            except ValidationError as exc:
                apply_errors(form, exc)
                if self.rule is not None:
                    self.rule.refresh_from_db()
            except PermissionDenied:
                raise Http404
        return self.render_form(request, form, status=400)


class RuleDeleteView(RuleSettingsView):
    template_name = "access/settings_confirm_delete.html"

    def get(self, request):
        return render(request, self.template_name, {"object": self.rule.name, "kind": self.kind.label,
                                                    "cancel_url": self.kind.list_url(self.schema.key)})

    def post(self, request):
        try:
            self.kind.drop(self.rule, actor=request.user)
        except PermissionDenied:
            raise Http404
        messages.success(request, _("Rule “%(name)s” deleted.") % {"name": self.rule.name})
        return self.back()


class RuleActiveView(RuleSettingsView):
    """POST active=1 or 0."""

    def post(self, request):
        active = request.POST.get("active") == "1"
        try:
            self.kind.set_active(self.rule, active, actor=request.user)
        except PermissionDenied:
            raise Http404
        message = _("Rule “%(name)s” activated.") if active else _("Rule “%(name)s” deactivated.")
        messages.success(request, message % {"name": self.rule.name})
        return self.back()


class RuleMoveView(RuleSettingsView):
    """POST step=-1 (up) or 1 (down)."""

    def post(self, request):
        try:
            self.kind.move(self.rule, 1 if request.POST.get("step") == "1" else -1, actor=request.user)
        except PermissionDenied:
            raise Http404
        return self.back()


# --- the record form's layout ----------------------------------------------------------------------

class LayoutStateView(ModuleView):
    """POST a record form's values: answers (empty, for htmx) with an HX-Trigger "layout-rules"
    event carrying the fields to hide and to require. A new record needs the right to create; an
    existing one is resolved through `access` in `dispatch` (another org's or an invisible
    record is a 404). Writes nothing."""

    module_action = "create"
    record_action = "edit"
    http_method_names = ["post"]

    def post(self, request, module, pk=None):
        schema = self.schema
        layout = rule_layout(request.user, schema, self.record)
        state: dict[str, Any] = {"hidden": [], "required": [], "controlled_hidden": [], "controlled_required": []}
        if layout is not None:
            if self.record is None:
                hidden, read_only = module_field_rules(request.user, schema)
            else:
                hidden, read_only = self.decision.hidden, self.decision.read_only
            offered = [spec.key for spec in schema.editable_fields if spec.key not in hidden and spec.key not in read_only]
            now_hidden, now_required = layout.state(request.POST, offered)
            controlled_hidden, controlled_required = layout.controlled
            base = {spec.key for spec in schema.editable_fields if spec.required}
            state = {"hidden": sorted(now_hidden), "required": sorted((now_required | base) - now_hidden),
                     "controlled_hidden": sorted(controlled_hidden), "controlled_required": sorted(controlled_required)}
        response = HttpResponse("")
        response["HX-Trigger"] = json.dumps({"layout-rules": state})
        return response

"""Workflow rule pages: a module's rules in order, the rule form (trigger, criteria, actions),
delete, activate, reorder, the dry run and the execution log.

Pages exist only for whoever may configure the module (org administrators; team managers for
their team modules): anyone else, and any other org's rule, gets 404. Every write goes through
`automation.workflow_rule_actions`."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from access.settings_forms import apply_errors
from access.visibility import visible
from config.params import optional_id
from crm.criteria import CriteriaError, criteria_problem, to_q
from crm.criteria_forms import OPERATOR_LABELS, describe_criteria

from . import workflow_rule_actions as rule_actions
from .run_models import RuleRun
from .runas import rule_path
from .settings_views import AutomationSettingsView, configurable_schema
from .workflow_actions import ActionContext, action_kind
from .workflow_actions_builtin import show_value
from .workflow_forms import ACTION_EDITORS, ActionEditor, ActionRow, WorkflowRuleForm
from .workflow_models import WorkflowRule
from .workflow_schedule import moment, offset_of

DRY_RUN_LIMIT = 50
LOG_PAGE = 50


def rules_url(module_key: str) -> str:
    return reverse("automation:workflow_rules", args=[module_key])


def describe_trigger(rule: WorkflowRule, schema: Any) -> str:
    """The trigger in a sentence."""
    def label(key: str) -> str:
        return schema.field(key).label if schema.has_field(key) else key

    if rule.trigger == WorkflowRule.Trigger.FIELD_CHANGE:
        fields = ", ".join(label(key) for key in rule.trigger_fields)
        if rule.trigger_value is not None:
            return _("When %(fields)s changes to “%(value)s”") % {"fields": fields, "value": shown_trigger_value(rule,
                                                                                                              schema)}
        return _("When %(fields)s changes") % {"fields": fields}
    if rule.trigger == WorkflowRule.Trigger.DATE:
        unit = WorkflowRule.Unit(rule.date_unit).label
        text = (_("%(amount)d %(unit)s before %(field)s") if rule.date_before
                else _("%(amount)d %(unit)s after %(field)s")) % {
            "amount": rule.date_amount, "unit": unit, "field": label(rule.date_field)}
        if rule.repeat:
            text += f" · {WorkflowRule.Repeat(rule.repeat).label}"
        return text
    return str(WorkflowRule.Trigger(rule.trigger).label)


def shown_trigger_value(rule: WorkflowRule, schema: Any) -> str:
    """The value a field-change rule waits for, as people read it (a picklist's label)."""
    key = (rule.trigger_fields or [""])[0]
    if not schema.has_field(key):
        return str(rule.trigger_value)
    spec = schema.field(key)
    if spec.options:
        return spec.option_label(str(rule.trigger_value))
    try:
        return show_value(schema, spec, spec.field_type.clean(rule.trigger_value, spec))
    except ValidationError:
        return str(rule.trigger_value)


def describe_actions(rule: WorkflowRule) -> list[str]:
    found = []
    for action in rule.actions:
        kind = action_kind(action.get("type", ""))
        text = kind.label() if kind is not None else action.get("type", "?")
        delay = action.get("delay")
        if delay:
            text += " " + _("(after %(amount)s %(unit)s)") % {"amount": delay["amount"],
                                                              "unit": WorkflowRule.Unit(delay["unit"]).label}
        found.append(text)
    return found


class WorkflowView(AutomationSettingsView):
    """Resolves the rule named in the URL (by org and id) and its module before anything else."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        self.rule = None
        module_key = kwargs.get("module")
        if "workflow_rule_pk" in kwargs:
            self.rule = WorkflowRule.objects.filter(org=request.org, pk=optional_id(kwargs["workflow_rule_pk"])).first()
            if self.rule is None:
                raise Http404
            module_key = self.rule.module
        self.schema = configurable_schema(request, module_key)
        return View.dispatch(self, request, *args, **kwargs)


class RuleListView(WorkflowView):
    def get(self, request, module):
        schema = self.schema
        rules = list(WorkflowRule.objects.filter(org=request.org, module=schema.key).select_related("run_as")
                     .order_by("position", "pk"))
        for rule in rules:
            rule.trigger_text = describe_trigger(rule, schema)
            rule.action_texts = describe_actions(rule)
            rule.problem = criteria_problem(rule.criteria, schema)
            rule.described = describe_criteria(rule.criteria, schema) if rule.criteria else ""
        return render(request, "automation/workflow_rules.html", {"module": schema, "tab": "workflow", "rules": rules})


class RuleFormView(WorkflowView):
    """Create (module in the URL) or change (rule in the URL) a rule."""

    def render_form(self, request, form, editor, status=200):
        return render(request, "automation/workflow_rule_form.html", {
            "module": self.schema, "tab": "workflow", "rule": self.rule, "form": form, "editor": editor,
            "rows": editor.rows, "operators": OPERATOR_LABELS,
        }, status=status)

    def get(self, request, module=None, workflow_rule_pk=None):
        form = WorkflowRuleForm(initial=WorkflowRuleForm.initial_for(self.rule), schema=self.schema)
        editor = ActionEditor("workflow", self.schema, request.org, actions=self.rule.actions if self.rule else None)
        return self.render_form(request, form, editor)

    def post(self, request, module=None, workflow_rule_pk=None):
        schema = self.schema
        form = WorkflowRuleForm(request.POST, schema=schema)
        editor = ActionEditor("workflow", schema, request.org, data=request.POST)
        valid = form.is_valid() & editor.is_valid()
        if valid:
            try:
                values = {**form.values(), "actions": editor.actions()}
                if self.rule is None:
                    rule = rule_actions.do_create_workflow_rule(request.org, schema.key, actor=request.user, **values)
                else:
                    rule = rule_actions.do_update_workflow_rule(self.rule, actor=request.user, **values)
                messages.success(request, _("Workflow rule “%(name)s” saved.") % {"name": rule.name})
                return redirect(rules_url(schema.key))
            except ValidationError as exc:
                rest = editor.apply_errors(exc.message_dict, "actions")  # "actions.<n>.<setting>" under the row
                if rest:
                    apply_errors(form, ValidationError({"__all__" if key == "actions" else key: errors
                                                        for key, errors in rest.items()}))
            except PermissionDenied:
                raise Http404
        return self.render_form(request, form, editor, status=400)


class ActionRowView(WorkflowView):
    """One more empty action row for a list of actions (htmx): `editor` names the list (a
    workflow rule's actions by default, an approval process's final actions...)."""

    def get(self, request, module):
        name = request.GET.get("editor") or "workflow"
        if name not in ACTION_EDITORS:
            raise Http404
        kind = ACTION_EDITORS[name]
        index = optional_id(request.GET.get("index")) or 0
        if index >= rule_actions.MAX_ACTIONS:
            return render(request, "automation/includes/workflow_add_action.html", {
                "module": self.schema, "editor": {"name": name, "next_index": index, "full": True,
                                                  "max": rule_actions.MAX_ACTIONS}, "oob": True})
        row = ActionRow(index, self.schema, request.org, prefix=kind.prefix, delay=kind.delay)
        return render(request, "automation/includes/workflow_action_row.html", {
            "row": row, "module": self.schema, "editor": {"name": name, "next_index": index + 1}, "oob": True})


class RuleDeleteView(WorkflowView):
    def get(self, request, workflow_rule_pk):
        return render(request, "access/settings_confirm_delete.html", {
            "object": self.rule.name, "kind": _("workflow rule"), "cancel_url": rules_url(self.rule.module)})

    def post(self, request, workflow_rule_pk):
        try:
            rule_actions.do_delete_workflow_rule(self.rule, actor=request.user)
        except PermissionDenied:
            raise Http404
        messages.success(request, _("Workflow rule “%(name)s” deleted.") % {"name": self.rule.name})
        return redirect(rules_url(self.rule.module))


class RuleActiveView(WorkflowView):
    """POST: activate (`active=1`: the rule then acts as this user) or deactivate."""

    def post(self, request, workflow_rule_pk):
        active = request.POST.get("active") == "1"
        try:
            rule = rule_actions.do_set_workflow_rule_active(self.rule, active, actor=request.user)
        except ValidationError as exc:
            messages.error(request, _("The rule cannot be activated: %(reason)s") % {"reason": " ".join(exc.messages)})
            return redirect(rules_url(self.rule.module))
        except PermissionDenied:
            raise Http404
        messages.success(request, (_("Workflow rule “%(name)s” is active.") if rule.active
                                   else _("Workflow rule “%(name)s” is inactive.")) % {"name": rule.name})
        return redirect(rules_url(rule.module))


class RuleMoveView(WorkflowView):
    """POST `direction`: up or down."""

    def post(self, request, workflow_rule_pk):
        try:
            offset = -1 if request.POST.get("direction") == "up" else 1
            rule_actions.do_move_workflow_rule(self.rule, offset, actor=request.user)
        except PermissionDenied:
            raise Http404
        return redirect(rules_url(self.rule.module))


class DryRunView(WorkflowView):
    """What the rule would do now to the first records (visible to this user) it matches, in
    their order of creation, newest first: nothing is written."""

    def get(self, request, workflow_rule_pk):
        rule, schema = self.rule, self.schema
        records = visible(request.user, schema, "view")
        problem = criteria_problem(rule.criteria, schema)
        if rule.criteria and not problem and next(iter(rule.criteria.values()), None):
            records = records.filter(to_q(rule.criteria, schema))
        waits_for = (rule.trigger == WorkflowRule.Trigger.FIELD_CHANGE and rule.trigger_value is not None
                     and schema.has_field((rule.trigger_fields or [""])[0]))
        if waits_for:  # the records already at the value the rule waits for
            condition = {"field": rule.trigger_fields[0], "op": "eq", "value": rule.trigger_value}
            try:
                records = records.filter(to_q({"all": [condition]}, schema))
            except CriteriaError:  # a kind of field "equals" does not apply to (a multi-select)
                pass
        date_spec = schema.field(rule.date_field) if rule.trigger == "date" and schema.has_field(rule.date_field) \
            else None
        if date_spec is not None:
            records = records.exclude(**{f"{date_spec.orm_path}__isnull": True}) if not date_spec.is_custom \
                else records.filter(**{f"{date_spec.json_column}__has_key": date_spec.key})
        found = [] if problem else list(records.order_by("-pk")[:DRY_RUN_LIMIT + 1])
        rows = []
        for record in found[:DRY_RUN_LIMIT]:
            context = ActionContext(rule=rule, schema=schema, record=record, actor=request.user,
                                    path=rule_path("workflow", rule.pk), run=None, key="dry-run")
            when = ""
            if date_spec is not None:
                value = date_spec.get_value(record)
                if value is not None:
                    when = timezone.localtime(moment(value) + offset_of(rule)).strftime("%Y-%m-%d %H:%M")
            rows.append({"record": record, "when": when, "actions": self.describe(rule, context)})
        return render(request, "automation/workflow_dry_run.html", {
            "module": schema, "tab": "workflow", "rule": rule, "rows": rows, "more": len(found) > DRY_RUN_LIMIT,
            "limit": DRY_RUN_LIMIT, "problem": problem, "trigger_text": describe_trigger(rule, schema),
            "described": describe_criteria(rule.criteria, schema) if rule.criteria and not problem else ""})

    @staticmethod
    def describe(rule: WorkflowRule, context: ActionContext) -> list[dict[str, str]]:
        from .workflow_actions import in_stage_order

        described = []
        for action in in_stage_order(list(rule.actions)):
            kind = action_kind(action.get("type", ""))
            if kind is None:
                described.append({"label": action.get("type", "?"), "text": _("This kind of action is no longer available.")})
                continue
            try:
                text = kind.describe(action, context)
            except Exception as exc:  # a describe() that cannot read something says so, the page stays
                text = _("Cannot tell: %(reason)s") % {"reason": exc}
            delay = action.get("delay")
            label = kind.label()
            if delay:
                label += " " + _("(after %(amount)s %(unit)s)") % {"amount": delay["amount"],
                                                                   "unit": WorkflowRule.Unit(delay["unit"]).label}
            described.append({"label": label, "text": text})
        return described


class RunLogView(WorkflowView):
    """The rule's runs, newest first: when, record, trigger, what each action did, errors."""

    def get(self, request, workflow_rule_pk):
        runs = (RuleRun.objects.filter(org=request.org, rule_kind="workflow", rule_id=self.rule.pk)
                .order_by("-started_at", "-pk"))
        page = Paginator(runs, LOG_PAGE).get_page(request.GET.get("page"))
        for run in page.object_list:
            for entry in run.actions:
                kind = action_kind(entry.get("type", ""))
                entry["label"] = kind.label() if kind is not None else entry.get("type", "")
        return render(request, "automation/workflow_log.html", {
            "module": self.schema, "tab": "workflow", "rule": self.rule, "page": page})

"""Sharing-rule settings pages (administrators only; everyone else gets 404): the rules of a
module, a new rule (criteria as rows or JSON), deleting one. The URLs and names are those of the
other sharing settings pages (`sharing_rules`, ...); the pages live in `crm` because they edit
criteria against module schemas, which `access` does not know. Writes go through
`access.sharing_actions`."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from access import sharing_actions
from access.models import OrgRole, SharingRule
from access.settings_forms import apply_errors, role_labels
from access.settings_views import AdminView, describe_subject

from .criteria import criteria_problem, validate
from .criteria_forms import OPERATOR_LABELS, SharingRuleForm, describe_criteria
from .modules import org_modules


def _module(key: str | None) -> Any:
    """An org module by key (the first when none is given); 404 for an unknown key."""
    modules = org_modules()
    if not key:
        return modules[0]
    for module in modules:
        if module.key == key:
            return module
    raise Http404


def _rule(request: HttpRequest, pk: Any) -> SharingRule:
    """A sharing rule of the request's org, or 404 (never looked up by id alone)."""
    try:
        return SharingRule.objects.get(org=request.org, pk=int(pk))
    except (SharingRule.DoesNotExist, TypeError, ValueError):
        raise Http404


class SharingRuleListView(AdminView):
    def get(self, request):
        modules = org_modules()
        module = _module(request.GET.get("module"))
        bound = module.bind(request.org)
        labels = role_labels(OrgRole.objects.filter(org=request.org))
        rules = list(SharingRule.objects.filter(org=request.org, module=module.key).order_by("name", "pk")
                     .select_related("owner_role", "owner_group", "target_role", "target_group"))
        for rule in rules:
            rule.problem = criteria_problem(rule.criteria, bound)
            rule.which = (describe_criteria(rule.criteria, bound) if rule.criteria
                          else describe_subject(rule.owner_kind, rule.owner_role, rule.owner_group, labels))
            rule.whom = describe_subject(rule.target_kind, rule.target_role, rule.target_group, labels)
        return render(request, "crm/settings_sharing_rules.html", {"module": module, "modules": modules, "rules": rules})


class SharingRuleCreateView(AdminView):
    template_name = "crm/settings_sharing_rule_form.html"

    def setup_form(self, request, data=None):
        module = _module(request.GET.get("module") or request.POST.get("module"))
        bound = module.bind(request.org)
        fields = [(f.key, f.label) for f in bound.fields]
        return module, bound, SharingRuleForm(data, org=request.org, fields=fields, schema=bound)

    def render_form(self, request, module, form, status=200):
        return render(request, self.template_name, {"module": module, "form": form,
                                                    "operators": OPERATOR_LABELS}, status=status)

    def get(self, request):
        module, _bound, form = self.setup_form(request)
        return self.render_form(request, module, form)

    def post(self, request):
        module, bound, form = self.setup_form(request, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                sharing_actions.do_create_sharing_rule(
                    request.org, module.key, name=data["name"], owner_kind=data["owner_kind"],
                    owner_role=data["owner_role"], owner_group=data["owner_group"], criteria=data["criteria"],
                    target_kind=data["target_kind"], target_role=data["target_role"],
                    target_group=data["target_group"], access=data["access"], actor=request.user,
                    known_modules=[m.key for m in org_modules()],
                    validate_criteria=lambda criteria: validate(criteria, bound))
                messages.success(request, _("Sharing rule “%(name)s” created.") % {"name": data["name"]})
                return redirect(f"{reverse('sharing_rules')}?module={module.key}")
            except ValidationError as exc:
                apply_errors(form, exc)
        return self.render_form(request, module, form, status=400)


class SharingRuleDeleteView(AdminView):
    template_name = "access/settings_confirm_delete.html"

    def context(self, rule):
        return {"object": rule.name, "kind": _("sharing rule"),
                "cancel_url": f"{reverse('sharing_rules')}?module={rule.module}"}

    def get(self, request, rule_pk):
        return render(request, self.template_name, self.context(_rule(request, rule_pk)))

    def post(self, request, rule_pk):
        rule = _rule(request, rule_pk)
        try:
            sharing_actions.do_delete_sharing_rule(rule, actor=request.user)
        except ValidationError as exc:
            return render(request, self.template_name, {**self.context(rule), "errors": exc.messages}, status=400)
        messages.success(request, _("Sharing rule “%(name)s” deleted.") % {"name": rule.name})
        return redirect(f"{reverse('sharing_rules')}?module={rule.module}")

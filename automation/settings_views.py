"""The automation settings area: which modules the user may automate, the tabs of one module's
rules (assignment, workflow, validation, layout) and the failed runs to look at.

Pages exist only for whoever may configure the module (org administrators; team managers for
their team modules): anyone else, and any other org's module, gets 404."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.views import View

from access.visibility import is_org_admin
from crm.modules import get_module, org_modules

from .configure import may_configure
from .run_models import RuleRun

PAGE_SIZE = 50


def configurable_schema(request, module_key: str) -> Any:
    """The module's schema in the request's org, if the user may automate it; else 404."""
    if getattr(request, "org", None) is None or not module_key:
        raise Http404
    schema = get_module(module_key, request.org).bind(request.org)
    if not may_configure(request.user, schema):
        raise Http404
    return schema


def configurable_modules(request) -> list[Any]:
    """Org modules (administrators) and the team modules the user manages."""
    from teams.models import TeamModule
    from teams.schema import schema_for

    modules = list(org_modules()) if is_org_admin(request.user) else []
    for team_module in (TeamModule.objects.filter(org=request.org, retired=False).select_related("space")
                        .order_by("space__name_en", "name_en")):
        schema = schema_for(team_module)
        if may_configure(request.user, schema.bind(request.org)):
            modules.append(schema)
    return modules


class AutomationSettingsView(LoginRequiredMixin, View):
    """Base of the rule pages: `self.schema` is the module named in the URL (`module`), checked
    before anything else, so an unconfigurable or foreign module is 404 whatever the method."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        self.schema = configurable_schema(request, kwargs["module"]) if kwargs.get("module") else None
        return super().dispatch(request, *args, **kwargs)


class IndexView(AutomationSettingsView):
    def get(self, request):
        modules = configurable_modules(request)
        if not modules:
            raise Http404
        return render(request, "automation/settings_index.html", {"modules": modules})


class FailuresView(AutomationSettingsView):
    """Failed runs of the rules of every module the user may automate, newest first."""

    def get(self, request):
        modules = {m.key: m for m in configurable_modules(request)}
        if not modules:
            raise Http404
        runs = (RuleRun.objects.filter(org=request.org, status=RuleRun.Status.FAILED, module__in=list(modules))
                .order_by("-started_at", "-pk"))
        page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
        for run in page.object_list:
            run.schema = modules.get(run.module)
        return render(request, "automation/failures.html", {"page": page})

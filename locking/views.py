"""Record locking pages: a module's locking settings, its lock rules and field locks, the
"apply to existing records" job, and the lock / unlock / override buttons of a record page.

Settings pages exist only for whoever may configure the module's locking (org administrators;
team managers for their team modules): anyone else, and any other org's id, gets 404.
Every write goes through `locking.actions`.
"""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from access.settings_forms import apply_errors
from access.visibility import is_org_admin
from crm.criteria import criteria_problem
from crm.criteria_forms import OPERATOR_LABELS, describe_criteria
from crm.modules import get_module, org_modules
from crm.views import ModuleView

from . import actions, selectors, ui  # noqa: F401  (ui registers the record page providers)
from .forms import FieldLockForm, LockConfigForm, LockRuleForm, ReasonForm
from .models import MAX_RULES_PER_MODULE, RESTRICTED_ACTIONS, LockConfig, LockJob
from .permissions import may_configure


def configurable_schema(request, module_key: str) -> Any:
    """The module's schema in the request's org, if the user may configure its locking; else 404."""
    if request.org is None:
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


def settings_url(module_key: str) -> str:
    return reverse("locking:module", args=[module_key])


class SettingsView(LoginRequiredMixin, View):
    """Resolves the rule, field lock or job named in the URL (by org and id) and its module before
    anything else, so a missing, foreign or unconfigurable one is 404 whatever the method."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        self.rule = self.field_lock = self.job = None
        module_key = kwargs.get("module")
        if "lock_rule_pk" in kwargs:
            self.rule = selectors.get_lock_rule(request.org, kwargs["lock_rule_pk"])
            module_key = self.rule.module
        elif "field_lock_pk" in kwargs:
            self.field_lock = selectors.get_field_lock(request.org, kwargs["field_lock_pk"])
            module_key = self.field_lock.module
        elif "job_pk" in kwargs:
            self.job = selectors.job_progress(request.org, kwargs["job_pk"])
            module_key = LockJob.objects.filter(org=request.org, pk=self.job["id"]).values_list(
                "module", flat=True).first()
        self.schema = configurable_schema(request, module_key) if module_key else None
        return super().dispatch(request, *args, **kwargs)


class IndexView(SettingsView):
    """Every module whose locking the user may configure, with its switches at a glance."""

    def get(self, request):
        modules = configurable_modules(request)
        if not modules:
            raise Http404
        configs = {c.module: c for c in LockConfig.objects.filter(org=request.org)}
        rows = [{"module": m, "config": configs.get(m.key)} for m in modules]
        return render(request, "locking/index.html", {"rows": rows})


class ModuleSettingsView(SettingsView):
    """The module's switches and manual locking, with its lock rules and field locks."""

    template_name = "locking/module.html"

    def render_page(self, request, schema, form=None, status=200):
        config = selectors.lock_config(request.org, schema.key)
        form = form or LockConfigForm(initial=LockConfigForm.initial_for(config, schema), org=request.org,
                                      schema=schema)
        rules = list(selectors.lock_rules(request.org, schema.key))
        for rule in rules:
            rule.problem = criteria_problem(rule.criteria, schema)
            rule.described = describe_criteria(rule.criteria, schema) if _conditions(rule.criteria) else ""
            rule.actions = [RESTRICTED_ACTIONS[a] for a in rule.restricted_actions if a in RESTRICTED_ACTIONS]
        field_locks = list(selectors.field_locks(request.org, schema.key))
        for field_lock in field_locks:
            field_lock.problem = criteria_problem(field_lock.criteria, schema)
            field_lock.described = (describe_criteria(field_lock.criteria, schema)
                                    if _conditions(field_lock.criteria) else "")
            field_lock.labels = [schema.field(k).label for k in field_lock.fields if schema.has_field(k)]
        return render(request, self.template_name, {
            "module": schema, "form": form, "config": config, "rules": rules, "field_locks": field_locks,
            "max_rules": MAX_RULES_PER_MODULE, "rules_full": len(rules) >= MAX_RULES_PER_MODULE,
            "back_url": back_url(schema),
        }, status=status)

    def get(self, request, module):
        return self.render_page(request, self.schema)

    def post(self, request, module):
        schema = self.schema
        form = LockConfigForm(request.POST, org=request.org, schema=schema)
        if form.is_valid():
            try:
                actions.do_save_lock_config(request.org, schema.key, actor=request.user, **form.values())
                messages.success(request, _("Locking settings saved."))
                return redirect(settings_url(schema.key))
            except ValidationError as exc:
                apply_errors(form, exc)
            except PermissionDenied:
                raise Http404
        return self.render_page(request, schema, form=form, status=400)


def _conditions(criteria: Any) -> bool:
    return bool(criteria) and bool(next(iter(criteria.values()), None))


def back_url(schema: Any) -> str:
    """Where the module's other settings live."""
    team_module = getattr(schema, "team_module", None)
    if team_module is not None:
        return reverse("teams:module_settings", args=[team_module.pk])
    return reverse("crm:settings_fields", args=[schema.key])


# --- lock rules --------------------------------------------------------------------------------

class RuleFormView(SettingsView):
    """Create (module in the URL) or change (rule in the URL) a lock rule."""

    template_name = "locking/rule_form.html"

    def render_form(self, request, schema, rule, form, status=200):
        count = selectors.lock_rules(request.org, schema.key).count()
        return render(request, self.template_name, {
            "module": schema, "rule": rule, "form": form, "operators": OPERATOR_LABELS,
            "rules_full": rule is None and count >= MAX_RULES_PER_MODULE, "max_rules": MAX_RULES_PER_MODULE,
            "saved": rule is not None and request.GET.get("saved") == "1",
        }, status=status)

    def get(self, request, module=None, lock_rule_pk=None):
        rule, schema = self.rule, self.schema
        form = LockRuleForm(initial=LockRuleForm.initial_for(rule), org=request.org, schema=schema)
        return self.render_form(request, schema, rule, form)

    def post(self, request, module=None, lock_rule_pk=None):
        rule, schema = self.rule, self.schema
        form = LockRuleForm(request.POST, org=request.org, schema=schema)
        if form.is_valid():
            try:
                if rule is None:
                    rule = actions.do_create_lock_rule(request.org, schema.key, actor=request.user, **form.values())
                else:
                    rule = actions.do_update_lock_rule(rule, actor=request.user, **form.values())
                messages.success(request, _("Lock rule “%(name)s” saved.") % {"name": rule.name})
                return redirect(reverse("locking:rule", args=[rule.pk]) + "?saved=1")
            except ValidationError as exc:
                apply_errors(form, exc)
                if rule is not None:
                    rule.refresh_from_db()
            except PermissionDenied:
                raise Http404
        return self.render_form(request, schema, rule, form, status=400)


class RuleDeleteView(SettingsView):
    template_name = "access/settings_confirm_delete.html"

    def context(self, rule):
        return {"object": rule.name, "kind": _("lock rule"), "cancel_url": settings_url(rule.module)}

    def get(self, request, lock_rule_pk):
        return render(request, self.template_name, self.context(self.rule))

    def post(self, request, lock_rule_pk):
        rule, schema = self.rule, self.schema
        try:
            unlocked = actions.do_delete_lock_rule(rule, actor=request.user, path="page")
        except PermissionDenied:
            raise Http404
        messages.success(request, _("Lock rule “%(name)s” deleted; %(count)d records unlocked.")
                         % {"name": rule.name, "count": unlocked})
        return redirect(settings_url(schema.key))


class ApplyRuleView(SettingsView):
    """Start "apply this rule to the records already stored" and show its progress."""

    def post(self, request, lock_rule_pk):
        try:
            job = actions.do_start_apply_job(self.rule, actor=request.user)
        except PermissionDenied:
            raise Http404
        return redirect("locking:job", job_pk=job.pk)


class JobView(SettingsView):
    """A job's progress; HTMX polls the progress part until the job is done."""

    def get(self, request, job_pk):
        job = self.job
        context = {"job": job, "module": self.schema, "finished": job["status"] in ("done", "failed")}
        if request.headers.get("HX-Request"):
            return render(request, "locking/includes/job_progress.html", context)
        return render(request, "locking/job.html", context)


# --- field locks -------------------------------------------------------------------------------

class FieldLockFormView(SettingsView):
    template_name = "locking/field_lock_form.html"

    def render_form(self, request, schema, field_lock, form, status=200):
        return render(request, self.template_name, {"module": schema, "field_lock": field_lock, "form": form},
                      status=status)

    def get(self, request, module=None, field_lock_pk=None):
        field_lock, schema = self.field_lock, self.schema
        form = FieldLockForm(initial=FieldLockForm.initial_for(field_lock), org=request.org, schema=schema)
        return self.render_form(request, schema, field_lock, form)

    def post(self, request, module=None, field_lock_pk=None):
        field_lock, schema = self.field_lock, self.schema
        form = FieldLockForm(request.POST, org=request.org, schema=schema)
        if form.is_valid():
            try:
                saved = actions.do_save_field_lock(request.org, schema.key, actor=request.user,
                                                   field_lock=field_lock, **form.values())
                messages.success(request, _("Field lock “%(name)s” saved.") % {"name": saved.name})
                return redirect(settings_url(schema.key))
            except ValidationError as exc:
                apply_errors(form, exc, aliases={"fields": "fields_"})
                if field_lock is not None:
                    field_lock.refresh_from_db()
            except PermissionDenied:
                raise Http404
        return self.render_form(request, schema, field_lock, form, status=400)


class FieldLockDeleteView(SettingsView):
    template_name = "access/settings_confirm_delete.html"

    def get(self, request, field_lock_pk):
        field_lock = self.field_lock
        return render(request, self.template_name, {"object": field_lock.name, "kind": _("field lock"),
                                                    "cancel_url": settings_url(field_lock.module)})

    def post(self, request, field_lock_pk):
        field_lock = self.field_lock
        try:
            actions.do_delete_field_lock(field_lock, actor=request.user)
        except PermissionDenied:
            raise Http404
        messages.success(request, _("Field lock “%(name)s” deleted.") % {"name": field_lock.name})
        return redirect(settings_url(field_lock.module))


# --- a record's page: lock, unlock, override ----------------------------------------------------

class RecordLockView(ModuleView):
    """POST only. `op` comes from the URL: lock, unlock or override (a rule's lock, with a reason)."""

    op = "lock"

    def post(self, request, module, pk):
        form = ReasonForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            if not form.is_valid():
                raise actions.RecordValidationError(form.errors.get("reason", []))
            if self.op == "lock":
                actions.do_lock_record(self.record, reason, actor=request.user, path="page")
                messages.success(request, _("Record locked."))
            elif self.op == "unlock":
                actions.do_unlock_record(self.record, actor=request.user, path="page", reason=reason)
                messages.success(request, _("Record unlocked."))
            else:
                rule = selectors.get_lock_rule(request.org, request.POST.get("rule"))
                actions.do_override_unlock(self.record, rule, reason, actor=request.user, path="page")
                messages.success(request, _("The lock of rule “%(name)s” is lifted on this record.")
                                 % {"name": rule.name})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except PermissionDenied as exc:
            self.refuse(exc)
        return redirect(self.record.get_absolute_url())

"""The assignment rules' settings pages, their dry run and run log, and the list pages' "assign
by rule" actions."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.settings_forms import apply_errors
from access.visibility import visible
from crm.criteria import criteria_problem
from crm.criteria_forms import OPERATOR_LABELS, describe_criteria
from crm.forms import chosen_versions
from crm.selectors import bounded_count, count_cap, count_label

from . import assignment_actions as actions
from .assignment_choice import KIND, active_rule, dry_run, user_names
from .assignment_forms import EntryForm, RuleForm
from .assignment_models import AssignmentEntry, AssignmentJob, AssignmentRule
from .assignment_tasks import list_queryset
from .run_models import RuleRun
from .configure import may_configure
from .settings_views import AutomationSettingsView


def list_actions(user: Any, schema: Any) -> list[dict[str, Any]]:
    """For whoever may configure the module, while it has an active rule: run it on the chosen
    records, or on the whole filtered list."""
    if getattr(user, "org", None) is None or not may_configure(user, schema):
        return []
    rule = active_rule(user.org.pk, schema.key)
    if rule is None:
        return []
    try:
        return [
            {"label": _("Assign by rule"), "title": _("Assign by rule “%(name)s”") % {"name": rule.name},
             "icon": "person-check", "url": reverse("automation:assignment_run_selected", args=[schema.key]),
             "scope": "selected"},
            {"label": _("Assign all by rule"), "title": _("Assign the whole list by rule"), "icon": "people",
             "url": reverse("automation:assignment_run_list", args=[schema.key]), "scope": "list"},
        ]
    except NoReverseMatch:
        return []


# --- pages ---------------------------------------------------------------------------------------

PAGE_SIZE = 25


class AssignmentView(AutomationSettingsView):
    """Resolves the rule, entry or job named in the URL (by org and id) and its module before
    anything else, so a missing, foreign or unconfigurable one is 404 whatever the method."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        self.rule = self.entry = self.job = None
        if "assignment_entry_pk" in kwargs:
            self.entry = get_object_or_404(AssignmentEntry.objects.select_related("rule"), org=request.org,
                                           pk=kwargs["assignment_entry_pk"])
            self.rule = self.entry.rule
        elif "assignment_rule_pk" in kwargs:
            self.rule = get_object_or_404(AssignmentRule, org=request.org, pk=kwargs["assignment_rule_pk"])
        elif "assignment_job_pk" in kwargs:
            self.job = get_object_or_404(AssignmentJob.objects.select_related("rule"), org=request.org,
                                         pk=kwargs["assignment_job_pk"])
            kwargs["module"] = self.job.module
        if self.rule is not None:
            kwargs["module"] = self.rule.module
        return super().dispatch(request, *args, **kwargs)

    def render_page(self, template: str, status: int = 200, **context: Any):
        return render(self.request, f"automation/assignment/{template}",
                      {"module": self.schema, "tab": "assignment", "rule": self.rule, **context}, status=status)


def rules_url(module_key: str) -> str:
    return reverse("automation:assignment_rules", args=[module_key])


def rule_url(rule: AssignmentRule) -> str:
    return reverse("automation:assignment_rule", args=[rule.pk])


def describe_entry(entry: AssignmentEntry, schema: Any, names: dict[int, str]) -> dict[str, str]:
    """The entry as two sentences: which records, and who gets them."""
    Method, Pool = AssignmentEntry.Method, AssignmentEntry.Pool
    which = describe_criteria(entry.criteria, schema) if entry.criteria else _("Every record")
    if entry.method == Method.USER:
        who = names.get(entry.user_id) or _("(a user no longer here)")
    else:
        if entry.pool == Pool.USERS:
            among = ", ".join(names.get(pk, "#%s" % pk) for pk in entry.pool_users)
        elif entry.pool == Pool.ROLE:
            among = _("members of the role “%(name)s”") % {"name": entry.pool_role or "?"}
        elif entry.pool == Pool.GROUP:
            among = _("members of the group “%(name)s”") % {"name": entry.pool_group or "?"}
        else:
            among = _("members of the team space “%(name)s”") % {"name": entry.pool_space or "?"}
        who = "%s: %s" % (Method(entry.method).label, among)
        if entry.cap:
            who += " · " + _("at most %(count)d open records each") % {"count": entry.cap}
    return {"which": which, "who": who}


def entries_of(rule: AssignmentRule, schema: Any) -> list[AssignmentEntry]:
    entries = list(rule.entries.select_related("pool_role", "pool_group", "pool_space"))
    ids = {pk for e in entries for pk in ([e.user_id] + list(e.pool_users or []))} | {rule.fallback_user_id}
    names = user_names(ids)
    for number, entry in enumerate(entries, start=1):
        entry.number = number
        entry.described = describe_entry(entry, schema, names)
        entry.problem = criteria_problem(entry.criteria, schema) if entry.criteria else None
    rule.fallback_name = names.get(rule.fallback_user_id, "")
    return entries


class RulesView(AssignmentView):
    def get(self, request, **kwargs):
        rules = list(AssignmentRule.objects.filter(org=request.org, module=self.schema.key)
                     .select_related("run_as").annotate(entry_count=Count("entries")).order_by("name", "pk"))
        return self.render_page("rules.html", rules=rules)


class RuleFormView(AssignmentView):
    """Create (module in the URL) or change (rule in the URL) a rule's name, fallback and status field."""

    def get(self, request, **kwargs):
        form = RuleForm(initial=RuleForm.initial_for(self.rule, self.schema), schema=self.schema)
        return self.page(form)

    def page(self, form, status: int = 200):
        if self.rule is None:
            return self.render_page("rule_new.html", status=status, form=form)
        return rule_page(self, form=form, status=status)

    def post(self, request, **kwargs):
        form = RuleForm(request.POST, schema=self.schema)
        if form.is_valid():
            try:
                if self.rule is None:
                    rule = actions.do_create_assignment_rule(request.org, self.schema.key, actor=request.user,
                                                             **form.values())
                else:
                    rule = actions.do_update_assignment_rule(self.rule, actor=request.user, **form.values())
                messages.success(request, _("Assignment rule “%(name)s” saved.") % {"name": rule.name})
                return redirect(rule_url(rule))
            except ValidationError as exc:
                apply_errors(form, exc, aliases={"fallback_user_id": "fallback_user"})
                if self.rule is not None:
                    self.rule.refresh_from_db()
            except PermissionDenied:
                raise Http404
        return self.page(form, status=400)


def rule_page(view: AssignmentView, *, form=None, status: int = 200, errors: list[str] = ()):
    """The rule's page: its settings, entries, state and run log."""
    rule, schema, request = view.rule, view.schema, view.request
    form = form or RuleForm(initial=RuleForm.initial_for(rule, schema), schema=schema)
    runs = (RuleRun.objects.filter(org=request.org, rule_kind=KIND, rule_id=rule.pk)
            .order_by("-started_at", "-pk"))
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    ids = [run.record_id for run in page.object_list if run.record_id]
    # Names of the records the viewer may see (one query); the others show as their number.
    names = {record.pk: str(record) for record in visible(request.user, schema, "view").filter(pk__in=ids)}
    for run in page.object_list:
        run.done = [describe_run_action(a) for a in run.actions or []]
        run.record_name = names.get(run.record_id, "")
    other = (AssignmentRule.objects.filter(org=request.org, module=rule.module, active=True)
             .exclude(pk=rule.pk).first())
    return view.render_page("rule.html", status=status, form=form, entries=entries_of(rule, schema), runs=page,
                            other_active=other, errors=errors, triggers=TRIGGERS)


TRIGGERS = {"created": gettext_lazy("On create"), "selected": gettext_lazy("Chosen records"),
            "list": gettext_lazy("Whole list"), "workflow": gettext_lazy("Workflow rule")}


def describe_run_action(action: dict[str, Any]) -> str:
    if action.get("user_id") is None:
        return _("Nobody to assign to")
    who = action.get("user") or "#%s" % action.get("user_id")
    if action.get("via") == "fallback":
        text = _("Given to %(user)s (fallback)") % {"user": who}
    else:
        text = _("Given to %(user)s by entry %(number)s") % {"user": who, "number": action.get("entry")}
    if action.get("changed") is False:
        text += " · " + _("already theirs")
    return text


class RuleView(RuleFormView):
    """The rule's page (GET) and its settings form (POST)."""

    def get(self, request, **kwargs):
        return rule_page(self)


class RuleDeleteView(AssignmentView):
    def context(self) -> dict[str, Any]:
        return {"object": self.rule.name, "kind": _("assignment rule"), "cancel_url": rule_url(self.rule)}

    def get(self, request, **kwargs):
        return render(request, "access/settings_confirm_delete.html", self.context())

    def post(self, request, **kwargs):
        try:
            actions.do_delete_assignment_rule(self.rule, actor=request.user)
        except PermissionDenied:
            raise Http404
        messages.success(request, _("Assignment rule “%(name)s” deleted.") % {"name": self.rule.name})
        return redirect(rules_url(self.schema.key))


class RuleStateView(AssignmentView):
    """Activate (acting as whoever activates it from now on) or deactivate a rule."""

    op = "activate"

    def post(self, request, **kwargs):
        try:
            if self.op == "activate":
                actions.do_activate_assignment_rule(self.rule, actor=request.user)
                messages.success(request, _("“%(name)s” is active: it assigns new records from now on.")
                                 % {"name": self.rule.name})
            else:
                actions.do_deactivate_assignment_rule(self.rule, actor=request.user)
                messages.success(request, _("“%(name)s” is inactive.") % {"name": self.rule.name})
        except ValidationError as exc:
            return rule_page(self, status=400, errors=exc.messages)
        except PermissionDenied:
            raise Http404
        return redirect(rule_url(self.rule))


class DryRunView(AssignmentView):
    """What the rule would do now to the records the viewer sees; nothing is written."""

    def get(self, request, **kwargs):
        result = dry_run(self.rule, self.schema, request.user)
        return self.render_page("dry_run.html", result=result, field_label=(
            _("Assignee") if getattr(self.schema, "team_module", None) is not None else _("Owner")),
            names=user_names({getattr(r.record, "owner_id", None) for r in result["rows"]}
                             | {getattr(r.record, "assignee_id", None) for r in result["rows"]}))


class EntryFormView(AssignmentView):
    def get(self, request, **kwargs):
        form = EntryForm(initial=EntryForm.initial_for(self.entry), schema=self.schema)
        return self.page(form)

    def page(self, form, status: int = 200):
        return self.render_page("entry_form.html", status=status, form=form, entry=self.entry,
                                operators=OPERATOR_LABELS)

    def post(self, request, **kwargs):
        form = EntryForm(request.POST, schema=self.schema)
        if form.is_valid():
            try:
                if self.entry is None:
                    actions.do_add_assignment_entry(self.rule, actor=request.user, **form.values())
                else:
                    actions.do_update_assignment_entry(self.entry, actor=request.user, **form.values())
                messages.success(request, _("Entry saved."))
                return redirect(rule_url(self.rule))
            except ValidationError as exc:
                apply_errors(form, exc, aliases={"user_id": "user", "pool_role_id": "pool_role",
                                                 "pool_group_id": "pool_group", "pool_space_id": "pool_space"})
            except PermissionDenied:
                raise Http404
        return self.page(form, status=400)


class EntryDeleteView(AssignmentView):
    def post(self, request, **kwargs):
        try:
            actions.do_delete_assignment_entry(self.entry, actor=request.user)
        except PermissionDenied:
            raise Http404
        messages.success(request, _("Entry deleted."))
        return redirect(rule_url(self.rule))


class EntryMoveView(AssignmentView):
    def post(self, request, **kwargs):
        step = 1 if request.POST.get("step") == "down" else -1
        try:
            actions.do_move_assignment_entry(self.entry, step, actor=request.user)
        except PermissionDenied:
            raise Http404
        return redirect(rule_url(self.rule))


# --- running on existing records -------------------------------------------------------------------

def _active_rule_or_404(request, schema) -> AssignmentRule:
    rule = active_rule(request.org.pk, schema.key)
    if rule is None:
        raise Http404
    return rule


class RunSelectedView(AssignmentView):
    """The list page's "Assign by rule" on the chosen rows (posted as "pk:version" ids)."""

    def post(self, request, **kwargs):
        rule = _active_rule_or_404(request, self.schema)
        ids = list(chosen_versions(request.POST.getlist("ids")))
        back = reverse("crm:list", args=[self.schema.key])
        if not ids:
            messages.error(request, _("Choose at least one record."))
            return redirect(back)
        if len(ids) > MAX_SELECTED or visible(request.user, self.schema, "view").filter(pk__in=ids).count() != len(ids):
            raise Http404
        try:
            job = actions.do_start_assignment_job(rule, trigger="selected", record_ids=ids, actor=request.user)
        except PermissionDenied:
            raise Http404
        return redirect("automation:assignment_job", assignment_job_pk=job.pk)


MAX_SELECTED = 1000
LIST_KEYS_IGNORED = {"page", "per_page", "sort", "columns"}


class RunListView(AssignmentView):
    """Assign every record of the list as filtered (GET: how many, and a button; POST: start)."""

    def filters(self, request) -> dict[str, list[str]]:
        return {key: values for key, values in request.GET.lists() if key not in LIST_KEYS_IGNORED}

    def get(self, request, **kwargs):
        rule = active_rule(request.org.pk, self.schema.key)
        if rule is None:  # deactivated since the list page was drawn: say so
            return self.render_page("run_list.html", active=None, query=request.GET.urlencode())
        rows = list_queryset(self.schema, request.user, self.filters(request))
        count = bounded_count(rows)
        return self.render_page("run_list.html", active=rule, count=count, count_text=count_label(count),
                                query=request.GET.urlencode())

    def post(self, request, **kwargs):
        rule = _active_rule_or_404(request, self.schema)
        filters = self.filters(request)
        count = bounded_count(list_queryset(self.schema, request.user, filters))
        try:
            job = actions.do_start_assignment_job(rule, trigger="list", filters=filters, actor=request.user,
                                                  total=min(count, count_cap()), total_capped=count > count_cap())
        except PermissionDenied:
            raise Http404
        return redirect("automation:assignment_job", assignment_job_pk=job.pk)


class JobView(AssignmentView):
    """A job's progress; HTMX polls the progress part until the job is done."""

    def get(self, request, **kwargs):
        job = self.job
        context = {"job": job, "finished": job.status in (AssignmentJob.Status.DONE, AssignmentJob.Status.FAILED),
                   "rule": job.rule}
        if request.headers.get("HX-Request"):
            return render(request, "automation/assignment/includes/job_progress.html",
                          {"module": self.schema, **context})
        return self.render_page("job.html", **context)

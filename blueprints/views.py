"""Blueprint pages: a module's blueprints, the editor of one version (the graph, the transitions,
a side form), its lifecycle buttons, and performing a transition on a record.

The settings pages exist only for whoever may configure the module (404 for anyone else and for
another org's blueprint); the record page's transition form asks the decision point, and the
action decides for real."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from access.decisions import decide
from access.visibility import get_record
from automation.settings_views import configurable_schema
from automation.workflow_forms import action_rows
from crm.actions import RecordValidationError
from crm.modules import get_module
from crm.views import reason_of

from . import actions, selectors
from .diagram import svg
from .forms import BlueprintForm, PerformForm, SettingsForm, TransitionForm
from .models import Blueprint, BlueprintRecord, Transition

EMPTY_ACTION_ROWS = 2


def editor_url(blueprint: Blueprint, transition: Any = None) -> str:
    url = reverse("blueprints:editor", args=[blueprint.pk])
    if transition == "new":
        return f"{url}?transition=new#side-form"
    return f"{url}?transition={transition.pk}#side-form" if transition is not None else url


def apply_errors(form: Any, exc: ValidationError) -> None:
    for key, messages_ in exc.message_dict.items():
        field = key if key in form.fields else None
        if key in ("users", "roles", "groups", "team_roles", "owner", "assignee") and key not in form.fields:
            field = None
        for message in messages_:
            form.add_error(field, message)


class SettingsView(LoginRequiredMixin, View):
    """`self.schema` from the URL's module, or from the blueprint (`self.blueprint`), if the user
    may configure the module: 404 otherwise, whatever the method."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        self.blueprint = None
        if "blueprint_pk" in kwargs:
            self.blueprint = Blueprint.objects.filter(org=request.org, pk=kwargs["blueprint_pk"]).first()
            if self.blueprint is None:
                raise Http404
            self.schema = configurable_schema(request, self.blueprint.module)
        else:
            self.schema = configurable_schema(request, kwargs.get("module", ""))
        return super().dispatch(request, *args, **kwargs)


class BlueprintListView(SettingsView):
    def get(self, request, module, form=None, status=200):
        rows = Blueprint.objects.filter(org=request.org, module=self.schema.key).order_by("name", "key", "-version")
        processes: dict[str, list[Blueprint]] = {}
        for row in rows:
            processes.setdefault(row.key, []).append(row)
        counts = dict(BlueprintRecord.objects.filter(org=request.org, module=self.schema.key)
                      .values("blueprint_id").annotate(n=Count("pk")).values_list("blueprint_id", "n"))
        for row in rows:
            row.inside = counts.get(row.pk, 0)
        return render(request, "blueprints/list.html", {
            "module": self.schema, "tab": "blueprints", "processes": list(processes.values()),
            "form": form or BlueprintForm(schema=self.schema)}, status=status)

    def post(self, request, module):
        form = BlueprintForm(request.POST, schema=self.schema)
        if form.is_valid():
            try:
                blueprint = actions.do_create_blueprint(request.org, self.schema.key, name=form.cleaned_data["name"],
                                                        field=form.cleaned_data["field"],
                                                        criteria=form.cleaned_data.get("criteria"), actor=request.user)
                return redirect(editor_url(blueprint))
            except ValidationError as exc:
                apply_errors(form, exc)
        return self.get(request, module, form=form, status=400)


class EditorView(SettingsView):
    """One version: the graph (an arrow opens its transition in the side form), the transitions,
    the settings and time limits (drafts), and the lifecycle buttons."""

    def get(self, request, blueprint_pk, settings_form=None, transition_form=None, rows=None, status=200):
        blueprint, schema = self.blueprint, self.schema
        transitions = list(blueprint.transitions.order_by("position", "pk"))
        chosen = request.GET.get("transition", "")
        editing = next((t for t in transitions if str(t.pk) == chosen), None)
        if transition_form is None and blueprint.is_draft and (editing is not None or chosen == "new"):
            transition_form = TransitionForm(initial=TransitionForm.initial_for(editing), schema=schema,
                                             blueprint=blueprint)
            rows = self.rows(editing.after if editing else [])
        versions = list(Blueprint.objects.filter(org=request.org, key=blueprint.key).order_by("-version"))
        published = next((v for v in versions if v.status == Blueprint.Status.PUBLISHED), None)
        inside = BlueprintRecord.objects.filter(org=request.org, blueprint=blueprint).count()
        states = selectors.state_choices(schema, blueprint.field)
        labels = dict(states)
        for t in transitions:
            t.from_text = _("every state") if t.any_state else ", ".join(labels.get(s, s) for s in t.from_states)
            t.to_text = labels.get(t.to_state, t.to_state)
        return render(request, "blueprints/editor.html", {
            "module": schema, "tab": "blueprints", "bp": blueprint, "transitions": transitions, "versions": versions,
            "published": published, "inside": inside, "editing": editing, "chosen": chosen,
            "diagram": svg(states, blueprint.start_state, transitions, selected=editing.pk if editing else None,
                           link=lambda pk: editor_url(blueprint, Transition(pk=pk)) if blueprint.is_draft else ""),
            "field_label": schema.field(blueprint.field).label if schema.has_field(blueprint.field) else blueprint.field,
            "start_label": labels.get(blueprint.start_state, blueprint.start_state),
            "settings_form": settings_form or (SettingsForm(schema=schema, blueprint=blueprint)
                                               if blueprint.is_draft else None),
            "transition_form": transition_form, "rows": rows or [],
            "next_index": len(rows or []),
        }, status=status)

    def rows(self, after: list[dict]) -> list[Any]:
        """The after-action rows (automation's editor rows): the transition's, and two empty ones."""
        rows = action_rows(self.schema, self.request.org, actions=after or None)
        from automation.workflow_forms import ActionRow

        start = len(after or [])
        rows = rows[:start] if after else []
        return rows + [ActionRow(start + i, self.schema, self.request.org) for i in range(EMPTY_ACTION_ROWS)]


class SaveSettingsView(EditorView):
    def post(self, request, blueprint_pk):
        form = SettingsForm(request.POST, schema=self.schema, blueprint=self.blueprint)
        if form.is_valid():
            try:
                actions.do_update_blueprint(self.blueprint, name=form.cleaned_data["name"],
                                            start_state=form.cleaned_data["start_state"],
                                            criteria=form.cleaned_data.get("criteria"), sla=form.sla(),
                                            actor=request.user)
                messages.success(request, _("Blueprint saved."))
                return redirect(editor_url(self.blueprint))
            except ValidationError as exc:
                apply_errors(form, exc)
        return self.get(request, blueprint_pk, settings_form=form, status=400)


class SaveTransitionView(EditorView):
    def get(self, request, blueprint_pk, transition_pk=None):
        """The side form lives on the editor page."""
        transition = "new" if transition_pk is None else get_object_or_404(
            Transition, org=request.org, blueprint=self.blueprint, pk=transition_pk)
        return redirect(editor_url(self.blueprint, transition))

    def post(self, request, blueprint_pk, transition_pk=None):
        transition = None
        if transition_pk is not None:
            transition = Transition.objects.filter(org=request.org, blueprint=self.blueprint, pk=transition_pk).first()
            if transition is None:
                raise Http404
        form = TransitionForm(request.POST, schema=self.schema, blueprint=self.blueprint)
        rows = action_rows(self.schema, request.org, data=request.POST)
        valid = form.is_valid() & all([row.is_valid() for row in rows])
        if valid:
            posted = [(row, row.action()) for row in rows]
            posted = [(row, action) for row, action in posted if action is not None]
            after = [{k: v for k, v in action.items() if k != "delay" or v} for _row, action in posted]
            try:
                saved = actions.do_save_transition(self.blueprint, transition, actor=request.user,
                                                   after=after, **form.values())
                messages.success(request, _("Transition “%(name)s” saved.") % {"name": saved.name})
                return redirect(editor_url(self.blueprint, saved))
            except ValidationError as exc:
                rest = {}
                for key, errors in exc.message_dict.items():
                    parts = key.split(".")
                    if len(parts) == 3 and parts[0] == "after" and parts[1].isdigit() and int(parts[1]) < len(posted):
                        posted[int(parts[1])][0].add_error(parts[2], errors)
                    else:
                        rest[key] = errors
                if rest:
                    apply_errors(form, ValidationError(rest))
        request.GET = request.GET.copy()
        request.GET["transition"] = str(transition.pk) if transition else "new"
        return EditorView.get(self, request, blueprint_pk, transition_form=form, rows=rows, status=400)


class DeleteTransitionView(SettingsView):
    def post(self, request, blueprint_pk, transition_pk):
        transition = Transition.objects.filter(org=request.org, blueprint=self.blueprint, pk=transition_pk).first()
        if transition is None:
            raise Http404
        try:
            actions.do_delete_transition(transition, actor=request.user)
            messages.success(request, _("Transition deleted."))
        except ValidationError as exc:
            messages.error(request, reason_of(exc))
        return redirect(editor_url(self.blueprint))


LOG_PAGE = 50


class RunLogView(SettingsView):
    """The runs of this version's after-actions, newest first: when, record, transition, what each
    action did, errors and attempts (the run log's index on org, kind, rule, time)."""

    def get(self, request, blueprint_pk):
        from django.core.paginator import Paginator

        from automation.run_models import RuleRun
        from automation.workflow_actions import action_kind

        names = dict(self.blueprint.transitions.values_list("pk", "name"))
        runs = (RuleRun.objects.filter(org=request.org, rule_kind=actions.after.RUN_KIND, rule_id__in=list(names))
                .order_by("-started_at", "-pk"))
        page = Paginator(runs, LOG_PAGE).get_page(request.GET.get("page"))
        for run in page.object_list:
            run.transition_name = names.get(run.rule_id, "")
            for entry in run.actions:
                kind = action_kind(entry.get("type", ""))
                entry["label"] = kind.label() if kind is not None else entry.get("type", "")
        return render(request, "blueprints/log.html", {
            "module": self.schema, "tab": "blueprints", "bp": self.blueprint, "page": page})


class LifecycleView(SettingsView):
    """Publish, deactivate, make a new version, delete a draft, migrate records to the published version."""

    step = ""

    def post(self, request, blueprint_pk):
        blueprint, user = self.blueprint, request.user
        try:
            if self.step == "publish":
                actions.do_publish_blueprint(blueprint, actor=user)
                messages.success(request, _("Published: new records enter this version; records already inside "
                                            "an earlier one keep it."))
            elif self.step == "deactivate":
                left = actions.do_deactivate_blueprint(blueprint, actor=user)
                messages.success(request, _("Deactivated: %(count)d records left the blueprint.") % {"count": left})
            elif self.step == "new_version":
                blueprint = actions.do_new_version(blueprint, actor=user)
                messages.success(request, _("Version %(n)d is a draft: change it, then publish it.")
                                 % {"n": blueprint.version})
            elif self.step == "delete":
                actions.do_delete_draft(blueprint, actor=user)
                messages.success(request, _("Draft deleted."))
                return redirect("blueprints:list", self.schema.key)
            elif self.step == "migrate":
                target = Blueprint.objects.filter(org=request.org, key=blueprint.key,
                                                  status=Blueprint.Status.PUBLISHED).first()
                if target is None:
                    raise RecordValidationError({"__all__": [_("Records move only to the published version.")]})
                moved = actions.do_migrate_records(blueprint, target, actor=user)
                messages.success(request, _("%(count)d records moved to version %(n)d.")
                                 % {"count": moved, "n": target.version})
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, reason_of(exc))
        return redirect(editor_url(blueprint))


# --- performing a transition on a record ------------------------------------------------------------

class PerformView(LoginRequiredMixin, View):
    """A record's blueprint (its state, the transitions the user may do, the diagram) and, with
    ?transition=<id>, that transition's form (what it asks for, with the fields' current values)
    and its submit. The record through `access` (404 when out of reach); the decision point says
    whether the user may; the action decides for real."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.schema = get_module(kwargs["module"], request.org).bind(request.org)
        self.record = get_record(request.user, self.schema, kwargs["pk"], "view")
        self.transition = None
        chosen = request.GET.get("transition") or request.POST.get("transition") or ""
        if chosen:
            if not str(chosen).isdigit() or len(str(chosen)) > 12:
                raise Http404
            self.transition = (Transition.objects.select_related("blueprint")
                               .filter(org=request.org, pk=int(chosen), blueprint__module=self.schema.key).first())
            if self.transition is None:
                raise Http404
            self.decision = decide(request.user, self.record, "transition", {"transition": self.transition},
                                   schema=self.schema)
            if not self.decision.offered:
                raise Http404
        elif request.method == "POST":
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def render_form(self, form, status=200):
        return render(self.request, "blueprints/perform.html", {
            "module": self.schema, "record": self.record, "transition": self.transition, "form": form,
            "decision": self.decision, "field_keys": getattr(form, "field_keys", []),
            "to_label": selectors.state_label(self.schema, self.transition.blueprint.field, self.transition.to_state),
        }, status=status)

    def form(self, data=None, files=None):
        return PerformForm(data, files, schema=self.schema, transition=self.transition, record=self.record,
                           actor=self.request.user)

    def get(self, request, module, pk):
        if self.transition is None:
            from .ui import record_panel

            return render(request, "blueprints/record.html", {
                "module": self.schema, "record": self.record,
                "panels": record_panel(request.user, self.schema, self.record)})
        return self.render_form(self.form(), status=200 if self.decision.allowed else 403)

    def post(self, request, module, pk):
        form = self.form(request.POST, request.FILES)
        if form.is_valid():
            try:
                actions.do_transition(self.record, self.transition, form.values(),
                                      note=form.cleaned_data.get("note", ""),
                                      attachment=form.cleaned_data.get("attachment"),
                                      checklist=form.cleaned_data.get("checklist") or [], actor=request.user,
                                      path="page")
                messages.success(request, _("“%(name)s” done.") % {"name": self.transition.name})
                return redirect(self.record.get_absolute_url())
            except RecordValidationError as exc:
                apply_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error(None, reason_of(exc))
        return self.render_form(form, status=400)

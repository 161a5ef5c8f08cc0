"""A module's approval processes, beside its other rules: list, create, change, delete. Pages
exist only for whoever may configure the module (org administrators; team managers for their
team modules): anyone else, and any other org's module or process, gets 404. The form's final
actions are two of automation's action editors (rows, one per action); every error of the action
is shown where it belongs (a field, a level, an action's row), and nothing is saved."""
from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from access.settings_forms import apply_errors
from automation.settings_views import AutomationSettingsView
from automation.workflow_forms import ActionEditor
from config.params import optional_id
from crm.criteria_forms import OPERATOR_LABELS, describe_criteria

from . import actions
from .forms import ProcessForm
from .models import ApprovalProcess


class ProcessView(AutomationSettingsView):
    def dispatch(self, request, *args, **kwargs):
        self.process = None
        if kwargs.get("approval_process_pk") is not None and getattr(request, "org", None) is not None:
            pk = optional_id(kwargs["approval_process_pk"])
            self.process = pk and ApprovalProcess.objects.filter(org=request.org, pk=pk).first()
            if not self.process:
                raise Http404
            kwargs["module"] = self.process.module
        return super().dispatch(request, *args, **kwargs)


class ProcessListView(ProcessView):
    def get(self, request, module):
        processes = list(ApprovalProcess.objects.filter(org=request.org, module=self.schema.key)
                         .prefetch_related("levels").order_by("position", "pk"))
        for process in processes:
            process.criteria_text = (describe_criteria(process.criteria, self.schema)
                                     if any((process.criteria or {}).values()) else "")
        return render(request, "approvals/processes.html", {"module": self.schema, "processes": processes,
                                                              "tab": "approvals"})


FINAL_ACTIONS = ("on_approve", "on_reject")
LEVEL_ERROR = re.compile(r"level(\d+)$")


class ProcessFormView(ProcessView):
    def render_form(self, form, editors, status=200):
        return render(self.request, "approvals/process_form.html", {
            "module": self.schema, "process": self.process, "form": form, "operators": OPERATOR_LABELS,
            "tab": "approvals", "on_approve": editors["on_approve"], "on_reject": editors["on_reject"]},
            status=status)

    def get(self, request, module=None, approval_process_pk=None):
        editors = {key: ActionEditor(key, self.schema, request.org, actions=getattr(self.process, key, None))
                   for key in FINAL_ACTIONS}
        return self.render_form(ProcessForm(initial=ProcessForm.initial_for(self.process), org=request.org,
                                            schema=self.schema), editors)

    def post(self, request, module=None, approval_process_pk=None):
        form = ProcessForm(request.POST, org=request.org, schema=self.schema)
        editors = {key: ActionEditor(key, self.schema, request.org, data=request.POST) for key in FINAL_ACTIONS}
        if form.is_valid() & all([editor.is_valid() for editor in editors.values()]):
            try:
                process = actions.do_save_approval_process(
                    request.org, self.schema.key, actor=request.user, process=self.process, **form.values(),
                    **{key: editor.actions() for key, editor in editors.items()})
                messages.success(request, _("Approval process “%(name)s” saved.") % {"name": process.name})
                return redirect(reverse("approvals:processes", args=[self.schema.key]))
            except ValidationError as exc:
                self.apply_errors(form, editors, exc)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
        return self.render_form(form, editors, status=422)

    @staticmethod
    def apply_errors(form: ProcessForm, editors: dict[str, ActionEditor], exc: ValidationError) -> None:
        """The action's errors where they belong: "on_approve.<n>.<setting>" under that action's
        row, "level<n>" under that level, the rest under their field (else above the form)."""
        rest = exc.message_dict
        for key, editor in editors.items():
            rest = editor.apply_errors(rest, key)
        others: dict[str, list[str]] = {}
        for key, errors in rest.items():
            level = LEVEL_ERROR.match(key)
            if level:
                form.level_errors.setdefault(int(level.group(1)), []).extend(errors)
            else:
                others[key] = errors
        if others:
            apply_errors(form, ValidationError(others))


class ProcessDeleteView(ProcessView):
    def post(self, request, module=None, approval_process_pk=None):
        try:
            actions.do_delete_approval_process(self.process, actor=request.user)
            messages.success(request, _("Approval process deleted."))
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return redirect(reverse("approvals:processes", args=[self.schema.key]))

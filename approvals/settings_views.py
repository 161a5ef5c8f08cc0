"""A module's approval processes, beside its other rules: list, create, change, delete. Pages
exist only for whoever may configure the module (org administrators; team managers for their
team modules): anyone else, and any other org's module or process, gets 404."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from access.settings_forms import apply_errors
from automation.settings_views import AutomationSettingsView
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


class ProcessFormView(ProcessView):
    def render_form(self, form, status=200):
        return render(self.request, "approvals/process_form.html", {
            "module": self.schema, "process": self.process, "form": form, "operators": OPERATOR_LABELS,
            "tab": "approvals"}, status=status)

    def get(self, request, module=None, approval_process_pk=None):
        return self.render_form(ProcessForm(initial=ProcessForm.initial_for(self.process), org=request.org,
                                            schema=self.schema))

    def post(self, request, module=None, approval_process_pk=None):
        form = ProcessForm(request.POST, org=request.org, schema=self.schema)
        if form.is_valid():
            try:
                process = actions.do_save_approval_process(request.org, self.schema.key, actor=request.user,
                                                           process=self.process, **form.values())
                messages.success(request, _("Approval process “%(name)s” saved.") % {"name": process.name})
                return redirect(reverse("approvals:processes", args=[self.schema.key]))
            except ValidationError as exc:
                apply_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
        return self.render_form(form, status=422)


class ProcessDeleteView(ProcessView):
    def post(self, request, module=None, approval_process_pk=None):
        try:
            actions.do_delete_approval_process(self.process, actor=request.user)
            messages.success(request, _("Approval process deleted."))
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return redirect(reverse("approvals:processes", args=[self.schema.key]))

"""Review pages: the review queue, one record's review (verdicts per field) and the verdict
endpoint (also used from My Work), and the settings tab of a module's review processes.

Records are resolved through `access.get_record` before anything else (another org's or an
invisible record is a 404 whatever the method); whether the user may review is the action's to
say (`reviews.actions`), and settings pages exist only for whoever may configure the module."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View

from access.settings_forms import apply_errors
from access.visibility import get_record
from automation.rule_views import back_url, nav_template
from automation.settings_views import configurable_schema
from config.params import optional_id
from crm.actions import ConflictError, RecordValidationError
from crm.criteria import criteria_problem
from crm.criteria_forms import OPERATOR_LABELS, describe_criteria
from crm.forms import FieldValueForm
from crm.modules import get_module

from . import actions
from .forms import ERROR_FIELDS, ReviewProcessForm
from .hooks import module_processes
from .models import PATHS, ReviewCase, ReviewProcess
from .selectors import case_for, my_submissions, open_cases_for_reviewer
from .work_sections import review_items

PAGE_SIZE = 25


class OrgView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and getattr(request, "org", None) is None:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class QueueView(OrgView):
    """The records awaiting the user's review, and the user's own records under review."""

    def get(self, request):
        page = Paginator(open_cases_for_reviewer(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
        mine = list(my_submissions(request.user)[:PAGE_SIZE])
        return render(request, "reviews/queue.html", {
            "page": page, "items": review_items(request.user, list(page.object_list)),
            "submissions": review_items(request.user, mine)})


class RecordReviewMixin(OrgView):
    """The record named in the URL, through access, and its case."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        self.schema = get_module(kwargs["module"], request.org).bind(request.org)
        self.record = get_record(request.user, self.schema, kwargs["pk"], "view")
        self.case = case_for(request.org.pk, self.schema.key, self.record.pk)
        return super().dispatch(request, *args, **kwargs)

    def may_review(self) -> bool:
        return (self.case is not None and self.case.status == ReviewCase.Status.OPEN
                and self.request.user.pk in self.case.reviewer_ids)


class RecordReviewView(RecordReviewMixin):
    """One record's review: each field's value and verdict; for a reviewer, the controls."""

    def get(self, request, module, pk):
        return self.page()

    def page(self, status: int = 200):
        items = review_items(self.request.user, [self.case]) if self.case is not None else []
        corrections = {}
        if self.may_review():
            for key in self.case.fields:
                if self.schema.has_field(key) and key not in self.case.verdicts:
                    corrections[key] = FieldValueForm(schema=self.schema, actor=self.request.user, record=self.record,
                                                      spec=self.schema.field(key))
        if items:
            for field in items[0]["fields"]:
                field["form"] = corrections.get(field["key"])
        return render(self.request, "reviews/record.html", {
            "module": self.schema, "record": self.record, "case": self.case, "item": items[0] if items else None,
            "may_review": self.may_review(),
            "record_url": reverse("crm:detail", args=[self.schema.key, self.record.pk])}, status=status)


class VerdictView(RecordReviewMixin):
    """POST field + verdict (reviewed, corrected with the field's value and the record's version,
    rejected with a reason), or verdict=approve for every field still to review. Back to `next`."""

    http_method_names = ["post"]

    def post(self, request, module, pk):
        if self.case is None:
            messages.error(request, _("This record is not under review."))
            return self.back()
        verdict = request.POST.get("verdict", "")
        key = request.POST.get("field", "")
        try:
            if verdict == "approve":
                case = actions.do_approve_review(self.case, actor=request.user)
            elif verdict == actions.CORRECTED:
                case = self.correct(key)
                if case is None:
                    return self.back()
            else:
                case = actions.do_review_field(self.case, key, verdict, actor=request.user,
                                               reason=request.POST.get("reason", ""))
        except (ValidationError, RecordValidationError) as exc:
            messages.error(request, " ".join(exc.messages))
            return self.back()
        except ConflictError as exc:
            messages.error(request, str(exc))
            return self.back()
        except PermissionDenied as exc:
            messages.error(request, str(exc.args[0]) if exc.args else _("You may not do this."))
            return self.back()
        if case.status == ReviewCase.Status.APPROVED:
            messages.success(request, _("Review of “%(record)s” approved.") % {"record": self.record})
        elif case.status == ReviewCase.Status.REJECTED:
            messages.warning(request, _("“%(record)s” rejected; its submitter was told why.") % {"record": self.record})
        else:
            messages.success(request, _("Verdict saved."))
        return self.back()

    def correct(self, key: str):
        if not self.schema.has_field(key) or self.case is None or key not in self.case.fields:
            raise ValidationError({"field": [_("“%(field)s” is not reviewed by this process.") % {"field": key}]})
        form = FieldValueForm(self.request.POST, schema=self.schema, actor=self.request.user,
                              record=self.record, spec=self.schema.field(key))
        if not form.is_valid():
            label = self.schema.field(key).label
            problems = [m for errors in form.errors.values() for m in errors]
            messages.error(self.request, _("“%(field)s” was not corrected: %(reason)s")
                           % {"field": label, "reason": " ".join(problems)})
            return None
        return actions.do_review_field(self.case, key, actions.CORRECTED, actor=self.request.user,
                                       value=form.changes()[key], version=form.cleaned_data["version"])

    def back(self):
        target = self.request.POST.get("next", "")
        if (target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={self.request.get_host()})):
            return HttpResponseRedirect(target)
        return redirect("reviews:record", self.schema.key, self.record.pk)


# --- settings -----------------------------------------------------------------------------------

class ProcessSettingsView(OrgView):
    """The module in the URL, if the user may configure it (else 404); `process` (GET or POST)
    names one of its processes, by org and id."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "org", None) is None:
            raise Http404
        self.schema = configurable_schema(request, kwargs["module"])
        self.process = None
        raw = request.POST.get("process") if request.method == "POST" else request.GET.get("process")
        if raw not in (None, ""):
            process_id = optional_id(raw)
            self.process = ReviewProcess.objects.filter(org=request.org, module=self.schema.key,
                                                        pk=process_id).first() if process_id else None
            if self.process is None:
                raise Http404
        return super().dispatch(request, *args, **kwargs)

    def back(self):
        return redirect("reviews:processes", self.schema.key)


class ProcessListView(ProcessSettingsView):
    def get(self, request, module):
        schema = self.schema
        processes = module_processes(request.org.pk, schema.key)
        for process in processes:
            process.problem = criteria_problem(process.criteria, schema)
            process.described = ("" if process.problem or not process.criteria
                                 else describe_criteria(process.criteria, schema))
            process.field_labels = [schema.field(k).label if schema.has_field(k) else k for k in process.fields]
            process.path_labels = [PATHS.get(p, p) for p in process.paths]
        return render(request, "reviews/processes.html", {
            "module": schema, "processes": processes, "tab": "reviews", "back_url": back_url(schema),
            "nav_template": nav_template()})


class ProcessFormView(ProcessSettingsView):
    def render_form(self, form, status=200):
        return render(self.request, "reviews/process_form.html", {
            "module": self.schema, "process": self.process, "form": form, "operators": OPERATOR_LABELS,
            "tab": "reviews", "nav_template": nav_template()}, status=status)

    def get(self, request, module):
        return self.render_form(ReviewProcessForm(initial=ReviewProcessForm.initial_for(self.process),
                                                  schema=self.schema))

    def post(self, request, module):
        form = ReviewProcessForm(request.POST, schema=self.schema)
        if form.is_valid():
            try:
                if self.process is None:
                    process = actions.do_create_review_process(request.org, self.schema.key, form.values(),
                                                               actor=request.user)
                else:
                    process = actions.do_update_review_process(self.process, form.values(), actor=request.user)
                messages.success(request, _("Review process “%(name)s” saved.") % {"name": process.name})
                return self.back()
            except ValidationError as exc:
                apply_errors(form, exc, ERROR_FIELDS)
            except PermissionDenied:
                raise Http404
        return self.render_form(form, status=400)


class ProcessActiveView(ProcessSettingsView):
    """POST process + active=1 or 0."""

    http_method_names = ["post"]

    def post(self, request, module):
        if self.process is None:
            raise Http404
        active = request.POST.get("active") == "1"
        actions.do_set_review_process_active(self.process, active, actor=request.user)
        message = _("Review process “%(name)s” switched on.") if active else _("Review process “%(name)s” switched off.")
        messages.success(request, message % {"name": self.process.name})
        return self.back()


class ProcessDeleteView(ProcessSettingsView):
    http_method_names = ["post"]

    def post(self, request, module):
        if self.process is None:
            raise Http404
        try:
            actions.do_delete_review_process(self.process, actor=request.user)
            messages.success(request, _("Review process “%(name)s” deleted.") % {"name": self.process.name})
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        return self.back()

"""Import pages: upload and history, mapping, the dry run's preview, the progress and report,
the error file, undo. Whether the user may import into the module is the decision point's answer
(`decide_module(..., "import")`); the actions check it again for real."""
from __future__ import annotations

import csv
import re
from typing import Any, Iterator

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views import View

from access.decisions import decide_module, require
from config.params import BIGINT_MAX, bounded_int
from crm.modules import get_module

from . import actions, mapping, placement, selectors, tasks
from .forms import MappingForm, UploadForm
from .models import ImportJob

HISTORY_ROWS = 50
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER_LIKE = re.compile(r"[+-]?[\d\s().,-]+")  # a phone or a negative number stays as it is


class ImportView(LoginRequiredMixin, View):
    """Resolves the module (from the URL, or from the job for a job's pages: 404 unless the job
    is the user's, or the user administers its org); refuses users who may not import into the
    module."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.job = selectors.job_for(request.user, kwargs["import_pk"]) if "import_pk" in kwargs else None
        key = self.job.module if self.job is not None else kwargs["module"]
        self.schema = get_module(key, request.org).bind(request.org)
        require(decide_module(request.user, self.schema, "import"))
        return super().dispatch(request, *args, **kwargs)

    def context(self, **extra: Any) -> dict[str, Any]:
        return {"module": self.schema, "job": self.job, **extra}


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc.args[0]) if exc.args else _("You may not do this.")


class HistoryView(ImportView):
    """The module's imports (who, when, file, counts) and the upload form."""

    def get(self, request, module, form=None, status=200):
        jobs = selectors.jobs_for(request.user, self.schema.key).order_by("-created_at", "-pk")[:HISTORY_ROWS]
        return render(request, "imports/history.html", self.context(form=form or UploadForm(), jobs=jobs),
                      status=status)

    def post(self, request, module):
        form = UploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.get(request, module, form=form, status=400)
        try:
            job = actions.do_upload_import(self.schema, form.cleaned_data["file"],
                                           encoding=form.cleaned_data["encoding"], actor=request.user)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.get(request, module, form=form, status=400)
        return redirect("imports:mapping", job.pk)


class MappingView(ImportView):
    def form(self, data=None) -> MappingForm:
        return MappingForm(data, job=self.job, choices=mapping.targets(self.schema, self.request.user),
                           places=placement.choices(self.schema, self.request.user))

    def render_form(self, form, status=200):
        return render(self.request, "imports/mapping.html", self.context(
            form=form, templates=selectors.templates_for(self.request.user, self.schema.key)), status=status)

    def get(self, request, import_pk):
        if self.job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED):
            return redirect("imports:job", self.job.pk)
        return self.render_form(self.form())

    def post(self, request, import_pk):
        try:
            if request.POST.get("template"):
                template = selectors.templates_for(request.user, self.schema.key).filter(
                    pk=bounded_int(request.POST["template"], default=0, low=0, high=BIGINT_MAX)).first()
                if template is None:
                    raise PermissionDenied(_("Template not found."))
                actions.do_apply_template(self.job, template, actor=request.user)
                messages.success(request, _("Columns mapped by the template “%(name)s”.") % {"name": template.name})
                return redirect("imports:mapping", self.job.pk)
            form = self.form(request.POST)
            if not form.is_valid():
                return self.render_form(form, status=400)
            data = form.cleaned_data
            actions.do_set_mapping(self.job, form.chosen(), duplicates=data["duplicates"],
                                   match_fields=data["match_fields"], day_first=data["day_first"] == "1",
                                   all_or_nothing=data["all_or_nothing"], place=data.get("place") or "",
                                   actor=request.user)
            if data["template_name"]:
                actions.do_save_template(self.job, data["template_name"], actor=request.user)
        except ValidationError as exc:
            form = self.form(request.POST)
            form.is_valid()
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.render_form(form, status=400)
        except PermissionDenied as exc:
            messages.error(request, _reason(exc))
            return redirect("imports:job", self.job.pk)
        tasks.check_import.delay(self.job.pk)
        return redirect("imports:job", self.job.pk)


class JobView(ImportView):
    """The dry run's preview to confirm, then the progress and the report. HTMX polls the
    progress part while the dry run or the import is going."""

    def get(self, request, import_pk):
        job = self.job
        context = self.context(
            progress=tasks.progress_of(job),
            percent=_percent(job),
            working=job.status in (ImportJob.Status.CHECKING, ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
            or (job.status == ImportJob.Status.UNDOING and not job.error),
            undo_refusal=actions.undo_refusal(job, request.user),
            own=job.created_by_id == request.user.pk,
            failures=selectors.failures_of(job).exists() if job.finished else False,
        )
        if request.headers.get("HX-Request"):
            return render(request, "imports/includes/progress.html", context)
        return render(request, "imports/job.html", context)


def _percent(job: ImportJob) -> int:
    if job.status in (ImportJob.Status.CHECKED, ImportJob.Status.DONE, ImportJob.Status.UNDONE):
        return 100
    if job.status == ImportJob.Status.UNDOING:
        return min(100, int(100 * job.undo_done / job.undo_total)) if job.undo_total else 0
    return min(100, int(100 * tasks.progress_of(job) / job.total_rows)) if job.total_rows else 0


class ConfirmView(ImportView):
    def post(self, request, import_pk):
        try:
            actions.do_confirm_import(self.job, actor=request.user)
        except PermissionDenied as exc:
            messages.error(request, _reason(exc))
            return redirect("imports:job", self.job.pk)
        tasks.run_import.delay(self.job.pk)
        return redirect("imports:job", self.job.pk)


class UndoView(ImportView):
    """A small undo runs here and now; a large one (or one that stopped) goes on in a job, and the
    page shows its progress."""

    def post(self, request, import_pk):
        try:
            job = actions.do_start_undo(self.job, actor=request.user)
        except PermissionDenied as exc:
            messages.error(request, _reason(exc))
            return redirect("imports:job", self.job.pk)
        if job.undo_total - job.undo_done > actions.UNDO_IN_REQUEST:
            tasks.undo_import.delay(job.pk)
            return redirect("imports:job", job.pk)
        try:
            job = actions.do_continue_undo(job, actor=request.user)
        except Exception:
            # Not left "being undone" with nobody at it: undoing again goes on after what committed.
            job.refresh_from_db()
            actions.do_fail_undo(job, _("The undo stopped on an unexpected error; undo again to go on with it."))
            raise
        report = job.undo_report
        messages.success(request, _("Import undone: %(deleted)d records deleted, %(restored)d restored, "
                                    "%(refused)d left as they are.")
                         % {"deleted": report["deleted"], "restored": report["restored"],
                            "refused": report["refused_count"]})
        return redirect("imports:job", job.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _escape(value: str) -> str:
    """A cell a spreadsheet program would run as a formula is written with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER_LIKE.fullmatch(value):
        return f"'{value}"
    return value


class ErrorFileView(ImportView):
    """The rows that failed, as they were read, with a "reason" column: fix them and import again."""

    def get(self, request, import_pk):
        job = self.job
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield "\ufeff"  # a BOM, so spreadsheet programs read the UTF-8 (Chinese included) right
            yield writer.writerow([_escape(h) for h in job.headers] + [_("reason")])
            width = len(job.headers)
            for failure in selectors.failures_of(job).iterator(chunk_size=1000):
                cells = [_escape(str(c)) for c in failure.cells]
                cells = cells[:width] + [""] * (width - len(cells)) + [failure.reason] + cells[width:]
                yield writer.writerow(cells)

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        stem = job.file_name.rsplit(".", 1)[0]
        response["Content-Disposition"] = content_disposition_header(True, f"{stem}-errors.csv")
        add_never_cache_headers(response)
        return response

"""Export of a module's list (org modules and team modules alike) to CSV or XLSX.

An export is a POST (it writes the access log, and a POST needs the CSRF token): the list page
posts to this URL with its own query string (`?q=...&stage=won&sort=-amount`), read as the
list's search, filters and order; its chosen columns come from the query or, as on the list page,
from the session. A list of up to settings.EXPORT_DIRECT_MAX_ROWS rows downloads at once; a
longer one is written by a Celery job, whose page shows its progress and then a download link
for its owner alone, until the link expires."""
from __future__ import annotations

import tempfile

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views import View

from access.share_actions import do_log_access
from config.middleware import refuse
from crm.modules import get_module
from crm.views import ModuleView

from . import actions, selectors
from .formats import FORMATS, content_type, csv_chunks, extension, write_xlsx
from .resources import export_rows


def export_url(schema) -> str:
    """Where a list page's export form posts (registered with crm's list page)."""
    return reverse("exports:export", args=[schema.key])


def direct_limit() -> int:
    """Lists longer than this are exported by a job (settings.EXPORT_DIRECT_MAX_ROWS)."""
    return max(0, int(getattr(settings, "EXPORT_DIRECT_MAX_ROWS", 5000)))


class ExportView(ModuleView):
    """POST /m/<module>/export/?<the list's query string>, format=csv|xlsx in the body."""

    http_method_names = ["post"]
    module_action = "export"

    def post(self, request, module):
        fmt = request.POST.get("format") or "csv"
        if fmt not in FORMATS:
            return refuse(request, _("Unknown export format “%(format)s”: choose CSV or XLSX.") % {"format": fmt[:20]})
        user, schema = request.user, self.schema
        keys = selectors.chosen_keys(request.GET, request.session, schema)
        fields = selectors.export_fields(user, schema, keys)
        queryset, asked = selectors.export_queryset(user, schema, fields, request.GET)
        language = translation.get_language() or "en"
        large, count = selectors.has_more_than(queryset, direct_limit())
        if large:
            job = actions.do_start_export_job(schema, fmt=fmt, query=dict(request.GET.lists()), columns=keys,
                                              language=language, actor=user)
            return redirect("exports:job", export_pk=job.pk)
        # Logged before the first byte leaves, so an interrupted download is on record too.
        do_log_access(request.org, schema.key, action="export", count=count, filters=asked, actor=user)
        filename = f"{schema.key}-{timezone.localdate():%Y%m%d}.{extension(fmt)}"
        rows = export_rows(schema, fields, queryset, language=language)
        if fmt == "csv":
            response = StreamingHttpResponse(csv_chunks(rows), content_type=content_type(fmt))
            response["Content-Disposition"] = content_disposition_header(True, filename)
        else:
            # openpyxl's write-only workbook streams its rows to disk; the file is sent from there.
            content = tempfile.TemporaryFile()
            write_xlsx(rows, content, title=str(schema.label_plural))
            content.seek(0)
            response = FileResponse(content, as_attachment=True, filename=filename, content_type=content_type(fmt))
        add_never_cache_headers(response)
        return response


class ExportJobMixin(LoginRequiredMixin):
    """The job named in the URL, only for the member who started it (404 for anyone else)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.job = selectors.job_of(request.user, kwargs["export_pk"])
        return super().dispatch(request, *args, **kwargs)

    def expired_page(self):
        return render(self.request, "exports/expired.html", {"job": self.job}, status=410)


class ExportJobView(ExportJobMixin, View):
    """A job's page: its progress (polled by HTMX until it finishes), then its download link."""

    def get(self, request, export_pk):
        job = self.job
        if job.expired:
            return self.expired_page()
        context = {"job": job}
        if request.htmx:
            return render(request, "exports/includes/job_progress.html", context)
        return render(request, "exports/job.html", context)


class ExportDownloadView(ExportJobMixin, View):
    """The job's file, as an attachment, while its link lasts and the owner may still export
    the module."""

    def get(self, request, export_pk):
        job = self.job
        if job.expired:
            return self.expired_page()
        if job.status != job.Status.DONE or not job.file:
            return redirect("exports:job", export_pk=job.pk)
        schema = get_module(job.module, request.org).bind(request.org)
        actions.may_export(request.user, schema)
        response = FileResponse(job.file.open("rb"), as_attachment=True, filename=job.filename,
                                content_type=content_type(job.format))
        add_never_cache_headers(response)
        return response

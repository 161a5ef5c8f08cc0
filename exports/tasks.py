"""Export jobs run by Celery workers, and the periodic removal of expired export files."""
from __future__ import annotations

import tempfile

from celery import shared_task
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from access import seal
from access.visibility import bind_org, current_membership
from crm.modules import get_module

from . import actions, selectors
from .formats import WRITERS, extension
from .models import ExportJob
from .resources import export_rows


def _query(stored: dict[str, list[str]]) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, values in stored.items():
        query.setlist(key, [str(v) for v in values])
    return query


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def run_export_job(job_id: int) -> int | None:
    """Write the job's export as its owner sees the list now (permissions checked again), in
    chunks, recording progress on the job row. Idempotent: a finished job is left alone, a
    job a dead worker left running starts over."""
    job = ExportJob.objects.select_related("org", "user").filter(pk=job_id).first()
    if job is None or job.finished:
        return None
    user = bind_org(job.user, job.org)
    try:
        if current_membership(user) is None:
            raise PermissionDenied
        with translation.override(job.language):
            schema = get_module(job.module, job.org).bind(job.org)
            actions.may_export(user, schema)
            fields = selectors.export_fields(user, schema, job.columns)
            queryset, asked = selectors.export_queryset(user, schema, fields, _query(job.query))
            label = str(schema.label_plural)
        actions.do_begin_export_job(job, total=queryset.order_by().count())
        with tempfile.TemporaryFile() as content:
            rows = export_rows(schema, fields, queryset, language=job.language,
                               progress=lambda done: actions.do_record_export_progress(job, done))
            counter = _Counter(rows)
            WRITERS[job.format](counter, content, title=label)
            content.seek(0)
            filename = f"{schema.key}-{timezone.localdate():%Y%m%d}.{extension(job.format)}"
            actions.do_finish_export_job(job, content, filename=filename, count=counter.rows, filters=asked,
                                         actor=user)
        return counter.rows
    except (PermissionDenied, Http404):
        with translation.override(job.language):
            actions.do_fail_export_job(job, _("You may no longer export this list."))
        return None
    except Exception as exc:  # the page shows that the job stopped
        actions.do_fail_export_job(job, str(exc) or type(exc).__name__)
        raise


class _Counter:
    """The rows passed through, counted (the header is not a row)."""

    def __init__(self, rows) -> None:
        self._rows = rows
        self.rows = -1

    def __iter__(self):
        for row in self._rows:
            self.rows += 1
            yield row


@shared_task(acks_late=True)
def purge_expired_exports() -> int:
    """Delete the files of exports whose download link has expired (run by beat)."""
    return sum(actions.do_expire_exports() for _org in seal.each_org())


actions.register_job_runner(run_export_job.delay)

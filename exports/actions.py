"""Every write of the exports app: export jobs started, their progress, their file, and their
expiry. The rows of an export are read as the person who asked (exports.selectors); every export
is written to the access log (`access.share_actions.do_log_access`)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, Callable

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from access.decisions import decide_module, require
from access.share_actions import do_log_access

from .models import ExportJob

_job_runners: list[Callable[[int], Any]] = []


def register_job_runner(run: Callable[[int], Any]) -> None:
    if run not in _job_runners:
        _job_runners.append(run)


def link_lifetime() -> timedelta:
    """How long a finished export's download link works (settings.EXPORT_LINK_HOURS)."""
    return timedelta(hours=max(1, int(getattr(settings, "EXPORT_LINK_HOURS", 24))))


def may_export(actor: Any, schema: Any) -> None:
    """The decision point's answer for exporting the module's list (404 where the module is not
    there for the actor, 403 with the reason where it is but export is refused)."""
    require(decide_module(actor, schema, "export"))


@transaction.atomic
def do_start_export_job(schema: Any, *, fmt: str, query: dict[str, list[str]], columns: list[str],
                        language: str, actor: Any) -> ExportJob:
    """Queue the export of a module's list (a Celery job with progress, see tasks); the file is
    the actor's alone."""
    may_export(actor, schema)
    if fmt not in ExportJob.Format.values:
        raise ValueError(fmt)
    job = ExportJob.objects.create(org=actor.org, user=actor, module=schema.key, module_label=str(schema.label_plural)[:200],
                                   format=fmt, query=query, columns=columns, language=language[:20])
    transaction.on_commit(lambda: [run(job.pk) for run in _job_runners])
    return job


def do_begin_export_job(job: ExportJob, *, total: int) -> None:
    """The job runs (again, if a worker died before it finished: it starts over)."""
    job.status, job.total, job.processed, job.error = ExportJob.Status.RUNNING, total, 0, ""
    job.save(update_fields=["status", "total", "processed", "error"])


def do_record_export_progress(job: ExportJob, processed: int) -> None:
    ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(processed=processed)


@transaction.atomic
def do_finish_export_job(job: ExportJob, content: IO[bytes], *, filename: str, count: int,
                         filters: dict[str, Any], actor: Any) -> ExportJob:
    """Keep the written file for its owner until the link expires; the export goes on the access
    log in the same transaction, before the file can be downloaded."""
    do_log_access(job.org, job.module, action="export", count=count, filters=filters, actor=actor)
    # Stored under a name nobody can guess; downloaded under the readable one.
    job.file.save(f"{uuid.uuid4().hex}{Path(filename).suffix}", File(content), save=False)
    now = timezone.now()
    job.status, job.processed, job.filename = ExportJob.Status.DONE, count, filename[:200]
    job.finished_at, job.expires_at = now, now + link_lifetime()
    job.save(update_fields=["file", "status", "processed", "filename", "finished_at", "expires_at"])
    return job


def do_fail_export_job(job: ExportJob, error: str) -> None:
    ExportJob.objects.filter(pk=job.pk).exclude(status=ExportJob.Status.DONE).update(
        status=ExportJob.Status.FAILED, error=error[:2000], finished_at=timezone.now())


# How long an expired or failed job is kept, so its page can say what became of it.
KEEP_JOBS = timedelta(days=30)


def do_expire_exports(now: Any = None) -> int:
    """Delete the files of exports whose link has expired (the jobs stay a while, to say so);
    returns how many. Run by beat (exports.tasks.purge_expired_exports); safe to run twice."""
    now = now or timezone.now()
    expired = 0
    for job in ExportJob.objects.filter(status=ExportJob.Status.DONE, expires_at__lte=now).order_by("pk"):
        if job.file:
            job.file.delete(save=False)
        job.status = ExportJob.Status.EXPIRED
        job.save(update_fields=["file", "status"])
        expired += 1
    ExportJob.objects.filter(status__in=[ExportJob.Status.EXPIRED, ExportJob.Status.FAILED],
                             created_at__lte=now - KEEP_JOBS).delete()
    return expired


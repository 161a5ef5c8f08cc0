"""The import's background work: the dry run, the run and a large undo, each a Celery task
taking the job's id. All are safe to run twice: the dry run writes nothing but its preview, and
the run and the undo resume after the last batch they committed. Progress of the dry run and
the run (rows gone through) is kept in the cache, where the page's progress bar reads it while
the rows' transaction is still open; an undo's is its committed count."""
from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext as _

from access.models import Membership
from access.visibility import bind_org

from . import actions, engine
from .models import ImportJob

logger = logging.getLogger(__name__)


def progress_key(job_id: int) -> str:
    return f"imports:progress:{job_id}"


def progress_of(job: ImportJob) -> int:
    """Rows gone through by the running dry run or run."""
    seen = cache.get(progress_key(job.pk))
    return max(int(seen or 0), job.rows_done if job.status == ImportJob.Status.RUNNING else 0)


def _reporter(job_id: int):
    def report(done: int) -> None:
        cache.set(progress_key(job_id), done, timeout=24 * 3600)

    return report


def _actor(job: ImportJob, user_id: int | None = None):
    """The person the job works as (the uploader, unless `user_id` says who), bound to the org."""
    membership = (Membership.objects.select_related("user", "org", "profile", "org_role")
                  .filter(org_id=job.org_id, user_id=user_id or job.created_by_id, is_active=True,
                          user__is_active=True).first())
    if membership is None:
        return None
    return bind_org(membership.user, membership.org, membership)


@shared_task(acks_late=True)
def check_import(job_id: int) -> None:
    """The dry run: the preview of what each row would do."""
    job = ImportJob.objects.select_related("org").filter(pk=job_id).first()
    if job is None or job.status != ImportJob.Status.CHECKING:
        return
    actor = _actor(job)
    if actor is None:
        actions.do_fail_job(job, _("The person who uploaded this file is no longer an active member."))
        return
    cache.set(progress_key(job.pk), 0, timeout=24 * 3600)
    with translation.override(actor.language or "en"):
        try:
            tally = engine.dry_run(job, actor, _reporter(job.pk))
        except engine.ImportStopped as stopped:
            actions.do_fail_job(job, str(stopped))
            return
        except Exception:
            logger.exception("dry run of import %s stopped", job_id)
            actions.do_fail_job(job, _("The dry run stopped on an unexpected error."))
            raise
        job.refresh_from_db()
        if job.status == ImportJob.Status.CHECKING:  # not re-mapped meanwhile
            actions.do_finish_check(job, tally.preview, tally.counts())


@shared_task(acks_late=True)
def run_import(job_id: int) -> None:
    """The import itself, batch by batch, through the record actions."""
    job = actions.do_begin_import(job_id)
    if job is None:
        return
    actor = _actor(job)
    if actor is None:
        actions.do_fail_job(job, _("The person who uploaded this file is no longer an active member."))
        return
    with translation.override(actor.language or "en"):
        try:
            engine.real_run(job, actor, _reporter(job.pk))
        except engine.ImportStopped as stopped:
            job.refresh_from_db()
            actions.do_fail_job(job, str(stopped))
            return
        except Exception:
            logger.exception("import %s stopped", job_id)
            job.refresh_from_db()
            actions.do_fail_job(job, _("The import stopped on an unexpected error; the rows before it were imported."))
            raise
        actions.do_finish_import(job)


@shared_task(acks_late=True)
def undo_import(job_id: int) -> None:
    """A large undo, batch by batch, as the person who asked for it (resumes after the last
    committed batch when run again)."""
    job = ImportJob.objects.select_related("org").filter(pk=job_id).first()
    if job is None or job.status != ImportJob.Status.UNDOING or job.error:
        return
    actor = _actor(job, job.undone_by_id)
    if actor is None:
        actions.do_fail_undo(job, _("The person who asked for the undo is no longer an active member."))
        return
    with translation.override(actor.language or "en"):
        try:
            actions.do_continue_undo(job, actor=actor)
        except Exception:
            logger.exception("undo of import %s stopped", job_id)
            job.refresh_from_db()
            actions.do_fail_undo(job, _("The undo stopped on an unexpected error; undo again to go on with it."))
            raise

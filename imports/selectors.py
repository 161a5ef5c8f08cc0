"""Reading imports: whose jobs a person sees, the module's templates, the error file's rows."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from access.visibility import current_membership, is_org_admin
from config.params import BIGINT_MAX

from .models import ImportFailure, ImportJob, ImportTemplate


def jobs_for(user: Any, module_key: str | None = None) -> QuerySet:
    """The imports (of a module) this person may see: their own; an administrator sees
    everyone's. Always within the person's current organisation."""
    if current_membership(user) is None:
        return ImportJob.objects.none()
    jobs = ImportJob.objects.filter(org=user.org)
    if module_key is not None:
        jobs = jobs.filter(module=module_key)
    if not is_org_admin(user):
        jobs = jobs.filter(created_by=user)
    return jobs.select_related("created_by", "undone_by")


def job_for(user: Any, pk: int) -> ImportJob:
    """One job, or 404 whether it is missing, in another organisation or someone else's."""
    job = jobs_for(user).filter(pk=pk).first() if 0 < pk <= BIGINT_MAX else None
    if job is None:
        raise Http404
    return job


def templates_for(user: Any, module_key: str) -> QuerySet:
    if current_membership(user) is None:
        return ImportTemplate.objects.none()
    return ImportTemplate.objects.filter(org=user.org, module=module_key).order_by("name", "pk")


def failures_of(job: ImportJob) -> QuerySet:
    return ImportFailure.objects.filter(org_id=job.org_id, job=job).order_by("row", "pk")

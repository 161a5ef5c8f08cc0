"""Read helpers for locking pages: configuration rows looked up by org and id, job progress."""
from __future__ import annotations

from typing import Any

from django.http import Http404

from .models import FieldLock, LockConfig, LockJob, LockRule


def lock_config(org: Any, module_key: str) -> LockConfig | None:
    return LockConfig.objects.filter(org=org, module=module_key).first()


def lock_rules(org: Any, module_key: str):
    return LockRule.objects.filter(org=org, module=module_key).order_by("position", "pk")


def field_locks(org: Any, module_key: str):
    return FieldLock.objects.filter(org=org, module=module_key).order_by("pk")


def get_lock_rule(org: Any, pk: Any) -> LockRule:
    """A rule of this org, or 404 (another org's id looks like a missing one)."""
    rule = LockRule.objects.filter(org=org, pk=_int(pk)).first()
    if rule is None:
        raise Http404
    return rule


def get_field_lock(org: Any, pk: Any) -> FieldLock:
    field_lock = FieldLock.objects.filter(org=org, pk=_int(pk)).first()
    if field_lock is None:
        raise Http404
    return field_lock


def job_progress(org: Any, job_id: Any) -> dict[str, Any]:
    """{status, total, processed, percent, locked, unlocked, error} of an apply job, or 404."""
    job = LockJob.objects.filter(org=org, pk=_int(job_id)).first()
    if job is None:
        raise Http404
    return {"id": job.pk, "rule": job.rule_name, "status": job.status, "total": job.total,
            "processed": job.processed, "percent": job.percent, "locked": job.locked, "unlocked": job.unlocked,
            "error": job.error, "finished_at": job.finished_at}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404

"""The execution log of rules: claim a run once, record what each action did, finish it."""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .run_models import RuleRun


def claim(*, org_id: int, rule_kind: str, rule_id: int, key: str, module: str, record_id: int | None,
          trigger: str) -> RuleRun | None:
    """The run for `key`, new or left unfinished by a dead worker; None when it is done already
    (a retried task, a re-queued event), so the caller does nothing twice. Call it inside the
    transaction that does the run's work, so the run and its work commit together."""
    run = (RuleRun.objects.select_for_update()
           .filter(org_id=org_id, rule_kind=rule_kind, rule_id=rule_id, key=key).first())
    if run is None:
        try:
            with transaction.atomic():
                return RuleRun.objects.create(org_id=org_id, rule_kind=rule_kind, rule_id=rule_id, key=key,
                                              module=module, record_id=record_id, trigger=trigger)
        except IntegrityError:  # another worker claimed it this instant
            return None
    if run.status in (RuleRun.Status.DONE, RuleRun.Status.SKIPPED):
        return None
    run.attempts += 1
    run.save(update_fields=["attempts"])
    return run


def finish(run: RuleRun, status: str, actions: list[dict[str, Any]] | None = None, error: str = "") -> RuleRun:
    run.status = status
    run.actions = actions or []
    run.error = error[:4000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "actions", "error", "finished_at"])
    return run

"""A transition's after-actions: run after the transition commits, from a Celery task, through
automation's workflow engine (its action kinds, one savepoint per action, the run log, and its
retries with backoff), so a failing action never undoes the transition and is tried again like a
workflow rule's action, then listed with the failed runs.

The run is claimed inside the transition's transaction (kind "blueprint", keyed by record and
timeline entry), so it exists exactly when the transition does; the task only does its actions.
The actions act as the person who published the blueprint (as a rule acts as its author), or as
the performer when that person is gone."""
from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from ..models import Transition

logger = logging.getLogger(__name__)
RUN_KIND = "blueprint"
TRIGGER = "transition"


def transition_path(transition: Transition) -> str:
    return f"blueprint:{transition.pk}"


def claim_run(transition: Transition, schema: Any, record: Any, *, key: str) -> None:
    """Inside the transition's transaction: its run, queued for after the commit."""
    if not transition.after:
        return
    from automation import runs

    run = runs.claim(org_id=schema.org.pk, rule_kind=RUN_KIND, rule_id=transition.pk, key=key, module=schema.key,
                     record_id=record.pk, trigger=TRIGGER)
    if run is not None:
        run_id = run.pk
        transaction.on_commit(lambda: _enqueue(run_id))


TASK = "blueprints.tasks.run_after_actions"


def _enqueue(run_id: int) -> None:
    from celery import current_app

    try:  # by name: the task module imports this one
        current_app.tasks[TASK].delay(run_id)
    except Exception:  # the broker is down: the run stays "running" in the log, the transition is done
        logger.exception("Could not queue the after-actions of blueprint run %s", run_id)


def _performer_id(run: Any) -> int | None:
    """Who performed the transition: the actor of its timeline entry (the run's key names it)."""
    from crm.models import TimelineEntry

    entry_id = (run.key or "").rpartition(":")[2]
    if not entry_id.isdigit():
        return None
    return TimelineEntry.objects.filter(org_id=run.org_id, pk=int(entry_id)).values_list("actor_id", flat=True).first()


def target(run: Any) -> Any:
    """The transition, module, record and actor of a run (automation.workflow.RetryTarget), or None
    when the transition or the record is gone. Raises RuleActorError when nobody may act."""
    from access.visibility import visible
    from automation.runas import RuleActorError, rule_actor
    from automation.workflow import RetryTarget
    from crm.modules import get_module

    transition = Transition.objects.select_related("blueprint", "blueprint__org").filter(
        org_id=run.org_id, pk=run.rule_id).first()
    if transition is None:
        return None
    org = transition.blueprint.org
    try:
        actor = rule_actor(org, transition.blueprint.published_by_id)
    except RuleActorError:
        actor = rule_actor(org, _performer_id(run))
    try:
        schema = get_module(run.module, org).bind(org)
    except Exception:  # the module was retired or removed
        return None
    record = visible(actor, schema, "view", listing=False).filter(pk=run.record_id).first()
    if record is None:
        return None
    return RetryTarget(transition, schema, record, actor, transition_path(transition))


def do_run_after_actions(run_id: int) -> Any:
    """Do the after-actions of a claimed run, in stage order, each in a savepoint; a failed run is
    retried by automation (`retry_workflow_run`) with backoff. Idempotent: a run done already,
    or an action done already, is not done again."""
    from automation import runs
    from automation.run_models import RuleRun
    from automation.runas import RuleActorError
    from automation.workflow import do_one, finish_run
    from automation.workflow_actions import in_stage_order
    from django.utils.translation import gettext as _

    with transaction.atomic():
        run = (RuleRun.objects.select_for_update()
               .filter(pk=run_id, rule_kind=RUN_KIND, status=RuleRun.Status.RUNNING).first())
        if run is None:  # done, failed (then retries take over) or gone
            return None
        try:
            found = target(run)
        except RuleActorError as exc:
            return runs.finish(run, RuleRun.Status.FAILED, [], str(exc))
        if found is None:
            return runs.finish(run, RuleRun.Status.SKIPPED, [], _("The transition or the record is gone."))
        results = {entry["index"]: entry for entry in (run.actions or []) if "index" in entry}
        record = found.record
        ordered = in_stage_order([{**dict(action), "_index": index} for index, action in enumerate(found.rule.after)])
        for action in ordered:
            index = action.pop("_index")
            if results.get(index, {}).get("status") == "done":
                continue
            entry: dict[str, Any] = {"index": index, "type": action.get("type", ""), "action": action, "depth": 0}
            record = do_one(found.rule, found.schema, record, found.actor, run, index, action, None, 0, entry,
                            path=found.path)
            results[index] = entry
        return finish_run(run, results)

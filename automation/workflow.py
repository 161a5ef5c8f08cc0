"""The workflow engine: the "workflow" stage of the pipeline, and the runs of date-based rules
and scheduled actions (automation.workflow_schedule).

For each record event, the active rules of its module run in their order. A rule runs when its
trigger matches the event, its criteria hold on the record as it is now, and (for "once per
record") it has not run on the record before. A run is claimed once (`runs.claim`, keyed by the
event id, or by the record for "once per record"), so a re-delivered event does nothing twice.

The instant actions run in stage order (field updates, then messages and records, then
webhooks), each in a savepoint inside the run's transaction, as the user who activated the rule,
with the rule as the cause of the events they emit. A failing action is undone alone: the
record change that triggered the rule was committed before, and the other actions still run.
The failure is written in the run (a failed RuleRun is listed to administrators) and retried
by `retry_workflow_run` (below) with backoff; the run's action list says what is done,
and a retry locks the run's row, so a retried action never happens twice. Other rules whose
actions run through this engine (a blueprint transition's after-actions) register their run
kind (`register_run_kind`) and get the same retries.

Loop safety: an event caused by a rule never triggers that same rule, and a chain of rules
triggering each other stops at `pipeline.MAX_CHAIN_DEPTH` with a failed run saying why."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Callable

from celery import shared_task
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Organization
from access.visibility import visible
from crm.criteria import CriteriaError, to_predicate
from crm.events import RecordEvent, caused_by
from crm.modules import get_module

from . import pipeline, runs
from .run_models import RuleRun
from .runas import RuleActorError, rule_actor, rule_path
from .workflow_actions import FIELD_UPDATES, ActionContext, ActionError, action_kind, in_stage_order
from .workflow_models import ScheduledAction, WorkflowRule

logger = logging.getLogger(__name__)

KIND = "workflow"
EDITS = ("updated", "owner_changed")
TRIGGERS_FOR_EVENT = {
    "created": {WorkflowRule.Trigger.CREATE, WorkflowRule.Trigger.CREATE_OR_EDIT, WorkflowRule.Trigger.FIELD_CHANGE},
    "updated": {WorkflowRule.Trigger.EDIT, WorkflowRule.Trigger.CREATE_OR_EDIT, WorkflowRule.Trigger.FIELD_CHANGE},
    "owner_changed": {WorkflowRule.Trigger.EDIT, WorkflowRule.Trigger.CREATE_OR_EDIT,
                      WorkflowRule.Trigger.FIELD_CHANGE},
    "deleted": {WorkflowRule.Trigger.DELETE},
}


# --- matching -------------------------------------------------------------------------------------

def _new_value(value: Any) -> Any:
    """A change's new value in its comparable form (the owner is sent as {"id": ..} by some paths)."""
    return value.get("id") if isinstance(value, dict) and "id" in value else value


def trigger_matches(rule: WorkflowRule, event: RecordEvent) -> bool:
    """Whether the event is one the rule's trigger listens to. A chosen field "changes" when an
    edit changes it, or a new record is created with it set (a deal created as won is won)."""
    if rule.trigger not in TRIGGERS_FOR_EVENT.get(event.kind, ()):
        return False
    if rule.trigger != WorkflowRule.Trigger.FIELD_CHANGE:
        return True
    for key in rule.trigger_fields or []:
        if key not in event.changes:
            continue
        new = _new_value(event.changes[key][1])
        if event.kind == "created" and new in (None, "", []):
            continue
        if rule.trigger_value is None or _same(new, rule.trigger_value):
            return True
    return False


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, str) and isinstance(wanted, str):
        return value.casefold() == wanted.casefold()
    return value == wanted or str(value) == str(wanted)


def criteria_hold(rule: WorkflowRule, schema: Any, record: Any) -> bool:
    if not rule.criteria or not next(iter(rule.criteria.values()), None):
        return True
    return to_predicate(rule.criteria, schema)(record)


def record_key(rule: WorkflowRule, record_id: int, occurrence: str) -> str:
    """The run's key: once per record, or once per occurrence (an event, a date)."""
    return f"once:{record_id}" if rule.once_per_record else occurrence


# --- the pipeline stage ---------------------------------------------------------------------------

def workflow_stage(event: RecordEvent) -> None:
    """Run the module's active event rules on the event, in their order."""
    rules = list(WorkflowRule.objects.filter(org_id=event.org_id, module=event.module, active=True)
                 .exclude(trigger=WorkflowRule.Trigger.DATE).order_by("position", "pk"))
    rules = [rule for rule in rules
             if event.cause != rule_path(KIND, rule.pk) and trigger_matches(rule, event)]
    if not rules:
        return
    org = Organization.objects.filter(pk=event.org_id).first()
    if org is None:
        return
    memo = EventMemo()
    for rule in rules:
        if run_on_event(rule, org, event, memo) is not None:
            memo.records.clear()  # its actions may have changed the record: the next rule reads it anew


class EventMemo:
    """What the rules of one event share: their authors, the module's schema, and the record as
    each author sees it (until a rule acts), so 50 rules do not read them 50 times."""

    def __init__(self) -> None:
        self.actors: dict[int | None, Any] = {}
        self.schemas: dict[str, Any] = {}
        self.records: dict[int | None, Any] = {}

    def actor(self, org: Organization, user_id: int | None) -> Any:
        if user_id not in self.actors:
            self.actors[user_id] = rule_actor(org, user_id)
        return self.actors[user_id]

    def schema(self, rule: WorkflowRule, org: Organization) -> Any:
        if rule.module not in self.schemas:
            self.schemas[rule.module] = _schema(rule, org)
        return self.schemas[rule.module]

    def record(self, actor: Any, schema: Any, event: RecordEvent) -> Any:
        if actor.pk not in self.records:
            self.records[actor.pk] = (visible(actor, schema, "view", deleted=event.kind == "deleted")
                                      .filter(pk=event.record_id).first())
        return self.records[actor.pk]


def run_on_event(rule: WorkflowRule, org: Organization, event: RecordEvent,
                 memo: EventMemo | None = None) -> RuleRun | None:
    memo = memo or EventMemo()
    event_key = f"event:{event.id}"
    try:
        actor = memo.actor(org, rule.run_as_id)
    except RuleActorError as exc:
        return log_failure(rule, event.record_id, event_key, event.kind, str(exc))
    schema = memo.schema(rule, org)
    if schema is None:
        return None
    record = memo.record(actor, schema, event)
    if record is None:  # gone since, or out of the rule's reach (its author's)
        return None
    try:
        if not criteria_hold(rule, schema, record):
            return None
    except CriteriaError as exc:
        return log_failure(rule, record.pk, event_key, event.kind, " ".join(exc.messages))
    if pipeline.too_deep(event):
        logger.error("Workflow rule %s stopped: chain of %s rule actions on %s #%s", rule.pk, event.depth,
                     event.module, event.record_id)
        return log_failure(rule, record.pk, event_key, event.kind, _(
            "Stopped: this change was made by a chain of %(depth)d rules triggering each other, "
            "which looks like a loop. Check the rules that change each other's fields.") % {"depth": event.depth})
    return execute(rule, schema, record, actor, trigger=event.kind,
                   key=record_key(rule, record.pk, event_key), event=event, depth=event.depth)


def _schema(rule: WorkflowRule, org: Organization) -> Any:
    try:
        return get_module(rule.module, org).bind(org)
    except Http404:  # the module was retired or removed
        return None


def log_failure(rule: WorkflowRule, record_id: int | None, key: str, trigger: str, error: str) -> RuleRun | None:
    """A run that could not start: written as failed, so administrators see why."""
    with transaction.atomic():
        run = runs.claim(org_id=rule.org_id, rule_kind=KIND, rule_id=rule.pk, key=key, module=rule.module,
                         record_id=record_id, trigger=trigger)
        if run is None:
            return None
        return runs.finish(run, RuleRun.Status.FAILED, [], error)


# --- running the actions --------------------------------------------------------------------------

def execute(rule: WorkflowRule, schema: Any, record: Any, actor: Any, *, trigger: str, key: str,
            event: RecordEvent | None = None, depth: int = 0, base_time: dt.datetime | None = None,
            actions: list[dict[str, Any]] | None = None) -> RuleRun | None:
    """Claim the run and do the rule's actions on the record (`actions`: instead of the rule's,
    e.g. one scheduled action). Delayed actions are scheduled from `base_time` (default now)."""
    actions = rule.actions if actions is None else actions
    base_time = base_time or timezone.now()
    with transaction.atomic():
        run = runs.claim(org_id=rule.org_id, rule_kind=KIND, rule_id=rule.pk, key=key, module=rule.module,
                         record_id=record.pk, trigger=trigger)
        if run is None:
            return None
        results = {entry["index"]: entry for entry in (run.actions or []) if "index" in entry}
        ordered = in_stage_order([{**action, "_index": index} for index, action in enumerate(actions)])
        for action in ordered:
            index = action.pop("_index")
            if results.get(index, {}).get("status") in ("done", "scheduled"):
                continue  # a re-delivered event or a dead worker's run: done already
            entry = {"index": index, "type": action.get("type", ""), "action": action, "depth": depth}
            delay = action.get("delay")
            if delay:
                due = base_time + delay_of(delay)
                schedule_action(rule, record, run, index, action, due, trigger=trigger, depth=depth)
                entry.update(status="scheduled", result=_("Scheduled for %(when)s")
                             % {"when": timezone.localtime(due).strftime("%Y-%m-%d %H:%M")})
            else:
                record = do_one(rule, schema, record, actor, run, index, action, event, depth, entry)
            results[index] = entry
        return finish_run(run, results)


def schedule_action(rule: WorkflowRule, record: Any, run: RuleRun, index: int, action: dict[str, Any],
                    due: dt.datetime, *, trigger: str, depth: int) -> ScheduledAction:
    """Inside the run's transaction: the delayed action, once per run and action."""
    row, _created = ScheduledAction.objects.get_or_create(
        org_id=rule.org_id, key=action_key(run, index),
        defaults={"rule": rule, "module": rule.module, "record_id": record.pk, "due_at": due,
                  "action_index": index, "action": {**action, "delay": None}, "trigger": trigger, "depth": depth})
    return row


def delay_of(delay: dict[str, Any]) -> dt.timedelta:
    amount = int(delay.get("amount") or 0)
    return dt.timedelta(hours=amount) if delay.get("unit") == "hours" else dt.timedelta(days=amount)


_key_prefixes: dict[str, str] = {}  # by run kind (register_run_kind)


def action_key(run: RuleRun, index: int) -> str:
    """Stable across retries of the run: what an action keys its side effects by."""
    return f"{_key_prefixes.get(run.rule_kind, run.rule_kind)}{run.rule_id}:{run.key}:{index}"


def do_one(rule: Any, schema: Any, record: Any, actor: Any, run: RuleRun, index: int,
           action: dict[str, Any], event: RecordEvent | None, depth: int, entry: dict[str, Any],
           path: str | None = None) -> Any:
    """Do one action in a savepoint and fill `entry` with its outcome; the record as it is after.
    `path`: the cause the action's changes carry (default: this workflow rule's)."""
    kind = action_kind(action.get("type", ""))
    if kind is None:
        entry.update(status="failed", error=_("This kind of action is no longer available."))
        return record
    context = ActionContext(rule=rule, schema=schema, record=record, actor=actor, path=path or rule_path(KIND, rule.pk),
                            run=run, event=event, key=action_key(run, index))
    try:
        with transaction.atomic(), caused_by(context.path, depth + 1):
            entry.update(status="done", result=str(kind.run(action, context) or ""))
    except (ActionError, ValidationError, PermissionDenied) as exc:
        entry.update(status="failed", error=_error_text(exc))
        return record
    except Exception as exc:  # a bug or an outage in one action must not stop the others
        logger.exception("%s rule %s action %s failed", run.rule_kind, rule.pk, index)
        entry.update(status="failed", error=repr(exc)[:500])
        return record
    if kind.stage == FIELD_UPDATES:  # later actions see the record as updated
        record = visible(actor, schema, "view").filter(pk=record.pk).first() or record
    return record


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(f"{key}: {' '.join(messages)}" if key != "__all__" else " ".join(messages)
                            for key, messages in exc.message_dict.items())
        return " ".join(exc.messages)
    return str(exc)


def finish_run(run: RuleRun, results: dict[int, dict[str, Any]]) -> RuleRun:
    """Write the run's outcome (inside its transaction); a failed run is retried after the commit."""
    entries = [results[index] for index in sorted(results)]
    errors = [f"{entry.get('type')}: {entry['error']}" for entry in entries if entry.get("status") == "failed"]
    if errors:
        runs.finish(run, RuleRun.Status.FAILED, entries, "; ".join(errors))
        run_id = run.pk
        transaction.on_commit(lambda: schedule_retry(run_id, 1))
    else:
        runs.finish(run, RuleRun.Status.DONE, entries)
    return run


# --- retries --------------------------------------------------------------------------------------

MAX_RETRIES = 5


def retry_delay(attempt: int) -> float:
    """Seconds before retry number `attempt`: 1, 2, 4, 8, 16 minutes (WORKFLOW_RETRY_BASE_SECONDS)."""
    return getattr(settings, "WORKFLOW_RETRY_BASE_SECONDS", 60) * 2 ** (attempt - 1)


def schedule_retry(run_id: int, attempt: int) -> None:
    if attempt > MAX_RETRIES:
        return
    try:
        retry_workflow_run.apply_async((run_id, attempt), countdown=retry_delay(attempt))
    except Exception:  # the broker is down: the run stays failed and listed
        logger.exception("Could not queue the retry of workflow run %s", run_id)


@dataclass
class RetryTarget:
    """What the failed actions of a run act on again: the rule they belong to, the module, the
    record, whom they act as and the path their changes carry."""
    rule: Any
    schema: Any
    record: Any
    actor: Any
    path: str


# rule_kind -> target(run): the RetryTarget, None when there is nothing to retry (the rule or
# the record is gone); raises RuleActorError when nobody may act for the rule now.
RetryResolver = Callable[[RuleRun], "RetryTarget | None"]
_retry_targets: dict[str, RetryResolver] = {}


def register_run_kind(rule_kind: str, target: RetryResolver, *, key_prefix: str = "") -> None:
    """Runs of `rule_kind` whose actions ran through `do_one` are retried like workflow runs;
    `key_prefix` starts their actions' keys (`action_key`)."""
    _retry_targets[rule_kind] = target
    _key_prefixes[rule_kind] = key_prefix or rule_kind


def _workflow_target(run: RuleRun) -> RetryTarget | None:
    rule = WorkflowRule.objects.filter(org_id=run.org_id, pk=run.rule_id).first()
    if rule is None:
        return None
    actor = rule_actor(rule.org, rule.run_as_id)
    schema = _schema(rule, rule.org)
    record = (visible(actor, schema, "view", deleted=run.trigger == "deleted").filter(pk=run.record_id).first()
              if schema is not None and run.record_id else None)
    return RetryTarget(rule, schema, record, actor, rule_path(KIND, rule.pk)) if record is not None else None


register_run_kind(KIND, _workflow_target, key_prefix="wf")


def retry_run(run_id: int) -> bool | None:
    """Do the failed actions of a run again: True when all are done now, False when some still
    fail, None when there is nothing to retry (done already, rule gone)."""
    with transaction.atomic():
        run = RuleRun.objects.select_for_update().filter(pk=run_id, rule_kind__in=list(_retry_targets)).first()
        if run is None or run.status != RuleRun.Status.FAILED:
            return None
        entries = {entry["index"]: entry for entry in (run.actions or []) if "index" in entry}
        failed = [entry for entry in entries.values() if entry.get("status") == "failed"]
        if not failed:
            return None
        try:
            target = _retry_targets[run.rule_kind](run)
        except RuleActorError:
            return False
        if target is None:
            return None
        record = target.record
        run.attempts += 1
        for entry in sorted(failed, key=lambda e: _stage(e.get("action") or {})):
            entry.pop("error", None)
            record = do_one(target.rule, target.schema, record, target.actor, run, entry["index"],
                            dict(entry.get("action") or {}), None, int(entry.get("depth") or 0), entry,
                            path=target.path)
        errors = [f"{e.get('type')}: {e['error']}" for e in entries.values() if e.get("status") == "failed"]
        run.save(update_fields=["attempts"])
        runs.finish(run, RuleRun.Status.FAILED if errors else RuleRun.Status.DONE,
                    [entries[index] for index in sorted(entries)], "; ".join(errors))
        return not errors


def _stage(action: dict[str, Any]) -> int:
    kind = action_kind(action.get("type", ""))
    return kind.stage if kind is not None else 99


@shared_task(acks_late=True)
def retry_workflow_run(run_id: int, attempt: int = 1) -> bool | None:
    """Retry the failed actions of a run (a workflow rule's, or of another registered run kind);
    while some still fail, again later (with backoff)."""
    outcome = retry_run(run_id)
    if outcome is False:
        schedule_retry(run_id, attempt + 1)
    return outcome

"""The assignment engine: the pipeline stage that runs a module's active assignment rule on every
new record, and `assign_record`, which assigns one record by a rule (also called by workflow
rules' "assign by an assignment rule" action). Who gets the record is chosen in
`assignment_choice`; the change, the turn and the run commit together in `assignment_actions`."""
from __future__ import annotations

import logging

from crm.events import RecordEvent

from .assignment_actions import do_assign_by_rule, do_log_too_deep
from .assignment_choice import KIND, PREFIX, active_rule
from .assignment_models import AssignmentRule
from .pipeline import too_deep

logger = logging.getLogger(__name__)


# --- running ----------------------------------------------------------------------------------

def assign_record(rule: AssignmentRule, record_id: int, *, trigger: str, key: str, depth: int = 0) -> str:
    """Give one record its owner (org modules) or assignee (team modules) by `rule`, acting as
    the user who activated the rule, with the path "rule:assignment:<id>" (the timeline reads
    "by rule “X”", and the new owner or assignee is notified by the notifications stage).

    Happens once per `key` (e.g. "event:<id>", "job:<id>:<record>"): the run is claimed in the
    same transaction as the owner change and the turn, so a worker dying at any point leaves
    either nothing or everything, and a repeat does nothing. `trigger` is logged with the run
    ("created", "selected", "list", "workflow"); `depth` is the chain depth of the event that
    led here. Returns what was done, as a sentence. A refusal (a guard, a lost permission, the
    rule's author no longer active) is logged as a failed run and returned; an unexpected error
    is logged and raised, so the caller's task retries it."""
    return do_assign_by_rule(rule, record_id, trigger=trigger, key=key, depth=depth)


def assignment_stage(event: RecordEvent) -> None:
    """The pipeline stage: a new record of a module with an active rule is assigned by it, once
    per event (not one a rule of this kind made: no rule re-assigns its own work)."""
    if event.kind != "created" or event.cause.startswith(PREFIX):
        return
    rule = active_rule(event.org_id, event.module)
    if rule is None:
        return
    if too_deep(event):
        logger.error("Assignment rule %s not run on %s %s: chain of rules too deep", rule.pk, event.module,
                     event.record_id)
        do_log_too_deep(rule, event.record_id, key=f"event:{event.id}")
        return
    assign_record(rule, event.record_id, trigger="created", key=f"event:{event.id}", depth=event.depth)


def setup() -> None:
    """Plug assignment rules in (AutomationConfig.ready): the pipeline stage, the rule kind the
    timeline names, the list pages' bulk actions, and the job task for the workers."""
    from crm.modules import register_list_action_provider

    from . import assignment_tasks  # noqa: F401  (registers the job task)
    from .assignment_views import list_actions
    from .pipeline import register_stage
    from .rule_kinds import register_rule_kind

    register_stage("assignment", assignment_stage)
    register_rule_kind(KIND, AssignmentRule)
    register_list_action_provider(list_actions)

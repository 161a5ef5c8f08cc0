"""Building workflow action contexts for the e-mail and webhook tests: a real record, a real
RuleRun claimed like the engine claims it, and the rule's actor."""
from __future__ import annotations

import itertools
from types import SimpleNamespace

from automation import runs
from automation.workflow_actions import ActionContext
from crm.modules import get_module

_rule_ids = itertools.count(1)


def context_for(record, actor, *, module: str | None = None, rule_id: int | None = None, key: str = "run-1",
                name: str = "Won deals", event=None) -> ActionContext:
    module = module or record.MODULE_KEY
    rule_id = rule_id or next(_rule_ids)
    schema = get_module(module, actor.org).bind(actor.org)
    run = runs.claim(org_id=actor.org.pk, rule_kind="workflow", rule_id=rule_id, key=key, module=module,
                     record_id=record.pk, trigger="updated")
    return ActionContext(rule=SimpleNamespace(pk=rule_id, name=name), schema=schema, record=record, actor=actor,
                         path=f"rule:workflow:{rule_id}", run=run, event=event, key=f"{key}:0")

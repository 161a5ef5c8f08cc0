"""Part 2 of bench/automation.py: what active workflow rules add to saving a lead, and to the
worker's handling of that save's event."""
from __future__ import annotations

import time
from typing import Any, Callable

from django.db import transaction

from automation import pipeline
from automation.workflow_models import WorkflowRule
from automation.workflow_rule_actions import do_create_workflow_rule, do_set_workflow_rule_active
from bench.timing import percentile
from crm import actions as crm_actions
from crm.events import RecordEvent

PREFIX = "Bench rule "


def set_rules(admin: Any, count: int) -> None:
    """`count` active edit rules on leads (the others inactive): each checks its criteria on every
    edit (status "qualified" and company "Rule <i>", which the bench lead never matches) and would
    set the source."""
    existing = {rule.name: rule for rule in WorkflowRule.objects.filter(org=admin.org, module="leads",
                                                                        name__startswith=PREFIX)}
    for i in range(max(count, len(existing))):
        name = f"{PREFIX}{i:02d}"
        rule = existing.get(name)
        if rule is None and i < count:
            rule = do_create_workflow_rule(
                admin.org, "leads", actor=admin, name=name, trigger="edit",
                criteria={"all": [{"field": "status", "op": "eq", "value": "qualified"},
                                  {"field": "company", "op": "eq", "value": f"Rule {i}"}]},
                actions=[{"type": "field_update", "field": "source", "value": "web"}])
        if rule is not None and rule.active != (i < count):
            do_set_workflow_rule_active(rule, i < count, actor=admin)


def stage_cost(admin: Any, runs: int) -> tuple[float, float]:
    """The pipeline's stages for one lead edit (what a worker does per event), in-process, p50/p95 ms."""
    lead = crm_actions.do_create_record("leads", {"last_name": "Stage bench", "company": "Bench"}, actor=admin)
    times = []
    for i in range(runs + 10):
        event = RecordEvent(kind="updated", module="leads", org_id=admin.org.pk, record_id=lead.pk,
                            actor_id=admin.pk, path="page", changes={"company": ["Bench", f"Bench {i}"]})
        started = time.perf_counter()
        with transaction.atomic():
            pipeline.run_stages(event)
        if i >= 10:
            times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50), percentile(times, 95)


def report(admin: Any, saves: int, rules: int, save_cost: Callable[[Any, int], tuple[float, float]]) -> None:
    results = {}
    for count in (0, rules, 0, rules):  # alternated, so drift of the machine hits both
        set_rules(admin, count)
        save = save_cost(admin, saves)
        stage = stage_cost(admin, max(50, saves // 3))
        results.setdefault(count, []).append((save, stage))
    print(f"{'active rules':>13} {'save p50':>9} {'save p95':>9} {'worker p50':>11} {'worker p95':>11}")
    for count, rows in results.items():
        best = min(rows, key=lambda row: row[0][0])
        (s50, s95), (w50, w95) = best
        print(f"{count:>13} {s50:>9.2f} {s95:>9.2f} {w50:>11.2f} {w95:>11.2f}")
    base, loaded = (min(r[0][0] for r in results[c]) for c in (0, rules))
    print(f"save p50 with {rules} rules: {100 * (loaded - base) / base:+.1f}% (goal: under +10%)")
    set_rules(admin, 0)

"""Helpers of the workflow rule tests: rules made and activated through their actions."""
from __future__ import annotations

from typing import Any

import pytest

from automation.models import Notification, RuleRun
from automation.workflow_rule_actions import do_create_workflow_rule, do_set_workflow_rule_active


def make_rule(actor: Any, module: str, *, activate: bool = True, **values: Any):
    values = {"name": "Rule", "trigger": "create", "criteria": None, **values}
    rule = do_create_workflow_rule(actor.org, module, actor=actor, **values)
    if activate:
        rule = do_set_workflow_rule_active(rule, True, actor=actor)
    return rule


def notify(*users: Any, message: str = "Look at {{name}}", **who: Any) -> dict[str, Any]:
    return {"type": "notify", "users": [u.pk for u in users], "message": message, **who}


def update(field: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "field_update", "field": field, "value": value, **extra}


def inbox(user: Any) -> list[Notification]:
    return list(Notification.objects.filter(recipient_id=user.pk, kind="rule_notice").order_by("pk"))


def runs_of(rule: Any) -> list[RuleRun]:
    return list(RuleRun.objects.filter(rule_kind="workflow", rule_id=rule.pk).order_by("pk"))


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the after-commit work (the outbox event's task, eager) of the actions inside the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)

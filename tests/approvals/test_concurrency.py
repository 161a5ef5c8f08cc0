"""Two approvers deciding the last level at the same moment, on two real threads (two database
connections): the request's row lock serialises them and exactly one decision counts. And the
background part on a real Celery worker: a workflow rule submits a deal for approval (its action
kind "submit_for_approval"), and the approvers' and the submitter's notifications are written by
the worker."""
from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from approvals import actions as approval_actions
from approvals.models import ApprovalRequest, ApprovalStep
from automation.models import Notification
from crm.models import TimelineEntry
from tests.factories import DealFactory

from tests.automation.test_assignment_workers import queue, start_worker  # noqa: F401
from tests.workers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_approvers_deciding_the_last_level_at_once_exactly_one_counts(rep, director, vp, finance,
                                                                         discount_process, monkeypatch):
    discount_process([{"rule": "any", "approvers": {"manager": True}},
                      {"rule": "any", "approvers": {"users": [vp.pk, finance.pk]}}])
    deal = DealFactory(actor=rep, name="Race", discount="40")
    request = ApprovalRequest.objects.get(record_id=deal.pk)
    approval_actions.do_decide_approval(request, "approve", actor=director)
    # Whoever holds the request's row keeps it a moment, so the other one is surely waiting for it.
    real_record = approval_actions._record

    def slow_record(current):
        time.sleep(0.5)
        return real_record(current)

    monkeypatch.setattr(approval_actions, "_record", slow_record)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(user, decision):
        try:
            barrier.wait()
            approval_actions.do_decide_approval(request.pk, decision, actor=user, comment="at once")
            outcomes[user.username] = "counted"
        except PermissionDenied as exc:
            outcomes[user.username] = f"refused: {exc}"
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(vp, "approve")),
               threading.Thread(target=decide, args=(finance, "reject"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(v.split(":")[0] for v in outcomes.values()) == ["counted", "refused"], outcomes
    request.refresh_from_db()
    winner = next(name for name, v in outcomes.items() if v == "counted")
    assert request.status == ("approved" if winner == vp.username else "rejected")
    last_level = ApprovalStep.objects.filter(request=request, level=2).exclude(decision="submitted")
    assert last_level.count() == 1 and last_level.get().actor.username == winner
    assert "no longer awaiting" in next(v for v in outcomes.values() if v.startswith("refused"))
    outcome_entries = TimelineEntry.objects.filter(record_id=deal.pk, kind__in=("approval_approved", "approval_rejected"))
    assert outcome_entries.count() == 1


def test_a_real_worker_submits_by_a_workflow_rule_and_sends_the_notices(org, admin_user, rep, director, queue,
                                                                      start_worker):
    from automation.workflow_rule_actions import do_create_workflow_rule, do_set_workflow_rule_active

    process = approval_actions.do_save_approval_process(
        org, "deals", name="Big deals", trigger="button", criteria={"all": [{"field": "amount", "op": "gt", "value": "100000"}]},
        levels=[{"rule": "any", "approvers": {"manager": True}}], actor=admin_user)
    rule = do_create_workflow_rule(org, "deals", actor=admin_user, name="Big deals need approval", trigger="edit",
                                   criteria={"all": [{"field": "amount", "op": "gt", "value": "100000"}]},
                                   actions=[{"type": "submit_for_approval", "process": process.pk}])
    do_set_workflow_rule_active(rule, True, actor=admin_user)
    deal = DealFactory(actor=rep, name="Whale", amount="1000")
    start_worker()
    from crm import actions as crm_actions

    crm_actions.do_update_record(deal, {"amount": "250000"}, version=deal.version, actor=rep)
    assert wait_for(lambda: ApprovalRequest.objects.filter(record_id=deal.pk, status="pending").exists(), 90)
    request = ApprovalRequest.objects.get(record_id=deal.pk)
    from automation.run_models import RuleRun

    run = RuleRun.objects.get(rule_kind="workflow", rule_id=rule.pk, record_id=deal.pk)
    assert run.status == "done" and run.actions[0]["type"] == "submit_for_approval"
    assert TimelineEntry.objects.filter(record_id=deal.pk, kind="approval_submitted",
                                        path=f"approval:{request.pk}").exists()
    assert wait_for(lambda: Notification.objects.filter(recipient=director, kind="approval_requested",
                                                        record_id=deal.pk).exists(), 60)
    approval_actions.do_decide_approval(request, "approve", actor=director)
    # The rule submitted it as its author (the administrator), who is told of the outcome.
    assert request.submitter_id == admin_user.pk
    assert wait_for(lambda: Notification.objects.filter(recipient=admin_user, kind="approval_approved",
                                                        record_id=deal.pk).exists(), 60)
    assert Notification.objects.filter(recipient=director, kind="approval_requested", record_id=deal.pk).count() == 1

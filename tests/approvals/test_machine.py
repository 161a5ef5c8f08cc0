"""A state machine over approval decisions (hypothesis): random people approve, reject, delegate
and recall a deal's request through two levels (any, then all). Invariants: nobody without the
right ever decides (an action succeeds exactly when the model says the person may), a decided
request never changes again, and the record has at most one awaiting request."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from approvals.actions import do_decide_approval, do_delegate_approval, do_recall_approval, do_submit_for_approval
from approvals.models import ApprovalRequest, ApprovalStep
from crm.actions import RecordValidationError
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_approval_decisions_state_machine(rep, director, vp, finance, other_user, admin_user, discount_process):
    discount_process([{"rule": "any", "approvers": {"manager": True}},
                      {"rule": "all", "approvers": {"users": [vp.pk, finance.pk]}}], trigger="button")
    people = [rep, director, vp, finance, other_user, admin_user]

    class Approvals(RuleBasedStateMachine):
        @initialize()
        def submit(self):
            self.deal = DealFactory(actor=rep, name="Machine", discount="20")
            self.request = do_submit_for_approval(self.deal, actor=rep)
            self.done = None  # the final status once decided

        def fresh(self) -> ApprovalRequest:
            return ApprovalRequest.objects.get(pk=self.request.pk)

        def may_decide(self, user, current) -> bool:
            return current.awaiting and (user.pk in current.waiting_on or user.pk == admin_user.pk)

        @rule(who=st.sampled_from(range(len(people))), decision=st.sampled_from(["approve", "reject"]))
        def decide(self, who, decision):
            user, before = people[who], self.fresh()
            expected = self.may_decide(user, before)
            steps = ApprovalStep.objects.filter(request=before).count()
            try:
                after = do_decide_approval(before.pk, decision, actor=user, comment="because")
            except PermissionDenied:
                assert not expected, f"{user} was refused but may decide"
                assert ApprovalStep.objects.filter(request=before).count() == steps
                return
            assert expected, f"{user} decided without the right"
            if after.status in ("approved", "rejected"):
                self.done = after.status

        @rule(who=st.sampled_from(range(len(people))), to=st.sampled_from(range(len(people))))
        def delegate(self, who, to):
            user, before = people[who], self.fresh()
            expected = before.awaiting and user.pk in before.waiting_on and people[to].pk != user.pk
            try:
                do_delegate_approval(before.pk, people[to].pk, actor=user)
            except (PermissionDenied, RecordValidationError):
                assert not expected
                return
            assert expected

        @precondition(lambda self: self.done is None)
        @rule(who=st.sampled_from(range(len(people))))
        def recall(self, who):
            user, before = people[who], self.fresh()
            expected = before.awaiting and user.pk in (rep.pk, admin_user.pk)
            try:
                do_recall_approval(before.pk, actor=user)
            except PermissionDenied:
                assert not expected
                return
            assert expected
            self.done = "recalled"

        @invariant()
        def consistent(self):
            current = self.fresh()
            assert ApprovalRequest.objects.filter(record_id=self.deal.pk, status__in=("pending", "delegated")).count() <= 1
            if self.done is not None:
                assert current.status == self.done and current.waiting_on == []
            else:
                assert current.awaiting and current.waiting_on
            if current.status == "approved":
                assert current.level == 2

    run_state_machine_as_test(Approvals, settings=settings(max_examples=12, stateful_step_count=8, deadline=None,
                                                           suppress_health_check=list(HealthCheck)))

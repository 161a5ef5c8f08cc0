"""The approval issue as stories: a deal discount above 12% goes through two sequential levels
(the owner's manager, then the next superior) and then a parallel all-of level (the VP and
finance); rejection voids earlier levels; recall; the freeze while pending on every write path."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from approvals import engine
from approvals.actions import do_decide_approval, do_delegate_approval, do_recall_approval, do_submit_for_approval
from approvals.models import ApprovalRequest, ApprovalStep
from automation.models import Notification
from crm import actions
from crm.actions import RecordValidationError
from crm.guards import GuardRefusal
from crm.models import Deal, TimelineEntry
from tests.factories import DealFactory
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


def three_levels(vp, finance):
    return [{"rule": "any", "approvers": {"manager": True}},
            {"rule": "any", "approvers": {"superiors": 2}},
            {"rule": "all", "approvers": {"users": [vp.pk, finance.pk]}}]


def kinds(record):
    return list(TimelineEntry.objects.filter(org_id=record.org_id, record_id=record.pk, kind__startswith="approval")
                .order_by("pk").values_list("kind", flat=True))


def awaiting(record):
    return ApprovalRequest.objects.filter(record_id=record.pk, status__in=("pending", "delegated")).first()


def test_a_discount_above_12_percent_goes_through_three_levels(rep, director, vp, ceo, finance, discount_process,
                                                              django_capture_on_commit_callbacks):
    discount_process(three_levels(vp, finance))
    small = DealFactory(actor=rep, name="Small", amount="1000", discount="10")
    assert awaiting(small) is None
    with django_capture_on_commit_callbacks(execute=True):
        deal = DealFactory(actor=rep, name="Big", amount="50000", discount="15")
    request = awaiting(deal)
    assert request is not None and request.level == 1 and request.waiting_on == [director.pk]
    # Level 1: the owner's manager (the director). Nobody else may decide it.
    for outsider in (vp, finance, rep):
        with pytest.raises(PermissionDenied):
            do_decide_approval(request, "approve", actor=outsider)
    do_decide_approval(request, "approve", actor=director, comment="ok")
    request.refresh_from_db()
    # Level 2: one user from each of the 2 nearest superior roles (director, vp): both slots.
    assert request.level == 2 and request.rule == "any" and set(request.waiting_on) == {director.pk, vp.pk}
    do_decide_approval(request, "approve", actor=vp)
    request.refresh_from_db()
    # Level 3: all of the VP and finance, in parallel.
    assert request.level == 3 and request.waiting_on == sorted([vp.pk, finance.pk])
    do_decide_approval(request, "approve", actor=finance)
    request.refresh_from_db()
    assert request.status == "pending" and request.waiting_on == [vp.pk]
    with pytest.raises(PermissionDenied):  # finance decided their part already
        do_decide_approval(request, "approve", actor=finance)
    with django_capture_on_commit_callbacks(execute=True):
        do_decide_approval(request, "approve", actor=vp)
    request.refresh_from_db()
    assert request.status == "approved" and request.finished_at is not None
    assert kinds(deal) == ["approval_submitted", "approval_step_approved", "approval_level_opened",
                           "approval_step_approved", "approval_level_opened", "approval_step_approved",
                           "approval_step_approved", "approval_approved"]
    assert TimelineEntry.objects.filter(record_id=deal.pk, path=f"approval:{request.pk}").count() == 8
    # The submitter is told (the worker runs eagerly in these tests).
    assert Notification.objects.filter(recipient=rep, kind="approval_approved", record_id=deal.pk).exists()
    assert Notification.objects.filter(recipient=director, kind="approval_requested", record_id=deal.pk).exists()
    # Approved: editable again (no lock rule here).
    actions.do_update_record(deal, {"name": "Big (signed)"}, version=version_of(deal), actor=rep)


def test_rejection_voids_earlier_levels_and_the_owner_resubmits(rep, director, vp, finance, discount_process,
                                                               django_capture_on_commit_callbacks):
    discount_process(three_levels(vp, finance))
    deal = DealFactory(actor=rep, name="Big", discount="20")
    request = awaiting(deal)
    do_decide_approval(request, "approve", actor=director)
    with pytest.raises(RecordValidationError, match="Say why"):
        do_decide_approval(request, "reject", actor=vp)
    with django_capture_on_commit_callbacks(execute=True):
        do_decide_approval(request, "reject", actor=vp, comment="Too much")
    request.refresh_from_db()
    assert request.status == "rejected"
    assert ApprovalStep.objects.get(request=request, decision="approved").void
    assert Notification.objects.filter(recipient=rep, kind="approval_rejected").exists()
    # The owner fixes the deal: a discount change re-enters the process (trigger on edit).
    actions.do_update_record(deal, {"discount": "14"}, version=version_of(deal), actor=rep)
    again = awaiting(deal)
    assert again is not None and again.pk != request.pk and again.level == 1


def test_the_freeze_while_pending_on_every_path(rep, director, vp, finance, admin_user, discount_process, client_for,
                                               other_user):
    discount_process([{"rule": "any", "approvers": {"manager": True}}], editable_fields=["close_date"])
    deal = DealFactory(actor=rep, name="Big", amount="900", discount="30")
    request = awaiting(deal)
    refused = "Awaiting approval by"
    for user in (rep, other_user, director):
        with pytest.raises(GuardRefusal, match=refused):
            actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=user)
        if user is not other_user:  # others may not delete the rep's deals at all
            with pytest.raises(GuardRefusal, match=refused):
                actions.do_delete_record(deal, version=version_of(deal), actor=user)
        with pytest.raises(GuardRefusal, match=refused):
            actions.do_bulk_edit_records("deals", {deal.pk: version_of(deal)}, {"amount": "2"}, actor=user)
        # The field the process leaves editable while pending stays editable.
        actions.do_update_record(deal, {"close_date": "2027-01-0%d" % (1 + [rep, other_user, director].index(user))},
                                 version=version_of(deal), actor=user)
    # Other write paths of the rep: kanban, inline, the edit page, attachments.
    client = client_for(rep)
    response = client.post(reverse("crm:kanban_move", args=["deals", deal.pk]),
                           {"field": "stage", "value": "won", "version": version_of(deal)})
    assert response.status_code == 403 and refused in response.json()["error"]
    assert Deal.objects.get(pk=deal.pk).amount == 900
    # The decision point explains it on the page, and leaves the editable field editable.
    decision = engine_decision(rep, deal)
    assert decision.allowed and "close_date" not in decision.read_only and "amount" in decision.read_only
    # The admin may edit while pending.
    actions.do_update_record(deal, {"amount": "950"}, version=version_of(deal), actor=admin_user)
    # It enters no other process, and the record page names the waiting approver.
    with pytest.raises(RecordValidationError, match="Awaiting approval"):
        do_submit_for_approval(deal, actor=rep)
    page = client.get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    assert "Awaiting approval by the owner&#x27;s manager (Dora) since" in page and 'data-testid="approve"' not in page
    assert 'data-testid="approve"' in client_for(director).get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    do_decide_approval(request, "approve", actor=director)
    actions.do_update_record(deal, {"amount": "960"}, version=version_of(deal), actor=rep)


def engine_decision(user, record):
    from access.decisions import decide

    return decide(user, Deal.objects.get(pk=record.pk), "edit")


def test_recall_delegate_and_takeover(rep, director, vp, finance, admin_user, discount_process, other_user):
    discount_process([{"rule": "any", "approvers": {"manager": True}}], admins=[finance.pk])
    deal = DealFactory(actor=rep, name="Big", discount="30")
    request = awaiting(deal)
    with pytest.raises(PermissionDenied):
        do_recall_approval(request, actor=other_user)
    do_recall_approval(request, actor=rep)
    request.refresh_from_db()
    assert request.status == "recalled" and awaiting(deal) is None
    actions.do_update_record(deal, {"amount": "5"}, version=version_of(deal), actor=rep)  # free again
    request = do_submit_for_approval(deal, actor=rep)
    with pytest.raises(PermissionDenied):  # only an approver of the step delegates it
        do_delegate_approval(request, vp.pk, actor=vp)
    do_delegate_approval(request, vp.pk, actor=director, comment="on leave")
    request.refresh_from_db()
    assert request.status == "delegated" and request.waiting_on == [vp.pk]
    with pytest.raises(PermissionDenied):
        do_decide_approval(request, "approve", actor=director)
    # A process admin takes the step over.
    do_decide_approval(request, "approve", actor=finance, comment="taking over")
    request.refresh_from_db()
    assert request.status == "approved"
    assert ApprovalStep.objects.get(request=request, decision="approved").taken_over
    assert "approval_delegated" in kinds(deal) and "approval_taken_over" in kinds(deal)


def test_an_inactive_only_approver_sends_the_step_to_the_process_admins(org, rep, director, finance, admin_user,
                                                                       discount_process):
    from access.actions import do_set_membership_active

    discount_process([{"rule": "any", "approvers": {"users": [director.pk]}}], admins=[finance.pk])
    do_set_membership_active(director.membership, False, actor=admin_user)
    deal = DealFactory(actor=rep, name="Big", discount="30")
    request = awaiting(deal)
    assert request.waiting_on == [finance.pk]
    assert "process admins" in engine.pending_message(request)


def test_a_record_held_for_processes_enters_no_approval(rep, director, discount_process):
    from automation.holds import register_hold, unregister_hold

    def under_review(schema, record, scope):
        return "Under review" if scope == "processes" else None

    discount_process([{"rule": "any", "approvers": {"manager": True}}])
    register_hold(under_review)
    try:
        deal = DealFactory(actor=rep, name="Held", discount="30")
        assert awaiting(deal) is None
        with pytest.raises(RecordValidationError, match="Under review"):
            do_submit_for_approval(deal, actor=rep)
    finally:
        unregister_hold(under_review)

"""Who may decide, delegate and recall an approval is answered by the decision point
(`access.decide`, actions "approve" and "recall"), from both sides, through `decide`, the actions
and the POST views; and the approvers of the current step may open (not edit) the record they
judge while it waits on them (the approvals grant of the visibility predicate).

Deals are private here: the rep's deal is seen by the rep, the roles above (director, VP, CEO)
and administrators. Fiona (finance, no role) is chosen by name, so only the grant shows it to her.
"""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from access.actions import do_set_org_default
from access.decisions import decide
from access.visibility import can, visible
from approvals.actions import do_decide_approval, do_delegate_approval, do_recall_approval, do_save_approval_process
from approvals.models import ApprovalRequest, ApprovalWaiter
from approvals.work import awaiting_my_approval
from automation.models import Notification
from crm import actions
from crm.actions import bound_schema
from locking import actions as locking
from locking.models import RecordLock
from tests.factories import DealFactory
from tests.helpers import version_of

from .conftest import DISCOUNT

pytestmark = pytest.mark.django_db
EVERYTHING = ["edit", "bulk_edit", "import_update", "delete", "change_owner", "add_attachment", "delete_attachment"]


@pytest.fixture
def two_levels(org, admin_user, rep, director, finance, django_capture_on_commit_callbacks):
    """Level 1: Fiona by name; level 2: the owner's manager (the director). The rep's deal awaits."""
    do_set_org_default(org, "deals", "private", actor=admin_user)
    do_save_approval_process(org, "deals", name="Discount", trigger="create_or_edit", criteria=DISCOUNT,
                             levels=[{"rule": "any", "approvers": {"users": [finance.pk]}},
                                     {"rule": "any", "approvers": {"manager": True}}], actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        deal = DealFactory(actor=rep, name="Private deal", discount="25")
    return deal, ApprovalRequest.objects.get(record_id=deal.pk)


def fresh(deal):
    return bound_schema("deals", deal.org).base_queryset(deal.org).get(pk=deal.pk)


def test_decide_answers_who_may_decide_delegate_and_recall(two_levels, rep, director, finance, admin_user,
                                                           other_org_user):
    deal, request = two_levels
    # Fiona, the approver of level 1, may decide and delegate; she did not submit: no recall.
    assert decide(finance, fresh(deal), "approve").allowed
    assert decide(finance, fresh(deal), "approve", {"delegate": True}).allowed
    assert not decide(finance, fresh(deal), "recall").allowed
    # The director sees the deal but is not asked yet; the rep submitted it: recall only.
    refused = decide(director, fresh(deal), "approve")
    assert not refused.allowed and refused.reason == "You are not an approver of this step." and refused.quiet
    assert not decide(director, fresh(deal), "recall").allowed
    assert not decide(rep, fresh(deal), "approve").allowed and decide(rep, fresh(deal), "recall").allowed
    # An administrator takes over (decides, recalls) but does not delegate a part that is not theirs.
    assert decide(admin_user, fresh(deal), "approve").allowed and decide(admin_user, fresh(deal), "recall").allowed
    assert decide(admin_user, fresh(deal), "approve", {"delegate": True}).reason == \
        "Only an approver of this step may delegate it."
    # Another organisation: not found.
    stranger = decide(other_org_user, fresh(deal), "approve")
    assert not stranger.allowed and not stranger.found
    # The actions ask the same and refuse with its reason.
    with pytest.raises(PermissionDenied, match="You are not an approver of this step."):
        do_decide_approval(request, "approve", actor=director)
    with pytest.raises(PermissionDenied, match="Only the submitter or an admin may recall"):
        do_recall_approval(request, actor=finance)
    with pytest.raises(PermissionDenied, match="Only an approver of this step may delegate it."):
        do_delegate_approval(request, rep.pk, actor=admin_user)
    with pytest.raises(PermissionDenied):
        do_decide_approval(request, "approve", actor=other_org_user)
    # Fiona approves: the step moves on to the director, and Fiona may no longer decide.
    do_decide_approval(request, "approve", actor=finance)
    assert not decide(finance, fresh(deal), "approve").allowed
    with pytest.raises(PermissionDenied):
        do_decide_approval(request, "approve", actor=finance)
    assert decide(director, fresh(deal), "approve").allowed
    do_decide_approval(request, "reject", comment="Too much", actor=director)
    done = decide(director, fresh(deal), "approve")
    assert not done.allowed and done.reason == "This record is not awaiting approval."
    with pytest.raises(PermissionDenied, match="no longer awaiting a decision"):
        do_decide_approval(request, "approve", actor=director)
    with pytest.raises(PermissionDenied, match="no longer awaiting a decision"):
        do_recall_approval(request, actor=rep)


def test_the_post_views_ask_the_decision_point(two_levels, rep, director, finance, admin_user, other_org_user,
                                               client_for):
    deal, request = two_levels
    decide_url = reverse("approvals:decide", args=[request.pk])
    recall_url = reverse("approvals:recall", args=[request.pk])
    delegate_url = reverse("approvals:delegate", args=[request.pk])
    hx = {"HTTP_HX_REQUEST": "true"}
    response = client_for(director).post(decide_url, {"decision": "approve"}, **hx)
    assert response.status_code == 422 and "You are not an approver of this step." in response.content.decode()
    response = client_for(director).post(recall_url, **hx)
    assert response.status_code == 422 and "Only the submitter or an admin may recall" in response.content.decode()
    response = client_for(admin_user).post(delegate_url, {"delegate_to": director.pk}, **hx)
    assert response.status_code == 422 and "Only an approver of this step may delegate it." in response.content.decode()
    for url in (decide_url, recall_url, delegate_url):
        assert client_for(other_org_user).post(url, {"decision": "approve"}).status_code == 404
    assert ApprovalRequest.objects.get(pk=request.pk).level == 1
    # Fiona approves from the view; afterwards she may not decide again.
    response = client_for(finance).post(decide_url, {"decision": "approve"}, **hx)
    assert response.status_code == 200 and "Approved." in response.content.decode()
    response = client_for(finance).post(decide_url, {"decision": "approve"}, **hx)
    assert response.status_code == 422
    assert ApprovalRequest.objects.get(pk=request.pk).level == 2
    # The director now may delegate, the rep may recall.
    response = client_for(director).post(delegate_url, {"delegate_to": admin_user.pk}, **hx)
    assert response.status_code == 200
    response = client_for(rep).post(recall_url, **hx)
    assert response.status_code == 200 and ApprovalRequest.objects.get(pk=request.pk).status == "recalled"


def test_pages_offer_what_the_decision_point_allows(two_levels, rep, director, finance, admin_user, client_for):
    deal, request = two_levels
    page_url = reverse("crm:detail", args=["deals", deal.pk])
    fiona = client_for(finance).get(page_url).content.decode()
    assert 'data-testid="approve"' in fiona and 'data-testid="approval-delegate"' in fiona
    assert 'data-testid="approval-recall"' not in fiona
    director_page = client_for(director).get(page_url).content.decode()
    assert 'data-testid="approve"' not in director_page and 'data-testid="approval-recall"' not in director_page
    rep_page = client_for(rep).get(page_url).content.decode()
    assert 'data-testid="approve"' not in rep_page and 'data-testid="approval-recall"' in rep_page
    admin_page = client_for(admin_user).get(page_url).content.decode()
    assert "Take over and approve" in admin_page and 'data-testid="approval-delegate"' not in admin_page
    # The request's history page: the same answers.
    history = reverse("approvals:request", args=[request.pk])
    assert 'data-testid="approve"' in client_for(finance).get(history).content.decode()
    assert 'data-testid="approve"' not in client_for(director).get(history).content.decode()
    # My Work: Fiona's item offers approve and reject.
    section = awaiting_my_approval(finance)
    assert [item.pk for item in section.items] == [request.pk] and section.items[0].decision.allowed
    http = RequestFactory().get("/")
    http.user = finance
    html = render_to_string(section.template, {"section": section, "request": http})
    assert reverse("approvals:decide", args=[request.pk]) in html and 'value="reject"' in html
    assert awaiting_my_approval(director) is None


def test_a_lock_does_not_stop_a_decision(org, admin_user, rep, finance, director, django_capture_on_commit_callbacks):
    """Deciding writes nothing on the record: the write guards (a lock here) do not judge it."""
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    locking.do_create_lock_rule(org, "deals", name="Big discounts", actor=admin_user,
                                criteria={"all": [{"field": "discount", "op": "gt", "value": 20}]},
                                restricted_actions=EVERYTHING)
    do_save_approval_process(org, "deals", name="Discount", trigger="create_or_edit", criteria=DISCOUNT,
                             levels=[{"rule": "any", "approvers": {"users": [finance.pk]}}], actor=admin_user)
    deal = DealFactory(actor=rep, name="Locked deal", discount="25")
    assert RecordLock.objects.filter(record_id=deal.pk).exists()
    assert not decide(rep, fresh(deal), "edit").allowed
    assert decide(finance, fresh(deal), "approve").allowed
    request = do_decide_approval(ApprovalRequest.objects.get(record_id=deal.pk), "approve", actor=finance)
    assert request.status == "approved"


# --- approvers may open the record they judge ---------------------------------------------------

def test_the_approver_is_told_and_may_view_not_edit_until_the_step_moves_on(two_levels, rep, finance, other_user,
                                                                             other_org_user, client_for):
    deal, request = two_levels
    schema = bound_schema("deals", deal.org)
    # Fiona could not see the rep's deal; while it waits on her she is told and may open it.
    assert ApprovalWaiter.objects.filter(request=request, user=finance).exists()
    assert Notification.objects.filter(recipient=finance, kind="approval_requested", record_id=deal.pk).exists()
    assert can(finance, schema, deal, "view")
    assert not can(finance, schema, deal, "edit") and not can(finance, schema, deal, "export")
    client = client_for(finance)
    assert client.get(reverse("crm:detail", args=["deals", deal.pk])).status_code == 200
    assert client.get(reverse("approvals:request", args=[request.pk])).status_code == 200
    assert client.get(reverse("crm:edit", args=["deals", deal.pk])).status_code in (403, 404)
    with pytest.raises(PermissionDenied):
        actions.do_update_record(fresh(deal), {"name": "Mine now"}, version=version_of(deal), actor=finance)
    # Someone the step does not wait on sees nothing; nor does another organisation.
    assert not can(other_user, schema, deal, "view")
    assert client_for(other_user).get(reverse("crm:detail", args=["deals", deal.pk])).status_code == 404
    assert client_for(other_org_user).get(reverse("crm:detail", args=["deals", deal.pk])).status_code == 404
    assert client_for(other_org_user).get(reverse("approvals:request", args=[request.pk])).status_code == 404
    # Once she approved, the step waits on the director: the deal is gone from her view again.
    do_decide_approval(request, "approve", actor=finance)
    assert not ApprovalWaiter.objects.filter(request=request, user=finance).exists()
    assert not can(finance, schema, deal, "view")
    assert client.get(reverse("crm:detail", args=["deals", deal.pk])).status_code == 404


def test_a_director_outside_the_branch_and_a_process_admin_see_it_while_it_waits(
        org, admin_user, rep, roles, make_user, other_user):
    from access.sharing_actions import do_create_role, do_set_user_role

    from .conftest import rebind

    do_set_org_default(org, "deals", "private", actor=admin_user)
    support = do_create_role(org, name="Support director", parent=roles["ceo"], actor=admin_user)
    sid = make_user(org, username="sid")
    do_set_user_role(sid.membership, support, actor=admin_user)
    sid = rebind(sid)
    do_save_approval_process(org, "deals", name="Discount", trigger="create_or_edit", criteria=DISCOUNT,
                             levels=[{"rule": "any", "approvers": {"roles": [support.pk]}}],
                             admins=[other_user.pk], actor=admin_user)
    schema = bound_schema("deals", org)
    plain = DealFactory(actor=rep, name="Small discount", discount="5")
    deal = DealFactory(actor=rep, name="Big discount", discount="25")
    assert set(visible(sid, schema).values_list("pk", flat=True)) == {deal.pk}
    assert set(visible(other_user, schema).values_list("pk", flat=True)) == {deal.pk}  # the process admin
    assert not can(sid, schema, plain, "view")
    do_recall_approval(ApprovalRequest.objects.get(record_id=deal.pk), actor=rep)
    assert not visible(sid, schema).exists() and not visible(other_user, schema).exists()


def test_the_grant_is_one_subquery_and_only_where_a_process_exists(two_levels, finance):
    deal, _request = two_levels
    sql = str(visible(finance, bound_schema("deals", deal.org)).query)
    assert sql.count("approvals_approvalwaiter") == 1 and "approvals_approvalrequest" not in sql
    assert "approvals_approvalwaiter" not in str(visible(finance, bound_schema("accounts", deal.org)).query)

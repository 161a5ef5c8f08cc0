"""Approval pages, each permission from both sides: the settings pages (administrators, team
managers for their modules; others 404), deciding from the record page and from the My Work
section (the approver may, others may not), another org's request (404), and Chinese."""
from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from approvals.models import ApprovalProcess, ApprovalRequest
from approvals.work import awaiting_count, awaiting_my_approval
from crm.work import work_count, work_sections
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_settings_pages_admin_may_others_may_not(org, admin_user, standard_user, client_for, other_org_user):
    url = reverse("approvals:processes", args=["deals"])
    assert client_for(standard_user).get(url).status_code == 404
    assert client_for(other_org_user).get(reverse("approvals:process_new", args=["deals"])).status_code == 200
    admin = client_for(admin_user)
    assert "Approval processes" in admin.get(reverse("automation:workflow_rules", args=["deals"])).content.decode()
    page = admin.get(url)
    assert page.status_code == 200 and "New approval process" in page.content.decode()
    response = admin.post(reverse("approvals:process_new", args=["deals"]), {
        "name": "Discount", "trigger": "create_or_edit", "active": "on", "joiner": "all",
        "c0_field": "discount", "c0_op": "gt", "c0_value": "12", "l1_rule": "any", "l1_manager": "on",
        "l2_rule": "all", "l2_users": [str(admin_user.pk), str(standard_user.pk)],
        "editable_fields": ["close_date"],
        "approve0-type": "field_update", "approve0-field_update-field": "stage",
        "approve0-field_update-value": "negotiation"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    process = ApprovalProcess.objects.get(org=org, name="Discount")
    assert process.criteria == {"all": [{"field": "discount", "op": "gt", "value": "12"}]}
    assert [lv.rule for lv in process.levels.all()] == ["any", "all"]
    assert process.on_approve == [{"type": "field_update", "field": "stage", "value": "negotiation"}]
    # Bad input: named errors, nothing saved.
    bad = admin.post(reverse("approvals:process_edit", args=[process.pk]), {
        "name": "Discount", "trigger": "edit", "joiner": "all", "approve0-type": "nope"})
    assert bad.status_code == 422 and "Select a valid choice. nope is not one of the available choices." in \
        bad.content.decode()
    bad = admin.post(reverse("approvals:process_edit", args=[process.pk]), {
        "name": "Discount", "trigger": "edit", "joiner": "all"})
    assert bad.status_code == 422 and "Add at least one level of approvers." in bad.content.decode()
    assert ApprovalProcess.objects.get(pk=process.pk).trigger == "create_or_edit"
    # Another org's administrator cannot reach this process.
    assert client_for(other_org_user).get(reverse("approvals:process_edit", args=[process.pk])).status_code == 404
    assert client_for(standard_user).post(reverse("approvals:process_delete", args=[process.pk])).status_code == 404
    admin.post(reverse("approvals:process_delete", args=[process.pk]))
    assert not ApprovalProcess.objects.filter(pk=process.pk).exists()


def _pending(rep, discount_process, director):
    discount_process([{"rule": "any", "approvers": {"manager": True}}])
    deal = DealFactory(actor=rep, name="Page deal", discount="25")
    return deal, ApprovalRequest.objects.get(record_id=deal.pk)


def test_deciding_from_the_record_page(rep, director, vp, discount_process, client_for, other_org_user):
    deal, request = _pending(rep, discount_process, director)
    decide = reverse("approvals:decide", args=[request.pk])
    # Others may not: the rep (submitter) and the VP get a refusal; another org a 404.
    for user in (rep, vp):
        response = client_for(user).post(decide, {"decision": "approve"}, HTTP_HX_REQUEST="true")
        assert response.status_code in (404, 422)
    assert client_for(other_org_user).post(decide, {"decision": "approve"}).status_code == 404
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"
    # Rejecting without a comment is refused with the reason; with one it counts.
    director_client = client_for(director)
    response = director_client.post(decide, {"decision": "reject"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and "Say why in a comment." in response.content.decode()
    response = director_client.post(decide, {"decision": "approve", "comment": "fine",
                                             "next": reverse("crm:detail", args=["deals", deal.pk])})
    assert response.status_code == 302 and response.url == reverse("crm:detail", args=["deals", deal.pk])
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"
    history = director_client.get(reverse("approvals:request", args=[request.pk])).content.decode()
    assert "fine" in history and "Approved" in history
    page = client_for(rep).get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    assert "approval_approved" in page or "Approved" in page


def test_my_work_section_lists_and_decides(rep, director, vp, discount_process, client_for):
    deal, request = _pending(rep, discount_process, director)
    assert awaiting_my_approval(vp) is None and awaiting_count(vp) == 0
    section = awaiting_my_approval(director)
    assert section.count == 1 and section.items[0].pk == request.pk and awaiting_count(director) == 1
    assert any(s.key == "approvals" for s in work_sections(director)) and work_count(director) >= 1
    http = RequestFactory().get("/")
    http.user = director
    html = render_to_string(section.template, {"section": section, "request": http})
    assert reverse("approvals:decide", args=[request.pk]) in html and "Page deal" in html
    assert 'name="comment"' in html and 'value="reject"' in html
    response = client_for(director).post(reverse("approvals:decide", args=[request.pk]),
                                         {"decision": "reject", "comment": "too much"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Rejected." in response.content.decode()
    assert awaiting_my_approval(director) is None


def test_my_work_section_costs_the_same_for_many(rep, director, discount_process, django_assert_max_num_queries):
    """The requests, then per module the records and their decisions: the same for one as for ten
    (one more query counts those beyond the first ten)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    discount_process([{"rule": "any", "approvers": {"manager": True}}])
    DealFactory(actor=rep, name="Deal 0", discount="25")
    awaiting_my_approval(director)  # the caches a page fills once
    with CaptureQueriesContext(connection) as one:
        awaiting_my_approval(director)
    assert len(one.captured_queries) <= 6
    for n in range(1, 12):
        DealFactory(actor=rep, name=f"Deal {n}", discount="25")
    with django_assert_max_num_queries(len(one.captured_queries) + 1):
        section = awaiting_my_approval(director)
    assert len(section.items) == 10 and section.count == 12 and section.more_url
    assert all(item.decision.allowed for item in section.items)


def test_the_record_page_in_chinese(rep, director, discount_process, client_for):
    deal, request = _pending(rep, discount_process, director)
    client = client_for(director)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = client.get(reverse("crm:detail", args=["deals", deal.pk]))
    text = page.content.decode()
    assert "待审批" in text and "通过" in text and "驳回" in text


def test_submit_button_both_sides(org, admin_user, rep, other_user, director, discount_process, client_for):
    from access.actions import do_set_org_default

    do_set_org_default(org, "deals", "public_read", actor=admin_user)
    discount_process([{"rule": "any", "approvers": {"manager": True}}], trigger="button")
    deal = DealFactory(actor=rep, name="Button deal", discount="25")
    assert not ApprovalRequest.objects.filter(record_id=deal.pk).exists()
    submit = reverse("approvals:submit", args=["deals", deal.pk])
    client_for(other_user).post(submit)  # may see, may not edit: refused
    assert not ApprovalRequest.objects.filter(record_id=deal.pk).exists()
    page = client_for(rep).get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    assert 'data-testid="submit-for-approval"' in page
    client_for(rep).post(submit)
    assert ApprovalRequest.objects.get(record_id=deal.pk).status == "pending"


def test_submit_for_approval_is_an_action_kind_with_a_process_picker(org, admin_user, rep, director,
                                                                     discount_process, client_for):
    from automation.workflow_actions import action_kind
    from crm.actions import bound_schema

    process = discount_process([{"rule": "any", "approvers": {"manager": True}}], trigger="button")
    kind = action_kind("submit_for_approval")
    schema = bound_schema("deals", org)
    form = kind.form_class({"p-process": str(process.pk)}, prefix="p", schema=schema, org=org)
    assert form.is_valid() and kind.clean(form.config(), schema, org) == {"process": process.pk}
    assert not kind.form_class({"p-process": "999999999999"}, prefix="p", schema=schema, org=org).is_valid()
    with pytest.raises(Exception, match="Choose an approval process"):
        kind.clean({"process": "x"}, bound_schema("accounts", org), org)
    page = client_for(admin_user).get(reverse("automation:workflow_rule_new", args=["deals"]))
    assert page.status_code == 200 and "Submit for approval" in page.content.decode()

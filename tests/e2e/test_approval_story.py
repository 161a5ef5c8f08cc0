"""A deal discount above 12% awaits approval, in the browser, in English and in Chinese.

Set-up through the actions: an org with a role tree (a sales rep under a sales director), the
process "Discount above 12%" (the owner's manager decides), and the rep's deal with a 20% discount,
which enters the process as it is created. The rep opens the deal: the panel says it awaits the
director, and no approve button is offered. The director opens My Work from the navigation bar,
finds the deal under "Awaiting my approval" and approves it there with a comment; the rep then
finds the deal approved, with the steps on its timeline, and editable again.
"""
from __future__ import annotations

import pytest
from django.urls import reverse

from access.actions import do_add_user, do_set_org_default, do_sign_up
from access.sharing_actions import do_create_role, do_set_user_role
from access.visibility import bind_org
from approvals.actions import do_save_approval_process
from approvals.models import ApprovalRequest
from crm.actions import do_create_record
from tests.e2e.browser import expect_labels, login, tr

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "approve-it-2026"


def test_discount_approval_story(page, live_server, language):
    from playwright.sync_api import expect

    base = live_server.url
    owner = do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                       first_name="Ada", last_name="Admin")
    org = owner.org
    admin = bind_org(owner.user, org, owner)
    do_set_org_default(org, "deals", "public_read_write", actor=admin)
    director_role = do_create_role(org, name="Sales director", actor=admin)
    rep_role = do_create_role(org, name="Sales rep", parent=director_role, actor=admin)
    rep_m = do_add_user(org, username="rita", email="rita@contoso.test", password=PASSWORD, role="standard",
                        first_name="Rita", last_name="Rep", actor=admin)
    dir_m = do_add_user(org, username="dora", email="dora@contoso.test", password=PASSWORD, role="standard",
                        first_name="Dora", last_name="Director", actor=admin)
    do_set_user_role(rep_m, rep_role, actor=admin)
    do_set_user_role(dir_m, director_role, actor=admin)
    do_save_approval_process(org, "deals", name="Discount above 12%", trigger="create_or_edit",
                             criteria={"all": [{"field": "discount", "op": "gt", "value": "12"}]},
                             levels=[{"rule": "any", "approvers": {"manager": True}}], actor=admin)
    rita = bind_org(rep_m.user, org, rep_m)
    deal = do_create_record("deals", {"name": "Northwind renewal", "amount": "12000", "discount": "20"}, actor=rita)
    request = ApprovalRequest.objects.get(record_id=deal.pk)
    deal_url = f"{base}/m/deals/{deal.pk}/"

    # 1. The rep sees the deal waiting for the director; nothing offers to approve it.
    login(page, base, "rita", PASSWORD, language)
    page.goto(deal_url)
    expect(page.get_by_test_id("approval-badge")).to_have_text(tr(language, "Awaiting approval"))
    message = page.get_by_test_id("approval-message")
    expect(message).to_contain_text(tr(language, "the owner's manager"))
    expect(message).to_contain_text("Dora Director")
    expect(page.get_by_test_id("approve")).to_have_count(0)
    page.context.clear_cookies()

    # 2. The director approves from My Work, reached from the navigation bar.
    login(page, base, "dora", PASSWORD, language)
    page.get_by_test_id("my-work-link").click()
    page.wait_for_url(f"{base}{reverse('work:index')}")
    section = page.get_by_test_id("work-section-approvals")
    expect_labels(section, language, "Awaiting my approval", "Approve", "Reject")
    item = section.locator(f"#approval-{request.pk}")
    expect(item).to_contain_text("Northwind renewal")
    item.locator("input[name=comment]").fill("Fine for a renewal")
    item.get_by_test_id("approve").click()
    expect(item.get_by_test_id("approval-result")).to_have_text(
        tr(language, "Approved: the approval is complete."))
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"
    page.context.clear_cookies()

    # 3. The rep finds it approved: the steps on the timeline, and the deal editable again.
    login(page, base, "rita", PASSWORD, language)
    page.goto(deal_url)
    expect(page.get_by_test_id("approval-last")).to_have_text(tr(
        language, "Approval “%(process)s”: %(status)s", process="Discount above 12%",
        status=tr(language, "Approved")))
    expect(page.locator(".timeline-entry[data-kind=approval_approved]")).to_have_count(1)
    expect(page.locator(".timeline-entry[data-kind=approval_submitted]")).to_contain_text(
        tr(language, "by approval “%(name)s”", name="Discount above 12%"))
    edit = page.locator(f"a[href='{reverse('crm:edit', args=['deals', deal.pk])}']")
    expect(edit).to_be_visible()
    expect(edit).to_contain_text(tr(language, "Edit"))


def test_configuring_a_process_with_levels_and_final_actions(page, live_server):
    """The administrator builds a process in the browser: "Add level" shows the next level, "Add
    an action" adds a row of the final actions (htmx), the kind picked shows its settings; all of
    it from the app's own files (no request leaves the server)."""
    from playwright.sync_api import expect

    from approvals.models import ApprovalProcess

    base = live_server.url
    do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
               first_name="Ada", last_name="Admin")
    elsewhere = []
    page.on("request", lambda request: None if request.url.startswith(base) else elsewhere.append(request.url))
    login(page, base, "boss", PASSWORD)
    page.goto(f"{base}{reverse('approvals:process_new', args=['deals'])}")
    page.fill("input[name=name]", "Big discounts")
    page.check("input[name=l1_manager]")
    expect(page.locator("fieldset[data-level='2']")).to_be_hidden()
    page.get_by_test_id("add-level").click()
    expect(page.locator("fieldset[data-level='2']")).to_be_visible()
    expect(page.locator("fieldset[data-level='3']")).to_be_hidden()
    page.get_by_test_id("add-level").click()
    expect(page.locator("fieldset[data-level='3']")).to_be_visible()
    page.fill("input[name=l2_superiors]", "1")
    page.check("input[name=l3_manager]")
    # The first final action: a field update; then one more row, a notification.
    page.select_option("select[name=approve0-type]", "field_update")
    page.select_option("select[name=approve0-field_update-field]", "stage")
    page.fill("input[name=approve0-field_update-value]", "negotiation")
    page.locator("[data-testid=add-action][data-editor=on_approve]").click()
    page.select_option("select[name=approve1-type]", "notify")
    page.check("input[name=approve1-notify-owner]")
    page.fill("textarea[name=approve1-notify-message]", "Approved")
    page.click("button:has-text('Save approval process')")
    page.wait_for_url(lambda url: url.endswith(reverse("approvals:processes", args=["deals"])))
    process = ApprovalProcess.objects.get(name="Big discounts")
    assert [level.approvers.get("superiors") or level.approvers.get("manager")
            for level in process.levels.order_by("order")] == [True, 1, True]
    assert [action["type"] for action in process.on_approve] == ["field_update", "notify"]
    assert elsewhere == []

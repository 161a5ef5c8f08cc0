"""The referral review in the browser: a sales rep enters a lead from an employee referral on its
page; it goes under review. The sales manager logs in and lands on My Work, where the navigation
bar counts it and "My reviews" lists it with the employee's name; she rejects the name from the
list with a reason. The rep sees why on the lead's page, fixes the name and saves (resubmitting
it); the manager marks the name reviewed from My Work and the lead is back in the rep's list.

Set-up (the org, two users in the org chart, the "Employee name" field and the process) is made
through the actions; the rest is done by people in the browser.
"""
from __future__ import annotations

import pytest

from access.actions import do_add_user, do_sign_up
from access.sharing_actions import do_create_role, do_set_user_role
from access.visibility import bind_org
from crm.actions import do_create_field
from reviews.actions import do_create_review_process
from reviews.models import ReviewCase
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "referral-check-2026"


def test_referral_review_story(page, browser, live_server):
    from playwright.sync_api import expect

    base = live_server.url
    admin = do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                       first_name="Ada", last_name="Admin")
    org = admin.org
    admin = bind_org(admin.user, org, admin)
    manager_role = do_create_role(org, name="Sales manager", actor=admin)
    rep_role = do_create_role(org, name="Sales rep", parent=manager_role, actor=admin)
    maria = do_add_user(org, username="maria", email="maria@contoso.test", password=PASSWORD, role="standard",
                        first_name="Maria", last_name="Manager", actor=admin)
    rob = do_add_user(org, username="rob", email="rob@contoso.test", password=PASSWORD, role="standard",
                      first_name="Rob", last_name="Rep", actor=admin)
    do_set_user_role(maria, manager_role, actor=admin)
    do_set_user_role(rob, rep_role, actor=admin)
    field = do_create_field(org, "leads", api_name="employee_name", label_en="Employee name", field_type="text",
                            actor=admin)
    do_create_review_process(org, "leads", {
        "name": "Referral check", "paths": ["page"], "fields": [field.key], "reviewers": {"roles": [manager_role.pk]},
        "criteria": {"all": [{"field": "source", "op": "eq", "value": "referral"}]}}, actor=admin)

    # The rep enters the referral lead on its page.
    login(page, base, "rob", PASSWORD)
    page.goto(f"{base}/m/leads/new/")
    page.fill("[name=last_name]", "Referred Lead")
    page.select_option("[name=source]", "referral")
    page.fill(f"[name={field.key}]", "Jane Emploee")
    page.click("form button.btn-primary >> nth=0")
    expect(page.get_by_test_id("review-panel")).to_have_attribute("data-status", "open")
    page.goto(f"{base}/m/leads/")
    expect(page.get_by_text("Referred Lead")).to_have_count(0)  # under review: out of the list
    page.context.clear_cookies()

    # The manager lands on My Work: counted in the navigation bar, listed under "My reviews".
    login(page, base, "maria", PASSWORD)
    expect(page).to_have_url(f"{base}/my-work/")
    expect(page.get_by_test_id("my-work-count")).to_have_text("1")
    review = page.get_by_test_id("work-review")
    expect(review).to_contain_text("Referred Lead")
    expect(review).to_contain_text("Jane Emploee")
    page.get_by_test_id(f"reject-reason-{field.key}").fill("Misspelt: Employee")
    page.get_by_test_id(f"reject-{field.key}").click()
    expect(page.get_by_test_id("work-review")).to_have_count(0)
    page.context.clear_cookies()

    # The rep reads why, fixes the name and saves: that resubmits it.
    login(page, base, "rob", PASSWORD)
    case = ReviewCase.objects.get(org=org)
    page.goto(f"{base}/m/leads/{case.record_id}/")
    expect(page.get_by_test_id("review-panel")).to_contain_text("Misspelt: Employee")
    page.goto(f"{base}/m/leads/{case.record_id}/edit/")
    page.fill(f"[name={field.key}]", "Jane Employee")
    page.click("form button.btn-primary >> nth=0")
    expect(page.get_by_test_id("review-panel")).to_have_attribute("data-status", "open")
    page.context.clear_cookies()

    # The manager marks the name reviewed from My Work: the review is approved.
    login(page, base, "maria", PASSWORD)
    expect(page.get_by_test_id("work-review")).to_contain_text("Jane Employee")
    page.get_by_test_id(f"mark-reviewed-{field.key}").click()
    expect(page.get_by_test_id("work-review")).to_have_count(0)
    case.refresh_from_db()
    assert case.status == ReviewCase.Status.APPROVED
    page.context.clear_cookies()

    login(page, base, "rob", PASSWORD)
    page.goto(f"{base}/m/leads/")
    expect(page.get_by_text("Referred Lead")).to_have_count(1)

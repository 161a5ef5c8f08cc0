"""A new administrator signs up, adds a colleague, and works with records in the browser."""
from __future__ import annotations

import re

import pytest
from django.core import mail

from access.models import Membership
from crm.models import Account
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_up_add_user_create_search_and_isolation(page, live_server):
    base = live_server.url
    page.goto(f"{base}/signup/")
    page.fill("input[name=org_name]", "Initech")
    page.fill("input[name=username]", "peter")
    page.fill("input[name=email]", "peter@initech.test")
    page.fill("input[name=password]", "tps-reports-2026")
    page.click("form button:has-text('Sign up')")
    # The address is confirmed by the link e-mailed; then the new organisation's administrator
    # lands on My Work, with the first steps to take.
    page.wait_for_url(f"{base}/accounts/confirm-email/")
    [message] = [m for m in mail.outbox if "peter@initech.test" in m.to]
    page.goto(base + re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", message.body)[1])
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/my-work/")
    assert page.locator("[data-testid=getting-started-users]").get_attribute("data-done") == "0"

    for module in ("accounts", "contacts", "leads", "deals", "tasks"):
        page.goto(f"{base}/m/{module}/")
        assert page.locator("h1").count() == 1

    page.goto(f"{base}/m/accounts/new/")
    page.fill("input[name=name]", "北京星辰科技有限公司")
    page.fill("input[name=phone]", "138 0013 8000")
    page.fill("input[name=website]", "not a web address")
    page.click("form button:has-text('Save')")
    assert page.locator(".invalid-feedback, .text-danger").first.is_visible()
    assert not Account.objects.exists()
    page.fill("input[name=website]", "www.xingchen.example")
    page.click("form button:has-text('Save')")
    page.wait_for_selector("text=Timeline")
    assert page.locator("[data-field=phone]").inner_text() == "13800138000"

    page.goto(f"{base}/m/accounts/?q=星辰")
    assert page.locator("table >> text=北京星辰科技有限公司").is_visible()
    page.goto(f"{base}/m/accounts/?q=8000")
    assert page.locator("table >> text=北京星辰科技有限公司").is_visible()

    page.goto(f"{base}/settings/users/")
    page.fill("#add-user-form input[name=username]", "milton")
    page.fill("#add-user-form input[name=email]", "milton@initech.test")
    page.select_option("#add-user-form select[name=role]", "standard")
    page.fill("#add-user-form input[name=password]", "red-stapler-2026")
    page.click("#add-user-form button")
    assert page.locator("[data-username=milton]").is_visible()
    assert Membership.objects.get(user__username="milton").org.name == "Initech"

    page.click("[data-testid=user-menu]")
    page.click("[data-testid=logout]")
    login(page, base, "milton", "red-stapler-2026")
    page.wait_for_url(f"{base}/my-work/")
    account = Account.objects.get()
    page.goto(f"{base}/m/accounts/{account.pk}/")
    assert page.locator("h1").inner_text() == "北京星辰科技有限公司"
    assert page.goto(f"{base}/settings/users/").status == 404

"""The customer pool, in the browser, in English and in Chinese.

Sally, a member of the "China East" leads pool, opens the Pools tab: the waiting lead's phone and
e-mail are masked. She claims it from the pool list, opens it and sees them whole, then releases
it back to the pool with a reason; its pool history names both moves.

Set-up (the org, the pool, the lead released into it) is made through the actions.
"""
from __future__ import annotations

import pytest

from access.actions import do_add_user, do_sign_up
from access.visibility import bind_org
from crm.actions import do_create_record
from crm.models import Lead
from pool.actions import do_release_records, do_save_pool
from tests.e2e.browser import expect_labels, login, tr

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "east-pool-2026"


def test_claim_from_the_pool_see_the_fields_release_with_a_reason(page, live_server, language):
    from playwright.sync_api import expect

    base = live_server.url
    membership = do_sign_up(org_name="Zylker East", username="boss", email="boss@east.test", password=PASSWORD,
                            first_name="Ada", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    sally = do_add_user(org, username="sally", email="sally@east.test", password=PASSWORD, role="standard",
                        first_name="Sally", last_name="Chen", actor=admin).user
    pool = do_save_pool(org, actor=admin, name="China East", module="leads", masked_fields=["phone", "email"],
                        members={"users": [sally]})
    lead = do_create_record("leads", {"last_name": "Zhang", "company": "Donghai Trading",
                                      "phone": "13800138000", "email": "zhang@donghai.example"}, actor=admin)
    do_release_records("leads", [lead.pk], pool.pk, actor=admin, reason="East region")

    login(page, base, "sally", PASSWORD, language)
    page.click("[data-testid=pools-tab]")
    row = page.locator(f"tr[data-record='{lead.pk}']")
    expect(row).to_contain_text("138****8000")
    expect(row).to_contain_text("z***@donghai.example")
    assert "13800138000" not in page.content()
    expect_labels(page.get_by_test_id("pool-table"), language, "In the pool since", "Claim")

    row.locator("[data-testid=claim-one]").click()
    expect(page.locator(".alert-success")).to_contain_text(tr(
        language, "%(count)d record claimed: it is yours now.",
        plural="%(count)d records claimed: they are yours now.", n=1, count=1))
    assert Lead.objects.get(pk=lead.pk).owner_id == sally.pk

    page.goto(f"{base}/m/leads/{lead.pk}/")
    expect(page.locator("main")).to_contain_text("13800138000")
    expect(page.locator("main")).to_contain_text("zhang@donghai.example")
    expect_labels(page.get_by_test_id("pool-release"), language, "Release to a pool", "Release")

    page.fill("[data-testid=pool-release-reason]", "Customer moved to Beijing")
    page.click("[data-testid=pool-release-button]")
    expect(page.locator(".alert-success")).to_contain_text(tr(
        language, "%(count)d record released to the pool.", plural="%(count)d records released to the pool.",
        n=1, count=1))
    history = page.get_by_test_id("pool-history")
    expect(history).to_contain_text("Customer moved to Beijing")
    expect_labels(history, language, "Pool history", "Claimed", "Released to the pool")
    expect(page.get_by_test_id("pool-badge")).to_contain_text(tr(language, "In the pool"))
    assert Lead.objects.get(pk=lead.pk).owner_id is None

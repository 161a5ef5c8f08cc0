"""Reassigning a leaver's records, in the browser.

Sam leaves Contoso; the administrator opens "Reassign records" from the users page, picks
"Deals" (the page reloads with criteria rows over the deals' fields), asks for the open deals
only, counts them, and hands them to Olga. The won deal stays with Sam.

Set-up (the org, its users, Sam's deals, his deactivation) is made through the actions.
"""
from __future__ import annotations

import pytest

from access.actions import do_add_user, do_set_membership_active, do_sign_up
from access.visibility import bind_org
from crm.actions import do_create_record
from crm.models import Deal
from tests.e2e.browser import choose, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "leaver-records-2026"


def test_reassign_a_leavers_open_deals(page, live_server):
    from playwright.sync_api import expect

    base = live_server.url
    membership = do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                            first_name="Ada", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    sam = do_add_user(org, username="sam", email="sam@contoso.test", password=PASSWORD, role="standard",
                      first_name="Sam", last_name="Leaver", actor=admin)
    olga = do_add_user(org, username="olga", email="olga@contoso.test", password=PASSWORD, role="standard",
                       first_name="Olga", last_name="Heir", actor=admin)
    sam_user = bind_org(sam.user, org, sam)
    open_deal = do_create_record("deals", {"name": "Northwind renewal", "stage": "negotiation"}, actor=sam_user)
    won = do_create_record("deals", {"name": "Fabrikam pilot", "stage": "won"}, actor=sam_user)
    do_set_membership_active(sam, False, actor=admin)

    login(page, base, "boss", PASSWORD)
    page.goto(f"{base}/settings/users/")
    page.click(f"a[href$='/users/{sam.pk}/reassign/']")
    expect(page.locator("[data-count=deals]")).to_have_text("2")
    assert page.locator("select[name=c0_field]").count() == 0

    # Choosing the module reloads the page with rows over its fields.
    page.select_option("#module", "deals")
    page.wait_for_url(lambda url: url.endswith("?module=deals"))
    page.select_option("#reassign-form select[name=c0_field]", "stage")
    page.select_option("#reassign-form select[name=c0_op]", "not_in")
    page.fill("#reassign-form input[name=c0_value]", "won, lost")
    choose(page, "#reassign-form select[name=owner]", "olga", "Olga Heir")
    page.click("#reassign-form button:has-text('Count matching records')")
    expect(page.locator("[data-testid=reassign-preview]")).to_have_text("1 record would move.")
    assert Deal.objects.get(pk=open_deal.pk).owner_id == sam.user.pk

    page.click("#reassign-form button:has-text('Reassign')")
    expect(page.locator(".alert-success")).to_contain_text("1 record reassigned.")
    expect(page.locator("[data-count=deals]")).to_have_text("1")
    assert Deal.objects.get(pk=open_deal.pk).owner_id == olga.user.pk
    assert Deal.objects.get(pk=won.pk).owner_id == sam.user.pk

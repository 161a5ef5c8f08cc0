"""Choosing a deal's account by typing part of its name, in English and in Chinese.

The deal form's account field is a type-ahead: the page holds no list of accounts, the
browser asks the server for matches as the user types (Chinese substrings too), and the
saved deal shows the chosen account."""
from __future__ import annotations

import re

import pytest

from access.actions import do_add_user, do_set_membership_active, do_sign_up
from access.visibility import bind_org
from crm.actions import do_create_record
from crm.models import Deal
from tests.e2e.browser import choose, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "type-ahead-2026"


def test_choose_an_account_by_typing_in_english_and_in_chinese(page, live_server):
    from playwright.sync_api import expect

    base = live_server.url
    membership = do_sign_up(org_name="Starlight", username="ada", email="ada@starlight.test", password=PASSWORD,
                            first_name="Ada", last_name="Admin")
    admin = bind_org(membership.user, membership.org, membership)
    for i in range(30):
        do_create_record("accounts", {"name": f"Filler account {i:02d}"}, actor=admin)
    northwind = do_create_record("accounts", {"name": "Northwind Traders", "city": "Seattle"}, actor=admin)
    xingchen = do_create_record("accounts", {"name": "上海星辰科技", "city": "上海"}, actor=admin)

    login(page, base, "ada", PASSWORD)
    page.goto(f"{base}/m/deals/new/")
    assert page.locator("select[name=account] option").count() <= 1  # no list of every account
    page.fill("input[name=name]", "Northwind renewal")
    wrapper = page.locator(".ts-wrapper").filter(has=page.locator(".ts-control input[placeholder='Type to search…']"))
    assert wrapper.count() >= 1
    page.locator("select[name=account] + .ts-wrapper .ts-control").click()
    page.locator("select[name=account] + .ts-wrapper .ts-control input").press_sequentially("zzz")
    expect(page.locator("select[name=account] + .ts-wrapper .ts-dropdown")).to_contain_text("No matches")
    page.locator("select[name=account] + .ts-wrapper .ts-control input").fill("")
    choose(page, "select[name=account]", "wind tra", "Northwind Traders")
    expect(page.locator("select[name=account] + .ts-wrapper .ts-control")).to_contain_text("Northwind Traders")
    page.click("form button.btn-primary")
    page.wait_for_url(re.compile(r"/m/deals/\d+/$"))
    deal = Deal.objects.get(name="Northwind renewal")
    assert deal.account_id == northwind.pk
    expect(page.locator("[data-field=account]")).to_contain_text("Northwind Traders")

    # The same in the Chinese UI, typing a Chinese substring.
    page.click("[data-testid=user-menu]")
    page.select_option("select[name=language]", "zh-hans")
    page.click("form[action$='/language/'] button")
    page.wait_for_load_state()
    page.goto(f"{base}/m/deals/new/")
    page.fill("input[name=name]", "星辰续约")
    control = page.locator("select[name=account] + .ts-wrapper .ts-control")
    expect(control.locator("input")).to_have_attribute("placeholder", "输入以搜索…")
    control.click()
    control.locator("input").press_sequentially("没有这个")
    expect(page.locator("select[name=account] + .ts-wrapper .ts-dropdown")).to_contain_text("没有匹配项")
    control.locator("input").fill("")
    choose(page, "select[name=account]", "星辰", "上海星辰科技")
    expect(page.locator("select[name=account] + .ts-wrapper .ts-dropdown .option").first).to_be_hidden()
    page.click("form button.btn-primary")
    page.wait_for_url(re.compile(r"/m/deals/\d+/$"))
    assert Deal.objects.get(name="星辰续约").account_id == xingchen.pk
    expect(page.locator("[data-field=account]")).to_contain_text("上海星辰科技")


def test_a_criteria_row_over_a_lookup_picks_records_by_name(page, live_server):
    """Reassigning a leaver's deals on one account: the criteria row's value is chosen by name."""
    from playwright.sync_api import expect

    base = live_server.url
    membership = do_sign_up(org_name="Starlight", username="ada", email="ada@starlight.test", password=PASSWORD,
                            first_name="Ada", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    sam = do_add_user(org, username="sam", email="sam@starlight.test", password=PASSWORD, role="standard",
                      first_name="Sam", last_name="Leaver", actor=admin)
    do_add_user(org, username="olga", email="olga@starlight.test", password=PASSWORD, role="standard",
                first_name="Olga", last_name="Heir", actor=admin)
    northwind = do_create_record("accounts", {"name": "Northwind Traders", "city": "Seattle"}, actor=admin)
    contoso = do_create_record("accounts", {"name": "Contoso", "city": "Paris"}, actor=admin)
    sam_user = bind_org(sam.user, org, sam)
    for name, account in (("Northwind renewal", northwind), ("Contoso pilot", contoso)):
        do_create_record("deals", {"name": name, "account": account.pk}, actor=sam_user)
    do_set_membership_active(sam, False, actor=admin)

    login(page, base, "ada", PASSWORD)
    page.goto(f"{base}/settings/users/{sam.pk}/reassign/?module=deals")
    value = "#reassign-form input[name=c0_value]"
    page.select_option("#reassign-form select[name=c0_field]", "account")
    page.select_option("#reassign-form select[name=c0_op]", "eq")
    choose(page, value, "north", "Northwind Traders")
    assert page.input_value(value) == str(northwind.pk)
    choose(page, "#reassign-form select[name=owner]", "olga", "Olga Heir")
    page.click("#reassign-form button:has-text('Count matching records')")
    expect(page.locator("[data-testid=reassign-preview]")).to_have_text("1 record would move.")
    # Shown again, the row names the account it holds.
    expect(page.locator(f"{value} + .ts-wrapper")).to_contain_text("Northwind Traders")
    # Another field: the value is plain text again, and empty.
    page.select_option("#reassign-form select[name=c0_field]", "name")
    expect(page.locator(f"{value} + .ts-wrapper")).to_have_count(0)
    assert page.input_value(value) == ""

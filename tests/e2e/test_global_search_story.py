"""A user presses "/" anywhere, types a customer's name into the top bar and opens the match."""
from __future__ import annotations

import pytest

from access.actions import do_sign_up
from crm import actions
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "tps-reports-2026"


def test_search_from_the_top_bar_in_english_and_chinese(page, live_server):
    membership = do_sign_up(org_name="Initech", username="peter", email="peter@initech.test", password=PASSWORD)
    user = membership.user
    user.org, user.membership = membership.org, membership
    account = actions.do_create_record("accounts", {"name": "北京星辰科技有限公司", "city": "北京"}, actor=user)
    actions.do_create_record("contacts", {"first_name": "Wang", "last_name": "Xingchen", "email": "wang@initech.test"},
                             actor=user)
    base = live_server.url
    login(page, base, "peter", PASSWORD)

    page.goto(f"{base}/m/deals/")
    page.keyboard.press("/")
    box = page.locator("[data-testid=global-search]")
    assert box.evaluate("el => el === document.activeElement")
    box.type("星辰")
    box.press("Enter")
    page.wait_for_url(f"{base}/search/?q=*")
    group = page.locator("[data-module=accounts]")
    assert group.locator("[data-testid=search-count]").inner_text() == "1"
    group.locator("text=北京星辰科技有限公司").click()
    page.wait_for_url(f"{base}{account.get_absolute_url()}")

    box = page.locator("[data-testid=global-search]")
    box.fill("xingchen")
    box.press("Enter")
    page.wait_for_selector("[data-module=contacts] >> text=Wang Xingchen")
    page.locator("[data-module=contacts] [data-testid=search-see-all]").click()
    page.wait_for_url(f"{base}/m/contacts/?q=xingchen")
    assert page.locator("table >> text=Xingchen").first.is_visible()

    page.locator("[data-testid=global-search]").fill("x")
    page.locator("[data-testid=global-search]").press("Enter")
    assert page.locator("[data-testid=search-problem]").inner_text() == "Type at least 2 characters."

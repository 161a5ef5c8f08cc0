"""Sessions and the security log in a real browser: a member signed in on two browsers; their
administrator opens the member's "Logins and sessions" from Settings > Users, sees both sessions
and signs them out everywhere; both browsers land on the login page at their next click, and the
security log says who did it (docs/security.md)."""
from __future__ import annotations

import os

import pytest

from access.actions import do_add_user, do_sign_up
from access.visibility import bind_org
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "security-story-2026"


def test_an_administrator_signs_a_member_out_everywhere(browser, live_server):
    from playwright.sync_api import expect

    signup = do_sign_up(org_name="Story", username="boss", email="boss@story.test", password=PASSWORD,
                        first_name="Bo", last_name="Boss")
    admin = bind_org(signup.user, signup.org, signup)
    do_add_user(admin.org, username="eve", email="eve@story.test", password=PASSWORD, role="standard",
                first_name="Eve", actor=admin)
    base = live_server.url
    contexts = [browser.new_context(user_agent=f"StoryBrowser/{n}") for n in (1, 2, 3)]
    phone, laptop, boss = [context.new_page() for context in contexts]
    for page in (phone, laptop, boss):
        page.set_default_timeout(15000)
    login(phone, base, "eve", PASSWORD)
    login(laptop, base, "eve", PASSWORD)
    login(boss, base, "boss", PASSWORD)

    # Eve sees her two sessions from the user menu, this one marked.
    laptop.goto(f"{base}/")
    laptop.get_by_test_id("user-menu").click()
    laptop.get_by_test_id("account-security-link").click()
    expect(laptop.locator("[data-testid=sessions] tbody tr")).to_have_count(2)
    expect(laptop.locator("[data-testid=sessions] tr[data-current]")).to_contain_text("StoryBrowser/2")

    boss.goto(f"{base}/settings/users/")
    boss.locator("tr[data-username=eve]").get_by_test_id("member-security").click()
    expect(boss.locator("[data-testid=sessions] tbody tr")).to_have_count(2)
    boss.on("dialog", lambda dialog: dialog.accept())
    boss.get_by_test_id("sign-out-everywhere").click()
    expect(boss.locator(".alert-success")).to_contain_text("signed out everywhere")
    expect(boss.get_by_test_id("no-sessions")).to_be_visible()

    for page in (phone, laptop):
        page.reload()
        page.wait_for_url(lambda url: "/login/" in url)

    boss.get_by_test_id("user-menu").click()
    boss.goto(f"{base}/settings/security-log/")
    entry = boss.locator("tr[data-kind=signed_out_everywhere]")
    expect(entry).to_contain_text("Eve")
    expect(entry).to_contain_text("Bo Boss")
    expect(boss.locator("tr[data-kind=login]")).to_have_count(3)
    if os.environ.get("SECURITY_STORY_SCREENSHOT"):
        boss.screenshot(path=os.environ["SECURITY_STORY_SCREENSHOT"], full_page=True)
    for context in contexts:
        context.close()

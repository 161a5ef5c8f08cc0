"""Accounts in a real browser: a login locked out after five wrong passwords says so on the login
page, and a user whose password an administrator set must change it before anything else; in
English and in Chinese (docs/security.md)."""
from __future__ import annotations

import pytest

from access.actions import do_add_user, do_sign_up
from access.visibility import bind_org
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "accounts-story-2026"


def _org():
    signup = do_sign_up(org_name="Story", username="boss", email="boss@story.test", password=PASSWORD)
    admin = bind_org(signup.user, signup.org, signup)
    for name in ("eve", "wu"):
        do_add_user(admin.org, username=name, email=f"{name}@story.test", password=PASSWORD, role="standard",
                    actor=admin)
    return admin


def _fail_five_times(page, base: str, username: str, submit: str) -> None:
    page.goto(f"{base}/login/")
    for _ in range(5):
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "wrong-password-123")
        page.click(f"form button:has-text('{submit}')")


@pytest.mark.parametrize("locale, submit, locked_text", [
    ("en-US", "Log in", "locked for 15 minutes"),
    ("zh-CN", "登录", "锁定 15 分钟"),
])
def test_locked_out_login_says_so(browser, live_server, locale, submit, locked_text):
    from playwright.sync_api import expect

    _org()
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.set_default_timeout(15000)
    username = "eve" if locale == "en-US" else "wu"
    _fail_five_times(page, live_server.url, username, submit)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click(f"form button:has-text('{submit}')")
    expect(page.get_by_test_id("locked-out")).to_contain_text(locked_text)
    expect(page.locator("input[name=username]")).to_be_visible()
    assert "/login/" in page.url
    context.close()


@pytest.mark.parametrize("username, language, change_text", [
    ("eve", "en", "Change your password"), ("wu", "zh-hans", "修改密码")])
def test_password_set_by_an_administrator_must_be_changed(browser, live_server, username, language, change_text):
    from playwright.sync_api import expect

    from access.actions import do_set_language
    from access.models import User

    _org()
    do_set_language(User.objects.get(username=username), language)  # the user's own language
    base = live_server.url
    admin_context = browser.new_context()
    admin_page = admin_context.new_page()
    admin_page.set_default_timeout(15000)
    login(admin_page, base, "boss", PASSWORD)
    admin_page.goto(f"{base}/settings/users/")
    admin_page.locator(f"tr[data-username={username}] a", has_text="Set password").click()
    admin_page.fill("input[name=password]", "weakpw12")
    admin_page.click("form button:has-text('Set password')")
    expect(admin_page.locator("#id_password")).to_have_attribute("aria-invalid", "true")
    expect(admin_page.locator("#id_password_error")).to_contain_text("at least 12 characters")
    admin_page.fill("input[name=password]", "temporary-pass-77")
    admin_page.click("form button:has-text('Set password')")
    admin_page.wait_for_url(f"{base}/settings/users/")
    admin_context.close()

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "temporary-pass-77")
    page.locator("form button.btn-primary").click()
    page.wait_for_url(f"{base}/account/password/")
    expect(page.get_by_test_id("password-change-required")).to_be_visible()
    expect(page.locator("h1")).to_contain_text(change_text)
    expect(page.locator("h1")).to_have_count(1)  # the navigation's counters did not load the page into it
    page.goto(f"{base}/m/accounts/")
    page.wait_for_url(f"{base}/account/password/")
    page.fill("input[name=old_password]", "temporary-pass-77")
    page.fill("input[name=new_password1]", "my-own-secret-81")
    page.fill("input[name=new_password2]", "my-own-secret-81")
    page.locator("form button.btn-primary").click()
    page.wait_for_url(lambda url: "/account/password/" not in url and "/login/" not in url)
    page.goto(f"{base}/m/accounts/")
    assert page.url == f"{base}/m/accounts/"
    context.close()

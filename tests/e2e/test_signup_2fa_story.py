"""A new organisation in a real browser: sign up, confirm the e-mail address by its link, turn on
two-factor authentication (the secret read off the page, the code computed as an authenticator app
would), log out, log in with the password and a code, and create the first team space and team
module; in English and in Chinese (docs/security.md)."""
from __future__ import annotations

import re

import pytest

from tests.access.test_allauth import totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "signup-story-2026"


def _submit(page) -> None:
    page.locator("main form button[type=submit], main form button.btn-primary").first.click()


@pytest.mark.parametrize("locale, texts", [
    ("en-US", {"signup": "Create an organisation", "verify": "Verify Your Email Address",
               "two_factor": "Two-factor authentication", "codes": "Recovery Codes", "code_page": "Two-Factor"}),
    ("zh-CN", {"signup": "创建组织", "verify": "验证您的Email地址", "two_factor": "双因素身份认证",
               "codes": "恢复代码", "code_page": "双因素身份认证"}),
])
def test_sign_up_verify_turn_on_two_factor_and_start_a_team(browser, live_server, locale, texts):
    from django.core import mail
    from playwright.sync_api import expect

    from access.models import Membership
    from teams.models import TeamModule, TeamSpace

    base = live_server.url
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.set_default_timeout(15000)
    expect.set_options(timeout=15000)

    # Sign up: the organisation and its administrator; the address is confirmed by e-mail.
    page.goto(f"{base}/signup/")
    expect(page.locator("h1")).to_have_text(texts["signup"])
    page.fill("input[name=org_name]", "Initech")
    page.fill("input[name=username]", "peter")
    page.fill("input[name=email]", "peter@initech.test")
    page.fill("input[name=password]", PASSWORD)
    _submit(page)
    page.wait_for_url(f"{base}/accounts/confirm-email/")
    expect(page.locator("h1")).to_contain_text(texts["verify"])
    [message] = [m for m in mail.outbox if "peter@initech.test" in m.to]
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", message.body)[1]
    page.goto(f"{base}{link}")
    _submit(page)
    page.wait_for_url(f"{base}/my-work/")

    # Two-factor authentication, from the account page: the password again, then the app's code.
    page.click("[data-testid=user-menu]")
    page.click("[data-testid=account-link]")
    expect(page.get_by_test_id("two-factor")).to_contain_text(texts["two_factor"])
    page.click("[data-testid=two-factor-set-up]")
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("input[name=password]", PASSWORD)
    _submit(page)
    page.wait_for_url(f"{base}/accounts/2fa/totp/activate/")
    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert page.locator("img.account-qr").get_attribute("src").startswith("data:image/svg+xml;base64,")
    page.fill("input[name=code]", totp_code(secret))
    _submit(page)
    page.wait_for_url(f"{base}/accounts/2fa/recovery-codes/")
    expect(page.locator("h1")).to_contain_text(texts["codes"])

    # Log out; logging in asks for a code after the password.
    page.click("[data-testid=user-menu]")
    page.click("[data-testid=logout]")
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("input[name=username]", "peter")
    page.fill("input[name=password]", PASSWORD)
    _submit(page)
    page.wait_for_url(f"{base}/accounts/2fa/authenticate/")
    expect(page.locator("h1")).to_contain_text(texts["code_page"])
    page.fill("input[name=code]", totp_code(secret))
    _submit(page)
    page.wait_for_url(f"{base}/my-work/")

    # The first team space and its first module.
    page.goto(f"{base}/teams/")
    page.fill("#space-form input[name=name_en]", "Marketing")
    page.fill("#space-form input[name=name_zh]", "市场部")
    page.locator("#space-form button").click()
    page.wait_for_url(re.compile(r"/teams/\d+/$"))
    page.locator("a[href$='/modules/new/']").click()
    page.fill("#module-form input[name=name_en]", "Campaigns")
    page.fill("#module-form input[name=name_zh]", "营销活动")
    page.locator("#module-form button.btn-primary").click()
    page.wait_for_url(re.compile(r"/teams/modules/\d+/fields/$"))

    membership = Membership.objects.get(user__username="peter")
    space = TeamSpace.objects.get(org=membership.org)
    assert TeamModule.objects.filter(space=space, name_en="Campaigns").exists()
    context.close()

"""Bad data stopped at the door, in the browser: layout and validation rules on leads.

The administrator creates a layout rule ("Referrals": when the source is Referral, show the
Referrer field and make it required) and a validation rule (a referral needs its company, the
message shown under Company). On the new lead form the Referrer field is hidden; choosing the
source Referral shows it, marked required, without a reload. Saving without a company shows the
rule's message under Company; with one, the lead is created.

Set-up (the org, its administrator and the custom field "Referrer") is made through the actions;
the rules and the lead are made by the administrator in the browser.
"""
from __future__ import annotations

import pytest

from access.actions import do_sign_up
from access.visibility import bind_org
from crm.actions import do_create_field
from crm.models import Lead
from crm.modules import get_module
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "referral-rules-2026"
MESSAGE = "A referral needs the referring company."


def test_layout_and_validation_rules_story(page, live_server):
    from playwright.sync_api import expect

    base = live_server.url
    admin = do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                       first_name="Ada", last_name="Admin")
    org = admin.org
    admin = bind_org(admin.user, org, admin)
    do_create_field(org, "leads", api_name="referrer", label_en="Referrer", field_type="text", actor=admin)
    referrer = get_module("leads", org).bind(org).field("referrer").key

    # 1. The layout rule, on the settings page.
    login(page, base, "boss", PASSWORD)
    page.goto(f"{base}/settings/automation/m/leads/layout/")
    page.click("[data-testid=new-rule]")
    page.fill("#rule-form input[name=name]", "Referrals")
    page.select_option("#rule-form select[name=c0_field]", "source")
    page.select_option("#rule-form select[name=c0_op]", "eq")
    page.fill("#rule-form input[name=c0_value]", "referral")
    page.check(f"[data-testid=show-fields] input[value='{referrer}']")
    page.check(f"[data-testid=require-fields] input[value='{referrer}']")
    page.click("#rule-form button:has-text('Create layout rule')")
    expect(page.locator("tr[data-rule=Referrals]")).to_contain_text("Source equals referral")

    # 2. The validation rule.
    page.goto(f"{base}/settings/automation/m/leads/validation/")
    page.click("[data-testid=new-rule]")
    page.fill("#rule-form input[name=name]", "Referral needs company")
    page.select_option("#rule-form select[name=c0_field]", "source")
    page.select_option("#rule-form select[name=c0_op]", "eq")
    page.fill("#rule-form input[name=c0_value]", "referral")
    page.select_option("#rule-form select[name=c1_field]", "company")
    page.select_option("#rule-form select[name=c1_op]", "is_empty")
    page.fill("#rule-form input[name=message_en]", MESSAGE)
    page.select_option("#rule-form select[name=field]", "company")
    page.click("#rule-form button:has-text('Create validation rule')")
    expect(page.locator("tr[data-rule='Referral needs company']")).to_contain_text(MESSAGE)

    # 3. The new lead form: Referrer appears, required, when the source is Referral.
    page.goto(f"{base}/m/leads/new/")
    box = page.locator(f"#div_id_{referrer}")
    expect(box).to_be_hidden()
    page.evaluate("window.notReloaded = true")
    page.fill("input[name=last_name]", "Chen")
    page.select_option("select[name=source]", "referral")
    expect(box).to_be_visible()
    expect(box.locator(".asteriskField")).to_be_visible()
    expect(page.locator(f"#id_{referrer}")).to_have_attribute("aria-required", "true")
    page.select_option("select[name=source]", "web")
    expect(box).to_be_hidden()
    page.select_option("select[name=source]", "referral")
    expect(box).to_be_visible()
    assert page.evaluate("window.notReloaded === true")

    # 4. Saving without a company: the rule's message under Company; nothing saved.
    page.fill(f"#id_{referrer}", "Dana from Fabrikam")
    page.click("form#record-form button:has-text('Save')")
    expect(page.locator("#div_id_company")).to_contain_text(MESSAGE)
    expect(page.locator(f"#div_id_{referrer}")).to_be_visible()  # still shown for the posted source
    assert not Lead.objects.filter(last_name="Chen").exists()

    # 5. With the company, the lead is created.
    page.fill("input[name=company]", "Fabrikam")
    page.click("form#record-form button:has-text('Save')")
    page.wait_for_url(lambda url: "/new/" not in url)
    lead = Lead.objects.get(last_name="Chen")
    assert lead.company == "Fabrikam" and lead.custom.get(referrer) == "Dana from Fabrikam"

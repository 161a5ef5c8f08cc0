"""Assignment rules in the browser: new web leads go to the sales rep.

An administrator creates the assignment rule "Web leads" for leads with one entry (source is
web -> round robin over Rita), dry-runs it (the existing web lead would go to Rita; nothing
changes), and activates it. Rita is logged in elsewhere with no notification. The administrator
creates a web lead: its page shows Rita as the owner and the timeline names the rule. Rita's bell
count rises to 1 on her next page (the bell also polls every 30 s; reloading saves the wait).

Set-up is limited to the org, its two users and one existing lead, made through the actions;
everything else is done by people in the browser.
"""
from __future__ import annotations

import pytest

from access.actions import do_add_user, do_sign_up
from access.visibility import bind_org
from crm.actions import do_create_record
from crm.models import Lead
from tests.e2e.browser import choose, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "web-leads-2026"


def test_web_leads_story(page, browser, live_server):
    from playwright.sync_api import expect

    base = live_server.url
    admin = do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                       first_name="Ada", last_name="Admin")
    org = admin.org
    admin = bind_org(admin.user, org, admin)
    do_add_user(org, username="rita", email="rita@contoso.test", password=PASSWORD, role="standard",
                first_name="Rita", last_name="Rep", actor=admin)
    existing = do_create_record("leads", {"last_name": "Older", "source": "web"}, actor=admin)

    # The administrator creates the rule and its entry.
    login(page, base, "boss", PASSWORD)
    page.goto(f"{base}/settings/automation/m/leads/assignment/")
    page.click("[data-testid=new-assignment-rule]")
    page.fill("input[name=name]", "Web leads")
    page.click("form button.btn-primary")
    expect(page.locator("h2")).to_contain_text("Web leads")
    page.click("[data-testid=add-entry]")
    page.select_option("select[name=c0_field]", "source")
    page.select_option("select[name=c0_op]", "eq")
    page.fill("input[name=c0_value]", "web")
    page.check("input[name=method][value=round_robin]")
    page.check("input[name=pool][value=users]")
    choose(page, "select[name=pool_users]", "Rit", "Rita Rep")
    page.click("[data-testid=save-entry]")
    expect(page.locator("[data-testid=entries]")).to_contain_text("Round robin: Rita Rep")

    # The dry run says what would happen, and changes nothing.
    page.click("[data-testid=dry-run]")
    row = page.locator("[data-testid=dry-run-rows] tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Older")
    expect(row.locator("[data-testid=would-assign]")).to_have_text("Rita Rep")
    assert Lead.objects.get(pk=existing.pk).owner_id == admin.pk

    page.click("[data-testid=activate]")
    expect(page.locator("[data-testid=rule-state]")).to_have_text("Active")

    # Rita, in her own browser, has nothing new.
    rita_context = browser.new_context()
    rita = rita_context.new_page()
    rita.set_default_timeout(15000)
    login(rita, base, "rita", PASSWORD)
    rita.goto(f"{base}/m/leads/")
    expect(rita.locator("[data-testid=bell]")).to_be_visible()
    expect(rita.locator("[data-testid=bell-count]")).to_have_count(0)

    # The administrator creates a web lead: it is Rita's at once.
    page.goto(f"{base}/m/leads/new/")
    page.fill("input[name=last_name]", "Newcomer")
    page.select_option("select[name=source]", "web")
    page.click("form button.btn-primary >> nth=0")
    expect(page.locator("h1")).to_have_text("Newcomer")
    expect(page.locator("#field-owner")).to_have_text("Rita Rep")
    expect(page.locator("body")).to_contain_text("by rule “Web leads”")
    assert Lead.objects.get(pk=existing.pk).owner_id == admin.pk  # the rule runs on new records only

    # Rita's bell counts it on her next page.
    rita.reload()
    expect(rita.locator("[data-testid=bell-count]")).to_have_text("1")
    rita.click("[data-testid=bell]")
    expect(rita.locator("body")).to_contain_text("Newcomer")
    rita_context.close()

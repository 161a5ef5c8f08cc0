"""The blueprint story in the browser: an administrator builds a deal blueprint in the editor
(two transitions, the second asking for the amount and a file), publishes it, and moves a deal
through it from the deal's page; the stage cannot be edited by hand meanwhile.

Set-up is limited to the org and one deal, made through the actions; everything else is done in
the browser."""
from __future__ import annotations

import re

import pytest

from access.actions import do_sign_up
from access.visibility import bind_org
from blueprints.models import Blueprint
from crm.actions import do_create_record
from crm.models import Attachment, Deal
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "blueprint-story-2026"


def add_transition(page, name, from_state, to_state, *, fields=(), required=(), attachment=False):
    page.click("[data-testid=add-transition]")
    form = page.locator("[data-testid=transition-side-form]")
    form.locator("input[name=name]").fill(name)
    form.locator(f"input[name=from_states][value={from_state}]").check()
    form.locator("select[name=to_state]").select_option(to_state)
    for key in fields:
        form.locator(f"input[name=during_fields][value={key}]").check()
    for key in required:
        form.locator(f"input[name=required_fields][value={key}]").check()
    if attachment:
        form.locator("input[name=attachment]").check()
    form.locator("[data-testid=save-transition]").click()
    page.wait_for_selector(f"[data-testid=transitions] tr[data-transition='{name}']")


def test_blueprint_story(page, live_server, tmp_path):
    base = live_server.url
    admin = do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                       first_name="Ada", last_name="Admin")
    org = admin.org
    admin = bind_org(admin.user, org, admin)
    deal = do_create_record("deals", {"name": "Northwind renewal"}, actor=admin)

    # 1. Build the blueprint in the editor.
    login(page, base, "boss", PASSWORD)
    page.goto(f"{base}/settings/blueprints/m/deals/")
    page.fill("[data-testid=new-blueprint] input[name=name]", "Renewals")
    page.select_option("[data-testid=new-blueprint] select[name=field]", "stage")
    page.click("[data-testid=new-blueprint] button:has-text('Create draft')")
    page.wait_for_url(re.compile(r"/settings/blueprints/\d+/$"))
    assert page.locator("[data-testid=blueprint-status]").inner_text() == "Draft"
    add_transition(page, "Propose", "qualification", "proposal")
    add_transition(page, "Close won", "proposal", "won", fields=["amount"], required=["amount"], attachment=True)
    # The graph draws both transitions; an arrow opens its transition in the side form.
    graph = page.locator("[data-testid=editor-graph] svg")
    assert graph.locator(".bp-edge").count() == 2
    graph.locator(".bp-edge[data-transition] >> nth=1").click()
    page.wait_for_selector("[data-testid=transition-side-form]")
    assert page.locator("[data-testid=transition-side-form] input[name=name]").input_value() in ("Propose", "Close won")
    page.click("[data-testid=publish]")
    page.wait_for_selector("[data-testid=blueprint-status]:has-text('Published')")
    assert Blueprint.objects.get(org=org, name="Renewals").status == "published"

    # 2. Move the deal through it.
    page.goto(f"{base}/m/deals/{deal.pk}/")
    panel = page.locator("[data-testid=blueprint-panel]")
    assert panel.locator("[data-testid=blueprint-state]").inner_text() == "Qualification"
    assert panel.locator(".bp-current").get_attribute("data-state") == "qualification"
    assert panel.locator("[data-transition='Close won']").count() == 0
    panel.locator("[data-transition='Propose']").click()
    page.click("[data-testid=transition-submit]")
    page.wait_for_url(f"{base}/m/deals/{deal.pk}/")
    assert panel.locator("[data-testid=blueprint-state]").inner_text() == "Proposal"

    # 3. The transition that asks for the amount and a file: refused without them.
    panel.locator("[data-transition='Close won']").click()
    page.wait_for_selector("[data-testid=transition-form]")
    contract = tmp_path / "contract.pdf"
    contract.write_bytes(b"%PDF-1.4 signed")
    page.fill("input[name=amount]", "25000")
    page.set_input_files("input[name=attachment]", str(contract))
    page.click("[data-testid=transition-submit]")
    page.wait_for_url(f"{base}/m/deals/{deal.pk}/")
    assert panel.locator("[data-testid=blueprint-state]").inner_text() == "Closed won"
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.stage, stored.amount) == ("won", 25000)
    assert Attachment.objects.filter(record_id=deal.pk, name="contract.pdf").exists()
    # The stage is read-only on the edit page, with the reason.
    page.goto(f"{base}/m/deals/{deal.pk}/edit/")
    assert page.locator("select[name=stage]").is_disabled()
    assert "moves only through the blueprint's transitions" in page.content().replace("&#x27;", "'")

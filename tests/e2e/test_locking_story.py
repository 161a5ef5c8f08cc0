"""Demand A of record locking, in the browser, in English and in Chinese: closed deals are
locked for sales reps.

An administrator switches locking on for deals and creates the rule "Closed deals" (stage is
won, locked for the "Sales rep" profile), then closes a deal as won by editing its stage in
place. The rep opens the won deal: the lock badge names the rule, the Edit button is disabled
with the reason as its tooltip, no field offers inline editing, and the edit page typed in by
hand is refused with the same reason and cannot be saved. An open deal is still
edited in place by the rep (Escape cancels an edit). The administrator reopens the won deal,
and the rep can then edit it.

Set-up is limited to the org, its two users, the rep's profile and two deals, made through the
actions; everything else is done by people in the browser.
"""
from __future__ import annotations

import re

import pytest

from access.actions import do_add_user, do_sign_up
from access.models import Profile
from access.sharing_actions import do_clone_profile, do_set_user_profile
from access.visibility import bind_org
from crm.actions import do_create_record
from crm.models import Deal
from locking.models import LockRule, RecordLock
from tests.e2e.browser import expect_labels, login, tr

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "closed-deals-2026"
RULE = "Closed deals"


def edit_in_place(page, key):
    """Open a field's inline editor; returns its input."""
    page.click(f"[data-field={key}] [data-inline-edit]")
    field = page.locator(f"#inline-{key}")
    field.wait_for()
    # htmx takes over the new form once its swap has settled; a key pressed before that would
    # submit it natively instead (on a loaded machine the gap is long enough to hit).
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    return field


def deal_url(base, deal):
    return f"{base}/m/deals/{deal.pk}/"


def test_closed_deals_story(page, new_page, live_server, language):
    from playwright.sync_api import expect

    base = live_server.url
    # Chinese writes amounts without a thousands separator (Django's zh_Hans number format).
    money = (lambda text: text.replace(",", "")) if language == "zh-hans" else (lambda text: text)
    locked_badge = tr(language, "Locked by rule: %(name)s", name=RULE)
    edit_refused = tr(language, "Locked by rule “%(rule)s”: %(what)s.", rule=RULE,
                      what=tr(language, "you may not edit this record"))

    # Set-up: the org, its administrator, a sales rep with the "Sales rep" profile, two of her deals.
    admin = do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                       first_name="Ada", last_name="Admin")
    org = admin.org
    admin = bind_org(admin.user, org, admin)
    rep = do_add_user(org, username="rita", email="rita@contoso.test", password=PASSWORD, role="standard",
                      first_name="Rita", last_name="Rep", actor=admin)
    profile = do_clone_profile(Profile.objects.get(org=org, name="Standard"), "Sales rep", actor=admin)
    do_set_user_profile(rep, profile, actor=admin)
    rita = bind_org(rep.user, org, rep)
    renewal = do_create_record("deals", {"name": "Northwind renewal", "stage": "negotiation", "amount": "12000"},
                               actor=rita)
    pilot = do_create_record("deals", {"name": "Fabrikam pilot", "stage": "proposal", "amount": "3000"}, actor=rita)

    # 1. The administrator switches locking on for deals and creates the rule.
    login(page, base, "boss", PASSWORD, language)
    page.goto(f"{base}/settings/locking/m/deals/")
    expect_labels(page.locator("main"), language, "Manual locking", "Lock rules")
    page.check("#id_enabled")
    page.locator("#config-form button", has_text=tr(language, "Save")).click()
    page.wait_for_selector(".alert-success")
    page.locator("a", has_text=tr(language, "New lock rule")).click()
    expect_labels(page.locator("#rule-form"), language, "Which records", "Who and what")
    page.fill("#rule-form input[name=name]", RULE)
    page.select_option("#rule-form select[name=c0_field]", "stage")
    page.select_option("#rule-form select[name=c0_op]", "eq")
    page.fill("#rule-form input[name=c0_value]", "won")
    page.check("#rule-form input[name=locked_for][value=selected]")
    page.check(f"#rule-form input[name=profiles][value='{profile.pk}']")
    page.check("#rule-form input[name=restricted_actions][value=edit]")
    page.locator("#rule-form button", has_text=tr(language, "Create lock rule")).click()
    page.wait_for_selector("[data-testid=apply-offer]")
    rule = LockRule.objects.get(org=org, module="deals")
    assert (rule.name, rule.criteria, rule.locked_for, rule.profiles) == (
        RULE, {"all": [{"field": "stage", "op": "eq", "value": "won"}]}, "selected", [profile.pk])
    assert "edit" in rule.restricted_actions

    # 2. She closes the renewal as won, in place: the page reloads with the lock badge.
    page.goto(deal_url(base, renewal))
    edit_in_place(page, "stage").select_option("won")
    page.click("[data-field=stage] [data-inline-save]")
    expect(page.locator("[data-testid=lock-badge]")).to_have_text(locked_badge)
    assert Deal.objects.get(pk=renewal.pk).stage == "won"
    assert RecordLock.objects.filter(record_id=renewal.pk, rule=rule).exists()
    assert page.locator("[data-inline-edit]").count() > 0  # the rule exempts her

    # 3. The rep opens the won deal: badge, disabled Edit with the reason, no inline editing;
    #    the edit page, typed in by hand, is refused: the reason, and no way to save.
    rep_page = new_page()
    login(rep_page, base, "rita", PASSWORD, language)
    rep_page.goto(deal_url(base, renewal))
    expect(rep_page.locator("[data-testid=lock-badge]")).to_have_text(locked_badge)
    edit = rep_page.locator("[data-blocked=edit]")
    expect(edit).to_have_attribute("title", edit_refused)
    expect(edit.locator("button")).to_be_disabled()
    expect(edit).to_contain_text(tr(language, "Edit"))
    assert rep_page.locator("[data-inline-edit]").count() == 0
    expect(rep_page.locator("[data-field-locked=amount]")).to_have_attribute("title", locked_badge)
    assert rep_page.goto(f"{deal_url(base, renewal)}edit/").status == 403
    expect(rep_page.locator(".alert[data-blocked=edit]")).to_have_text(edit_refused)
    expect(rep_page.locator("main form button", has_text=tr(language, "Save"))).to_be_disabled()

    # 4. An open deal is hers to edit in place; Escape puts a field back as it was.
    rep_page.goto(deal_url(base, pilot))
    assert rep_page.locator("[data-testid=lock-badge]").count() == 0
    edit_in_place(rep_page, "name").fill("Something else")
    rep_page.keyboard.press("Escape")
    expect(rep_page.locator("[data-field=name]")).to_have_text("Fabrikam pilot")
    expect(rep_page.locator("[data-field=name] [data-inline-edit]")).to_be_visible()
    amount = edit_in_place(rep_page, "amount")
    amount.fill("4200")
    amount.press("Enter")
    expect(rep_page.locator("[data-field=amount]")).to_have_text(money("4,200.00"))
    expect(rep_page.locator("#timeline-entries .timeline-entry").first).to_contain_text(tr(language, "by inline edit"))
    stored = Deal.objects.get(pk=pilot.pk)
    assert (str(stored.amount), stored.name) == ("4200.00", "Fabrikam pilot")

    # 5. The administrator reopens the renewal; the rep can then edit it.
    page.goto(deal_url(base, renewal))
    edit_in_place(page, "stage").select_option("negotiation")
    page.click("[data-field=stage] [data-inline-save]")
    expect(page.locator("[data-testid=lock-badge]")).to_have_count(0)
    assert not RecordLock.objects.filter(record_id=renewal.pk).exists()

    rep_page.goto(deal_url(base, renewal))
    assert rep_page.locator("[data-blocked=edit]").count() == 0
    amount = edit_in_place(rep_page, "amount")
    amount.fill("11000")
    amount.press("Enter")
    expect(rep_page.locator("[data-field=amount]")).to_have_text(money("11,000.00"))
    assert str(Deal.objects.get(pk=renewal.pk).amount) == "11000.00"
    assert re.fullmatch(rf"{re.escape(base)}/m/deals/{renewal.pk}/", rep_page.url)

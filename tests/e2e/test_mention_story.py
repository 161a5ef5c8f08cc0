"""A mention, in the browser: Ann mentions Ben in a note on a contact; Ben, on another page,
sees his bell count rise without reloading, opens the notification and lands on the note.

Set-up (the org, Ann, Ben and the contact) is made through the actions."""
from __future__ import annotations

import re

import pytest

from access.actions import do_add_user, do_sign_up
from access.visibility import bind_org, can
from crm.actions import do_create_record
from crm.modules import get_module
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mention-story-2026"


def test_a_mention_rings_the_bell_and_leads_to_the_note(page, browser, live_server, settings):
    from playwright.sync_api import expect

    settings.NOTIFICATION_POLL_SECONDS = 1  # the bell asks every second: the story need not wait 30 s
    base = live_server.url
    boss = do_sign_up(org_name="Fabrikam", username="boss", email="boss@fabrikam.test", password=PASSWORD,
                      first_name="Ada", last_name="Admin")
    org = boss.org
    admin = bind_org(boss.user, org, boss)
    ann = do_add_user(org, username="ann", email="ann@fabrikam.test", password=PASSWORD, role="standard",
                      first_name="Ann", last_name="Author", actor=admin)
    ben = do_add_user(org, username="ben", email="ben@fabrikam.test", password=PASSWORD, role="standard",
                      first_name="Ben", last_name="Reader", actor=admin)
    contact = do_create_record("contacts", {"last_name": "Northwind"}, actor=bind_org(ann.user, org, ann))
    assert can(bind_org(ben.user, org, ben), get_module("contacts", org), contact.pk, "view")

    # Ben waits on his home page.
    login(page, base, "ben", PASSWORD)
    expect(page.locator("[data-testid=bell]")).to_be_visible()
    assert page.locator("[data-testid=bell-count]").count() == 0

    # Ann, in her own browser, mentions him.
    ann_context = browser.new_context()
    try:
        ann_page = ann_context.new_page()
        ann_page.set_default_timeout(15000)
        login(ann_page, base, "ann", PASSWORD)
        ann_page.goto(f"{base}/m/contacts/{contact.pk}/")
        ann_page.fill("#notes textarea[name=body]", "@ben can you call them this week?")
        ann_page.click("#notes button:has-text('Add note')")
        expect(ann_page.locator("#notes")).to_contain_text("can you call them this week?")
    finally:
        ann_context.close()

    # Ben's bell rises on its own; he follows the notification to the note.
    expect(page.locator("[data-testid=bell-count]")).to_have_text("1")
    page.click("[data-testid=bell]")
    page.wait_for_url(re.compile(r"/notifications/$"))
    link = page.locator("[data-testid=notification-unread] a", has_text="Ann Author mentioned you in a note on")
    link.click()
    page.wait_for_url(re.compile(rf"/m/contacts/{contact.pk}/#note-\d+$"))
    note_id = page.url.rsplit("#note-", 1)[1]
    expect(page.locator(f"#note-{note_id}")).to_contain_text("@ben can you call them this week?")

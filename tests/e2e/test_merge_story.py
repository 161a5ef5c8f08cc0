"""A sales rep finds the same trade-show lead entered twice (full-width company name, the phone
written two ways), keeps the first, takes the second's e-mail and merges them."""
from __future__ import annotations

import pytest

from access.actions import do_sign_up
from crm import actions
from crm.models import Lead
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "tps-reports-2026"


def test_find_and_merge_a_duplicate_lead(page, live_server):
    membership = do_sign_up(org_name="Zylker", username="sally", email="sally@zylker.test", password=PASSWORD)
    user = membership.user
    user.org, user.membership = membership.org, membership
    keep = actions.do_create_record("leads", {"first_name": "Jing", "last_name": "Chen", "company": "Starfield Tech",
                                              "phone": "+86 139 0000 1234", "source": "event"}, actor=user)
    dup = actions.do_create_record("leads", {"first_name": "JING", "last_name": "chen",
                                             "company": "Ｓｔａｒｆｉｅｌｄ　Tech", "phone": "0086 139-0000-1234",
                                             "email": "chen.jing@starfield.example"}, actor=user)
    for i in range(5):
        actions.do_create_record("leads", {"last_name": f"Walk-in {i}", "phone": f"+86 139 1111 000{i}"}, actor=user)
    actions.do_add_note(dup, "Asked for a quote at the fair", actor=user)
    base = live_server.url
    login(page, base, "sally", PASSWORD)

    page.goto(f"{base}/m/leads/")
    page.locator("[data-testid=list-action]", has_text="Find duplicates").click()
    fields = page.locator("[data-testid=dedupe-fields]")
    fields.locator("input[value=email]").uncheck()  # checked by default; the twin has no e-mail
    fields.locator("input[value=phone]").check()
    fields.locator("input[value=company]").check()
    fields.locator("button").click()
    group = page.locator("[data-testid=duplicate-group]")
    assert group.count() == 1
    group.locator("[data-testid=merge-group]").click()

    table = page.locator("[data-testid=merge-table]")
    table.locator(f"input[name=field_email][value='{dup.pk}']").check()
    page.locator("[data-testid=merge-submit]").click()
    page.wait_for_url(f"{base}/m/leads/{keep.pk}/")
    assert page.locator(".alert-success").first.inner_text().startswith("Merged into")
    assert page.get_by_text("Asked for a quote at the fair").first.is_visible()

    keep.refresh_from_db()
    assert keep.email == "chen.jing@starfield.example" and keep.company == "Starfield Tech"
    assert Lead.objects.get(pk=dup.pk).deleted_at is not None

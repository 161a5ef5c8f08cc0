"""The Content Security Policy in a real browser: the main pages (login, My Work, a list, a record,
a kanban board, a chart, a team dashboard, the import mapping page) load and run their scripts
(htmx, Bootstrap, Tom Select, SortableJS, Chart.js) without the browser refusing anything, and the
colours and widths that used to be inline styles are still applied (docs/security.md)."""
from __future__ import annotations

import pytest

from access.actions import do_sign_up
from access.visibility import bind_org
from crm import actions
from teams import actions as team_actions
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "policy-2026"
STATUSES = [
    {"value": "todo", "label_en": "To do", "label_zh": "待办", "color": "#6c757d"},
    {"value": "done", "label_en": "Done", "label_zh": "完成", "color": "#198754"},
]
# What Chromium prints when a policy blocks something, or cannot read a header.
REFUSALS = ("Content Security Policy", "Refused to", "Permissions-Policy", "Permissions Policy")


def test_the_main_pages_run_under_the_policy(page, live_server):
    from playwright.sync_api import expect

    signup = do_sign_up(org_name="Policy", username="boss", email="boss@policy.test", password=PASSWORD)
    admin = bind_org(signup.user, signup.org, signup)
    account = actions.do_create_record("accounts", {"name": "Initech"}, actor=admin)
    for name, stage in (("Big", "qualification"), ("Bigger", "won")):
        actions.do_create_record("deals", {"name": name, "account": account.pk, "stage": stage}, actor=admin)
    space = team_actions.do_create_space(admin.org, name_en="Marketing", manager_ids=[admin.pk], actor=admin)
    module = team_actions.do_create_team_module(space, name_en="Case Studies", statuses=STATUSES, actor=admin)
    from teams.schema import schema_for

    actions.do_create_record(schema_for(module).bind(admin.org), {"title": "Launch"}, actor=admin)

    refused: list[str] = []
    page.on("console", lambda message: refused.append(f"{page.url}: {message.text}")
            if any(word in message.text for word in REFUSALS) else None)
    page.on("pageerror", lambda error: refused.append(f"{page.url}: {error}"))
    base = live_server.url

    def visit(path: str) -> None:
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")

    visit("/login/")
    login(page, base, "boss", PASSWORD)
    visit("/my-work/")
    visit("/m/accounts/")
    expect(page.get_by_role("link", name="Initech").first).to_be_visible()
    visit(f"/m/accounts/{account.pk}/")
    visit("/m/deals/kanban/")
    expect(page.get_by_test_id("kanban")).to_be_visible()
    # a column's colour came in a data- attribute and was set through the CSSOM
    dot = page.locator(".kanban-dot").first
    assert dot.evaluate("element => element.style.backgroundColor") != ""
    visit("/m/deals/chart/")
    expect(page.locator("#chart-canvas")).to_be_visible()
    visit(f"/teams/{space.pk}/dashboard/")
    visit("/m/leads/")
    page.get_by_role("link", name="Import").first.click()
    page.set_input_files("[data-testid=upload-form] input[type=file]",
                         files=[{"name": "leads.csv", "mimeType": "text/csv",
                                 "buffer": b"Last name,Company\nLi,Star Ltd\n"}])
    page.click("[data-testid=upload-form] button")
    expect(page.locator("[data-testid=mapping-form]")).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert not refused, "\n".join(refused)

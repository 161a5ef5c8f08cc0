"""A case study's deliverable as a file field, in the browser: the team member uploads it on the
record's form and downloads it from the record's page; the requester downloads it from the
Requests tab. Set-up (the org, the team, the module and the request) is made through the actions."""
from __future__ import annotations

import pytest

from access.actions import do_add_user, do_sign_up
from access.visibility import bind_org
from crm.actions import do_create_field
from teams import actions as team_actions
from teams.models import TeamMember, TeamRecord
from tests.e2e.browser import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "deliver-2026"
NAME = "northwind-case-study.md"
CONTENT = "# Northwind Traders\n\nHow Northwind moved to the cloud in 90 days.\n".encode()


def bound(membership):
    return bind_org(membership.user, membership.org, membership)


def test_upload_a_deliverable_and_download_it(page, live_server):
    base = live_server.url
    admin = bound(do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                             first_name="Ada", last_name="Admin"))
    org = admin.org
    people = {name: bound(do_add_user(org, username=name, email=f"{name}@contoso.test", password=PASSWORD,
                                      role="standard", first_name=name.capitalize(), last_name="C", actor=admin))
              for name in ("mark", "mia", "rep")}
    space = team_actions.do_create_space(org, name_en="Marketing", manager_ids=[people["mark"].pk], actor=admin)
    team_actions.do_set_team_member(space, people["mia"].pk, TeamMember.Role.MEMBER, actor=people["mark"])
    module = team_actions.do_create_team_module(
        space, name_en="Case Studies", name_singular_en="Case study", icon="file-earmark-text",
        statuses=[{"value": "requested", "label_en": "Requested"}, {"value": "done", "label_en": "Done"}],
        actor=people["mark"])
    deliverable = do_create_field(org, module.key, api_name="deliverable", label_en="Deliverable",
                                  field_type="file", shown_to_requesters=True, actor=people["mark"])
    team_actions.do_set_requesters(module, [people["rep"].pk], actor=people["mark"])
    story = team_actions.do_submit_request(module, {"title": "Case study: Northwind"}, actor=people["rep"])
    story = team_actions.do_assign(story, people["mia"].pk, version=story.version, actor=people["mark"])
    record_url = f"{base}/m/{module.key}/{story.pk}/"

    # Mia uploads the deliverable on the record's form.
    login(page, base, "mia", PASSWORD)
    page.goto(f"{record_url}edit/")
    page.set_input_files(f"input[name={deliverable.key}]",
                         files=[{"name": NAME, "mimeType": "text/markdown", "buffer": CONTENT}])
    page.click("form button:has-text('Save')")
    page.wait_for_url(record_url)
    link = page.locator(f"#field-{deliverable.key} a")
    assert link.inner_text() == NAME
    with page.expect_download() as download_info:
        link.click()
    assert download_info.value.suggested_filename == NAME
    with open(download_info.value.path(), "rb") as handle:
        assert handle.read() == CONTENT
    # The upload is on the record's timeline.
    assert NAME in page.locator("#timeline").inner_text()
    assert TeamRecord.objects.get(pk=story.pk).data[deliverable.key]["name"] == NAME
    page.click("[data-testid=user-menu]")
    page.click("[data-testid=logout]")
    page.wait_for_url(f"{base}/login/")

    # The requester downloads it from the Requests tab.
    login(page, base, "rep", PASSWORD)
    page.click("[data-testid=requests-tab]")
    row = page.locator(f"tr[data-request='{story.pk}']")
    with page.expect_download() as download_info:
        row.locator("a[data-deliverable]", has_text=NAME).click()
    assert download_info.value.suggested_filename == NAME
    with open(download_info.value.path(), "rb") as handle:
        assert handle.read() == CONTENT

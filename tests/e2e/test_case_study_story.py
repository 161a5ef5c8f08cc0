"""The case-study story, end to end in the browser.

An administrator opens a Marketing team space; its manager builds a Case Studies module and
lets a sales rep request from it; the rep asks for a case study about a customer; the
manager gives it to a participant, who sees only the customer's public fields, cannot close
the request herself and delivers the file; the manager closes it; the rep downloads the
deliverable, and the record's timeline tells the whole story.

Set-up is limited to the org, its users, one account and the account sharing settings,
made through the actions; everything else is done by people in the browser.

The demo's story (`test_the_demo_case_study_story`, in English and in Chinese) walks the same
request through the organisation `seed_demo` makes, governed by its Case study blueprint.
"""
from __future__ import annotations

import io
import re

import pytest

from access.actions import do_add_user, do_set_org_default, do_set_public_fields, do_sign_up
from access.visibility import bind_org
from crm.actions import do_create_record
from crm.models import FieldDefinition
from teams.models import TeamMember, TeamModule, TeamRecord, TeamSpace
from tests.e2e.browser import choose, expect_labels, login, tr

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "case-study-2026"
DELIVERABLE_NAME = "northwind-case-study.md"
DELIVERABLE = "# Northwind Traders\n\nHow Northwind moved to the cloud in 90 days.\n".encode()
MANAGER_ONLY = "Only a manager of this team may set the status “Done”."
REQUESTS_TAB_ONLY = "Requesters reach this module through the Requests tab."
NO_DELETE = "Participants may not delete records."


# --- browser helpers ---------------------------------------------------------------


def logout(page, base):
    page.click("[data-testid=user-menu]")
    page.click("[data-testid=logout]")
    page.wait_for_url(f"{base}/login/")


def open_space(page, base, name):
    page.click("[data-testid=teams-menu]")
    page.click(".dropdown-menu >> text=Team spaces")
    page.click(f".list-group >> text={name}")
    page.wait_for_url(re.compile(r"/teams/\d+/$"))


def column(page, value):
    return page.locator(f".kanban-cards[data-value='{value}']")


def drag(page, source, target):
    """A real mouse drag (SortableJS listens to the pointer and to native drag events)."""
    source.scroll_into_view_if_needed()
    box = source.bounding_box()
    # Grab the card by its lower edge, not by its title link.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 6)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 5, box["y"] + box["height"] - 2, steps=3)
    goal = target.bounding_box()
    target.hover()
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + 30, steps=10)
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + 36, steps=3)
    page.mouse.up()


def drag_and_wait(page, source, target):
    """Drag a card and return the server's answer to the move."""
    with page.expect_response(lambda r: "/kanban/move/" in r.url and r.request.method == "POST",
                              timeout=5000) as answer:
        drag(page, source, target)
    return answer.value


# --- the story -----------------------------------------------------------------------

def test_case_study_story(page, live_server):
    base = live_server.url

    # Set-up: the org, its people, one private account with public fields.
    admin = do_sign_up(org_name="Contoso", username="boss", email="boss@contoso.test", password=PASSWORD,
                       first_name="Ada", last_name="Admin")
    org = admin.org
    admin = bind_org(admin.user, org, admin)
    people = {}
    for username, first, last in (("mark", "Mark", "Marketing"), ("emily", "Emily", "Writer"),
                                  ("rep", "Ravi", "Sales")):
        membership = do_add_user(org, username=username, email=f"{username}@contoso.test", password=PASSWORD,
                                 role="standard", first_name=first, last_name=last, actor=admin)
        people[username] = membership.user
    mark, emily, rep = people["mark"], people["emily"], people["rep"]
    northwind = do_create_record("accounts", {"name": "Northwind Traders", "industry": "technology",
                                              "employees": 250, "website": "northwind.example",
                                              "phone": "+1 555 0100"}, actor=admin)
    do_set_public_fields(org, "accounts", ["industry", "employees", "website"], actor=admin)
    do_set_org_default(org, "accounts", "private", actor=admin)

    # 1. The administrator opens the Marketing space with Mark as its manager, then adds Emily.
    login(page, base, "boss", PASSWORD)
    page.goto(f"{base}/teams/")
    page.fill("#space-form input[name=name_en]", "Marketing")
    page.select_option("#space-form select[name=managers]", label="Mark Marketing")
    page.click("#space-form button:has-text('Create')")
    page.wait_for_url(re.compile(r"/teams/\d+/$"))
    space = TeamSpace.objects.get(org=org, name_en="Marketing")
    assert page.url == f"{base}/teams/{space.pk}/"
    assert page.locator("[data-member=mark]").inner_text().count("Manager") == 1

    page.select_option("#member-form select[name=user]", label="Emily Writer")
    page.select_option("#member-form select[name=role]", "participant")
    page.click("#member-form button:has-text('Save member')")
    page.wait_for_selector("[data-member=emily]")
    assert "Participant" in page.locator("[data-member=emily]").inner_text()
    assert dict(TeamMember.objects.filter(space=space).values_list("user__username", "role")) == {
        "mark": "manager", "emily": "participant"}

    # Set-up gap (see the report): with accounts private, only the account's owner (and the
    # administrators) may pick it in a lookup, and the rep must pick it on the request form.
    # The administrator hands the account to its sales rep, in the browser.
    page.goto(f"{base}/m/accounts/{northwind.pk}/")
    choose(page, "select[name=owner]", "ravi", "Ravi Sales")
    page.click("button:has-text('Change owner')")
    page.wait_for_selector(".alert-success")
    northwind.refresh_from_db()
    assert northwind.owner_id == rep.pk
    logout(page, base)

    # 2. Mark builds the Case Studies module on his own.
    login(page, base, "mark", PASSWORD)
    open_space(page, base, "Marketing")
    page.click("a:has-text('New module')")
    page.fill("#module-form input[name=name_en]", "Case Studies")
    page.select_option("#module-form select[name=icon]", "file-earmark-text")
    assert "done | Done" in page.input_value("#module-form textarea[name=statuses]")
    page.click("#module-form button:has-text('Save')")
    page.wait_for_url(re.compile(r"/teams/modules/\d+/fields/$"))
    module = TeamModule.objects.get(space=space, name_en="Case Studies")
    assert [s["value"] for s in module.statuses] == ["requested", "in_progress", "done"]
    assert module.manager_only_statuses == ["done"] and module.done_statuses == ["done"]
    key = module.key

    page.click("a:has-text('New field')")
    page.fill("#field-form input[name=label_en]", "Customer")
    page.fill("#field-form input[name=api_name]", "customer")
    page.select_option("#field-form select[name=field_type]", "lookup")
    page.select_option("#field-form select[name=target]", "accounts")
    page.check("#field-form input[name=shown_to_requesters]")
    page.check("#field-form input[name=in_list]")
    page.click("#field-form button:has-text('Save')")
    page.wait_for_selector("tr[data-field=customer]")

    page.click("a:has-text('New field')")
    page.fill("#field-form input[name=label_en]", "Brief")
    page.fill("#field-form input[name=api_name]", "brief")
    page.select_option("#field-form select[name=field_type]", "long_text")
    page.check("#field-form input[name=shown_to_requesters]")
    page.click("#field-form button:has-text('Save')")
    page.wait_for_selector("tr[data-field=brief]")
    customer = FieldDefinition.objects.get(org=org, module=key, api_name="customer")
    brief = FieldDefinition.objects.get(org=org, module=key, api_name="brief")
    assert (customer.field_type, customer.target, customer.shown_to_requesters, customer.in_list) == (
        "lookup", "accounts", True, True)
    assert (brief.field_type, brief.shown_to_requesters) == ("long_text", True)

    page.select_option("select[name=users]", label="Ravi Sales")
    page.click("button:has-text('Save requesters')")
    page.wait_for_selector(".alert-success")
    assert list(module.requesters.values_list("user__username", flat=True)) == ["rep"]
    logout(page, base)

    # 3. The rep asks for a case study from the Requests tab.
    login(page, base, "rep", PASSWORD)
    page.click("[data-testid=requests-tab]")
    page.click(f"[data-request-module='{module.pk}']")
    page.fill("#request-form input[name=title]", "Case study: Northwind")
    choose(page, f"#request-form select[name=f_{customer.pk}]", "northwind", "Northwind Traders")
    page.fill(f"#request-form textarea[name=f_{brief.pk}]", "Their cloud move: 40% lower hosting costs.")
    page.click("#request-form button:has-text('Submit request')")
    page.wait_for_url(re.compile(rf"/m/{key}/\d+/$"))
    record = TeamRecord.objects.get(module=module, title="Case study: Northwind")
    assert (record.status, record.requested_by_id, record.assignee_id) == ("requested", rep.pk, None)
    record_url = f"{base}/m/{key}/{record.pk}/"
    assert page.url == record_url
    # The module itself is the team's: the rep reaches it through the Requests tab only.
    for path in ("", "kanban/", "chart/", "new/"):
        assert page.goto(f"{base}/m/{key}/{path}").status == 403, path
        assert REQUESTS_TAB_ONLY in page.locator("[data-testid=refusal-reason]").inner_text()
    assert page.locator("nav a", has_text="Case Studies").count() == 0
    logout(page, base)

    # 4. Mark finds the request on the board and gives it to Emily from the chart.
    login(page, base, "mark", PASSWORD)
    open_space(page, base, "Marketing")
    page.click("a:has-text('Kanban')")
    page.wait_for_url(f"{base}/m/{key}/kanban/")
    first_column = page.locator(".kanban-column").first
    assert first_column.get_attribute("data-column") == "requested"
    card = first_column.locator(f"[data-testid=kanban-card][data-pk='{record.pk}']")
    assert "Case study: Northwind" in card.inner_text() and "Unassigned" in card.inner_text()

    page.click("a:has-text('Chart')")
    page.wait_for_url(re.compile(rf"/m/{key}/chart/"))
    assert page.locator("[data-testid=unassigned]").inner_text() == "1"
    unassigned_bar = page.locator("[data-testid=chart-table] tr[data-person=none]")
    assert "Unassigned" in unassigned_bar.inner_text()
    assert unassigned_bar.locator("td").last.inner_text() == "1"
    row = page.locator(f"[data-testid=unassigned-panel] [data-unassigned='{record.pk}']")
    assert "Case study: Northwind" in row.inner_text()
    row.locator("select[name=assignee]").select_option(label="Emily Writer")
    row.locator("button:has-text('Assign')").click()
    page.wait_for_selector(".alert-success:has-text('is now assigned to Emily Writer')")
    assert page.locator("[data-testid=unassigned]").inner_text() == "0"
    record.refresh_from_db()
    assert record.assignee_id == emily.pk
    logout(page, base)

    # 5. Emily works on it: public fields only, no way into the account, no closing it herself.
    login(page, base, "emily", PASSWORD)
    page.goto(f"{base}/m/{key}/kanban/")
    page.click(f"[data-testid=kanban-card][data-pk='{record.pk}'] a")
    page.wait_for_url(record_url)
    panel = page.locator(f"[data-public-panel=f_{customer.pk}]")
    panel_text = panel.inner_text()
    assert "Northwind Traders" in panel_text
    for label, value in (("Industry", "Technology"), ("Employees", "250"), ("Website", "https://northwind.example")):
        assert label in panel_text and value in panel_text, panel_text
    assert panel.locator("a").count() == 0  # no link to an account she cannot open
    page_text = page.locator("main").inner_text()
    assert "Phone" not in panel_text and "555" not in page_text and "0100" not in page_text
    assert page.goto(f"{base}/m/accounts/{northwind.pk}/").status == 404

    page.goto(f"{base}/m/{key}/kanban/")
    card = page.locator(f"[data-testid=kanban-card][data-pk='{record.pk}']")
    assert "Emily Writer" in card.inner_text()
    answer = drag_and_wait(page, card, column(page, "done"))
    assert answer.status == 403
    alert = page.locator("[data-testid=kanban-alert]")
    alert.wait_for()
    assert MANAGER_ONLY in alert.inner_text()
    # The card is put back where it was.
    assert column(page, "requested").locator(f"[data-pk='{record.pk}']").count() == 1
    assert column(page, "done").locator("[data-testid=kanban-card]").count() == 0
    record.refresh_from_db()
    assert record.status == "requested"

    page.goto(record_url)
    # Deleting is not hers to do: the button is there, disabled, with the rule that refuses it.
    delete = page.locator("[data-blocked=delete]")
    assert delete.get_attribute("title") == NO_DELETE
    assert delete.locator("button").is_disabled()
    assert page.goto(f"{record_url}delete/").status == 403
    assert NO_DELETE in page.locator("[data-testid=refusal-reason]").inner_text()
    page.goto(record_url)
    page.set_input_files("#attachments input[type=file]",
                         files=[{"name": DELIVERABLE_NAME, "mimeType": "text/markdown", "buffer": DELIVERABLE}])
    page.check("#attachments input[name=deliverable]")
    page.click("#attachments button:has-text('Upload')")
    page.wait_for_url(f"{record_url}#attachments")
    item = page.locator("#attachments li", has_text=DELIVERABLE_NAME)
    assert "Deliverable" in item.inner_text()
    logout(page, base)

    # 6. Mark closes it on the board.
    login(page, base, "mark", PASSWORD)
    page.goto(f"{base}/m/{key}/kanban/")
    card = page.locator(f"[data-testid=kanban-card][data-pk='{record.pk}']")
    answer = drag_and_wait(page, card, column(page, "done"))
    assert answer.status == 200 and answer.json()["ok"] is True
    page.wait_for_function(
        "pk => document.querySelector(`.kanban-cards[data-value='done'] [data-pk='${pk}']:not(.is-saving)`)",
        arg=record.pk)
    assert page.locator("[data-count-for=done]").inner_text() == "1"
    assert page.locator("[data-count-for=requested]").inner_text() == "0"
    record.refresh_from_db()
    assert record.status == "done"
    logout(page, base)

    # 7. The rep sees it done and downloads the case study.
    login(page, base, "rep", PASSWORD)
    page.click("[data-testid=requests-tab]")
    request_row = page.locator(f"tr[data-request='{record.pk}']")
    assert "Done" in request_row.locator(".badge").inner_text()
    assert "Emily Writer" in request_row.inner_text()
    with page.expect_download() as download_info:
        request_row.locator("a[data-deliverable]").click()
    download = download_info.value
    assert download.suggested_filename == DELIVERABLE_NAME
    with open(download.path(), "rb") as handle:
        assert handle.read() == DELIVERABLE

    # 8. The record's timeline tells the story, newest first.
    request_row.locator("a", has_text="Case study: Northwind").click()
    page.wait_for_url(record_url)
    entries = page.locator("#timeline .timeline-entry")
    kinds = [entries.nth(i).get_attribute("data-kind") for i in range(entries.count())]
    assert kinds == ["updated", "attachment_added", "refused", "updated", "created"], kinds
    done, attached, refused, assigned, created = (entries.nth(i).inner_text() for i in range(5))
    assert "Ravi Sales" in created and "Case study: Northwind" in created
    assert "Mark Marketing" in assigned and "Emily Writer" in assigned and "Assignee" in assigned
    assert "Emily Writer" in attached and DELIVERABLE_NAME in attached
    # Emily's attempt to close it herself is on record too, with the reason it was refused.
    assert "Emily Writer" in refused and MANAGER_ONLY in refused, refused
    assert "Mark Marketing" in done and re.search(r"Status:\s*Requested\s*→\s*Done", done), done


# --- the demo's story, in English and in Chinese ---------------------------------------

DEMO_STATES = {"en": {"requested": "Requested", "in_progress": "In progress", "review": "Review", "done": "Done"},
               "zh-hans": {"requested": "已请求", "in_progress": "进行中", "review": "审核中", "done": "完成"}}
DEMO_NAMES = {"en": {"team": "Marketing", "module": "Case study"},  # the seed's names in both languages
              "zh-hans": {"team": "市场部", "module": "案例研究"}}


def perform(page, transition, language, *, expect_labels_of=()):
    """Take the blueprint transition `transition` from the record's page: its page asks what it
    needs (`expect_labels_of` are the labels it shows); returns the transition's form."""
    page.locator(f"[data-testid=blueprint-transitions] a[data-transition='{transition}']").click()
    form = page.get_by_test_id("transition-form")
    form.wait_for()
    if expect_labels_of:
        expect_labels(form, language, *expect_labels_of)
    return form


def test_the_demo_case_study_story(page, new_page, live_server, language):
    """The demo organisation Zylker as `seed_demo` makes it: a sales rep asks Marketing for a case
    study about one of her customers from the Requests tab; Mark, the team's manager, gives it to Emily from the chart; Emily
    finds it on My Work, starts it and submits it for review through the Case study blueprint
    (a note and its checklist); Mark closes it as done with the deliverable the blueprint asks
    for; the rep is told, and downloads the case study from the Requests tab."""
    from django.core.management import call_command
    from playwright.sync_api import expect

    from crm.models import Account
    from demo.management.commands.seed_demo import PASSWORD as DEMO_PASSWORD

    base = live_server.url
    call_command("seed_demo", scale=0.05, stdout=io.StringIO())
    module = TeamModule.objects.get(name_en="Case Studies")
    key, states = module.key, DEMO_STATES[language]
    fields = {f.api_name: f for f in FieldDefinition.objects.filter(org=module.org, module=key)}
    # A rep of the sales department (the module's requesters) and a customer of her own.
    requesters = set(module.requesters.values_list("user__username", flat=True))
    account = (Account.objects.filter(org=module.org, owner__username__in=requesters, deleted_at__isnull=True)
               .select_related("owner").order_by("pk").first())
    assert account is not None, "the demo gives its sales reps accounts of their own"
    title = f"Case study: {account.name} (2027)"
    deliverable = f"# {account.name}\n\nWhat they gained.\n".encode()

    # 1. The rep asks Marketing for a case study about her customer.
    rep = page
    login(rep, base, account.owner.username, DEMO_PASSWORD, language)
    rep.get_by_test_id("requests-tab").click()
    expect_labels(rep.locator("main"), language, "Ask a team", "My requests")
    rep.locator(f"[data-request-module='{module.pk}']").click()
    expect(rep.locator("h1")).to_have_text(tr(language, "Request to %(team)s: %(module)s", **DEMO_NAMES[language]))
    rep.fill("#request-form input[name=title]", title)
    choose(rep, f"#request-form select[name=f_{fields['customer'].pk}]", account.name[:6], account.name)
    rep.fill(f"#request-form textarea[name=f_{fields['brief'].pk}]", "Their first year with us.")
    rep.select_option(f"#request-form select[name=f_{fields['format'].pk}]", "pdf")
    rep.locator("#request-form button", has_text=tr(language, "Submit request")).click()
    rep.wait_for_url(re.compile(rf"/m/{key}/\d+/$"))
    record = TeamRecord.objects.get(module=module, title=title)
    record_url = f"{base}/m/{key}/{record.pk}/"
    expect(rep.get_by_test_id("blueprint-state")).to_have_text(states["requested"])

    # 2. Mark gives it to Emily from the chart's unassigned requests.
    mark = new_page()
    login(mark, base, "mark", DEMO_PASSWORD, language)
    mark.goto(f"{base}/m/{key}/chart/")
    row = mark.locator(f"[data-testid=unassigned-panel] [data-unassigned='{record.pk}']")
    expect(row).to_contain_text(title)
    row.locator("select[name=assignee]").select_option(label="Emily Zhang")
    row.locator("button").click()
    expect(mark.locator(".alert-success")).to_contain_text("Emily Zhang")
    record.refresh_from_db()
    assert record.assignee.username == "emily"

    # 3. Emily finds it on My Work, starts it and submits it for review with the checklist done.
    emily = new_page()
    login(emily, base, "emily", DEMO_PASSWORD, language)
    emily.get_by_test_id("my-work-link").click()
    section = emily.get_by_test_id("work-section-team_assigned")
    expect(section).to_contain_text(tr(language, "Assigned to me in team spaces"))
    section.locator("a", has_text=title).click()
    emily.wait_for_url(record_url)
    perform(emily, "Start", language).get_by_test_id("transition-submit").click()
    emily.wait_for_url(record_url)
    expect(emily.get_by_test_id("blueprint-state")).to_have_text(states["in_progress"])
    form = perform(emily, "Submit for review", language, expect_labels_of=("Note", "Checklist"))
    form.locator("textarea[name=note]").fill("Quote approved by their CTO; figures from their report.")
    for item in form.locator("input[name=checklist]").all():
        item.check()
    form.get_by_test_id("transition-submit").click()
    emily.wait_for_url(record_url)
    expect(emily.get_by_test_id("blueprint-state")).to_have_text(states["review"])

    # 4. Mark closes it: the blueprint asks for the deliverable.
    mark.goto(record_url)
    form = perform(mark, "Done", language)
    expect(form).to_contain_text("Deliverable" if language == "en" else "交付文件")
    form.locator("input[type=file]").set_input_files(
        files=[{"name": "case-study.md", "mimeType": "text/markdown", "buffer": deliverable}])
    form.get_by_test_id("transition-submit").click()
    mark.wait_for_url(record_url)
    expect(mark.get_by_test_id("blueprint-state")).to_have_text(states["done"])
    record.refresh_from_db()
    assert record.status == "done"

    # 5. The rep is told, and downloads the case study from the Requests tab.
    rep.get_by_test_id("bell").click()
    expect(rep.locator("main")).to_contain_text(f"Your case study {title} is ready.")
    rep.get_by_test_id("requests-tab").click()
    request_row = rep.locator(f"tr[data-request='{record.pk}']")
    expect(request_row.locator(".badge")).to_have_text(states["done"])
    expect(request_row).to_contain_text("Emily Zhang")
    with rep.expect_download() as download_info:
        request_row.locator("a[data-deliverable]").click()
    with open(download_info.value.path(), "rb") as handle:
        assert handle.read() == deliverable

"""Workflow rule settings pages: who may open them, the form (trigger, criteria, action rows),
activate, reorder, delete, the dry run (which writes nothing) and the execution log."""
from __future__ import annotations

import pytest

from automation.models import Notification, RuleRun, ScheduledAction, WorkflowRule
from crm import actions as crm_actions
from crm.models import Deal, Task, TimelineEntry
from tests.automation.workflow_helpers import committed, make_rule, notify, runs_of, update  # noqa: F401
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401


def form_data(**extra):
    data = {"name": "Won deals", "trigger": "field_change", "trigger_fields": ["stage"], "trigger_value": "won",
            "date_unit": "days", "date_before": "before", "once_per_record": "every", "joiner": "all",
            "c0_field": "amount", "c0_op": "gt", "c0_value": "100",
            "a0-type": "field_update", "a0-delay_unit": "days", "a0-field_update-field": "discount",
            "a0-field_update-value": "3",
            "a1-type": "create_task", "a1-delay_amount": "2", "a1-delay_unit": "days",
            "a1-create_task-subject": "Invoice {{name}}", "a1-create_task-due_in_days": "3",
            "a1-create_task-owner": "record_owner"}
    data.update(extra)
    return data


def test_an_admin_creates_a_rule_from_the_form_inactive_until_activated(admin_user, client_for):
    client = client_for(admin_user)
    page = client.get("/settings/automation/m/deals/workflow/new/")
    assert page.status_code == 200 and 'data-kind="notify"' in page.content.decode()
    response = client.post("/settings/automation/m/deals/workflow/new/", form_data())
    assert response.status_code == 302
    rule = WorkflowRule.objects.get(org=admin_user.org)
    assert rule.trigger_fields == ["stage"] and rule.trigger_value == "won" and not rule.active
    assert rule.criteria == {"all": [{"field": "amount", "op": "gt", "value": "100"}]}
    assert rule.actions == [
        {"type": "field_update", "field": "discount", "value": "3", "delay": None},
        {"type": "create_task", "subject": "Invoice {{name}}", "due_in_days": 3, "owner": "record_owner",
         "delay": {"amount": 2, "unit": "days"}}]
    listing = client.get("/settings/automation/m/deals/workflow/").content.decode()
    assert "Won deals" in listing and "When Stage changes to “Closed won”" in listing and "Inactive" in listing
    client.post(f"/settings/automation/workflow/{rule.pk}/active/", {"active": "1"})
    rule.refresh_from_db()
    assert rule.active and rule.run_as_id == admin_user.pk and rule.activated_at is not None
    edit = client.get(f"/settings/automation/workflow/{rule.pk}/").content.decode()
    assert "Invoice {{name}}" in edit


def test_bad_input_names_the_field_and_writes_nothing(admin_user, client_for):
    client = client_for(admin_user)
    response = client.post("/settings/automation/m/deals/workflow/new/", form_data(**{
        "name": "", "c0_value": "lots", "a0-field_update-field": "stage", "a0-field_update-value": "nonsense",
        "a1-create_task-subject": "About {{nope}}"}))
    assert response.status_code == 400
    form = response.context["form"]
    rows = response.context["rows"]
    assert "name" in form.errors and "c0_value" in form.errors
    assert not WorkflowRule.objects.exists()
    # The row errors come from the kinds' clean once the rule's own fields are right.
    response = client.post("/settings/automation/m/deals/workflow/new/", form_data(**{
        "a0-field_update-field": "stage", "a0-field_update-value": "nonsense",
        "a1-create_task-subject": "About {{nope}}"}))
    assert response.status_code == 400
    rows = response.context["rows"]
    assert "value" in rows[0].settings_form().errors and "subject" in rows[1].settings_form().errors
    assert not WorkflowRule.objects.exists()
    response = client.post("/settings/automation/m/deals/workflow/new/", form_data(**{"a0-type": "", "a1-type": ""}))
    assert response.status_code == 400 and "Add at least one action." in response.content.decode()


def test_an_action_row_is_added_with_htmx(admin_user, client_for):
    response = client_for(admin_user).get("/settings/automation/m/deals/workflow/action-row/?index=2",
                                          HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and 'name="a2-type"' in body and "index=3" in body


def test_reorder_deactivate_and_delete(admin_user, client_for):
    first = make_rule(admin_user, "deals", name="First", actions=[update("discount", "1")])
    second = make_rule(admin_user, "deals", name="Second", actions=[update("discount", "2")])
    client = client_for(admin_user)
    client.post(f"/settings/automation/workflow/{second.pk}/move/", {"direction": "up"})
    assert list(WorkflowRule.objects.order_by("position").values_list("name", flat=True)) == ["Second", "First"]
    client.post(f"/settings/automation/workflow/{first.pk}/active/", {"active": "0"})
    first.refresh_from_db()
    assert not first.active
    client.post(f"/settings/automation/workflow/{first.pk}/delete/")
    assert list(WorkflowRule.objects.values_list("name", flat=True)) == ["Second"]


def test_the_dry_run_shows_what_would_happen_and_writes_nothing(admin_user, make_user, client_for):
    fiona = make_user(admin_user.org, role="admin", username="fiona")
    rule = make_rule(admin_user, "deals", name="Won", activate=False, trigger="field_change",
                     trigger_fields=["stage"], criteria={"all": [{"field": "stage", "op": "eq", "value": "won"}]},
                     actions=[notify(fiona, message="Invoice {{name}}"), update("discount", "10"),
                              {"type": "create_task", "subject": "Call {{name}}", "due_in_days": 1,
                               "owner": "record_owner"}])
    won = crm_actions.do_create_record("deals", {"name": "Won deal", "stage": "won"}, actor=admin_user)
    crm_actions.do_create_record("deals", {"name": "Open deal"}, actor=admin_user)
    counts = lambda: (RuleRun.objects.count(), Notification.objects.count(), Task.objects.count(),  # noqa: E731
                      TimelineEntry.objects.count(), ScheduledAction.objects.count(),
                      list(Deal.objects.order_by("pk").values_list("version", "discount")))
    before = counts()
    response = client_for(admin_user).get(f"/settings/automation/workflow/{rule.pk}/dry-run/")
    body = response.content.decode()
    assert response.status_code == 200
    assert [row["record"].pk for row in response.context["rows"]] == [won.pk]
    assert "“Discount %”: (empty) → 10.00%" in body or "“Discount %”: (empty) → 10" in body
    assert "Notify Fiona: “Invoice Won deal”" in body and "Create the task “Call Won deal” for Alice Admin" in body
    assert counts() == before


def test_the_log_lists_each_run_with_its_actions(admin_user, client_for, committed):
    rule = make_rule(admin_user, "deals", name="Discount", actions=[update("discount", "5")])
    with committed():
        crm_actions.do_create_record("deals", {"name": "Big deal"}, actor=admin_user)
    body = client_for(admin_user).get(f"/settings/automation/workflow/{rule.pk}/log/").content.decode()
    assert "Update a field" in body and "Done" in body and len(runs_of(rule)) == 1


@pytest.mark.parametrize("who, status", [("admin", 200), ("standard", 404), ("other_org", 404)])
def test_who_may_open_an_org_modules_rules(who, status, admin_user, standard_user, other_org_user, client_for):
    rule = make_rule(admin_user, "deals", name="Mine", actions=[update("discount", "5")])
    user = {"admin": admin_user, "standard": standard_user, "other_org": other_org_user}[who]
    client = client_for(user)
    for url in ("/settings/automation/m/deals/workflow/", "/settings/automation/m/deals/workflow/new/",
                f"/settings/automation/workflow/{rule.pk}/", f"/settings/automation/workflow/{rule.pk}/dry-run/",
                f"/settings/automation/workflow/{rule.pk}/log/"):
        expected = 200 if who == "other_org" and "deals/workflow" in url else status  # their own org's deals
        assert client.get(url).status_code == expected
    if status == 404:
        assert client.post(f"/settings/automation/workflow/{rule.pk}/delete/").status_code == 404
        assert client.post(f"/settings/automation/workflow/{rule.pk}/active/", {"active": "0"}).status_code == 404
        assert WorkflowRule.objects.filter(pk=rule.pk, active=True).exists()


def test_other_orgs_admin_sees_only_their_own_deals_rules(admin_user, other_org_user, client_for):
    make_rule(admin_user, "deals", name="Acme only", actions=[update("discount", "5")])
    body = client_for(other_org_user).get("/settings/automation/m/deals/workflow/").content.decode()
    assert "Acme only" not in body


def test_a_team_manager_automates_their_team_module_only(case_studies, manager, member, client_for):
    key = case_studies.key
    manager_client, member_client = client_for(manager), client_for(member)
    assert manager_client.get(f"/settings/automation/m/{key}/workflow/").status_code == 200
    assert manager_client.get("/settings/automation/m/deals/workflow/").status_code == 404
    assert member_client.get(f"/settings/automation/m/{key}/workflow/").status_code == 404
    response = manager_client.post(f"/settings/automation/m/{key}/workflow/new/", {
        "name": "Done", "trigger": "field_change", "trigger_fields": ["status"], "trigger_value": "done",
        "date_unit": "days", "date_before": "before", "once_per_record": "every", "joiner": "all",
        "a0-type": "notify", "a0-delay_unit": "days", "a0-notify-requester": "on", "a0-notify-message": "Done!"})
    assert response.status_code == 302
    rule = WorkflowRule.objects.get(module=key)
    assert rule.actions[0]["requester"] is True
    assert member_client.post(f"/settings/automation/workflow/{rule.pk}/delete/").status_code == 404

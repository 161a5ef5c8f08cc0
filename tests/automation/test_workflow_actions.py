"""The workflow action kinds: field update (through the record actions), in-app notification
(users, roles, owner, the owner's manager, requester), create a task, create a record in another
module, assign by an assignment rule; each done once however often it is retried."""
from __future__ import annotations

import pytest

from access.actions import do_set_org_default
from access.sharing_actions import do_create_role, do_set_user_role
from automation import assignment_actions
from automation.models import RuleRun
from automation.workflow import execute
from automation.workflow_rule_actions import do_set_workflow_rule_active
from crm import actions as crm_actions
from crm.models import Deal, Lead, Task
from crm.modules import get_module
from tests.automation.workflow_helpers import committed, inbox, make_rule, notify, runs_of, update  # noqa: F401
from tests.helpers import version_of
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401


@pytest.fixture
def public_deals(admin_user):
    """Deals readable by every member, so anyone may be told about one."""
    do_set_org_default(admin_user.org, "deals", "public_read", actor=admin_user)


def test_a_field_update_emptying_a_required_field_is_refused_when_saved(admin_user):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        make_rule(admin_user, "deals", name="Bad", actions=[update("name", "")])
    assert "actions.0.value" in exc.value.message_dict


def test_notify_users_roles_owner_manager(admin_user, make_user, public_deals, committed):
    org = admin_user.org
    head = do_create_role(org, name="Head of sales", actor=admin_user)
    sales = do_create_role(org, name="Sales", parent=head, actor=admin_user)
    finance = do_create_role(org, name="Finance", actor=admin_user)
    boss, rep, fiona, fred, outsider = (make_user(org, username=name) for name in ("boss", "rep", "fiona", "fred",
                                                                                    "outsider"))
    for user, role in ((boss, head), (rep, sales), (fiona, finance), (fred, finance)):
        do_set_user_role(user.membership, role, actor=admin_user)
    make_rule(admin_user, "deals", name="Tell", actions=[
        notify(outsider, roles=[finance.pk], owner=True, manager=True, message="{{name}} is in")])
    with committed():
        crm_actions.do_create_record("deals", {"name": "Big deal"}, actor=admin_user, owner=rep)
    for user in (boss, rep, fiona, fred, outsider):
        [note] = inbox(user)
        assert note.params == {"rule": "Tell", "message": "Big deal is in", "record": "Big deal"}
    assert inbox(admin_user) == []


def test_no_one_is_told_about_a_record_they_cannot_open(admin_user, standard_user, committed):
    rule = make_rule(admin_user, "deals", name="Tell", actions=[notify(standard_user)])
    with committed():
        crm_actions.do_create_record("deals", {"name": "Private deal"}, actor=admin_user)
    assert inbox(standard_user) == []
    assert runs_of(rule)[0].actions[0]["result"] == "0 of 1 people notified"


def test_create_task_related_to_the_record_once(admin_user, standard_user, committed):
    rule = make_rule(admin_user, "deals", name="Follow up", actions=[
        {"type": "create_task", "subject": "Call about {{name}}", "due_in_days": 3, "owner": "record_owner"}])
    with committed():
        deal = crm_actions.do_create_record("deals", {"name": "Big deal"}, actor=admin_user, owner=standard_user)
    [task] = Task.objects.filter(org=admin_user.org)
    assert task.subject == "Call about Big deal" and task.owner_id == standard_user.pk
    assert task.related_id == deal.pk and task.related_type.model == "deal"
    assert (task.due_date - task.created_at.date()).days == 3
    # The same run again (a re-delivered event) finds it done and creates nothing.
    schema = get_module("deals", admin_user.org).bind(admin_user.org)
    run = runs_of(rule)[0]
    assert execute(rule, schema, deal, admin_user, trigger="created", key=run.key) is None
    assert Task.objects.filter(org=admin_user.org).count() == 1


def test_create_a_record_in_a_team_module_with_a_lookup_back(admin_user, case_studies, committed):
    rule = make_rule(admin_user, "accounts", name="Case study", actions=[{
        "type": "create_record", "module": case_studies.key,
        "values": {"title": "Story of {{name}}", "brief": "Customer in {{city}}"}}])
    lookup = rule.actions[0]["link_field"]
    with committed():
        account = crm_actions.do_create_record("accounts", {"name": "Initech", "city": "Austin"}, actor=admin_user)
    [record] = get_module(case_studies.key, admin_user.org).base_queryset(admin_user.org)
    brief = get_module(case_studies.key, admin_user.org).bind(admin_user.org).field("brief").key
    assert record.title == "Story of Initech" and record.data[lookup] == account.pk
    assert record.data[brief] == "Customer in Austin"


def test_a_requester_rule_author_submits_a_request(admin_user, case_studies, requester, committed):
    """A rule whose author may only request in the target module submits a request (requested by them)."""
    do_set_org_default(admin_user.org, "accounts", "public_read_write", actor=admin_user)
    from access.actions import do_set_membership_role

    do_set_membership_role(requester.membership, "admin", actor=admin_user)
    requester.membership.refresh_from_db()
    make_rule(requester, "accounts", name="Ask", actions=[{
        "type": "create_record", "module": case_studies.key, "values": {"title": "Story of {{name}}"}}])
    do_set_membership_role(requester.membership, "standard", actor=admin_user)
    with committed():
        crm_actions.do_create_record("accounts", {"name": "Hooli"}, actor=admin_user)
    [record] = get_module(case_studies.key, admin_user.org).base_queryset(admin_user.org)
    assert record.requested_by_id == requester.pk and record.status == "requested"


def test_assign_by_an_assignment_rule(admin_user, standard_user, committed):
    assigner = assignment_actions.do_create_assignment_rule(admin_user.org, "leads", name="To Sam", actor=admin_user)
    assignment_actions.do_add_assignment_entry(assigner, actor=admin_user, criteria=None, method="user",
                                               user_id=standard_user.pk)
    assigner = assignment_actions.do_activate_assignment_rule(assigner, actor=admin_user)
    make_rule(admin_user, "leads", name="Qualified", trigger="field_change", trigger_fields=["status"],
              trigger_value="qualified", actions=[{"type": "assign", "rule": assigner.pk}])
    lead = crm_actions.do_create_record("leads", {"last_name": "Smith"}, actor=admin_user)
    with committed():
        crm_actions.do_update_record(lead, {"status": "qualified"}, version=version_of(lead), actor=admin_user)
    assert Lead.objects.get(pk=lead.pk).owner_id == standard_user.pk


def test_an_assign_action_needs_a_rule_of_the_module(admin_user):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        make_rule(admin_user, "leads", name="Nope", actions=[{"type": "assign", "rule": 999}])
    assert "actions.0.rule" in exc.value.message_dict


def test_a_deactivated_rule_runs_no_more(admin_user, committed):
    rule = make_rule(admin_user, "deals", name="Discount", actions=[update("discount", "5")])
    do_set_workflow_rule_active(rule, False, actor=admin_user)
    with committed():
        deal = crm_actions.do_create_record("deals", {"name": "Big deal"}, actor=admin_user)
    assert Deal.objects.get(pk=deal.pk).discount is None and not RuleRun.objects.filter(rule_id=rule.pk).exists()


def test_team_module_rules_act_as_the_manager(case_studies, manager, member, committed):
    rule = make_rule(manager, case_studies.key, name="Triage", trigger="create",
                     actions=[update("internal_notes", "triaged by rule")])
    with committed():
        request = crm_actions.do_create_record(case_studies.key, {"title": "New story"}, actor=member)
    request.refresh_from_db()
    notes = get_module(case_studies.key, manager.org).bind(manager.org).field("internal_notes").key
    assert request.data[notes] == "triaged by rule" and runs_of(rule)[0].status == "done"

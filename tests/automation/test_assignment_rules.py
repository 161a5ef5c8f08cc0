"""Assignment rules: who gets a new record (owner of an org record, assignee of a team record),
by entries tried in order, round robin, load balancing, caps, and the fallback owner."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from access.actions import do_set_membership_active
from access.sharing_actions import do_create_group, do_create_role, do_set_user_role
from automation import assignment
from automation import assignment_actions as actions
from automation.assignment import assign_record
from automation.messages import OWNER
from automation.models import Notification, PendingEvent, RuleRun
from automation.tasks import process_event
from crm import actions as crm_actions
from crm import events
from crm.actions import RecordValidationError
from crm.models import Lead, TimelineEntry
from teams import actions as team_actions
from teams.models import TeamRecord
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401


@pytest.fixture
def reps(org, make_user):
    return [make_user(org, username=f"rep{i}") for i in range(3)]


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the after-commit work (the eager pipeline task) of the actions inside the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def make_rule(admin, entries, *, module="leads", activate=True, **settings):
    rule = actions.do_create_assignment_rule(admin.org, module, name=settings.pop("name", "Sales reps"),
                                             actor=admin, **settings)
    for entry in entries:
        actions.do_add_assignment_entry(rule, actor=admin, **entry)
    if activate:
        rule = actions.do_activate_assignment_rule(rule, actor=admin)
    return rule


def round_robin(users, **extra):
    return {"criteria": None, "method": "round_robin", "pool": "users", "pool_users": [u.pk for u in users], **extra}


def new_lead(actor, name="Lead", **values):
    return crm_actions.do_create_record("leads", {"last_name": name, **values}, actor=actor)


def owners(leads):
    return [Lead.objects.get(pk=lead.pk).owner_id for lead in leads]


def test_round_robin_gives_new_leads_to_each_rep_in_turn(admin_user, reps, committed):
    make_rule(admin_user, [round_robin(reps)])
    with committed():
        leads = [new_lead(admin_user, f"L{i}") for i in range(7)]
    ids = [r.pk for r in reps]
    assert owners(leads) == [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2], ids[0]]


def test_the_timeline_names_the_rule_and_the_new_owner_is_told(admin_user, reps, committed, client_for):
    rule = make_rule(admin_user, [round_robin(reps[:1])], name="Web leads")
    with committed():
        lead = new_lead(admin_user)
    entry = TimelineEntry.objects.get(record_id=lead.pk, kind="owner_changed")
    assert entry.path == f"rule:assignment:{rule.pk}" and entry.actor_id == admin_user.pk
    page = client_for(reps[0]).get(reverse("crm:detail", args=["leads", lead.pk])).content.decode()
    assert "by rule “Web leads”" in page
    told = Notification.objects.get(recipient=reps[0])
    assert told.kind == OWNER and told.record_id == lead.pk
    run = RuleRun.objects.get(rule_kind="assignment", rule_id=rule.pk)
    assert run.status == "done" and run.trigger == "created" and run.record_id == lead.pk
    assert run.actions[0]["user_id"] == reps[0].pk and run.actions[0]["entry"] == 1


def test_entries_are_tried_in_order_and_the_fallback_takes_the_rest(admin_user, reps, committed):
    referral = {"all": [{"field": "source", "op": "eq", "value": "referral"}]}
    event = {"all": [{"field": "source", "op": "eq", "value": "event"}]}
    make_rule(admin_user, [
        {"criteria": referral, "method": "user", "user_id": reps[0].pk},
        {"criteria": event, "method": "round_robin", "pool": "users", "pool_users": [reps[1].pk]},
    ], fallback_user_id=reps[2].pk)
    with committed():
        by_referral = new_lead(admin_user, "A", source="referral")
        by_event = new_lead(admin_user, "B", source="event")
        other = new_lead(admin_user, "C", source="web")
    assert owners([by_referral, by_event, other]) == [reps[0].pk, reps[1].pk, reps[2].pk]
    fallback_run = RuleRun.objects.get(record_id=other.pk)
    assert fallback_run.actions[0]["via"] == "fallback"


def test_load_balancing_gives_the_rep_with_fewest_open_records(admin_user, reps, committed):
    a, b = reps[0], reps[1]
    for i in range(2):
        new_lead(a, f"open {i}")  # a owns two open leads
    for i in range(3):
        new_lead(b, f"closed {i}", status="unqualified")  # closed: they do not count
    new_lead(b, "open b")
    make_rule(admin_user, [{"criteria": None, "method": "load_balance", "pool": "users", "pool_users": [a.pk, b.pk]}],
              status_field="status", closed_values=["unqualified"])
    with committed():
        first = new_lead(admin_user, "N1")  # a 2, b 1 -> b
        second = new_lead(admin_user, "N2")  # a 2, b 2 -> tie -> a (turn after b)
        third = new_lead(admin_user, "N3")  # a 3, b 2 -> b
    assert owners([first, second, third]) == [b.pk, a.pk, b.pk]


def test_users_at_their_cap_are_skipped_and_the_fallback_takes_over(admin_user, reps, committed):
    a, b, fallback = reps
    new_lead(a, "held")
    make_rule(admin_user, [round_robin([a, b], cap=1)], fallback_user_id=fallback.pk)
    with committed():
        leads = [new_lead(admin_user, f"N{i}") for i in range(3)]
    # a is at the cap from the start; b takes one and is at the cap too; the rest falls back.
    assert owners(leads) == [b.pk, fallback.pk, fallback.pk]


def test_inactive_users_are_skipped(admin_user, reps, committed):
    make_rule(admin_user, [round_robin(reps)])
    do_set_membership_active(reps[1].membership, False, actor=admin_user)
    with committed():
        leads = [new_lead(admin_user, f"N{i}") for i in range(4)]
    assert owners(leads) == [reps[0].pk, reps[2].pk, reps[0].pk, reps[2].pk]


def test_roles_and_groups_distribute_among_their_members(admin_user, reps, make_user, committed):
    role = do_create_role(admin_user.org, name="Inside sales", actor=admin_user)
    for rep in reps[:2]:
        do_set_user_role(rep.membership, role, actor=admin_user)
    group = do_create_group(admin_user.org, name="Closers", user_ids=[reps[2].pk], role_ids=[], actor=admin_user)
    east = {"all": [{"field": "company", "op": "starts_with", "value": "East"}]}
    make_rule(admin_user, [
        {"criteria": east, "method": "round_robin", "pool": "group", "pool_group_id": group.pk},
        {"criteria": None, "method": "round_robin", "pool": "role", "pool_role_id": role.pk},
    ])
    with committed():
        leads = [new_lead(admin_user, "E", company="East Co"), new_lead(admin_user, "W1"), new_lead(admin_user, "W2")]
    assert owners(leads) == [reps[2].pk, reps[0].pk, reps[1].pk]


def test_a_team_request_gets_an_assignee_from_the_space_and_both_are_told(case_studies, manager, member,  # noqa: F811
                                                                      participant, requester, committed):
    make_rule(manager, [{"criteria": None, "method": "round_robin", "pool": "team",
                         "pool_space_id": case_studies.space_id}], module=case_studies.key)
    with committed():
        first = team_actions.do_submit_request(case_studies, {"title": "Acme story"}, actor=requester)
        second = team_actions.do_submit_request(case_studies, {"title": "Hooli story"}, actor=requester)
    space_members = sorted([manager.pk, member.pk, participant.pk])
    got = [TeamRecord.objects.get(pk=r.pk).assignee_id for r in (first, second)]
    assert got == space_members[:2]
    assert TeamRecord.objects.get(pk=first.pk).owner_id == requester.pk  # the owner stays the requester
    # The assignee is told (the manager too: the rule acts as them, but they did not assign by hand),
    # and so is the requester.
    told = {(n.recipient_id, n.kind) for n in Notification.objects.filter(record_id__in=[first.pk, second.pk])}
    assert (requester.pk, "request_assigned") in told
    assert {(pk, "assigned") for pk in got} <= told


def test_an_event_handled_twice_assigns_once(admin_user, reps, django_capture_on_commit_callbacks):
    rule = make_rule(admin_user, [round_robin(reps)])
    with django_capture_on_commit_callbacks(execute=False):
        lead = new_lead(admin_user)
    pending = PendingEvent.objects.get(payload__kind="created", payload__record_id=lead.pk)
    event = events.RecordEvent.from_json(pending.payload)
    assignment.assignment_stage(event)
    assignment.assignment_stage(event)  # a redelivered message, a re-queued event
    assert TimelineEntry.objects.filter(record_id=lead.pk, kind="owner_changed").count() == 1
    assert RuleRun.objects.filter(rule_id=rule.pk).count() == 1
    assert owners([lead]) == [reps[0].pk]
    assert process_event.apply(args=(pending.pk,)).get() is True  # the whole pipeline again: still once
    assert TimelineEntry.objects.filter(record_id=lead.pk, kind="owner_changed").count() == 1


def test_records_made_by_a_rule_deep_in_a_chain_are_not_assigned(admin_user, reps, committed):
    rule = make_rule(admin_user, [round_robin(reps)])
    with committed():
        with events.caused_by("rule:workflow:1", 5):
            deep = new_lead(admin_user, "deep")
    assert owners([deep]) == [admin_user.pk]
    run = RuleRun.objects.get(rule_id=rule.pk, record_id=deep.pk)
    assert run.status == "failed" and "chain" in run.error


def test_an_inactive_rule_and_another_org_are_left_alone(admin_user, reps, other_org_user, committed):
    rule = make_rule(admin_user, [round_robin(reps)], activate=False)
    with committed():
        lead = new_lead(admin_user)
        theirs = crm_actions.do_create_record("leads", {"last_name": "Globex lead"}, actor=other_org_user)
    assert owners([lead]) == [admin_user.pk]
    actions.do_activate_assignment_rule(rule, actor=admin_user)
    with committed():
        theirs = crm_actions.do_create_record("leads", {"last_name": "Globex lead 2"}, actor=other_org_user)
    assert owners([theirs]) == [other_org_user.pk]
    assert not RuleRun.objects.filter(org=other_org_user.org).exists()


def test_assign_record_runs_once_per_key_and_reports_what_it_did(admin_user, reps):
    rule = make_rule(admin_user, [round_robin(reps[:1])])
    lead = new_lead(admin_user)  # no commit callbacks: the stage has not run
    text = assign_record(rule, lead.pk, trigger="workflow", key="wf:9:1")
    assert reps[0].username.capitalize() in text
    assert assign_record(rule, lead.pk, trigger="workflow", key="wf:9:1") == "Already done."
    assert RuleRun.objects.get(rule_id=rule.pk, key="wf:9:1").trigger == "workflow"


def test_a_refused_assignment_is_a_failed_run_and_changes_nothing(admin_user, reps, make_user):
    rule = make_rule(admin_user, [round_robin(reps[:1])])
    lead = new_lead(admin_user)
    do_set_membership_active(admin_user.membership, False, actor=make_user(admin_user.org, role="admin"))
    text = assign_record(rule, lead.pk, trigger="selected", key="k1")
    run = RuleRun.objects.get(rule_id=rule.pk, key="k1")
    assert run.status == "failed" and run.error == text and "no longer an active member" in text
    assert owners([lead]) == [admin_user.pk]


# --- configuration: who may, and bad input ---------------------------------------------------------

def test_only_admins_configure_org_modules_and_managers_their_team_modules(admin_user, standard_user, case_studies,  # noqa: F811
                                                                         manager, member):
    with pytest.raises(PermissionDenied):
        actions.do_create_assignment_rule(standard_user.org, "leads", name="Mine", actor=standard_user)
    with pytest.raises(PermissionDenied):
        actions.do_create_assignment_rule(manager.org, "leads", name="Mine", actor=manager)
    with pytest.raises(PermissionDenied):
        actions.do_create_assignment_rule(member.org, case_studies.key, name="Mine", actor=member)
    rule = actions.do_create_assignment_rule(manager.org, case_studies.key, name="Team", actor=manager)
    with pytest.raises(PermissionDenied):
        actions.do_activate_assignment_rule(rule, actor=member)
    assert actions.do_create_assignment_rule(admin_user.org, "leads", name="Org", actor=admin_user).pk


def test_bad_entries_are_refused_naming_the_field(admin_user, reps, other_org_user, case_studies, manager):  # noqa: F811
    rule = actions.do_create_assignment_rule(admin_user.org, "leads", name="R", actor=admin_user)
    cases = [
        ({"criteria": {"all": [{"field": "nope", "op": "eq", "value": "x"}]}, "method": "user", "user_id": reps[0].pk},
         "criteria"),
        ({"criteria": None, "method": "user", "user_id": other_org_user.pk}, "user"),
        ({"criteria": None, "method": "round_robin", "pool": "users", "pool_users": []}, "pool_users"),
        ({"criteria": None, "method": "round_robin", "pool": "role", "pool_role_id": 999999}, "pool_role"),
        ({"criteria": None, "method": "round_robin", "pool": "users", "pool_users": [reps[0].pk], "cap": 0}, "cap"),
        ({"criteria": None, "method": "sideways"}, "method"),
    ]
    for values, field in cases:
        with pytest.raises(RecordValidationError) as caught:
            actions.do_add_assignment_entry(rule, actor=admin_user, **values)
        assert field in caught.value.message_dict, (values, caught.value.message_dict)
    assert not rule.entries.exists()
    with pytest.raises(RecordValidationError) as caught:
        actions.do_update_assignment_rule(rule, name="", status_field="industry", closed_values=["won"],
                                          actor=admin_user)
    assert {"name", "status_field"} <= set(caught.value.message_dict)
    team_rule = actions.do_create_assignment_rule(manager.org, case_studies.key, name="T", actor=manager)
    with pytest.raises(RecordValidationError) as caught:  # not a member of the team space
        actions.do_add_assignment_entry(team_rule, actor=manager, criteria=None, method="user", user_id=reps[0].pk)
    assert "user" in caught.value.message_dict


def test_one_active_rule_per_module_and_none_empty(admin_user, reps):
    empty = actions.do_create_assignment_rule(admin_user.org, "leads", name="Empty", actor=admin_user)
    with pytest.raises(RecordValidationError):
        actions.do_activate_assignment_rule(empty, actor=admin_user)
    make_rule(admin_user, [round_robin(reps)], name="First")
    second = make_rule(admin_user, [round_robin(reps)], name="Second", activate=False)
    with pytest.raises(RecordValidationError) as caught:
        actions.do_activate_assignment_rule(second, actor=admin_user)
    assert "First" in str(caught.value)
    with pytest.raises(RecordValidationError) as caught:
        actions.do_create_assignment_rule(admin_user.org, "leads", name="first", actor=admin_user)
    assert "name" in caught.value.message_dict

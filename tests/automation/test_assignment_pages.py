"""The assignment rules' pages: who may open them, bad input, the dry run, the execution log and
running a rule on chosen records or a whole filtered list."""
from __future__ import annotations

import pytest
from django.urls import reverse

from automation import assignment_actions as actions
from automation.models import AssignmentEntry, AssignmentJob, AssignmentRule, RuleRun
from crm import actions as crm_actions
from crm.models import Lead, TimelineEntry
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401


@pytest.fixture
def reps(org, make_user):
    return [make_user(org, username=f"rep{i}") for i in range(2)]


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def rule_with_entry(admin, users, *, activate=True, module="leads", name="Reps"):
    rule = actions.do_create_assignment_rule(admin.org, module, name=name, actor=admin)
    actions.do_add_assignment_entry(rule, actor=admin, criteria=None, method="round_robin", pool="users",
                                    pool_users=[u.pk for u in users])
    return actions.do_activate_assignment_rule(rule, actor=admin) if activate else rule


def test_org_module_rules_are_for_admins_and_team_module_rules_for_their_managers(
        admin_user, standard_user, case_studies, manager, member, other_org_user, client_for):  # noqa: F811
    leads_url = reverse("automation:assignment_rules", args=["leads"])
    team_url = reverse("automation:assignment_rules", args=[case_studies.key])
    assert client_for(admin_user).get(leads_url).status_code == 200
    assert client_for(standard_user).get(leads_url).status_code == 404
    assert client_for(manager).get(team_url).status_code == 200
    assert client_for(manager).get(leads_url).status_code == 404
    assert client_for(member).get(team_url).status_code == 404
    rule = actions.do_create_assignment_rule(admin_user.org, "leads", name="Ours", actor=admin_user)
    for name in ("assignment_rule", "assignment_rule_dry_run", "assignment_entry_new", "assignment_rule_delete"):
        url = reverse(f"automation:{name}", args=[rule.pk])
        assert client_for(other_org_user).get(url).status_code == 404
        assert client_for(standard_user).get(url).status_code == 404
    for name in ("assignment_rule_activate", "assignment_rule_delete"):
        url = reverse(f"automation:{name}", args=[rule.pk])
        assert client_for(standard_user).post(url).status_code == 404
        assert client_for(other_org_user).post(url).status_code == 404
    rule.refresh_from_db()
    assert not rule.active


def test_bad_input_names_the_field_and_writes_nothing(admin_user, reps, client_for):
    client = client_for(admin_user)
    response = client.post(reverse("automation:assignment_rule_new", args=["leads"]),
                           {"name": "", "status_field": "industry_x"})
    assert response.status_code == 400
    assert not AssignmentRule.objects.exists()
    rule = rule_with_entry(admin_user, reps, activate=False)
    response = client.post(reverse("automation:assignment_entry_new", args=[rule.pk]), {
        "joiner": "all", "c0_field": "source", "c0_op": "eq", "c0_value": "nonsense",
        "method": "round_robin", "pool": "users", "cap": "0"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "is-invalid" in page and "cap" in page
    response = client.post(reverse("automation:assignment_entry_new", args=[rule.pk]), {
        "joiner": "all", "method": "round_robin", "pool": "role"})
    assert response.status_code == 400 and "Choose a role of this organisation." in response.content.decode()
    assert rule.entries.count() == 1


def test_create_dry_run_activate_and_read_the_log(admin_user, reps, client_for, committed):
    client = client_for(admin_user)
    response = client.post(reverse("automation:assignment_rule_new", args=["leads"]), {
        "name": "Web leads", "status_field": "status", "closed_values": ["status:unqualified"]})
    rule = AssignmentRule.objects.get()
    assert response.status_code == 302 and rule.closed_values == ["unqualified"] and not rule.active
    response = client.post(reverse("automation:assignment_entry_new", args=[rule.pk]), {
        "joiner": "all", "c0_field": "source", "c0_op": "eq", "c0_value": "web",
        "method": "round_robin", "pool": "users", "pool_users": [r.pk for r in reps]})
    assert response.status_code == 302
    existing = [crm_actions.do_create_record("leads", {"last_name": f"W{i}", "source": "web"}, actor=admin_user)
                for i in range(3)]
    crm_actions.do_create_record("leads", {"last_name": "Referral", "source": "referral"}, actor=admin_user)
    page = client.get(reverse("automation:assignment_rule_dry_run", args=[rule.pk])).content.decode()
    # Newest first, turns simulated: rep0, rep1, rep0; the referral lead matches no entry.
    assert page.count('data-testid="would-assign"') == 3
    assert "Referral" not in page
    names = [str(r) for r in reps]
    assert page.index(names[0]) < page.index(names[1])
    assert not RuleRun.objects.exists()
    assert AssignmentEntry.objects.get().last_user_id is None
    assert [Lead.objects.get(pk=lead.pk).owner_id for lead in existing] == [admin_user.pk] * 3
    assert not TimelineEntry.objects.filter(kind="owner_changed").exists()

    assert client.post(reverse("automation:assignment_rule_activate", args=[rule.pk])).status_code == 302
    rule.refresh_from_db()
    assert rule.active and rule.run_as_id == admin_user.pk
    with committed():
        lead = crm_actions.do_create_record("leads", {"last_name": "New", "source": "web"}, actor=admin_user)
    assert Lead.objects.get(pk=lead.pk).owner_id == reps[0].pk
    page = client.get(reverse("automation:assignment_rule", args=[rule.pk])).content.decode()
    assert 'data-testid="run-log"' in page and ">New<" in page and "On create" in page


def test_activating_a_second_rule_is_refused_on_the_page(admin_user, reps, client_for):
    rule_with_entry(admin_user, reps)
    second = rule_with_entry(admin_user, reps, activate=False, name="Other reps")
    response = client_for(admin_user).post(reverse("automation:assignment_rule_activate", args=[second.pk]))
    assert response.status_code == 400 and "deactivate it first" in response.content.decode()


def test_the_list_page_offers_the_rule_to_admins_only(admin_user, standard_user, reps, client_for):
    rule_with_entry(admin_user, reps)
    crm_actions.do_create_record("leads", {"last_name": "Mine"}, actor=standard_user)
    url = reverse("crm:list", args=["leads"])
    assert "Assign by rule" in client_for(admin_user).get(url).content.decode()
    assert "Assign by rule" not in client_for(standard_user).get(url).content.decode()
    run = reverse("automation:assignment_run_selected", args=["leads"])
    assert client_for(standard_user).post(run, {"ids": ["1:1"]}).status_code == 404


def test_running_the_rule_on_chosen_records(admin_user, reps, client_for, committed):
    leads = [crm_actions.do_create_record("leads", {"last_name": f"L{i}"}, actor=admin_user) for i in range(3)]
    rule_with_entry(admin_user, reps)
    client = client_for(admin_user)
    with committed():
        response = client.post(reverse("automation:assignment_run_selected", args=["leads"]),
                               {"ids": [f"{lead.pk}:{lead.version}" for lead in leads[:2]]})
    job = AssignmentJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("automation:assignment_job", args=[job.pk])
    job.refresh_from_db()
    assert job.status == "done" and job.processed == 2 and job.assigned == 2
    assert [Lead.objects.get(pk=lead.pk).owner_id for lead in leads] == [reps[0].pk, reps[1].pk, admin_user.pk]
    assert "2 assigned" in client.get(response.url).content.decode()
    assert set(RuleRun.objects.values_list("trigger", flat=True)) == {"selected"}


def test_running_the_rule_on_a_whole_filtered_list_in_batches(admin_user, reps, client_for, committed, monkeypatch):
    from automation import assignment_tasks

    monkeypatch.setattr(assignment_tasks, "BATCH", 2)
    web = [crm_actions.do_create_record("leads", {"last_name": f"W{i}", "source": "web"}, actor=admin_user)
           for i in range(5)]
    event = crm_actions.do_create_record("leads", {"last_name": "E", "source": "event"}, actor=admin_user)
    rule_with_entry(admin_user, reps)
    client = client_for(admin_user)
    url = reverse("automation:assignment_run_list", args=["leads"]) + "?source=web"
    assert "5 records" in client.get(url).content.decode()
    with committed():
        response = client.post(url)
    job = AssignmentJob.objects.get()
    assert response.status_code == 302
    assert job.status == "done" and job.processed == 5 and job.assigned == 5 and job.filters == {"source": ["web"]}
    owners = [Lead.objects.get(pk=lead.pk).owner_id for lead in web]
    assert sorted(owners.count(rep.pk) for rep in reps) == [2, 3]
    assert Lead.objects.get(pk=event.pk).owner_id == admin_user.pk
    # Run again (a redelivered batch): nothing assigned twice.
    assignment_tasks.run_assignment_job.apply(args=(job.pk,))
    assert TimelineEntry.objects.filter(kind="owner_changed").count() == 5


def test_a_failed_run_is_shown_in_the_log_and_among_failed_runs(admin_user, reps, make_user, client_for):
    from access.actions import do_set_membership_active
    from automation.assignment import assign_record

    rule = rule_with_entry(admin_user, reps)
    lead = crm_actions.do_create_record("leads", {"last_name": "Stuck"}, actor=admin_user)
    other_admin = make_user(admin_user.org, role="admin")
    do_set_membership_active(admin_user.membership, False, actor=other_admin)  # the rule's author leaves
    assign_record(rule, lead.pk, trigger="selected", key="manual-1")
    client = client_for(other_admin)
    failures = client.get(reverse("automation:failures")).content.decode()
    assert "no longer an active member" in failures and f"#{lead.pk}" in failures
    page = client.get(reverse("automation:assignment_rule", args=[rule.pk])).content.decode()
    assert "no longer an active member" in page and "Chosen records" in page


def test_a_team_manager_sets_up_a_rule_for_their_module_in_the_pages(case_studies, manager, member,  # noqa: F811
                                                                     client_for):
    client = client_for(manager)
    response = client.post(reverse("automation:assignment_rule_new", args=[case_studies.key]), {"name": "Studies"})
    rule = AssignmentRule.objects.get()
    assert response.status_code == 302 and rule.module == case_studies.key
    response = client.post(reverse("automation:assignment_entry_new", args=[rule.pk]), {
        "joiner": "all", "method": "load_balance", "pool": "team", "pool_space": case_studies.space_id})
    assert response.status_code == 302
    assert client.post(reverse("automation:assignment_rule_activate", args=[rule.pk])).status_code == 302
    assert client_for(member).post(reverse("automation:assignment_rule_deactivate", args=[rule.pk])).status_code == 404
    rule.refresh_from_db()
    assert rule.active and rule.run_as_id == manager.pk

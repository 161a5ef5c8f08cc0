"""Workflow rules on record events: triggers, criteria, once per record, action order, loop
safety, failures and their retry, tenancy."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from automation import workflow_actions
from automation.models import RuleRun, ScheduledAction
from automation.workflow_actions import FIELD_UPDATES, MESSAGES_AND_RECORDS, WEBHOOKS
from automation.workflow_rule_actions import do_set_workflow_rule_active, do_update_workflow_rule
from automation.workflow_tasks import retry_workflow_run
from crm import actions as crm_actions
from crm import timeline
from crm.models import Task
from crm.guards import GuardRefusal, register_guard, unregister_guard
from tests.automation.workflow_helpers import committed, inbox, make_rule, notify, runs_of, update  # noqa: F401
from tests.helpers import version_of


@pytest.fixture
def fiona(org, make_user):
    """An administrator: sees every deal, so she may be told about any."""
    return make_user(org, role="admin", username="fiona")


@pytest.fixture
def frank(org, make_user):
    return make_user(org, role="admin", username="frank")


def deal(actor, **values):
    return crm_actions.do_create_record("deals", {"name": "Big deal", **values}, actor=actor)


def edit(record, actor, **changes):
    return crm_actions.do_update_record(record, changes, version=version_of(record), actor=actor)


# --- triggers -------------------------------------------------------------------------------------

def test_on_create_a_field_is_updated_through_the_record_actions_and_the_timeline_names_the_rule(
        admin_user, committed):
    rule = make_rule(admin_user, "deals", name="Discount", actions=[update("discount", "5")])
    with committed():
        record = deal(admin_user)
    record.refresh_from_db()
    assert str(record.discount) == "5.00" and record.version == 2
    assert [e.path for e in timeline.for_record(record) if e.kind == "updated"] == [f"rule:workflow:{rule.pk}"]
    [run] = runs_of(rule)
    assert run.status == RuleRun.Status.DONE and run.trigger == "created" and run.record_id == record.pk
    assert run.actions[0]["status"] == "done" and "Discount" in run.actions[0]["result"]
    with committed():
        edit(record, admin_user, name="Bigger deal")
    assert len(runs_of(rule)) == 1  # "on create" does not run on an edit


def test_on_edit_runs_on_edits_only_and_on_create_or_edit_on_both(admin_user, fiona, committed):
    on_edit = make_rule(admin_user, "deals", name="Edit", trigger="edit", actions=[notify(fiona)])
    both = make_rule(admin_user, "deals", name="Both", trigger="create_or_edit", actions=[notify(fiona)])
    with committed():
        record = deal(admin_user)
    assert (len(runs_of(on_edit)), len(runs_of(both))) == (0, 1)
    with committed():
        edit(record, admin_user, amount="10")
    assert (len(runs_of(on_edit)), len(runs_of(both))) == (1, 2)
    assert len(inbox(fiona)) == 3


def test_a_field_changing_to_a_value_or_at_all(admin_user, fiona, frank, committed):
    won = make_rule(admin_user, "deals", name="Won", trigger="field_change", trigger_fields=["stage"],
                    trigger_value="won", actions=[notify(fiona)])
    any_amount = make_rule(admin_user, "deals", name="Amount", trigger="field_change", trigger_fields=["amount"],
                           actions=[notify(frank)])
    with committed():
        record = deal(admin_user)
    with committed():
        edit(record, admin_user, stage="proposal")
    assert runs_of(won) == [] and runs_of(any_amount) == []
    with committed():
        edit(record, admin_user, stage="won", amount="100")
    assert len(runs_of(won)) == 1 and len(runs_of(any_amount)) == 1
    with committed():
        edit(record, admin_user, amount="200")
    assert len(runs_of(won)) == 1 and len(runs_of(any_amount)) == 2
    with committed():
        deal(admin_user, stage="won")  # created won: the stage "changed" to won
    assert len(runs_of(won)) == 2


def test_on_delete(admin_user, committed):
    rule = make_rule(admin_user, "deals", name="Deleted", trigger="delete",
                     actions=[{"type": "create_record", "module": "tasks",
                               "values": {"subject": "Check why {{name}} was deleted"}}])
    with committed():
        record = deal(admin_user, name="Gone deal")
        edit(record, admin_user, amount="1")
    assert runs_of(rule) == []
    with committed():
        crm_actions.do_delete_record(record, version=version_of(record), actor=admin_user)
    [run] = runs_of(rule)
    assert run.trigger == "deleted" and run.status == RuleRun.Status.DONE
    assert Task.objects.filter(org=admin_user.org, subject="Check why Gone deal was deleted").count() == 1


def test_criteria_hold_on_the_record_as_it_is_now(admin_user, fiona, committed):
    rule = make_rule(admin_user, "deals", name="Big", trigger="create_or_edit",
                     criteria={"all": [{"field": "amount", "op": "gt", "value": "1000"}]},
                     actions=[notify(fiona)])
    with committed():
        record = deal(admin_user, amount="10")
    assert runs_of(rule) == []
    with committed():
        edit(record, admin_user, amount="5000")
    assert len(runs_of(rule)) == 1 and len(inbox(fiona)) == 1


def test_once_per_record_or_every_time(admin_user, fiona, frank, committed):
    once = make_rule(admin_user, "deals", name="Once", trigger="create_or_edit", once_per_record=True,
                     actions=[notify(fiona)])
    every = make_rule(admin_user, "deals", name="Every", trigger="create_or_edit", actions=[notify(frank)])
    with committed():
        record = deal(admin_user)
    for amount in ("1", "2"):
        with committed():
            edit(record, admin_user, amount=amount)
    assert len(inbox(fiona)) == 1 and len(inbox(frank)) == 3
    assert len(runs_of(once)) == 1 and len(runs_of(every)) == 3


def test_an_inactive_rule_does_nothing_and_another_org_is_unaffected(admin_user, fiona, other_org_user,
                                                                       committed):
    rule = make_rule(admin_user, "deals", name="Off", actions=[notify(fiona)], activate=False)
    make_rule(admin_user, "deals", name="On", actions=[notify(fiona)])
    with committed():
        crm_actions.do_create_record("deals", {"name": "Globex deal"}, actor=other_org_user)
    assert inbox(fiona) == [] and runs_of(rule) == []
    with committed():
        deal(admin_user)
    assert len(inbox(fiona)) == 1 and runs_of(rule) == []


# --- order and loops ------------------------------------------------------------------------------

class Recorder:
    def __init__(self, type_, stage, calls):
        self.type, self.stage, self.calls = type_, stage, calls

    def label(self):
        return self.type

    def clean(self, config, schema, org):
        return {}

    def describe(self, config, context):
        return self.type

    def run(self, config, context):
        self.calls.append((self.type, str(context.record.discount)))
        return "ok"


@pytest.fixture
def recorders():
    calls = []
    kinds = [Recorder("test_hook", WEBHOOKS, calls), Recorder("test_message", MESSAGES_AND_RECORDS, calls),
             Recorder("test_update", FIELD_UPDATES, calls)]
    for kind in kinds:
        workflow_actions.register_action(kind)
    yield calls
    for kind in kinds:
        workflow_actions._kinds.pop(kind.type, None)


def test_within_a_rule_field_updates_then_messages_then_webhooks(admin_user, recorders, committed):
    make_rule(admin_user, "deals", name="Ordered",
              actions=[{"type": "test_hook"}, {"type": "test_message"}, update("discount", "7"),
                       {"type": "test_update"}])
    with committed():
        deal(admin_user)
    # The real field update ran first, so every later action saw the new discount.
    assert recorders == [("test_update", "7.00"), ("test_message", "7.00"), ("test_hook", "7.00")]


def test_rules_run_in_their_order(admin_user, committed):
    make_rule(admin_user, "deals", name="First", actions=[update("discount", "1")])
    make_rule(admin_user, "deals", name="Second", actions=[update("discount", "2")])
    with committed():
        record = deal(admin_user)
    record.refresh_from_db()
    assert str(record.discount) == "2.00"


def test_a_rule_updating_its_own_trigger_field_runs_once(admin_user, committed):
    rule = make_rule(admin_user, "deals", name="Self", trigger="field_change", trigger_fields=["amount"],
                     actions=[update("amount", "999")])
    with committed():
        record = deal(admin_user)
    with committed():
        edit(record, admin_user, amount="5")
    record.refresh_from_db()
    assert str(record.amount) == "999.00" and len(runs_of(rule)) == 1


def test_two_rules_changing_each_other_stop_at_the_depth_limit_with_a_logged_error(admin_user, committed):
    ping = make_rule(admin_user, "accounts", name="Ping", trigger="edit",
                     criteria={"all": [{"field": "industry", "op": "eq", "value": "technology"}]},
                     actions=[update("industry", "finance")])
    pong = make_rule(admin_user, "accounts", name="Pong", trigger="edit",
                     criteria={"all": [{"field": "industry", "op": "eq", "value": "finance"}]},
                     actions=[update("industry", "technology")])
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    with committed():
        edit(account, admin_user, industry="technology")
    runs = runs_of(ping) + runs_of(pong)
    failed = [run for run in runs if run.status == RuleRun.Status.FAILED]
    assert len(failed) == 1 and "chain of 5 rules" in failed[0].error
    # Both ran on the person's edit (Pong saw the record as Ping left it), then took turns.
    assert len([run for run in runs if run.status == RuleRun.Status.DONE]) == 6


# --- failures -------------------------------------------------------------------------------------

def test_a_failing_action_keeps_the_change_is_logged_shown_and_retried(admin_user, fiona, client_for,
                                                                       committed):
    def no_discounts(context):
        if context.action == "update" and "discount" in context.changes:
            raise GuardRefusal("Discounts are frozen.")

    rule = make_rule(admin_user, "deals", name="Discount", trigger="edit",
                     actions=[update("discount", "5"), notify(fiona)])
    record = deal(admin_user)
    register_guard(no_discounts)
    try:
        with committed():
            edit(record, admin_user, amount="100")
    finally:
        unregister_guard(no_discounts)
    record.refresh_from_db()
    assert str(record.amount) == "100.00" and record.discount is None  # the person's change stays
    [run] = runs_of(rule)
    assert run.status == RuleRun.Status.FAILED and "Discounts are frozen." in run.error
    assert [a["status"] for a in run.actions] == ["failed", "done"]  # the notification still went
    assert len(inbox(fiona)) == 1
    page = client_for(admin_user).get("/settings/automation/failures/")
    assert "Discounts are frozen." in page.content.decode()
    assert retry_workflow_run.apply(args=(run.pk,)).get() is True  # the cause is gone: the retry does it
    run.refresh_from_db()
    record.refresh_from_db()
    assert run.status == RuleRun.Status.DONE and str(record.discount) == "5.00"
    assert len(inbox(fiona)) == 1  # the done notification was not sent again
    assert retry_workflow_run.apply(args=(run.pk,)).get() is None


def test_a_rule_whose_author_left_fails_visibly(admin_user, make_user, fiona, committed):
    from access.actions import do_set_membership_active

    boss = make_user(admin_user.org, role="admin", username="boss")
    rule = make_rule(boss, "deals", name="Left", actions=[notify(fiona)])
    do_set_membership_active(boss.membership, False, actor=admin_user)
    with committed():
        deal(admin_user)
    [run] = runs_of(rule)
    assert run.status == RuleRun.Status.FAILED and "no longer an active member" in run.error


def test_delayed_actions_are_scheduled_not_done(admin_user, fiona, committed):
    rule = make_rule(admin_user, "deals", name="Later",
                     actions=[notify(fiona, delay={"amount": 2, "unit": "days"})])
    with committed():
        deal(admin_user)
    assert inbox(fiona) == []
    [row] = ScheduledAction.objects.filter(rule=rule)
    assert row.status == "pending" and runs_of(rule)[0].actions[0]["status"] == "scheduled"


def test_changing_a_rule_checks_its_settings(admin_user):
    rule = make_rule(admin_user, "deals", name="R", actions=[update("discount", "5")])
    with pytest.raises(ValidationError) as exc:
        do_update_workflow_rule(rule, actor=admin_user, name="R", trigger="field_change", trigger_fields=["nope"],
                                criteria={"all": [{"field": "nope", "op": "eq", "value": "1"}]},
                                actions=[update("stage", "nonsense"), {"type": "unknown"}])
    assert set(exc.value.message_dict) == {"trigger_fields", "criteria", "actions.0.value", "actions.1.type"}
    rule.refresh_from_db()
    assert rule.trigger == "create" and rule.actions[0]["value"] == "5"
    do_set_workflow_rule_active(rule, False, actor=admin_user)


def test_the_workflow_stage_reads_the_record_once_however_many_rules(admin_user):
    """Rules of one event share their author, the schema and the record until one acts: the
    stage's queries do not grow with the number of active rules."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from automation import workflow
    from crm.events import RecordEvent

    from tests.automation.workflow_helpers import make_rule, update

    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    counts = []
    for total in (1, 10):
        while len(workflow_rules(admin_user)) < total:
            make_rule(admin_user, "accounts", name=f"Never {len(workflow_rules(admin_user))}", trigger="edit",
                      criteria={"all": [{"field": "name", "op": "eq", "value": "Nobody"}]},
                      actions=[update("city", "Paris")])
        event = RecordEvent(kind="updated", module="accounts", org_id=account.org_id, record_id=account.pk,
                            actor_id=admin_user.pk, path="page", changes={"name": ["Initech", "Initech"]})
        with CaptureQueriesContext(connection) as queries:
            workflow.workflow_stage(event)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def workflow_rules(user):
    from automation.workflow_models import WorkflowRule

    return list(WorkflowRule.objects.filter(org=user.org, module="accounts"))


def test_changing_an_active_rule_makes_it_act_as_the_person_who_changed_it(admin_user, make_user):
    other = make_user(admin_user.org, role="admin", username="otto")
    rule = make_rule(admin_user, "deals", name="R", actions=[update("discount", "5")])
    do_update_workflow_rule(rule, actor=other, name="R", trigger="create", criteria=None,
                            actions=[update("discount", "6")])
    rule.refresh_from_db()
    assert rule.active and rule.run_as_id == other.pk and rule.actions[0]["value"] == "6"

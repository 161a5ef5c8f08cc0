"""Workflow rule stories: a won deal tells finance and asks the service team for onboarding; a
requester still hears that their request is done when a workflow rule acts on it too; a real
Celery worker on the real Redis runs a rule once when its event is delivered twice."""
from __future__ import annotations

import time

import pytest

from tests.workers import thread_worker
from access.actions import do_set_org_default
from access.sharing_actions import do_create_role, do_set_user_role
from automation import messages
from automation.models import Notification, PendingEvent, RuleRun
from automation.tasks import process_event
from crm import actions as crm_actions
from crm.actions import do_create_field
from crm.events import RecordEvent
from crm.models import Task
from crm.modules import get_module
from teams import actions as team_actions
from tests.automation.workflow_helpers import committed, inbox, make_rule, notify, runs_of, update  # noqa: F401
from tests.helpers import version_of
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401


def test_a_won_deal_tells_finance_and_asks_service_for_onboarding(admin_user, make_user, manager, committed):
    org = admin_user.org
    do_set_org_default(org, "deals", "public_read", actor=admin_user)
    finance = do_create_role(org, name="Finance", actor=admin_user)
    fiona = make_user(org, username="fiona")
    do_set_user_role(fiona.membership, finance, actor=admin_user)
    service = team_actions.do_create_space(org, name_en="Service", manager_ids=[manager.pk], actor=admin_user)
    onboarding = team_actions.do_create_team_module(service, name_en="Onboarding", icon="rocket", actor=manager,
                                                    statuses=[{"value": "new", "label_en": "New"}])
    back = do_create_field(org, onboarding.key, api_name="deal", label_en="Deal", field_type="lookup",
                           target="deals", actor=manager)
    rep = make_user(org, username="rep")
    rule = make_rule(admin_user, "deals", name="Won deal", trigger="field_change", trigger_fields=["stage"],
                     trigger_value="won", actions=[
                         notify(roles=[finance.pk], message="Please invoice {{name}} ({{amount}})"),
                         {"type": "create_record", "module": onboarding.key,
                          "values": {"title": "Onboard {{account}} for {{name}}"}}])
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=rep)
    deal = crm_actions.do_create_record("deals", {"name": "Initech renewal", "account": account.pk,
                                                  "amount": "12000"}, actor=rep)
    with committed():
        crm_actions.do_update_record(deal, {"stage": "negotiation"}, version=version_of(deal), actor=rep)
    assert inbox(fiona) == []
    with committed():
        crm_actions.do_update_record(deal, {"stage": "won"}, version=version_of(deal), actor=rep)
    [note] = inbox(fiona)
    assert note.params["message"].startswith("Please invoice Initech renewal (")
    [request] = get_module(onboarding.key, org).base_queryset(org)
    assert request.title == "Onboard Initech for Initech renewal" and request.data[back.key] == deal.pk
    assert request.status == "new" and runs_of(rule)[0].status == RuleRun.Status.DONE


def test_a_requester_still_hears_of_done_with_a_workflow_rule_present(case_studies, manager, requester, committed):
    make_rule(manager, case_studies.key, name="Close out", trigger="field_change", trigger_fields=["status"],
              trigger_value="done", actions=[update("internal_notes", "closed by rule"),
                                             notify(requester=True, message="Thanks for {{title}}")])
    request = team_actions.do_submit_request(case_studies, {"title": "Acme story"}, actor=requester)
    with committed():
        crm_actions.do_update_record(request, {"status": "done"}, version=version_of(request), actor=manager)
    kinds = sorted(Notification.objects.filter(recipient_id=requester.pk).values_list("kind", flat=True))
    assert kinds == sorted([messages.REQUEST_DONE, messages.RULE_NOTICE])
    request.refresh_from_db()
    notes = get_module(case_studies.key, manager.org).bind(manager.org).field("internal_notes").key
    assert request.data[notes] == "closed by rule"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_rule_once_when_its_event_comes_twice(admin_user, settings):
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)  # before the rule
    rule = make_rule(admin_user, "accounts", name="Follow up", actions=[
        {"type": "create_task", "subject": "Call {{name}}", "due_in_days": 1, "owner": "rule_author"}])
    event = RecordEvent(kind="created", module="accounts", org_id=account.org_id, record_id=account.pk,
                        actor_id=admin_user.pk, path="page", changes={"name": [None, "Initech"]})
    pending = PendingEvent.objects.create(org_id=account.org_id, event_id=event.id, payload=event.as_json())
    with thread_worker("workflow-test", settings.CELERY_BROKER_URL) as queue:
        for _i in range(2):  # the same event delivered twice, as after a lost acknowledgement
            process_event.apply_async(args=(pending.pk,), queue=queue)
        deadline = time.monotonic() + 30
        while not RuleRun.objects.filter(rule_id=rule.pk, status="done").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
    assert Task.objects.filter(org=admin_user.org, subject="Call Initech").count() == 1
    assert len(runs_of(rule)) == 1 and runs_of(rule)[0].status == RuleRun.Status.DONE

"""The automation pipeline: record events written to the outbox with the change, handled in
one order after the commit, re-queued when lost, and the settings area's doors."""
from __future__ import annotations

import datetime as dt

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from automation import outbox, pipeline
from automation.models import PendingEvent
from automation.tasks import process_event, sweep_pending_events
from crm import actions as crm_actions
from crm import events, timeline
from crm.guards import GuardRefusal, register_guard, unregister_guard
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401


def test_a_saved_change_leaves_its_event_in_the_outbox_until_handled(admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    row = PendingEvent.objects.get()
    assert row.payload["kind"] == "created" and row.payload["record_id"] == account.pk
    assert callbacks  # queued only once the change commits
    assert process_event.apply(args=(row.pk,)).get() is True
    assert not PendingEvent.objects.exists()


def test_a_refused_change_leaves_no_event(admin_user):
    def refuse_all(context):
        if context.action == "create":
            raise GuardRefusal("No new accounts today.")

    register_guard(refuse_all)
    try:
        with pytest.raises(GuardRefusal):
            crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    finally:
        unregister_guard(refuse_all)
    assert not PendingEvent.objects.exists()


def test_stages_run_in_the_documented_order_and_a_failure_keeps_the_event(admin_user, monkeypatch):
    calls = []
    stages = {name: (lambda event, name=name: calls.append((name, event.kind))) for name in pipeline.ORDER}
    monkeypatch.setattr(pipeline, "_stages", stages)
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    row = PendingEvent.objects.get()
    process_event.apply(args=(row.pk,)).get()
    assert calls == [("assignment", "created"), ("workflow", "created"), ("notifications", "created")]

    def broken(event):
        raise RuntimeError("SMTP down")

    monkeypatch.setitem(stages, "workflow", broken)
    crm_actions.do_update_record(account, {"name": "Initech Ltd"}, version=account.version, actor=admin_user)
    row = PendingEvent.objects.get()
    with pytest.raises(Retry):  # retried with backoff, the event kept
        process_event.apply(args=(row.pk,), throw=True).get()
    row.refresh_from_db()
    assert "SMTP down" in row.last_error and row.attempts >= 1


def test_the_sweeper_queues_events_left_behind(admin_user, monkeypatch):
    crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    row = PendingEvent.objects.get()
    assert outbox.stale() == []  # fresh: its own task is on the way
    PendingEvent.objects.filter(pk=row.pk).update(queued_at=timezone.now() - dt.timedelta(minutes=5))
    handled = []
    monkeypatch.setattr(pipeline, "_stages", {"workflow": lambda event: handled.append(event.record_id)})
    assert sweep_pending_events.apply().get() == 1  # eager: queued and handled at once
    assert handled == [row.payload["record_id"]] and not PendingEvent.objects.exists()


def test_events_emitted_by_a_rule_carry_it_and_their_depth(admin_user):
    crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    with events.caused_by("rule:workflow:7", 2):
        crm_actions.do_create_record("accounts", {"name": "Hooli"}, actor=admin_user)
    first, second = (events.RecordEvent.from_json(payload) for payload in
                     PendingEvent.objects.order_by("pk").values_list("payload", flat=True))
    assert (first.cause, first.depth) == ("", 0)
    assert (second.cause, second.depth) == ("rule:workflow:7", 2)
    assert pipeline.too_deep(events.RecordEvent(**{**second.__dict__, "depth": pipeline.MAX_CHAIN_DEPTH}))


def test_a_change_by_a_rule_names_the_rule_on_the_timeline(admin_user, monkeypatch):
    from automation import rule_kinds
    from automation.models import Notification  # any org-scoped model with a pk stands in for a rule model

    class FakeRule:
        objects = Notification.objects

    monkeypatch.setitem(rule_kinds._models, "workflow", FakeRule)
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user,
                                           path="rule:workflow:999999")
    entry = timeline.for_viewer(account, admin_user, crm_actions.bound_schema(account, admin_user.org),
                                [])[0]
    assert entry.path_label == "by a rule (since deleted)"


def test_the_automation_settings_open_to_admins_and_team_managers_only(admin_user, standard_user, manager,
                                                                       case_studies, other_org_user, client_for):
    page = client_for(admin_user).get("/settings/automation/")
    assert page.status_code == 200 and 'data-module="leads"' in page.content.decode()
    managed = client_for(manager).get("/settings/automation/").content.decode()
    assert f'data-module="{case_studies.key}"' in managed and 'data-module="leads"' not in managed
    assert client_for(standard_user).get("/settings/automation/").status_code == 404
    assert client_for(standard_user).get("/settings/automation/failures/").status_code == 404
    assert client_for(admin_user).get("/settings/automation/failures/").status_code == 200
    foreign = client_for(other_org_user).get("/settings/automation/").content.decode()
    assert case_studies.key not in foreign


def test_a_bulk_change_writes_its_events_in_one_statement(admin_user, standard_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for n in (2, 20):
        accounts = [crm_actions.do_create_record("accounts", {"name": f"A{i}"}, actor=admin_user) for i in range(n)]
        with CaptureQueriesContext(connection) as queries:
            crm_actions.do_bulk_change_owner("accounts", {a.pk: a.version for a in accounts}, standard_user.pk,
                                             actor=admin_user)
        counts.append(sum('INSERT INTO "automation_pendingevent"' in q["sql"] for q in queries.captured_queries))
    assert counts == [1, 1]
    assert PendingEvent.objects.filter(payload__kind="owner_changed").count() == 22

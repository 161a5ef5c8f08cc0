"""A transition's after-actions run after the transition commits, from a Celery task, through the
workflow engine: a failing one never undoes the transition, is retried with the workflow rules'
backoff, and stays listed as failed (failed-runs page, the blueprint's execution log) when its
retries are spent; a passing one runs once. With a real worker on the real Redis."""
from __future__ import annotations

import time

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from automation.models import Notification
from automation.run_models import RuleRun
from automation.workflow import MAX_RETRIES
from automation.workflow_tasks import retry_workflow_run
from blueprints import actions
from crm.guards import GuardRefusal, register_guard, unregister_guard
from crm.models import Deal, Task
from tests.automation.test_assignment_workers import queue  # noqa: F401
from tests.workers import wait_for
from tests.factories import DealFactory


def stage(deal) -> str:
    return Deal.objects.get(pk=deal.pk).stage


def run_of(transition) -> RuleRun | None:
    return RuleRun.objects.filter(rule_kind="blueprint", rule_id=transition.pk).first()


def told(user) -> int:
    return Notification.objects.filter(recipient_id=user.pk, kind="rule_notice").count()


def published(org, admin, name: str, transitions: dict[str, dict]):
    """A blueprint on the deals' stage with the given transitions (name -> settings), published."""
    bp = actions.do_create_blueprint(org, "deals", name=name, field="stage", actor=admin)
    made = {key: actions.do_save_transition(bp, actor=admin, name=key, **values) for key, values in transitions.items()}
    return actions.do_publish_blueprint(bp, actor=admin), made


def go(after: list[dict], **extra):
    return {"from_states": ["qualification"], "to_state": "proposal", "after": after, **extra}


NOTIFY = {"type": "notify", "message": "{{name}} moved"}
MOVE_STAGE = {"type": "field_update", "field": "stage", "value": "won"}  # only transitions move the stage
DISCOUNT = {"type": "field_update", "field": "discount", "value": "5"}


class Flaky:
    """A guard refusing discount changes the first `times` times (a passing outage)."""

    def __init__(self, times: int):
        self.left = times

    def __call__(self, context):
        if context.action == "update" and "discount" in context.changes and self.left > 0:
            self.left -= 1
            raise GuardRefusal("Discounts are being recalculated.")


# --- after the commit, in a task (eager) ---------------------------------------------------------------

@pytest.mark.django_db
def test_the_transition_stays_done_when_an_after_action_fails_and_a_retry_finishes_it(
        org, admin_user, standard_user, client_for, django_capture_on_commit_callbacks):
    bp, t = published(org, admin_user, "Discounts", {"Go": go([DISCOUNT, {**NOTIFY, "users": [admin_user.pk]}])})
    deal = DealFactory(actor=standard_user, name="Acme")
    frozen = Flaky(times=10 ** 6)
    register_guard(frozen)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            actions.do_transition(deal, t["Go"], actor=standard_user)
            assert run_of(t["Go"]).status == "running" and told(admin_user) == 0  # nothing ran inside it
    finally:
        unregister_guard(frozen)
    assert stage(deal) == "proposal"
    run = run_of(t["Go"])
    assert run.status == "failed" and "Discounts are being recalculated." in run.error
    assert [a["status"] for a in run.actions] == ["failed", "done"] and told(admin_user) == 1
    # Listed with the failed runs, and in the blueprint's execution log, for whoever configures deals.
    admin = client_for(admin_user)
    failures = admin.get(reverse("automation:failures")).content.decode()
    assert "Discounts are being recalculated." in failures and "Blueprint transition" in failures
    log = admin.get(reverse("blueprints:log", args=[bp.pk])).content.decode()
    assert f'data-run="{run.pk}"' in log and "Discounts are being recalculated." in log
    assert client_for(standard_user).get(reverse("blueprints:log", args=[bp.pk])).status_code == 404
    # The outage is over: the retry does the failed action, and only it.
    assert retry_workflow_run.apply(args=(run.pk,)).get() is True
    run.refresh_from_db()
    assert run.status == "done" and str(Deal.objects.get(pk=deal.pk).discount) == "5.00"
    assert told(admin_user) == 1
    assert retry_workflow_run.apply(args=(run.pk,)).get() is None  # done: nothing to retry


@pytest.mark.django_db
def test_a_refused_transition_runs_no_after_action(org, admin_user, standard_user, other_user,
                                                   django_capture_on_commit_callbacks):
    _bp, t = published(org, admin_user, "Others only", {
        "Go": go([{**NOTIFY, "users": [admin_user.pk]}], owners={"users": [other_user.pk]})})
    deal = DealFactory(actor=standard_user, name="Acme")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(PermissionDenied, match="not an owner"):
            actions.do_transition(deal, t["Go"], actor=standard_user)
    assert run_of(t["Go"]) is None and told(admin_user) == 0 and stage(deal) == "qualification"


@pytest.mark.django_db
def test_the_log_page_only_for_whoever_configures_the_module(org, admin_user, standard_user, other_org_user,
                                                             client_for):
    bp, _t = published(org, admin_user, "Mine", {"Go": go([{**NOTIFY, "users": [admin_user.pk]}])})
    page = client_for(admin_user).get(reverse("blueprints:log", args=[bp.pk]))
    assert page.status_code == 200 and "No transition of this version has run after-actions yet." in page.content.decode()
    assert client_for(standard_user).get(reverse("blueprints:log", args=[bp.pk])).status_code == 404
    assert client_for(other_org_user).get(reverse("blueprints:log", args=[bp.pk])).status_code == 404


# --- with a real worker on the real Redis ---------------------------------------------------------------

@pytest.fixture
def worker(queue, settings):  # noqa: F811
    """A Celery worker in this process's thread, on the real Redis, consuming this test's queue
    (every task of the test goes there). It sees the test's settings: retries wait 0.2 s, 0.4 s..."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    settings.WORKFLOW_RETRY_BASE_SECONDS = 0.2
    queues = app.amqp.queues
    consume_from = queues._consume_from
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", queues=[queue]):
            yield
    finally:
        queues._consume_from = consume_from
        queues.pop(queue, None)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_a_failing_after_action_then_marks_it_failed(
        org, admin_user, standard_user, client_for, worker):
    _bp, t = published(org, admin_user, "Sneaky", {"Go": go([MOVE_STAGE, {**NOTIFY, "users": [admin_user.pk]}])})
    deal = DealFactory(actor=standard_user, name="Acme")
    actions.do_transition(deal, t["Go"], actor=standard_user)
    assert stage(deal) == "proposal"  # done at once, whatever the after-actions do later
    assert wait_for(lambda: run_of(t["Go"]) is not None and run_of(t["Go"]).attempts == 1 + MAX_RETRIES, 60)
    time.sleep(1.5)  # no sixth retry comes
    run = run_of(t["Go"])
    assert run.status == "failed" and run.attempts == 1 + MAX_RETRIES and "transitions" in run.error
    assert [a["status"] for a in run.actions] == ["failed", "done"]
    assert told(admin_user) == 1  # the notification went once, not once per retry
    assert stage(deal) == "proposal"
    assert "Blueprint transition" in client_for(admin_user).get(reverse("automation:failures")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_passing_after_actions_once_and_a_flaky_one_on_its_retry(
        org, admin_user, standard_user, worker):
    follow_up = {"type": "create_task", "subject": "Call {{name}}", "due_in_days": 1, "owner": "rule_author"}
    _bp, t = published(org, admin_user, "Pipeline", {
        "Go": go([{**NOTIFY, "users": [admin_user.pk]}, follow_up]),
        "Win": {"from_states": ["proposal"], "to_state": "won", "after": [DISCOUNT]}})
    deal = DealFactory(actor=standard_user, name="Acme")
    actions.do_transition(deal, t["Go"], actor=standard_user)
    assert wait_for(lambda: run_of(t["Go"]) is not None and run_of(t["Go"]).status == "done", 30)
    time.sleep(1)
    assert run_of(t["Go"]).attempts == 1 and told(admin_user) == 1
    assert Task.objects.filter(org=org, subject="Call Acme").count() == 1

    flaky = Flaky(times=2)  # refused by the first try and the first retry, done by the second retry
    register_guard(flaky)
    try:
        actions.do_transition(Deal.objects.get(pk=deal.pk), t["Win"], actor=standard_user)
        assert wait_for(lambda: run_of(t["Win"]) is not None and run_of(t["Win"]).status == "done", 30)
    finally:
        unregister_guard(flaky)
    run = run_of(t["Win"])
    assert run.attempts == 3 and run.error == ""
    deal = Deal.objects.get(pk=deal.pk)
    assert deal.stage == "won" and str(deal.discount) == "5.00"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_a_failing_webhook_then_marks_the_run_failed(
        org, admin_user, standard_user, settings, worker):
    from automation.webhook_models import WebhookDelivery
    from tests.automation.test_webhook_action import Receiver

    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.1
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    with Receiver(statuses=(503,)) as receiver:
        _bp, t = published(org, admin_user, "Hooked", {
            "Go": go([{"type": "webhook", "url": receiver.url, "secret": "s3cret", "fields": ["name"]}])})
        deal = DealFactory(actor=standard_user, name="Acme")
        actions.do_transition(deal, t["Go"], actor=standard_user)
        assert wait_for(lambda: WebhookDelivery.objects.filter(status="failed").exists(), 30)
    assert len(receiver.requests) == 3  # tried three times, then given up
    run = run_of(t["Go"])
    assert run.status == "failed" and "Webhook" in run.error and "attempt 3" in run.error
    assert stage(deal) == "proposal"

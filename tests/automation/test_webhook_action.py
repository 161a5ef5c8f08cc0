"""The workflow action "webhook": signed JSON POSTs from a task, retried with backoff on network
errors and 5xx (not on other 4xx), every attempt logged, private addresses refused, the log pages."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from tests.workers import thread_worker
from access.models import Profile
from access.sharing_actions import do_clone_profile, do_set_profile_field_levels, do_set_user_profile
from access.visibility import bind_org
from automation.run_models import RuleRun
from automation.webhook_actions import backoff_seconds
from automation.webhook_models import WebhookAttempt, WebhookDelivery
from automation.webhook_tasks import deliver_webhook
from automation.workflow_actions import ActionError, action_kind
from crm import actions as crm_actions
from crm.events import RecordEvent
from crm.modules import get_module
from tests.automation.wfaction_helpers import context_for

WEBHOOK = action_kind("webhook")
SECRET = "s3cret-key"


class Receiver:
    """A local HTTP server in a thread answering with the given statuses in turn (the last one
    repeats), keeping every request it received."""

    def __init__(self, statuses=(200,), delay: float = 0.0):
        self.statuses, self.delay, self.requests = list(statuses), delay, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": self.headers, "body": body, "at": time.monotonic()})
                if receiver.delay:
                    time.sleep(receiver.delay)
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                status = receiver.statuses[index]
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write((f"answer {len(receiver.requests)} " + "x" * 3000).encode())
                except BrokenPipeError:  # the client gave up (the timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local(settings):
    """Webhooks may reach the local test server; retries wait next to nothing."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.01
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    # Celery applies an eager task's retries in turn only when they do not propagate.
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    return settings


@pytest.fixture
def deal(admin_user):
    deal = crm_actions.do_create_record("deals", {"name": "Big deal", "amount": "7777", "close_date": "2026-12-24",
                                                  "stage": "won"}, actor=admin_user)
    deal.refresh_from_db()
    return deal


def deals_of(user):
    return get_module("deals", user.org).bind(user.org)


def fire(receiver_url, context, committed, fields=("name", "amount", "close_date"), secret=SECRET):
    config = WEBHOOK.clean({"url": receiver_url, "secret": secret, "fields": list(fields)}, context.schema,
                           context.schema.org)
    # After the commit the action queues its task; eagerly, each retry is applied in turn
    # without waiting for its countdown.
    with committed(execute=True):
        return WEBHOOK.run(config, context)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def attempts():
    return list(WebhookAttempt.objects.order_by("number").values_list("number", "status_code"))


def event_for(deal, actor):
    return RecordEvent(kind="updated", module="deals", org_id=deal.org_id, record_id=deal.pk, actor_id=actor.pk,
                       path="page", changes={"stage": ["qualification", "won"]})


def test_the_post_carries_the_record_and_a_verifiable_signature(admin_user, deal, local, committed):
    with Receiver() as receiver:
        context = context_for(deal, admin_user, event=event_for(deal, admin_user))
        fire(receiver.url, context, committed)
    [request] = receiver.requests
    body = request["body"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request["headers"]["X-CRM-Signature"], expected)
    payload = json.loads(body)
    delivery = WebhookDelivery.objects.get()
    assert request["headers"]["X-CRM-Delivery"] == delivery.delivery_id == payload["delivery"]
    assert request["headers"]["Content-Type"] == "application/json"
    assert payload["record"] == {"id": deal.pk, "fields": {"name": "Big deal", "amount": "7777.00",
                                                           "close_date": "2026-12-24"}}
    assert (payload["module"], payload["event"], payload["rule"]) == ("deals", "updated",
                                                                      {"id": context.rule.pk, "name": "Won deals"})
    assert payload["timestamp"].startswith("20")
    assert delivery.status == "succeeded" and attempts() == [(1, 200)]
    logged = WebhookAttempt.objects.get()
    assert logged.response_body.startswith("answer 1 xxx") and len(logged.response_body) == 2048


def test_without_a_secret_nothing_is_signed(admin_user, deal, local, committed):
    with Receiver() as receiver:
        fire(receiver.url, context_for(deal, admin_user), committed, secret="")
    assert "X-CRM-Signature" not in receiver.requests[0]["headers"]


def test_5xx_is_retried_until_it_succeeds_once(admin_user, deal, local, committed):
    with Receiver(statuses=(500, 502, 200)) as receiver:
        context = context_for(deal, admin_user)
        fire(receiver.url, context, committed)
    assert attempts() == [(1, 500), (2, 502), (3, 200)]  # two failed attempts and exactly one success
    assert len({r["body"] for r in receiver.requests}) == 1  # the same bytes every time
    assert len({r["headers"]["X-CRM-Delivery"] for r in receiver.requests}) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    assert RuleRun.objects.get(pk=context.run.pk).status != "failed"


def test_backoff_doubles(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 9)] == [30, 60, 120, 240, 3600]


def test_a_4xx_is_not_retried_and_fails_the_run(admin_user, deal, local, committed):
    with Receiver(statuses=(404, 200)) as receiver:
        context = context_for(deal, admin_user)
        fire(receiver.url, context, committed)
    assert len(receiver.requests) == 1 and attempts() == [(1, 404)]
    assert WebhookDelivery.objects.get().status == "failed"
    run = RuleRun.objects.get(pk=context.run.pk)
    assert run.status == "failed" and "HTTP status 404" in run.error


def test_429_is_retried(admin_user, deal, local, committed):
    with Receiver(statuses=(429, 200)) as receiver:
        fire(receiver.url, context_for(deal, admin_user), committed)
    assert attempts() == [(1, 429), (2, 200)] and len(receiver.requests) == 2


def test_it_gives_up_after_the_last_attempt(admin_user, deal, local, committed):
    with Receiver(statuses=(503,)) as receiver:
        context = context_for(deal, admin_user)
        fire(receiver.url, context, committed)
    assert attempts() == [(n, 503) for n in (1, 2, 3, 4)] and len(receiver.requests) == 4
    assert WebhookDelivery.objects.get().status == "failed"
    assert RuleRun.objects.get(pk=context.run.pk).status == "failed"


def test_network_errors_and_timeouts_are_logged_and_retried(admin_user, deal, local, committed, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    with Receiver(statuses=(200,), delay=0.5) as slow:
        fire(slow.url, context_for(deal, admin_user), committed)
    logged = list(WebhookAttempt.objects.order_by("number"))
    assert len(logged) == 4 and all(a.status_code is None and "timed out" in a.error for a in logged)
    closed = Receiver()  # never started: the port refuses connections once closed
    closed.server.server_close()
    WebhookAttempt.objects.all().delete()
    fire(closed.url, context_for(deal, admin_user, key="run-2"), committed)
    assert [a.error.split(":")[0] for a in WebhookAttempt.objects.order_by("number")] == ["ConnectionRefusedError"] * 4


def test_a_rerun_action_posts_once(admin_user, deal, local, committed):
    with Receiver() as receiver:
        context = context_for(deal, admin_user)
        fire(receiver.url, context, committed)
        fire(receiver.url, context, committed)  # the same action of the same run again
        deliver_webhook.apply(args=(WebhookDelivery.objects.get().pk,))  # and a second delivery of the task
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.count() == 1


def test_a_field_hidden_from_the_rules_actor_is_not_sent(admin_user, standard_user, local, committed):
    profile = do_clone_profile(Profile.objects.get(org=admin_user.org, name="Standard"), "No amounts",
                               actor=admin_user)
    do_set_profile_field_levels(profile, "deals", {"amount": "hidden"}, actor=admin_user, known_modules=["deals"],
                                known_field_keys=[f.key for f in deals_of(admin_user).fields])
    do_set_user_profile(standard_user.membership, profile, actor=admin_user)
    actor = bind_org(standard_user, admin_user.org)
    deal = crm_actions.do_create_record("deals", {"name": "Secret", "amount": "987654", "stage": "won"},
                                        actor=admin_user, owner=actor)
    with Receiver() as receiver:
        fire(receiver.url, context_for(deal, actor), committed)
    assert json.loads(receiver.requests[0]["body"])["record"]["fields"] == {"name": "Secret", "close_date": None}
    assert b"987654" not in receiver.requests[0]["body"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x", "http://localhost/x", "http://10.1.2.3/x",
                                 "http://192.168.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
                                 "http://0.0.0.0/", "http://100.64.0.1/"])
def test_private_and_local_addresses_are_refused_by_default(admin_user, url):
    with pytest.raises(ValidationError) as refused:
        WEBHOOK.clean({"url": url}, deals_of(admin_user), admin_user.org)
    assert "private or local address" in refused.value.message_dict["url"][0]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "http:///x", ""])
def test_only_http_and_https_urls(admin_user, url, local):
    with pytest.raises(ValidationError) as refused:
        WEBHOOK.clean({"url": url}, deals_of(admin_user), admin_user.org)
    assert "url" in refused.value.message_dict


def test_a_refused_address_at_run_time_is_an_action_error(admin_user, deal, committed):
    with pytest.raises(ActionError):  # e.g. the rule was saved while private addresses were allowed
        WEBHOOK.run({"url": "http://127.0.0.1:9/x", "secret": "", "fields": []}, context_for(deal, admin_user))
    assert not WebhookDelivery.objects.exists()


def test_settings_are_checked_and_the_dry_run_posts_nothing(admin_user, deal, local):
    deals = deals_of(admin_user)
    with pytest.raises(ValidationError) as refused:
        WEBHOOK.clean({"url": "https://example.com/x", "fields": ["name", "nope"]}, deals, admin_user.org)
    assert "fields" in refused.value.message_dict
    with pytest.raises(ValidationError):
        WEBHOOK.clean({"url": "https://example.com/x", "secret": "x" * 201}, deals, admin_user.org)
    config = WEBHOOK.clean({"url": "https://example.com/x", "fields": "name, amount"}, deals, admin_user.org)
    assert config == {"url": "https://example.com/x", "secret": "", "fields": ["name", "amount"]}
    assert WEBHOOK.describe(config, context_for(deal, admin_user)) == (
        "POST to https://example.com/x (fields: Deal name, Amount)")
    assert not WebhookDelivery.objects.exists()


# --- the log pages -------------------------------------------------------------------------------

def test_an_admin_sees_the_log_and_each_attempt(admin_user, deal, local, committed, client_for):
    with Receiver(statuses=(500, 200)) as receiver:
        context = context_for(deal, admin_user)
        fire(receiver.url, context, committed)
    client = client_for(admin_user)
    assert 'data-testid="webhook-log"' in client.get("/settings/automation/").content.decode()
    page = client.get("/settings/automation/webhooks/").content.decode()
    delivery = WebhookDelivery.objects.get()
    assert receiver.url in page and f"/settings/automation/webhooks/{delivery.pk}/" in page
    assert receiver.url in client.get(f"/settings/automation/webhooks/?rule={context.rule.pk}").content.decode()
    assert receiver.url not in client.get("/settings/automation/webhooks/?rule=999999").content.decode()
    detail = client.get(f"/settings/automation/webhooks/{delivery.pk}/").content.decode()
    assert ">500</span>" in detail and ">200</span>" in detail and "answer 2" in detail


def test_others_get_404_from_the_log(admin_user, standard_user, other_org_user, deal, local, committed,
                                     client_for):
    with Receiver() as receiver:
        fire(receiver.url, context_for(deal, admin_user), committed)
    delivery = WebhookDelivery.objects.get()
    standard = client_for(standard_user)
    assert standard.get("/settings/automation/webhooks/").status_code == 404
    assert standard.get(f"/settings/automation/webhooks/{delivery.pk}/").status_code == 404
    foreign = client_for(other_org_user)
    assert foreign.get(f"/settings/automation/webhooks/{delivery.pk}/").status_code == 404
    assert receiver.url not in foreign.get("/settings/automation/webhooks/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_with_backoff_and_succeeds_once(admin_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.5
    deal = crm_actions.do_create_record("deals", {"name": "Big deal", "stage": "won"}, actor=admin_user)
    with Receiver(statuses=(503, 500, 200)) as receiver, \
            thread_worker("webhook-test", settings.CELERY_BROKER_URL, routes=("automation.webhook_tasks.deliver_webhook",)) as queue:
        config = WEBHOOK.clean({"url": receiver.url, "secret": SECRET, "fields": ["name"]}, deals_of(admin_user),
                               admin_user.org)
        with transaction.atomic():  # the rule's transaction, as the engine runs it
            WEBHOOK.run(config, context_for(deal, admin_user))
        deadline = time.monotonic() + 30
        while WebhookDelivery.objects.get().status == "pending" and time.monotonic() < deadline:
            time.sleep(0.2)
    assert attempts() == [(1, 503), (2, 500), (3, 200)]
    waits = [b["at"] - a["at"] for a, b in zip(receiver.requests, receiver.requests[1:])]
    assert waits[0] >= 0.45 and waits[1] >= 0.95  # 0.5 s, then 1 s: the backoff doubles
    assert WebhookDelivery.objects.get().status == "succeeded"
    body = receiver.requests[-1]["body"]
    assert receiver.requests[-1]["headers"]["X-CRM-Signature"] == (
        "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())


def test_a_real_rule_posts_its_webhook_signed(admin_user, local, django_capture_on_commit_callbacks):
    from automation.run_models import RuleRun as Run
    from tests.automation.workflow_helpers import make_rule, runs_of
    from tests.helpers import version_of

    with Receiver(statuses=(500, 200)) as receiver:
        rule = make_rule(admin_user, "deals", name="Won deals", trigger="field_change", trigger_fields=["stage"],
                         trigger_value="won", actions=[{"type": "webhook", "url": receiver.url, "secret": SECRET,
                                                        "fields": ["name", "stage"]}])
        deal = crm_actions.do_create_record("deals", {"name": "Initech renewal", "stage": "qualification"},
                                            actor=admin_user)
        with django_capture_on_commit_callbacks(execute=True):
            crm_actions.do_update_record(deal, {"stage": "won"}, version=version_of(deal), actor=admin_user)
    assert attempts() == [(1, 500), (2, 200)]
    body = receiver.requests[-1]["body"]
    assert receiver.requests[-1]["headers"]["X-CRM-Signature"] == (
        "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())
    payload = json.loads(body)
    assert payload["rule"] == {"id": rule.pk, "name": "Won deals"} and payload["event"] == "updated"
    assert payload["record"] == {"id": deal.pk, "fields": {"name": "Initech renewal", "stage": "won"}}
    [run] = runs_of(rule)
    assert run.status == Run.Status.DONE
    delivery = WebhookDelivery.objects.get()
    assert (delivery.rule_id, delivery.run_id, delivery.status) == (rule.pk, run.pk, "succeeded")


def test_a_delivery_that_is_not_theirs_is_404_for_every_method(admin_user, standard_user, other_org_user, deal,
                                                               local, committed, client_for):
    with Receiver() as receiver:
        fire(receiver.url, context_for(deal, admin_user), committed)
    url = f"/settings/automation/webhooks/{WebhookDelivery.objects.get().pk}/"
    for user in (standard_user, other_org_user):
        assert client_for(user).post(url).status_code == 404
    assert client_for(admin_user).post(url).status_code == 405

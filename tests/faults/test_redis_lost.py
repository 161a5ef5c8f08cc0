"""Redis going away under the app, seen through a relay the test cuts (tests/faults/proxy.py): pages
keep working without the cache, access changed meanwhile holds once it is back, and background
jobs published while the broker was down are kept and run by a real worker once it returns."""
from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from access.actions import do_set_org_default
from access.models import UnsentJob
from access.tasks import send_unsent
from crm import actions as crm_actions
from exports.models import ExportJob
from tests.workers import celery_worker, database_url, own_queue, redis_or_skip, wait_for

from .proxy import Relay

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 120  # seconds: generous, for a machine busy with other work


def _host_port_db(url: str) -> tuple[str, int, str]:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 6379, (parsed.path or "/0").lstrip("/") or "0"


@pytest.fixture
def cache_relay(settings):
    """This process's cache reaches Redis through a relay."""
    redis_or_skip(settings.REDIS_URL)
    host, port, db = _host_port_db(settings.CACHES["default"]["LOCATION"])
    relay = Relay(host, port)
    direct = settings.CACHES
    settings.CACHES = {"default": {**direct["default"], "LOCATION": f"redis://127.0.0.1:{relay.port}/{db}"}}
    yield relay
    settings.CACHES = direct  # the test's keys are then dropped from the real Redis
    relay.close()


def browser(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_pages_and_writes_keep_working_while_redis_is_down(cache_relay, standard_user):
    account = crm_actions.do_create_record("accounts", {"name": "Northwind"}, actor=standard_user)
    client = browser(standard_user)
    list_url = reverse("crm:list", args=["accounts"])
    assert client.get(list_url).status_code == 200

    cache_relay.down()
    started = time.monotonic()
    assert client.get(list_url).status_code == 200
    assert client.get(reverse("crm:detail", args=["accounts", account.pk])).status_code == 200
    form = client.get(reverse("crm:create", args=["accounts"])).content.decode()
    token = form.split('name="form_token" value="')[1].split('"')[0]
    created = client.post(reverse("crm:create", args=["accounts"]), {"name": "Contoso", "form_token": token})
    assert created.status_code == 302
    assert time.monotonic() - started < 10  # no page waits on the missing Redis
    assert cache.get("anything", "default") == "default"

    cache_relay.up()
    time.sleep(2.1)  # past the pause after a failure
    assert client.get(list_url).status_code == 200
    cache.set("back", 1)
    assert cache.get("back") == 1


def test_access_taken_away_while_redis_was_down_is_not_given_back_by_the_old_cache(
        cache_relay, admin_user, standard_user, other_user):
    account = crm_actions.do_create_record("accounts", {"name": "Private soon"}, actor=other_user)
    reader = browser(standard_user)
    detail = reverse("crm:detail", args=["accounts", account.pk])
    assert reader.get(detail).status_code == 200  # accounts are public by default: now cached

    cache_relay.down()
    do_set_org_default(admin_user.org, "accounts", "private", actor=admin_user)  # its generation cannot move
    assert reader.get(detail).status_code == 404  # no cache: read from the database

    cache_relay.up()
    time.sleep(2.1)
    assert reader.get(detail).status_code == 404  # the value cached before the outage is not used
    assert client_sees_again_after_public(admin_user, reader, detail)


def client_sees_again_after_public(admin_user, reader: Client, detail: str) -> bool:
    do_set_org_default(admin_user.org, "accounts", "public_read", actor=admin_user)
    return reader.get(detail).status_code == 200


@pytest.fixture
def broker_relay(settings):
    redis_or_skip(settings.CELERY_BROKER_URL)
    host, port, db = _host_port_db(settings.CELERY_BROKER_URL)
    relay = Relay(host, port)
    yield relay, f"redis://127.0.0.1:{relay.port}/{db}"
    relay.close()


def test_jobs_published_while_the_broker_is_down_are_kept_and_run_when_it_returns(
        broker_relay, admin_user, standard_user, settings, tmp_path):
    relay, broker_url = broker_relay
    settings.EXPORT_DIRECT_MAX_ROWS = 5
    settings.CELERY_TASK_ALWAYS_EAGER = False
    for n in range(8):
        crm_actions.do_create_record("accounts", {"name": f"Account {n}"}, actor=admin_user)
    client = browser(standard_user)
    from django.db import connection

    with own_queue("faults", broker_url) as queue, \
            celery_worker(queue, broker_url, database_url(connection.settings_dict), tmp_path / "worker.log",
                          MEDIA_ROOT=str(settings.MEDIA_ROOT),
                          CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"]):
        relay.down()  # the worker loses the broker too
        response = client.post(reverse("exports:export", args=["accounts"]), {"format": "csv"})
        assert response.status_code == 302  # the person's request went through
        job = ExportJob.objects.get()
        kept = UnsentJob.objects.get()
        assert kept.task == "exports.tasks.run_export_job" and kept.bound_org_id == admin_user.org.pk
        assert send_unsent() == 0  # still down: kept, not lost
        assert UnsentJob.objects.count() == 1

        relay.up()
        assert send_unsent() == 1  # what beat does every 30 seconds
        assert not UnsentJob.objects.exists()
        assert wait_for(lambda: ExportJob.objects.get().finished, WAIT), "the worker did not come back"
        job.refresh_from_db()
        assert (job.status, job.total) == ("done", 8)


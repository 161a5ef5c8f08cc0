"""Assignment rules with real Celery worker processes on the real Redis (not eager mode): 200
leads created at once split evenly over 5 reps, and a worker killed with SIGKILL in the middle
of assigning 400 records leaves every record assigned once and every owner told once.

Each test's workers consume a queue of their own (CELERY_TASK_DEFAULT_QUEUE), so parallel test
runs never take each other's tasks, and share the test's cache key prefix. A killed worker's
unacknowledged tasks come back through the broker's visibility timeout, set to a few seconds here
(CELERY_VISIBILITY_TIMEOUT; an hour by default). Events whose task was never queued (the process
died between the commit and the publish) are queued again by the outbox sweeper, which beat runs
every minute: the test runs it once at the end, as beat would."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from automation import assignment_actions as actions
from automation.models import Notification, PendingEvent, RuleRun
from crm import actions as crm_actions
from crm.models import Lead, TimelineEntry
from tests.workers import database_url, own_queue, redis_or_skip, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
pytestmark = pytest.mark.django_db(transaction=True)
# Seconds to wait for the workers: generous, for a machine busy with other work (each record
# takes two tasks: its "created" event assigns it, the "owner changed" event tells the owner).
WAIT = 120


@pytest.fixture
def queue(settings):
    """A queue of this test's own; this process's tasks go to it (not eager)."""
    redis_or_skip(settings.CELERY_BROKER_URL)
    with own_queue("assign-test", settings.CELERY_BROKER_URL) as name:
        yield name


@pytest.fixture
def start_worker(queue, settings, tmp_path):
    """start_worker() -> a `celery worker` process on the test database and the test's queue."""
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict),
           "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "CELERY_TASK_DEFAULT_QUEUE": queue,
           "CELERY_TASK_ALWAYS_EAGER": "false", "CELERY_VISIBILITY_TIMEOUT": "4", "CELERY_RESTORE_INTERVAL": "1",
           "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"]}
    started: list[subprocess.Popen] = []
    log = open(tmp_path / "worker.log", "ab")

    def start(concurrency: int = 2) -> subprocess.Popen:
        process = subprocess.Popen(
            [str(CELERY), "-A", "config", "worker", "-Q", queue, "-c", str(concurrency), "-P", "prefork",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
             "-n", f"{queue}-{len(started)}@%h"],
            cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    yield start
    for process in started:
        stop(process)
    log.close()
    print((tmp_path / "worker.log").read_text()[-5000:])  # shown when the test fails


def active_rule(admin, users):
    rule = actions.do_create_assignment_rule(admin.org, "leads", name="Reps", actor=admin)
    actions.do_add_assignment_entry(rule, actor=admin, criteria=None, method="round_robin", pool="users",
                                    pool_users=[u.pk for u in users])
    return actions.do_activate_assignment_rule(rule, actor=admin)


def create_leads(admin, count: int) -> list[int]:
    """`count` leads saved at once: one transaction, so all their events are queued at its commit."""
    from django.db import transaction

    with transaction.atomic():
        return [crm_actions.do_create_record("leads", {"last_name": f"Lead {i}"}, actor=admin).pk
                for i in range(count)]


def assigned(rule) -> int:
    return TimelineEntry.objects.filter(kind="owner_changed", path=f"rule:assignment:{rule.pk}").count()


def test_200_leads_created_at_once_split_evenly_over_5_reps(admin_user, make_user, start_worker):
    reps = [make_user(admin_user.org, username=f"rep{i}") for i in range(5)]
    rule = active_rule(admin_user, reps)
    worker = start_worker(concurrency=2)  # two processes taking turns under the row lock
    ids = create_leads(admin_user, 200)
    assert wait_for(lambda: assigned(rule) >= 200 and not PendingEvent.objects.exists(), timeout=WAIT)
    assert worker.poll() is None
    per_rep = dict(Lead.objects.filter(pk__in=ids).values_list("owner").annotate(n=Count("pk")))
    assert per_rep == {rep.pk: 40 for rep in reps}
    assert Notification.objects.filter(record_id__in=ids, kind="owner_assigned").count() == 200


def test_a_worker_killed_mid_way_leaves_every_record_assigned_once_and_every_owner_told_once(
        admin_user, make_user, start_worker):
    from django.utils import timezone

    from automation import outbox
    from automation.tasks import process_event

    reps = [make_user(admin_user.org, username=f"rep{i}") for i in range(4)]
    rule = active_rule(admin_user, reps)
    first = start_worker(concurrency=2)
    ids = create_leads(admin_user, 400)
    assert wait_for(lambda: assigned(rule) >= 60, timeout=WAIT)
    stop(first, signal.SIGKILL)  # the worker and its pool processes die at once, mid-task
    done_when_killed = assigned(rule)
    assert done_when_killed < 400, "the worker finished before it was killed"
    start_worker(concurrency=2)
    everything = lambda: (assigned(rule) >= 400 and  # noqa: E731
                          Notification.objects.filter(record_id__in=ids).count() >= 400)
    wait_for(everything, timeout=5 * WAIT)
    # What beat's sweeper does a minute later: queue again what is still in the outbox (an event
    # whose publish the kill cut off). Running it early re-queues some events that are merely
    # waiting: they must still do nothing twice.
    for pending_id in outbox.stale(now=timezone.now() + outbox.REQUEUE_AFTER):
        process_event.delay(pending_id)
    assert wait_for(lambda: everything() and not PendingEvent.objects.exists(), timeout=WAIT)
    time.sleep(2)  # any duplicate still in flight would land now
    per_record = dict(TimelineEntry.objects.filter(kind="owner_changed", path=f"rule:assignment:{rule.pk}")
                      .values_list("record_id").annotate(n=Count("pk")))
    assert len(per_record) == 400 and set(per_record.values()) == {1}
    told = dict(Notification.objects.filter(record_id__in=ids).values_list("record_id").annotate(n=Count("pk")))
    assert len(told) == 400 and set(told.values()) == {1}
    owners = dict(Lead.objects.filter(pk__in=ids).values_list("owner").annotate(n=Count("pk")))
    assert owners == {rep.pk: 100 for rep in reps}
    assert RuleRun.objects.filter(rule_id=rule.pk, status="done").count() == 400

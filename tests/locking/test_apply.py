"""Applying a rule to the records already stored: set-based, counts, overrides respected,
idempotent, progress on the job row, run as a Celery task after commit."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm import actions
from crm.guards import GuardRefusal
from crm.models import TimelineEntry
from locking import actions as locking
from locking import selectors
from locking.models import LockJob, RecordLock
from locking.tasks import apply_rule_to_existing
from tests.factories import DealFactory
from tests.locking.conftest import WON
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

WON_ONLY = {"all": [{"field": "stage", "op": "eq", "value": "won"}]}


@pytest.fixture
def stored_deals(admin_user):
    """Deals saved before any rule: 3 won, 2 lost, 4 open."""
    stages = ["won"] * 3 + ["lost"] * 2 + ["proposal"] * 4
    return [DealFactory(actor=admin_user, stage=stage) for stage in stages]


def rule_locked(rule):
    return set(RecordLock.objects.filter(rule=rule, kind="rule").values_list("record_id", flat=True))


def test_a_new_rule_leaves_stored_records_until_applied(enable, add_rule, admin_user, stored_deals):
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    assert rule_locked(rule) == set()
    actions.do_update_record(stored_deals[0], {"name": "Still editable"}, version=version_of(stored_deals[0]), actor=admin_user)
    actions.do_update_record(stored_deals[5], {"stage": "won"}, version=version_of(stored_deals[5]), actor=admin_user)
    assert rule_locked(rule) == {stored_deals[5].pk}  # came to match by its save: locked
    counts = locking.do_apply_rule_to_existing(rule, actor=admin_user)
    assert counts == {"locked": 5, "unlocked": 0}
    assert rule_locked(rule) == {d.pk for d in stored_deals[:6]}
    assert TimelineEntry.objects.filter(kind="locked", record_id__in=[d.pk for d in stored_deals]).count() == 6
    with pytest.raises(GuardRefusal):
        actions.do_update_record(stored_deals[4], {"name": "x"}, version=version_of(stored_deals[4]), actor=admin_user)


def test_changed_rule_unlocks_what_no_longer_matches_and_keeps_overrides(enable, add_rule, admin_user,
                                                                         stored_deals):
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    locking.do_apply_rule_to_existing(rule, actor=admin_user)
    locking.do_override_unlock(stored_deals[0], rule, "Correcting the amount", actor=admin_user)
    locking.do_update_lock_rule(rule, name="Won deals", criteria=WON_ONLY, actor=admin_user)
    counts = locking.do_apply_rule_to_existing(rule, actor=admin_user)
    assert counts == {"locked": 0, "unlocked": 2}
    assert rule_locked(rule) == {d.pk for d in stored_deals[1:3]}  # the overridden deal stays unlocked
    assert RecordLock.objects.filter(rule=rule, kind="override").count() == 1
    unlocked = TimelineEntry.objects.filter(kind="unlocked", record_id__in=[d.pk for d in stored_deals[3:5]])
    assert unlocked.count() == 2
    assert unlocked.first().changes["rule"][0]["name"] == "Won deals"
    # Run again: nothing left to change.
    assert locking.do_apply_rule_to_existing(rule, actor=admin_user) == {"locked": 0, "unlocked": 0}


def test_apply_ends_overrides_on_records_that_no_longer_match(enable, add_rule, admin_user, stored_deals):
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    locking.do_apply_rule_to_existing(rule, actor=admin_user)
    locking.do_override_unlock(stored_deals[3], rule, "Reopening", actor=admin_user)  # a lost deal
    locking.do_update_lock_rule(rule, name="Won deals", criteria=WON_ONLY, actor=admin_user)
    locking.do_apply_rule_to_existing(rule, actor=admin_user)
    assert not RecordLock.objects.filter(rule=rule, kind="override").exists()


def test_apply_skips_deleted_records(enable, add_rule, admin_user, stored_deals):
    actions.do_delete_record(stored_deals[0], version=version_of(stored_deals[0]), actor=admin_user)
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    assert locking.do_apply_rule_to_existing(rule, actor=admin_user) == {"locked": 4, "unlocked": 0}


def test_apply_queries_do_not_grow_with_records(enable, add_rule, admin_user):
    """Unlocking, then locking again, 3 and then 33 won deals takes the same number of queries."""
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON_ONLY)
    lost = {"all": [{"field": "stage", "op": "eq", "value": "lost"}]}
    counts = []
    for n in (3, 30):
        for _ in range(n):
            DealFactory(actor=admin_user, stage="won")  # locked by its save
        for criteria, counted in ((lost, "unlocked"), (WON_ONLY, "locked")):
            locking.do_update_lock_rule(rule, name=rule.name, criteria=criteria, actor=admin_user)
            with CaptureQueriesContext(connection) as queries:
                result = locking.do_apply_rule_to_existing(rule, actor=admin_user)
            assert result[counted] == (3 if n == 3 else 33)
            counts.append(len(queries))
    assert counts[:2] == counts[2:]


def test_the_job_runs_after_commit_and_reports_progress(enable, add_rule, admin_user, stored_deals,
                                                        django_capture_on_commit_callbacks, org):
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    with django_capture_on_commit_callbacks(execute=True):
        job = locking.do_start_apply_job(rule, actor=admin_user)
    progress = selectors.job_progress(org, job.pk)
    assert progress["status"] == "done" and progress["percent"] == 100
    assert (progress["locked"], progress["unlocked"], progress["total"], progress["processed"]) == (5, 0, 5, 5)
    assert progress["rule"] == "Closed deals"
    # A second run of the same task id is harmless.
    assert apply_rule_to_existing(job.pk) is None


def test_a_job_whose_rule_was_deleted_fails_with_a_reason(enable, add_rule, admin_user, org):
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    job = locking.do_start_apply_job(rule, actor=admin_user)  # on_commit: not run inside the test
    locking.do_delete_lock_rule(rule, actor=admin_user)
    apply_rule_to_existing(job.pk)
    job.refresh_from_db()
    assert job.status == LockJob.Status.FAILED and "deleted" in job.error


def test_the_job_rechecks_the_creators_rights(enable, add_rule, admin_user, org):
    from access.actions import do_set_membership_role

    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    other_admin = _second_admin(org, admin_user)
    job = locking.do_start_apply_job(rule, actor=other_admin)
    do_set_membership_role(other_admin.membership, "standard", actor=admin_user)
    with pytest.raises(Exception):
        apply_rule_to_existing(job.pk)
    job.refresh_from_db()
    assert job.status == LockJob.Status.FAILED


def _second_admin(org, admin_user):
    from access.actions import do_add_user
    from access.visibility import bind_org

    membership = do_add_user(org, username="ada2", email="ada2@example.test", password="correct-horse-42",
                             role="admin", actor=admin_user)
    return bind_org(membership.user, org, membership)


def test_restoring_a_record_brings_its_locks_in_step(enable, add_rule, admin_user):
    """Apply skips the recycle bin; restoring re-checks every rule."""
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON_ONLY, restricted_actions=["edit"])
    deal = DealFactory(actor=admin_user, stage="won")
    actions.do_delete_record(deal, version=version_of(deal), actor=admin_user)
    locking.do_update_lock_rule(rule, name=rule.name, criteria={"all": [{"field": "stage", "op": "eq",
                                                                          "value": "lost"}]}, actor=admin_user)
    assert locking.do_apply_rule_to_existing(rule, actor=admin_user) == {"locked": 0, "unlocked": 0}
    assert rule_locked(rule) == {deal.pk}
    actions.do_restore_record(deal, actor=admin_user)
    assert rule_locked(rule) == set()

"""Recycling with a frozen clock: warnings K days before the due day, the record back in the pool
on the day (owner cleared, former owner kept, a history row and a timeline entry with the
reason), nothing recycled that was followed up, exclusions honoured, a rerun (a restarted beat)
returning and warning nothing twice; protecting and "run now" for those allowed only."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from access.sharing_actions import do_create_role, do_set_user_role
from automation.models import Notification
from crm import actions as crm_actions
from crm.models import Lead, TimelineEntry
from crm.modules import get_module
from pool import actions
from pool.models import PoolMove, PoolState
from pool.recycle_actions import do_protect_record, do_run_recycling_now, do_save_recycle_policy, run_recycling
from tests.helpers import fresh
from tests.pool.conftest import make_pool, waiting_leads

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)


@pytest.fixture
def boss(org, admin_user, sally, make_user):
    """Sally reports to Hana (her role is the parent of Sally's)."""
    head = do_create_role(org, name="Head of sales", actor=admin_user)
    rep = do_create_role(org, name="Reps", parent=head, actor=admin_user)
    hana = make_user(org, username="hana", role="admin")
    do_set_user_role(hana.membership, head, actor=admin_user)
    do_set_user_role(fresh(sally).membership, rep, actor=admin_user)
    return fresh(hana)


def claimed(admin, sally, pool, count, **rules):
    leads = waiting_leads(admin, pool, count)
    actions.do_claim_records("leads", [r.pk for r in leads], actor=fresh(sally))
    return leads


def states(leads):
    return {s.record_id: s for s in PoolState.objects.filter(record_id__in=[r.pk for r in leads], module="leads")}


@pytest.mark.django_db
def test_warned_on_day_n_minus_k_recycled_on_day_n_and_followed_up_records_stay(admin_user, sally, boss):
    with time_machine.travel(START, tick=False) as clock:
        pool = make_pool(admin_user, members=[sally])
        do_save_recycle_policy(pool, actor=admin_user, enabled=True, rules={"*": {"n": 10}}, warn_days=2,
                               protect_quota=1)
        idle, busy, kept = claimed(admin_user, sally, pool, 3)
        me = fresh(sally)
        assert states([idle])[idle.pk].due_at == START + 10 * DAY
        do_protect_record("leads", kept.pk, True, actor=me)
        clock.shift(5 * DAY)
        crm_actions.do_add_note(Lead.objects.get(pk=busy.pk), "Called, call back next week", actor=me)
        assert states([busy])[busy.pk].due_at == START + 15 * DAY  # the note pushed it back

        clock.shift(2 * DAY + dt.timedelta(hours=1))  # day 7: nothing within 2 days yet
        assert run_recycling() == {"recycled": 0, "warned": 0}
        clock.shift(DAY)  # day 8 = N - K
        assert run_recycling()["recycled"] == 0
        told = Notification.objects.filter(kind="rule_notice", module="leads")
        assert set(told.values_list("recipient_id", flat=True)) == {sally.pk, boss.pk}
        message = told.get(recipient=sally).params["message_en"]
        assert "Lead0" in message and "Lead1" not in message and "Lead2" not in message
        assert run_recycling() == {"recycled": 0, "warned": 0}  # a rerun warns nobody twice
        assert told.count() == 2
        # The badge on Sally's list row and on the record page.
        schema = get_module("leads", admin_user.org)
        from django.test import Client

        client = Client()
        client.force_login(sally)
        page = client.get(reverse("crm:list", args=["leads"])).content.decode()
        assert page.count('data-mark="pool-due"') == 1
        detail = client.get(reverse("crm:detail", args=["leads", idle.pk])).content.decode()
        assert 'data-testid="pool-due"' in detail and "Returns to the pool in 2 days" in detail

        clock.shift(2 * DAY)  # day 10 = N
        assert run_recycling() == {"recycled": 1, "warned": 0}
        gone = Lead.objects.get(pk=idle.pk)
        assert gone.owner_id is None and gone.pool_id == pool.pk
        state = states([idle])[idle.pk]
        assert state.in_pool and state.former_owner_id == sally.pk and state.entered_how == "recycled"
        move = PoolMove.objects.get(record_id=idle.pk, kind="recycled")
        # The reason as a code and its days, shown in each reader's language (test_recycle_reason.py).
        reason = {"code": "recycle_no_follow_up", "days": 10}
        assert move.from_user_id == sally.pk and move.coded_reason == reason
        assert move.reason_text == "No follow-up for 10 days"
        entry = TimelineEntry.objects.get(record_id=idle.pk, kind="pool_recycled")
        assert entry.changes["reason"] == [None, reason] and entry.path == "system"
        assert Lead.objects.get(pk=busy.pk).owner_id == sally.pk
        assert Lead.objects.get(pk=kept.pk).owner_id == sally.pk  # protected
        assert run_recycling() == {"recycled": 0, "warned": 0}  # a restarted run: nothing twice
        clock.shift(5 * DAY)  # day 15: the followed-up one is due now
        assert run_recycling()["recycled"] == 1
        assert Lead.objects.get(pk=busy.pk).owner_id is None
        assert schema


@pytest.mark.django_db
def test_exclusions_owner_changes_and_switching_on_again(admin_user, sally, other_user):
    with time_machine.travel(START, tick=False) as clock:
        pool = make_pool(admin_user, members=[sally])
        do_save_recycle_policy(pool, actor=admin_user, enabled=True, rules={"*": {"n": 10, "w": 30}}, warn_days=0)
        won, moved, later = claimed(admin_user, sally, pool, 3)
        me = fresh(sally)
        record = Lead.objects.get(pk=won.pk)
        crm_actions.do_update_record(record, {"status": "qualified"}, version=record.version, actor=me)
        assert states([won])[won.pk].due_rule == "x"  # a won customer is excluded
        clock.shift(8 * DAY)
        record = Lead.objects.get(pk=moved.pk)
        crm_actions.do_change_owner(record, other_user.pk, version=record.version, actor=admin_user)
        assert states([moved])[moved.pk].due_at == START + 18 * DAY  # the clock restarts
        # Switching recycling off and on counts from that moment.
        do_save_recycle_policy(pool, actor=admin_user, enabled=False, rules={"*": {"n": 10, "w": 30}})
        assert states([later])[later.pk].due_at is None
        clock.shift(DAY)
        do_save_recycle_policy(pool, actor=admin_user, enabled=True, rules={"*": {"n": 10, "w": 30}})
        clock.shift(9 * DAY)  # day 18: 10 days from the new owner's start, 9 from switching on
        assert run_recycling()["recycled"] == 0
        clock.shift(DAY)  # day 19: 10 days from switching on
        assert run_recycling()["recycled"] == 2
        assert Lead.objects.get(pk=later.pk).owner_id is None
        assert PoolMove.objects.get(record_id=moved.pk, kind="recycled").from_user_id == other_user.pk
        clock.shift(40 * DAY)
        assert run_recycling()["recycled"] == 0
        assert Lead.objects.get(pk=won.pk).owner_id == sally.pk


@pytest.mark.django_db
def test_protect_and_run_now_are_for_those_allowed(admin_user, sally, make_user, org, client_for):
    rival = make_user(org, username="rival")
    with time_machine.travel(START, tick=False) as clock:
        pool = make_pool(admin_user, members=[sally, rival], admins=[])
        do_save_recycle_policy(pool, actor=admin_user, enabled=True, rules={"*": {"n": 3}}, protect_quota=1)
        first, second = claimed(admin_user, sally, pool, 2)
        with pytest.raises(PermissionDenied, match="Only the record's owner"):
            do_protect_record("leads", first.pk, True, actor=fresh(rival))
        do_protect_record("leads", first.pk, True, actor=fresh(sally))
        with pytest.raises(PermissionDenied, match="allows 1"):
            do_protect_record("leads", second.pk, True, actor=fresh(sally))
        page = client_for(sally).get(reverse("crm:detail", args=["leads", second.pk])).content.decode()
        assert 'data-testid="pool-protect-refused"' in page
        with pytest.raises(PermissionDenied):
            do_run_recycling_now(pool, actor=fresh(sally))
        response = client_for(sally).post(reverse("pool:recycle_now", args=[pool.pk]), follow=True)
        assert "Only the pool" in response.content.decode()
        clock.shift(4 * DAY)
        assert do_run_recycling_now(pool, actor=admin_user)["recycled"] == 1
        assert Lead.objects.get(pk=second.pk).owner_id is None
        assert PoolMove.objects.get(record_id=second.pk, kind="recycled").actor_id == admin_user.pk
        assert Lead.objects.get(pk=first.pk).owner_id == sally.pk


@pytest.mark.django_db
def test_recycling_settings_page(admin_user, sally, client_for):
    pool = make_pool(admin_user, members=[sally])
    url = reverse("pool:recycle_settings", args=[pool.pk])
    assert client_for(sally).get(url).status_code == 404
    admin = client_for(admin_user)
    assert admin.get(url).status_code == 200
    response = admin.post(url, {"enabled": "1", "n__*": "0", "warn_days": "2"})
    assert response.status_code == 400 and "from 1 to 3650" in response.content.decode()
    response = admin.post(url, {"enabled": "1", "level_field": "status", "n__*": "20", "n__new": "5",
                                "w__bogus": "3", "warn_days": "2"})
    assert response.status_code == 400 and "is not a value of the level field" in response.content.decode()
    response = admin.post(url, {"enabled": "1", "level_field": "status", "n__*": "20", "n__new": "5",
                                "warn_days": "2", "protect_quota": "3"})
    assert response.status_code == 302
    pool.recycle.refresh_from_db()
    assert pool.recycle.rules == {"*": {"n": 20}, "new": {"n": 5}} and pool.recycle.protect_quota == 3


@pytest.mark.django_db
def test_the_dashboard_counts_moves_holdings_and_conversion(admin_user, sally, client_for,
                                                          django_assert_max_num_queries):
    with time_machine.travel(START, tick=False) as clock:
        pool = make_pool(admin_user, members=[sally], capacity=5)
        do_save_recycle_policy(pool, actor=admin_user, enabled=True, rules={"*": {"n": 3}})
        first, second = claimed(admin_user, sally, pool, 2)
        record = Lead.objects.get(pk=first.pk)
        crm_actions.do_update_record(record, {"status": "qualified"}, version=record.version, actor=fresh(sally))
        clock.shift(4 * DAY)
        run_recycling()
        url = reverse("pool:dashboard", args=[pool.pk])
        assert client_for(sally).get(url).status_code == 404
        admin = client_for(admin_user)
        with django_assert_max_num_queries(30):
            page = admin.get(url).content.decode()
        assert 'data-testid="dash-claimed">2<' in page and 'data-testid="dash-recycled">1<' in page
        assert 'data-testid="dash-waiting">1<' in page and "2 → 1" in page
        assert "Sally" in page and "1 / 5" in page


# --- with a real worker on the real Redis ------------------------------------------------------------

from tests.automation.test_assignment_workers import queue, start_worker  # noqa: E402,F401
from tests.workers import wait_for  # noqa: E402


@pytest.mark.django_db(transaction=True)
def test_the_beat_job_recycles_through_a_real_worker(admin_user, sally, start_worker):
    from django.utils import timezone

    from pool.tasks import recycle_pools

    with time_machine.travel(timezone.now() - 5 * DAY, tick=False):
        pool = make_pool(admin_user, members=[sally])
        do_save_recycle_policy(pool, actor=admin_user, enabled=True, rules={"*": {"n": 3}})
        (lead,) = claimed(admin_user, sally, pool, 1)
    start_worker(concurrency=1)
    recycle_pools.delay()
    recycle_pools.delay()  # as a restarted beat would: nothing twice
    assert wait_for(lambda: Lead.objects.filter(pk=lead.pk, owner__isnull=True).exists(), 120)
    import time

    time.sleep(3)
    assert PoolMove.objects.filter(record_id=lead.pk, kind="recycled").count() == 1

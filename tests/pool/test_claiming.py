"""Claiming, assigning and releasing: who may, every limit on both sides with the reason it
gives, bad input, the pool history and timeline, and other orgs."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from access.decisions import decide
from access.visibility import get_record, visible
from crm.models import Lead, TimelineEntry
from crm.modules import get_module
from pool import actions
from pool.models import PoolMove, PoolState
from tests.pool.conftest import make_pool, waiting_leads

pytestmark = pytest.mark.django_db


def leads(org):
    return get_module("leads", org)


def test_a_member_sees_and_claims_a_waiting_lead_and_its_history_says_so(admin_user, sally, leads_pool):
    lead = waiting_leads(admin_user, leads_pool, 1)[0]
    assert visible(sally, leads(sally.org)).filter(pk=lead.pk).exists()
    assert decide(sally, get_record(sally, leads(sally.org), lead.pk), "claim").allowed
    actions.do_claim_records(leads(sally.org), [lead.pk], actor=sally)
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.owner_id == sally.pk and lead.pool_id == leads_pool.pk
    state = PoolState.objects.get(record_id=lead.pk)
    assert not state.in_pool and state.holder_id == sally.pk and state.former_owner_id == admin_user.pk
    kinds = list(PoolMove.objects.filter(record_id=lead.pk).order_by("at").values_list("kind", flat=True))
    assert kinds == ["released", "claimed"]
    entries = TimelineEntry.objects.filter(record_id=lead.pk, kind__startswith="pool_").order_by("at")
    assert [e.kind for e in entries] == ["pool_released", "pool_claimed"]
    assert entries[0].changes["reason"] == [None, "Not my region"]


def test_a_non_member_neither_sees_nor_claims(admin_user, standard_user, leads_pool):
    lead = waiting_leads(admin_user, leads_pool, 1)[0]
    assert not visible(standard_user, leads(standard_user.org)).filter(pk=lead.pk).exists()
    with pytest.raises(PermissionDenied, match="not found"):
        actions.do_claim_records(leads(standard_user.org), [lead.pk], actor=standard_user)
    assert Lead.objects.get(pk=lead.pk).owner_id is None


def test_the_second_claim_hears_who_won(admin_user, sally, make_user, leads_pool):
    rival = make_user(admin_user.org, username="rita")
    leads_pool.member_users.add(rival)
    actions._pools_changed(admin_user.org.pk)
    lead = waiting_leads(admin_user, leads_pool, 1)[0]
    actions.do_claim_records(leads(sally.org), [lead.pk], actor=sally)
    with pytest.raises(PermissionDenied, match="Already claimed by Sally"):
        actions.do_claim_records(leads(rival.org), [lead.pk], actor=rival)


def test_capacity_both_sides(admin_user, sally):
    pool = make_pool(admin_user, members=[sally], capacity=2)
    first, second, third = waiting_leads(admin_user, pool, 3)
    actions.do_claim_records(leads(sally.org), [first.pk, second.pk], actor=sally)  # up to the limit: fine
    record = get_record(sally, leads(sally.org), third.pk)
    decision = decide(sally, record, "claim")
    assert not decision.allowed and "hold 2 records" in decision.reason and "at once" in decision.reason
    with pytest.raises(PermissionDenied, match="lets a rep hold 2 at once"):
        actions.do_claim_records(leads(sally.org), [third.pk], actor=sally)
    # Won customers left out of the count when the pool says so.
    pool.capacity_counts_won = False
    pool.save()
    actions._pools_changed(admin_user.org.pk)
    from crm.actions import do_update_record

    mine = Lead.objects.get(pk=first.pk)
    do_update_record(mine, {"status": "qualified"}, version=mine.version, actor=sally)
    actions.do_claim_records(leads(sally.org), [third.pk], actor=sally)


def test_daily_limit_refuses_a_too_large_batch_whole(admin_user, sally):
    pool = make_pool(admin_user, members=[sally], daily_claims=2)
    one, two, three = waiting_leads(admin_user, pool, 3)
    with pytest.raises(PermissionDenied, match="This claims 3 records but only 2 of today's 2 claims"):
        actions.do_claim_records(leads(sally.org), [one.pk, two.pk, three.pk], actor=sally)
    assert not Lead.objects.filter(pk__in=[one.pk, two.pk, three.pk], owner__isnull=False).exists()
    actions.do_claim_records(leads(sally.org), [one.pk, two.pk], actor=sally)
    decision = decide(sally, get_record(sally, leads(sally.org), three.pk), "claim")
    assert not decision.allowed and "resets at midnight" in decision.reason


def test_cooldown_both_sides(admin_user, sally, make_user):
    pool = make_pool(admin_user, members=[sally], cooldown_days=3)
    lead = waiting_leads(admin_user, pool, 1)[0]
    actions.do_claim_records(leads(sally.org), [lead.pk], actor=sally)
    actions.do_release_records(leads(sally.org), [lead.pk], pool.pk, actor=sally, reason="No budget")
    with pytest.raises(PermissionDenied, match="cool-down of 3 days lets you claim it again from"):
        actions.do_claim_records(leads(sally.org), [lead.pk], actor=sally)
    other = make_user(admin_user.org, username="omar")  # someone else may
    pool.member_users.add(other)
    actions._pools_changed(admin_user.org.pk)
    assert decide(other, get_record(other, leads(other.org), lead.pk), "claim").allowed
    # Three days on, Sally may again.
    PoolState.objects.filter(record_id=lead.pk).update(entered_at=timezone.now() - dt.timedelta(days=3, minutes=1))
    actions.do_claim_records(leads(sally.org), [lead.pk], actor=sally)


def test_embargo_both_sides(admin_user, sally, make_user):
    boss = make_user(admin_user.org, username="bob")
    pool = make_pool(admin_user, members=[sally], admins=[boss], embargo_hours=24)
    first, second = waiting_leads(admin_user, pool, 2)
    with pytest.raises(PermissionDenied, match="only its administrators may claim it until"):
        actions.do_claim_records(leads(sally.org), [first.pk], actor=sally)
    actions.do_claim_records(leads(boss.org), [first.pk], actor=boss)  # a pool administrator may
    PoolState.objects.filter(record_id=second.pk).update(entered_at=timezone.now() - dt.timedelta(hours=25))
    actions.do_claim_records(leads(sally.org), [second.pk], actor=sally)


def test_assign_applies_the_limits_unless_overridden_with_a_reason(admin_user, sally, make_user):
    boss = make_user(admin_user.org, username="bob")
    pool = make_pool(admin_user, members=[sally], admins=[boss], capacity=1)
    first, second = waiting_leads(admin_user, pool, 2)
    with pytest.raises(PermissionDenied, match="Only the pool's administrators"):
        actions.do_assign_records(leads(sally.org), [first.pk], sally.pk, actor=sally)
    actions.do_assign_records(leads(boss.org), [first.pk], sally.pk, actor=boss)
    with pytest.raises(PermissionDenied, match="They hold 1 records"):
        actions.do_assign_records(leads(boss.org), [second.pk], sally.pk, actor=boss)
    with pytest.raises(ValidationError, match="Give a reason"):
        actions.do_assign_records(leads(boss.org), [second.pk], sally.pk, actor=boss, override=True)
    actions.do_assign_records(leads(boss.org), [second.pk], sally.pk, actor=boss, override=True, reason="Key account")
    move = PoolMove.objects.get(record_id=second.pk, kind="assigned")
    assert move.overridden and move.reason == "Key account" and move.to_user_id == sally.pk


def test_release_needs_a_reason_and_the_owner(admin_user, sally, standard_user, leads_pool):
    lead = waiting_leads(admin_user, leads_pool, 1)[0]
    actions.do_claim_records(leads(sally.org), [lead.pk], actor=sally)
    with pytest.raises(ValidationError, match="Give a reason"):
        actions.do_release_records(leads(sally.org), [lead.pk], leads_pool.pk, actor=sally, reason=" ")
    with pytest.raises(PermissionDenied):
        actions.do_release_records(leads(standard_user.org), [lead.pk], leads_pool.pk, actor=standard_user,
                                   reason="Mine now")
    actions.do_release_records(leads(sally.org), [lead.pk], leads_pool.pk, actor=sally, reason="Wrong region")
    state = PoolState.objects.get(record_id=lead.pk)
    assert state.in_pool and state.former_owner_id == sally.pk and state.entry_reason == "Wrong region"


def test_a_waiting_record_is_claimed_before_it_is_worked_on(admin_user, sally, leads_pool):
    from access.models import OrgWideDefault
    from access.actions import do_set_org_default
    from crm.actions import do_update_record

    do_set_org_default(admin_user.org, "leads", OrgWideDefault.Level.PUBLIC_READ_WRITE, actor=admin_user)
    lead = waiting_leads(admin_user, leads_pool, 1)[0]
    record = get_record(sally, leads(sally.org), lead.pk, "edit")
    decision = decide(sally, record, "edit")
    assert not decision.allowed and "claim it first" in decision.reason
    with pytest.raises(PermissionDenied, match="claim it first"):
        do_update_record(Lead.objects.get(pk=lead.pk), {"company": "Mine"}, version=record.version, actor=sally)
    assert decide(admin_user, Lead.objects.get(pk=lead.pk), "edit").allowed


def test_deactivating_the_owner_returns_their_leads_to_the_pool_that_asks(admin_user, sally, make_user):
    from access.actions import do_set_membership_active
    from crm import actions as crm_actions

    pool = make_pool(admin_user, members=[sally], release_on_deactivation=True)
    leaver = make_user(admin_user.org, username="leo")
    lead = crm_actions.do_create_record(leads(leaver.org), {"last_name": "Left"}, actor=leaver)
    do_set_membership_active(leaver.membership, False, actor=admin_user)
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.owner_id is None and lead.pool_id == pool.pk
    assert PoolMove.objects.get(record_id=lead.pk).kind == "deactivated"


@pytest.mark.parametrize("ids, message", [
    (["999999999"], "Record #999999999 was not found"),
    (["abc"], "is not a record id"),
    ([], "Choose at least one record"),
])
def test_bad_ids_are_clear_errors(admin_user, sally, leads_pool, ids, message):
    waiting_leads(admin_user, leads_pool, 1)
    with pytest.raises((PermissionDenied, ValidationError), match=message):
        actions.do_claim_records(leads(sally.org), ids, actor=sally)


def test_the_pages_say_what_went_wrong_and_never_500(admin_user, sally, leads_pool, client_for):
    lead = waiting_leads(admin_user, leads_pool, 1)[0]
    client = client_for(sally)
    url = reverse("pool:claim")
    for ids, module, message in ((["nope"], "leads", "is not a record id"),
                                 (["424242424"], "leads", "was not found"),
                                 ([lead.pk], "deals", "Pools hold leads or accounts")):
        response = client.post(url, {"ids": ids, "module": module}, follow=True)
        assert response.status_code == 200 and message in response.content.decode()
    client.post(url, {"ids": [lead.pk], "module": "leads"})
    other = client_for(admin_user).post(url, {"ids": [lead.pk], "module": "leads"}, follow=True)
    assert "Already claimed by Sally" in other.content.decode()


def test_other_orgs_see_nothing_and_claim_nothing(admin_user, sally, leads_pool, other_org_user, client_for):
    lead = waiting_leads(admin_user, leads_pool, 1)[0]
    assert not visible(other_org_user, leads(other_org_user.org)).filter(pk=lead.pk).exists()
    with pytest.raises(PermissionDenied, match="not found"):
        actions.do_claim_records(leads(other_org_user.org), [lead.pk], actor=other_org_user)
    client = client_for(other_org_user)
    assert client.get(reverse("pool:list", args=[leads_pool.pk])).status_code == 404
    assert client.get(reverse("pool:edit", args=[leads_pool.pk])).status_code == 404
    assert Lead.objects.get(pk=lead.pk).owner_id is None

"""Manual locks: who may lock and unlock, what a manual lock restricts for whom, the refusal
message (who, when, why), and the timeline."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from access.actions import do_set_org_default
from crm import actions
from crm.guards import GuardRefusal
from crm.models import TimelineEntry
from locking import actions as locking
from locking.models import RecordLock
from locking.state import lock_state
from tests.factories import DealFactory
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def manual_deals(org, admin_user, enable):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    return enable("deals", manual_enabled=True)


def test_admin_locks_by_hand_and_the_refusal_says_who_when_and_why(manual_deals, admin_user, rep):
    deal = DealFactory(actor=rep)
    locking.do_lock_record(deal, "Under audit", actor=admin_user)
    with pytest.raises(GuardRefusal) as refused:
        actions.do_update_record(deal, {"amount": "3"}, version=version_of(deal), actor=rep)
    message = str(refused.value)
    assert message.startswith("Locked by Alice Admin on ") and "you may not edit this record." in message
    assert "Reason: Under audit" in message
    assert list(TimelineEntry.objects.filter(record_id=deal.pk).order_by("pk").values_list("kind", flat=True)) == [
        "created", "locked", "refused"]
    state = lock_state(deal, actions.bound_schema("deals", deal.org), admin_user)
    manual = state.manual_lock
    assert (manual.locked_by_name, manual.reason) == ("Alice Admin", "Under audit")
    assert state.can_unlock and not state.can_lock
    locking.do_unlock_record(deal, actor=admin_user)
    actions.do_update_record(deal, {"amount": "3"}, version=version_of(deal), actor=rep)
    assert TimelineEntry.objects.filter(record_id=deal.pk, kind="unlocked").exists()


def test_standard_users_may_not_lock_unless_their_profile_is_chosen(org, manual_deals, admin_user, rep, exempt,
                                                                   sales_rep_profile, enable):
    deal = DealFactory(actor=rep)
    assert not lock_state(deal, actions.bound_schema("deals", org), rep).can_lock
    with pytest.raises(PermissionDenied):
        locking.do_lock_record(deal, actor=rep)
    enable("deals", manual_enabled=True, locker_profiles=[sales_rep_profile.pk])
    assert lock_state(deal, actions.bound_schema("deals", org), rep).can_lock
    locking.do_lock_record(deal, actor=rep)
    with pytest.raises(PermissionDenied):
        locking.do_unlock_record(deal, actor=exempt)
    locking.do_unlock_record(deal, actor=rep)
    assert not RecordLock.objects.filter(record_id=deal.pk).exists()


def test_locking_twice_and_unlocking_an_unlocked_record_are_refused(manual_deals, admin_user, rep):
    deal = DealFactory(actor=rep)
    locking.do_lock_record(deal, actor=admin_user)
    with pytest.raises(actions.RecordValidationError):
        locking.do_lock_record(deal, actor=admin_user)
    locking.do_unlock_record(deal, actor=admin_user)
    with pytest.raises(actions.RecordValidationError):
        locking.do_unlock_record(deal, actor=admin_user)


def test_manual_locking_off_refuses_and_lifts_existing_locks(org, manual_deals, admin_user, rep, enable):
    deal = DealFactory(actor=rep)
    locking.do_lock_record(deal, actor=admin_user)
    enable("deals", manual_enabled=False)
    with pytest.raises(PermissionDenied, match="Manual locking is off"):
        locking.do_lock_record(DealFactory(actor=rep), actor=admin_user)
    actions.do_update_record(deal, {"amount": "4"}, version=version_of(deal), actor=rep)  # not in force while off
    enable("deals", manual_enabled=True)
    with pytest.raises(GuardRefusal):
        actions.do_update_record(deal, {"amount": "5"}, version=version_of(deal), actor=rep)
    enable("deals", enabled=False, manual_enabled=True)  # locking off for the module: nothing in force
    actions.do_update_record(deal, {"amount": "6"}, version=version_of(deal), actor=rep)


def test_manual_lock_scope_and_restricted_actions(org, admin_user, rep, exempt, enable, sales_rep_profile):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals", manual_enabled=True, locked_for="selected", profiles=[sales_rep_profile.pk],
           restricted_actions=["edit", "add_note"], editable_fields=["close_date"])
    deal = DealFactory(actor=rep)
    locking.do_lock_record(deal, "Month end", actor=admin_user)
    with pytest.raises(GuardRefusal, match="add notes"):
        actions.do_add_note(deal, "hi", actor=rep)
    with pytest.raises(GuardRefusal, match="You may still change: Close date."):
        actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=rep)
    actions.do_update_record(deal, {"close_date": "2026-01-31"}, version=version_of(deal), actor=rep)
    actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=exempt)
    actions.do_change_owner(deal, exempt.pk, version=version_of(deal), actor=rep)  # not restricted


def test_team_managers_lock_team_records_by_default_members_do_not(org, orders, orders_schema, manager, member,
                                                                   enable):
    enable(orders.key, actor=manager, manual_enabled=True)
    order = actions.do_create_record(orders_schema, {"title": "PO-3"}, actor=member)
    with pytest.raises(PermissionDenied):
        locking.do_lock_record(order, actor=member)
    locking.do_lock_record(order, "Waiting for finance", actor=manager)
    with pytest.raises(GuardRefusal, match="Waiting for finance"):
        actions.do_update_record(order, {"title": "PO-4"}, version=version_of(order), actor=member)
    with pytest.raises(PermissionDenied):
        locking.do_unlock_record(order, actor=member)
    locking.do_unlock_record(order, actor=manager)


def test_team_role_lockers_and_locked_for_team_roles(org, orders, orders_schema, manager, member, participant,
                                                     enable):
    enable(orders.key, actor=manager, manual_enabled=True, locker_team_roles=["member"], locked_for="selected",
           team_roles=["participant"])
    order = actions.do_create_record(orders_schema, {"title": "PO-5"}, actor=participant)
    locking.do_lock_record(order, actor=member)
    with pytest.raises(GuardRefusal):
        actions.do_update_record(order, {"title": "PO-6"}, version=version_of(order), actor=participant)
    actions.do_update_record(order, {"title": "PO-6"}, version=version_of(order), actor=manager)  # not a participant: exempt
    with pytest.raises(PermissionDenied):  # "manager" is no longer among the locker team roles
        locking.do_unlock_record(order, actor=manager)


def test_lock_needs_a_record_the_actor_can_see(manual_deals, admin_user, other_org_user):
    deal = DealFactory(actor=admin_user)
    with pytest.raises(PermissionDenied):
        locking.do_lock_record(deal, actor=other_org_user)

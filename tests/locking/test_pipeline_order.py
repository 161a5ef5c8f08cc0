"""The action pipeline runs the guards before the optimistic version check (DESIGN.md): a record a
lock rule closes, edited from a stale copy, is refused with the lock's reason, not as a conflict.
An open record edited from a stale copy still gets the conflict."""
from __future__ import annotations

import pytest

from access.actions import do_set_org_default
from crm import actions
from crm.guards import GuardRefusal
from crm.models import Deal
from tests.factories import DealFactory
from tests.locking.conftest import WON

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_deals(org, admin_user, enable, add_rule):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals")
    return add_rule("deals", "Closed deals", WON, restricted_actions=["edit", "delete", "change_owner"])


@pytest.fixture
def stale_won_deal(closed_deals, rep):
    """A won (so locked) deal, and the version the user's page loaded before it was won."""
    deal = DealFactory(actor=rep, name="Big one", amount="100")
    stale = deal.version
    actions.do_update_record(deal, {"stage": "won"}, version=stale, actor=rep)
    assert Deal.objects.get(pk=deal.pk).version != stale
    return deal, stale


def test_a_lock_refusal_wins_over_a_stale_edit(stale_won_deal, rep):
    deal, stale = stale_won_deal
    with pytest.raises(GuardRefusal, match="Locked by rule “Closed deals”: you may not edit this record."):
        actions.do_update_record(deal, {"amount": "1"}, version=stale, actor=rep)


def test_a_lock_refusal_wins_over_a_stale_delete(stale_won_deal, rep):
    deal, stale = stale_won_deal
    with pytest.raises(GuardRefusal, match="you may not delete this record"):
        actions.do_delete_record(deal, version=stale, actor=rep)
    assert Deal.objects.get(pk=deal.pk).deleted_at is None


def test_a_lock_refusal_wins_over_a_stale_owner_change(stale_won_deal, rep, exempt):
    deal, stale = stale_won_deal
    with pytest.raises(GuardRefusal, match="Closed deals"):
        actions.do_change_owner(deal, exempt.pk, version=stale, actor=rep)
    assert Deal.objects.get(pk=deal.pk).owner_id == rep.pk


def test_an_open_record_edited_from_a_stale_copy_is_a_conflict(closed_deals, rep, exempt):
    deal = DealFactory(actor=rep, name="Open one", amount="100")
    stale = deal.version
    actions.do_update_record(deal, {"amount": "110"}, version=stale, actor=rep)
    with pytest.raises(actions.ConflictError):
        actions.do_update_record(deal, {"amount": "1"}, version=stale, actor=rep)
    with pytest.raises(actions.ConflictError):
        actions.do_delete_record(deal, version=stale, actor=rep)
    with pytest.raises(actions.ConflictError):
        actions.do_change_owner(deal, exempt.pk, version=stale, actor=rep)
    stored = Deal.objects.get(pk=deal.pk)
    assert (str(stored.amount), stored.owner_id, stored.deleted_at) == ("110.00", rep.pk, None)

"""Lock changes are record events too (kinds "locked", "unlocked", "lock_overridden"), delivered
after commit like every record event, so automation can act on them; a rolled-back change sends
nothing."""
from __future__ import annotations

import pytest
from django.db import transaction

from access.actions import do_set_org_default
from crm import actions
from crm.events import subscribe, unsubscribe
from locking import actions as locking
from tests.factories import DealFactory
from tests.locking.conftest import WON
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    events = []
    subscribe(events.append)
    yield events
    unsubscribe(events.append)


def lock_events(events, deal):
    return [(e.kind, e.module, e.record_id, e.path) for e in events
            if e.record_id == deal.pk and e.kind in ("locked", "unlocked", "lock_overridden")]


def test_manual_lock_and_unlock_are_events(org, admin_user, enable, rep, heard, django_capture_on_commit_callbacks):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals", manual_enabled=True)
    deal = DealFactory(actor=rep)
    with django_capture_on_commit_callbacks(execute=True):
        locking.do_lock_record(deal, "Under audit", actor=admin_user)
        locking.do_unlock_record(deal, actor=admin_user)
    assert lock_events(heard, deal) == [("locked", "deals", deal.pk, "page"), ("unlocked", "deals", deal.pk, "page")]
    locked = next(e for e in heard if e.kind == "locked")
    assert locked.actor_id == admin_user.pk and locked.changes == {"reason": [None, "Under audit"]}


def test_rule_locks_and_lifts_on_save_and_override_are_events(org, admin_user, enable, add_rule, rep, heard,
                                                              django_capture_on_commit_callbacks):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    deal = DealFactory(actor=rep)
    with django_capture_on_commit_callbacks(execute=True):
        deal = actions.do_update_record(deal, {"stage": "won"}, version=version_of(deal), actor=rep)
        locking.do_override_unlock(deal, rule, "Wrong stage entered", actor=admin_user)
    kinds = lock_events(heard, deal)
    assert kinds == [("locked", "deals", deal.pk, "page"), ("lock_overridden", "deals", deal.pk, "page")]
    assert next(e for e in heard if e.kind == "locked").changes == {"rule": [None, {"id": rule.pk,
                                                                                  "name": "Closed deals"}]}


def test_a_rolled_back_lock_sends_no_event(org, admin_user, enable, rep, heard, django_capture_on_commit_callbacks):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals", manual_enabled=True)
    deal = DealFactory(actor=rep)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                locking.do_lock_record(deal, "Under audit", actor=admin_user)
                raise RuntimeError("the surrounding work failed")
    assert lock_events(heard, deal) == []

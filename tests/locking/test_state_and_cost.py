"""What a save costs with locking, the cached configuration, and `lock_state` for pages."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.actions import do_set_org_default
from crm import actions
from locking import actions as locking
from locking import rules
from locking.state import lock_state
from tests.factories import DealFactory
from tests.locking.conftest import WON
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

FIVE = [
    ("Closed deals", WON),
    ("Huge deals", {"all": [{"field": "amount", "op": "gt", "value": "1000000"}]}),
    ("Old deals", {"all": [{"field": "close_date", "op": "lt", "value": "2000-01-01"}]}),
    ("Named", {"all": [{"field": "name", "op": "starts_with", "value": "LOCKED"}]}),
    ("Discounted", {"any": [{"field": "discount", "op": "gte", "value": "90"}]}),
]


def save_queries(deal, actor, **changes) -> int:
    with CaptureQueriesContext(connection) as queries:
        actions.do_update_record(deal, changes, version=version_of(deal), actor=actor)
    return len(queries)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run configuration changes as if committed, so the configuration is cached as in production."""
    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def test_five_rules_add_no_query_to_a_save(org, admin_user, committed):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    plain = DealFactory(actor=admin_user, name="Plain")
    save_queries(plain, admin_user, amount="1")  # warm the cache
    baseline = save_queries(plain, admin_user, amount="2")
    committed(lambda: locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user))
    for name, criteria in FIVE:
        committed(lambda: locking.do_create_lock_rule(org, "deals", name=name, criteria=criteria, actor=admin_user,
                                                      locked_for="selected", roles=[], profiles=[_profile(org)]))
    ruled = DealFactory(actor=admin_user, name="Ruled")
    save_queries(ruled, admin_user, amount="1")
    assert save_queries(ruled, admin_user, amount="2") == baseline
    # A locked record saved by a user its rule exempts costs nothing more either: no rule could
    # refuse, so its lock rows are not read; nor are they when the save keeps it matching.
    closed = DealFactory(actor=admin_user, name="Closed", stage="won")
    assert save_queries(closed, admin_user, amount="3") == baseline
    # A save that makes it stop matching reads them, and lifts the lock.
    assert save_queries(closed, admin_user, stage="proposal") > baseline


def _profile(org):
    from access.models import Profile

    return Profile.objects.get(org=org, name="Read-only").pk


def test_the_configuration_is_cached_until_changed(org, admin_user, committed, django_assert_num_queries):
    committed(lambda: locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user))
    rule = committed(lambda: locking.do_create_lock_rule(org, "deals", name="Closed deals", criteria=WON,
                                                         actor=admin_user))
    first = rules.snapshot(org.pk, "deals")
    with django_assert_num_queries(0):
        assert rules.snapshot(org.pk, "deals") == first
    committed(lambda: locking.do_update_lock_rule(rule, name="Won or lost", criteria=WON, actor=admin_user))
    assert [r.name for r in rules.snapshot(org.pk, "deals").rules] == ["Won or lost"]


def test_a_transaction_that_changed_the_configuration_does_not_cache_it(org, admin_user):
    """Its rows may still roll back: readers in it see them, but nothing is shared."""
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    assert rules.snapshot(org.pk, "deals").enabled
    assert cache.get(rules._snap_key(org.pk, "deals")) is None


def test_a_late_fill_under_an_old_generation_is_ignored(org, admin_user, committed):
    committed(lambda: locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user))
    gen = rules._generation(org.pk, "deals")
    committed(lambda: locking.do_save_lock_config(org, "deals", enabled=False, actor=admin_user))
    stale = rules.Snapshot(enabled=True)
    cache.set(rules._snap_key(org.pk, "deals"), (gen, stale))  # a reader that read before the change
    assert rules.snapshot(org.pk, "deals").enabled is False


def test_lock_state_for_pages(org, admin_user, rep, exempt, enable, add_rule, sales_rep_profile,
                              django_assert_max_num_queries):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals", manual_enabled=True)
    rule = add_rule("deals", "Closed deals", WON, locked_for="selected", profiles=[sales_rep_profile.pk],
                    restricted_actions=["edit", "delete"], editable_fields=["close_date"])
    locking.do_save_field_lock(org, "deals", name="Discount", fields=["discount"], profiles=[sales_rep_profile.pk],
                               locked_for="selected", actor=admin_user)
    deal = DealFactory(actor=rep, stage="won")
    locking.do_lock_record(deal, "Audit", actor=admin_user)
    schema = actions.bound_schema("deals", org)
    with django_assert_max_num_queries(4):  # configuration (uncached in a test transaction) + lock rows
        state = lock_state(deal, schema, rep)
    assert [(lock.kind, lock.name) for lock in state.locks] == [("rule", "Closed deals"), ("manual", "")]
    assert state.manual_lock.reason == "Audit" and state.manual_lock.locked_by_name == "Alice Admin"
    assert state.restricted_actions == {"edit", "delete", "bulk_edit", "import_update"}  # rule + manual lock
    assert state.editable_fields == []  # the manual lock leaves no field editable
    assert not (state.can_lock or state.can_unlock or state.can_override)
    admin_state = lock_state(deal, schema, admin_user)
    assert admin_state.can_unlock and admin_state.can_override == [rule.pk] and not admin_state.can_lock
    locking.do_unlock_record(deal, actor=admin_user)
    state = lock_state(deal, schema, rep)
    assert state.restricted_actions == {"edit", "delete"}
    assert state.editable_fields == ["close_date"]
    assert "discount" in state.read_only_fields and "amount" in state.read_only_fields
    assert lock_state(deal, schema, exempt).restricted_actions == set()
    assert "discount" in lock_state(deal, schema, exempt).editable_fields


def test_lock_state_with_locking_off_costs_nothing_once_cached(org, admin_user, committed,
                                                               django_assert_num_queries):
    deal = DealFactory(actor=admin_user)
    schema = actions.bound_schema("deals", org)
    lock_state(deal, schema, admin_user)
    with django_assert_num_queries(0):
        state = lock_state(deal, schema, admin_user)
    assert not state.locked and "amount" in state.editable_fields

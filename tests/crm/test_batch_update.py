"""The batch update action (`do_update_records`, used by imports for matched rows): each item gets
what `do_update_record` gives it (the saved values, the timeline entry, the event, the refusals
with the same reasons, a guard's "refused" entry), and a batch costs the same number of queries
however many rows it has."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation.models import PendingEvent
from crm import actions
from crm.actions import ConflictError, RecordValidationError
from crm.models import Account, Deal, Task, TimelineEntry
from locking import actions as locking

pytestmark = pytest.mark.django_db


def entry_of(record, kind="updated") -> TimelineEntry:
    return TimelineEntry.objects.get(record_id=record.pk, record_type__model=record._meta.model_name, kind=kind)


def event_of(record) -> dict:
    return next(p.payload for p in PendingEvent.objects.all()
                if p.payload["record_id"] == record.pk and p.payload["kind"] == "updated")


def test_an_item_gets_what_a_single_update_gives(org, admin_user, standard_user):
    acme = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    globex = actions.do_create_record("accounts", {"name": "Globex"}, actor=admin_user)
    one, two = (actions.do_create_record("deals", {"name": "Same", "account": acme.pk}, actor=admin_user)
                for _ in range(2))
    changes = {"amount": "1,500", "account": globex.pk, "name": "Renamed"}
    single = actions.do_update_record(one, changes, version=one.version, actor=admin_user, path="import")
    [batch] = actions.do_update_records("deals", [(two.pk, changes, two.version)], actor=admin_user)

    fields = ("amount", "account_id", "name", "version", "modified_by_id")
    assert ([getattr(Deal.objects.get(pk=batch.pk), f) for f in fields]
            == [getattr(Deal.objects.get(pk=single.pk), f) for f in fields])
    assert Deal.objects.get(pk=two.pk).version == two.version + 1
    assert entry_of(two).changes == entry_of(one).changes
    assert entry_of(two).changes["account"] == [{"id": acme.pk, "name": "Acme"}, {"id": globex.pk, "name": "Globex"}]
    assert entry_of(two).path == "import"
    assert {k: v for k, v in event_of(two).items() if k not in ("id", "record_id")} == \
        {k: v for k, v in event_of(one).items() if k not in ("id", "record_id")}


def test_refusals_carry_the_single_actions_reasons_and_write_nothing(org, admin_user, standard_user):
    actions.do_create_field(org, "accounts", api_name="tax_id", label_en="Tax id", field_type="text", unique=True,
                            actor=admin_user)
    key = actions.bound_schema("accounts", org).field("tax_id").key
    taken = actions.do_create_record("accounts", {"name": "Holder", "tax_id": "T1"}, actor=admin_user)
    rows = [actions.do_create_record("accounts", {"name": f"A{i}"}, actor=admin_user) for i in range(5)]
    theirs = actions.do_create_record("accounts", {"name": "Private"}, actor=admin_user)
    locking.do_save_lock_config(org, "accounts", enabled=True, manual_enabled=True, actor=admin_user)
    locking.do_lock_record(rows[3], "Under audit", actor=admin_user)
    items = [(rows[0].pk, {"website": "https://a0.example"}, rows[0].version),  # fine
             (rows[1].pk, {"tax_id": "T1"}, rows[1].version),  # unique, held by another record
             (rows[2].pk, {"website": "https://a2.example"}, rows[2].version - 1),  # stale version
             (rows[3].pk, {"website": "https://a3.example"}, rows[3].version),  # locked
             (rows[4].pk, {"employees": "many"}, rows[4].version)]  # not a number
    results = actions.do_update_records("accounts", items, actor=admin_user)

    assert isinstance(results[0], Account)
    assert isinstance(results[1], RecordValidationError) and results[1].message_dict == {
        key: ["Another record already has this value."]}
    assert isinstance(results[2], ConflictError)
    assert isinstance(results[3], PermissionDenied) and "may not update this record by import" in str(results[3])
    assert isinstance(results[4], RecordValidationError) and "employees" in results[4].message_dict
    for (pk, changes, version), result in zip(items[1:], results[1:]):  # the single action says the same
        with pytest.raises(type(result)) as refused:
            actions.do_update_record(Account.objects.get(pk=pk), changes, version=version, actor=admin_user,
                                     path="import")
        assert str(refused.value) == str(result)
    assert Account.objects.get(pk=rows[0].pk).website == "https://a0.example"
    assert [Account.objects.get(pk=r.pk).version for r in rows[1:]] == [r.version for r in rows[1:]]
    assert TimelineEntry.objects.filter(kind="updated").count() == 1
    # The lock's refusal is on the record's timeline, as for a single update.
    assert TimelineEntry.objects.filter(kind="refused", record_id=rows[3].pk).count() == 2
    assert taken.pk and theirs.pk


def test_who_may_not_edit_a_record_is_refused_and_who_may_is_not(org, admin_user, standard_user, other_user):
    """Tasks are private to their assignee (and administrators)."""
    mine, theirs = (actions.do_create_record("tasks", {"subject": "Call", "assignee": user.pk}, actor=admin_user)
                    for user in (standard_user, other_user))
    items = [(mine.pk, {"subject": "Called"}, mine.version), (theirs.pk, {"subject": "Called"}, theirs.version)]
    results = actions.do_update_records("tasks", items, actor=standard_user)

    assert isinstance(results[0], Task)
    assert isinstance(results[1], PermissionDenied) and str(results[1]) == "Record not found."
    assert Task.objects.get(pk=theirs.pk).subject == "Call"
    # The administrator may edit both.
    fresh = [(pk, changes, Task.objects.get(pk=pk).version) for pk, changes, _v in items]
    assert all(isinstance(r, Task) for r in actions.do_update_records("tasks", fresh, actor=admin_user))
    assert Task.objects.get(pk=theirs.pk).subject == "Called"


def test_unique_values_are_checked_against_earlier_items_of_the_batch(org, admin_user):
    actions.do_create_field(org, "accounts", api_name="tax_id", label_en="Tax id", field_type="text", unique=True,
                            actor=admin_user)
    key = actions.bound_schema("accounts", org).field("tax_id").key
    a, b = (actions.do_create_record("accounts", {"name": n}, actor=admin_user) for n in ("A", "B"))
    results = actions.do_update_records("accounts", [(a.pk, {"tax_id": "X9"}, a.version),
                                                     (b.pk, {"tax_id": "X9"}, b.version)], actor=admin_user)
    assert isinstance(results[0], Account)
    assert results[1].message_dict == {key: ["Another record already has this value."]}


def test_a_change_that_takes_the_record_out_of_reach_is_not_saved_and_the_others_are(org, admin_user, standard_user,
                                                                                     other_user):
    """Tasks are private: the assignee may edit them, but not hand one away from themselves."""
    keep, give = (actions.do_create_record("tasks", {"subject": s, "assignee": standard_user.pk}, actor=admin_user)
                  for s in ("Keep", "Give"))
    results = actions.do_update_records("tasks", [(keep.pk, {"subject": "Kept"}, keep.version),
                                                  (give.pk, {"assignee": other_user.pk}, give.version)],
                                        actor=standard_user)
    assert isinstance(results[0], Task) and Task.objects.get(pk=keep.pk).subject == "Kept"
    assert isinstance(results[1], PermissionDenied) and "out of your reach" in str(results[1])
    assert Task.objects.get(pk=give.pk).assignee_id == standard_user.pk
    assert TimelineEntry.objects.filter(kind="updated").count() == 1


def test_the_queries_of_a_batch_do_not_grow_with_its_rows(org, admin_user):
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    locking.do_create_lock_rule(org, "deals", name="Huge", actor=admin_user, locked_for="all",
                                criteria={"all": [{"field": "amount", "op": "gt", "value": "1000000"}]})
    actions.do_create_field(org, "deals", api_name="region", label_en="Region", field_type="text", actor=admin_user)
    region = actions.bound_schema("deals", org).field("region").key
    accounts = [actions.do_create_record("accounts", {"name": f"A{i}"}, actor=admin_user) for i in range(3)]
    deals = actions.do_create_records("deals", [{"name": f"D{i}", "region": "North"} for i in range(505)],
                                      actor=admin_user)

    def queries(chosen: list, round_: int) -> int:
        items = [(d.pk, {"amount": str(round_ * 10 + i), "account": accounts[i % 3].pk, "region": f"R{i}"}, d.version)
                 for i, d in enumerate(chosen)]
        with CaptureQueriesContext(connection) as captured:
            results = actions.do_update_records("deals", items, actor=admin_user)
        assert all(isinstance(r, Deal) for r in results), results
        return len(captured)

    queries(deals[:5], 1)  # configuration read into the caches
    small, large = queries(deals[5:105], 2), queries(deals[105:505], 3)
    assert small == large, (small, large)
    # The COPY goes through a temporary table (row security refuses COPY): a constant few more.
    assert large <= 26
    assert TimelineEntry.objects.filter(kind="updated").count() == 505
    stored = Deal.objects.get(pk=deals[105 + 7].pk)  # written through the staging table
    assert (stored.amount, stored.account_id, stored.custom[region], stored.version) == (37, accounts[1].pk, "R7", 2)
    assert stored.modified_by_id == admin_user.pk

"""The batch create action (`do_create_records`, used by imports): each row gets what
`do_create_record` gives it (the record, its links, its timeline entry, its event, the guards'
refusals with the same reasons), and a batch costs the same number of queries however many rows
it has."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation import rule_actions
from automation.models import PendingEvent
from blueprints.models import BlueprintRecord
from crm import actions
from crm.models import Account, Deal, RecordLink, TimelineEntry
from locking import actions as locking
from tests.blueprints.bp_helpers import deal_pipeline

pytestmark = pytest.mark.django_db

WON_WITHOUT_AMOUNT = {"all": [{"field": "stage", "op": "eq", "value": "won"}, {"field": "amount", "op": "is_empty"}]}


def created_entry(record) -> TimelineEntry:
    return TimelineEntry.objects.get(record_id=record.pk, record_type__model=record._meta.model_name, kind="created")


def event_of(record) -> dict:
    return next(p.payload for p in PendingEvent.objects.all()
                if p.payload["record_id"] == record.pk and p.payload["module"] == record.MODULE_KEY)


def test_a_batch_row_gets_what_a_single_create_gives(org, admin_user, standard_user):
    actions.do_create_field(org, "deals", api_name="partner", label_en="Partner", field_type="lookup",
                            target="accounts", actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    partner = actions.bound_schema("deals", org).field("partner").key
    data = {"name": "Big", "amount": "1,200.50", "account": account.pk, partner: account.pk, "close_date": "2026-03-01"}
    one = actions.do_create_record("deals", data, actor=admin_user, path="import", owner=standard_user)
    [many] = actions.do_create_records("deals", [data], actor=admin_user, path="import", owners=[standard_user])

    assert many.pk != one.pk and many.owner_id == one.owner_id == standard_user.pk
    fields = ("name", "amount", "account_id", "close_date", "stage", "custom", "version", "created_by_id")
    assert ([getattr(Deal.objects.get(pk=many.pk), f) for f in fields]
            == [getattr(Deal.objects.get(pk=one.pk), f) for f in fields])
    single, batch = created_entry(one), created_entry(many)
    assert batch.path == "import" and batch.changes == single.changes
    assert batch.changes["account"] == [None, {"id": account.pk, "name": "Acme"}]
    assert batch.actor_id == single.actor_id and batch.actor_name == single.actor_name
    assert {k: v for k, v in event_of(many).items() if k not in ("id", "record_id")} == \
        {k: v for k, v in event_of(one).items() if k not in ("id", "record_id")}
    assert RecordLink.objects.filter(source_id=many.pk, target_id=account.pk).count() == 1


def test_a_refused_row_is_reported_with_the_single_actions_reason_and_the_others_go_in(org, admin_user):
    rule_actions.do_create_validation_rule(org, "deals", name="Won needs amount", criteria=WON_WITHOUT_AMOUNT,
                                           message_en="A won deal needs its amount.", message_zh="赢单必须填写金额。",
                                           field="amount", actor=admin_user)
    deal_pipeline(org, admin_user)  # new deals start in "qualification"
    rows = [{"name": "Fine", "stage": "qualification"},
            {"name": "Won, no amount", "stage": "won"},  # the validation rule
            {"name": "Skips ahead", "stage": "proposal", "amount": "5"},  # the blueprint
            {"name": "", "stage": "qualification"},  # a required field
            {"name": "Also fine"}]
    results = actions.do_create_records("deals", rows, actor=admin_user)

    assert [type(r).__name__ for r in results] == ["Deal", "GuardRefusal", "GuardRefusal", "RecordValidationError",
                                                   "Deal"]
    assert str(results[1]) == "A won deal needs its amount."
    assert "starts in" in str(results[2])
    for row, result in zip(rows[1:4], results[1:4]):  # the single action refuses them alike
        with pytest.raises(type(result)) as refused:
            actions.do_create_record("deals", row, actor=admin_user)
        assert str(refused.value) == str(result)
    assert sorted(Deal.objects.values_list("name", flat=True)) == ["Also fine", "Fine"]
    assert TimelineEntry.objects.filter(kind="created").count() == 2
    assert PendingEvent.objects.count() == 2
    # The after-write hooks ran for the rows that went in: both entered the blueprint.
    assert set(BlueprintRecord.objects.values_list("record_id", flat=True)) == {results[0].pk, results[4].pk}
    assert TimelineEntry.objects.filter(kind="blueprint_entered").count() == 2


def test_unique_values_are_refused_against_stored_records_and_earlier_rows_of_the_batch(org, admin_user):
    actions.do_create_field(org, "accounts", api_name="tax_id", label_en="Tax id", field_type="text", unique=True,
                            actor=admin_user)
    key = actions.bound_schema("accounts", org).field("tax_id").key
    actions.do_create_record("accounts", {"name": "Stored", "tax_id": "A1"}, actor=admin_user)
    results = actions.do_create_records("accounts", [{"name": "Same as stored", "tax_id": "A1"},
                                                     {"name": "New", "tax_id": "B2"},
                                                     {"name": "Same as the row before", "tax_id": "B2"}],
                                        actor=admin_user)
    assert results[0].message_dict == {key: ["Another record already has this value."]}
    assert isinstance(results[1], Account)
    assert results[2].message_dict == {key: ["Another record already has this value."]}
    assert Account.objects.count() == 2


def test_a_lock_rule_locks_matching_new_rows_as_a_single_create_does(org, admin_user):
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    rule = locking.do_create_lock_rule(org, "deals", name="Won", actor=admin_user, locked_for="all",
                                       criteria={"all": [{"field": "stage", "op": "eq", "value": "won"}]})
    won, open_ = actions.do_create_records("deals", [{"name": "W", "stage": "won", "amount": "1"}, {"name": "O"}],
                                           actor=admin_user)
    from locking.models import RecordLock

    assert list(RecordLock.objects.values_list("record_id", "rule_id")) == [(won.pk, rule.pk)]
    assert TimelineEntry.objects.filter(kind="locked", record_id=won.pk).count() == 1


def test_the_queries_of_a_batch_do_not_grow_with_its_rows(org, admin_user, standard_user):
    """Validation rules, a blueprint and lock rules configured; lookups, owners: 100 rows or 400
    rows, the same queries."""
    rule_actions.do_create_validation_rule(org, "deals", name="Won needs amount", criteria=WON_WITHOUT_AMOUNT,
                                           message_en="Amount!", message_zh="金额！", field="amount", actor=admin_user)
    deal_pipeline(org, admin_user)
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    locking.do_create_lock_rule(org, "deals", name="Huge", actor=admin_user, locked_for="all",
                                criteria={"all": [{"field": "amount", "op": "gt", "value": "1000000"}]})
    accounts = [actions.do_create_record("accounts", {"name": f"A{i}"}, actor=admin_user) for i in range(3)]

    def rows(count: int) -> list[dict]:
        return [{"name": f"Deal {i}", "amount": str(i), "account": accounts[i % 3].pk} for i in range(count)]

    def queries(count: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            results = actions.do_create_records("deals", rows(count), actor=admin_user,
                                                owners=[(standard_user, admin_user)[i % 2] for i in range(count)])
        assert all(isinstance(r, Deal) for r in results), results
        return len(captured)

    queries(5)  # configuration read into the caches
    # Both batches are large enough for COPY (crm.actions.bulk.FEW); a smaller one sends one INSERT
    # per table instead of a sequence read and a COPY.
    small, large = queries(100), queries(400)
    assert small == large, (small, large)
    # Each COPY goes through a temporary table (PostgreSQL refuses COPY into a table under row
    # security): create, copy, insert-select, drop, a constant few more per table.
    assert large <= 33
    assert BlueprintRecord.objects.count() == 505

"""The three demands of the locking issue, each as a story.

A: once a deal is won or lost, nobody may edit or delete it (an admin may lift the lock, with a
   reason kept on the timeline).
B: once a lead is in the CRM, sales reps can never change its phone or email.
C: once an order passes approval, nothing about it may change: amounts, quantities, files.
"""
from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access.actions import do_set_org_default
from crm import actions
from crm.guards import GuardRefusal
from crm.models import Deal, Lead, TimelineEntry
from locking import actions as locking
from locking.models import RecordLock
from locking.state import lock_state
from teams.models import TeamRecord
from tests.factories import DealFactory, LeadFactory
from tests.locking.conftest import WON
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


def kinds(record):
    return list(TimelineEntry.objects.filter(record_id=record.pk, org_id=record.org_id)
                .order_by("pk").values_list("kind", flat=True))


# --- A: closed deals ---------------------------------------------------------------------------

@pytest.fixture
def closed_deals(org, admin_user, enable, add_rule):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals")
    return add_rule("deals", "Closed deals", WON,
                    restricted_actions=["edit", "bulk_edit", "import_update", "delete", "change_owner"])


def test_a_nobody_may_edit_or_delete_a_closed_deal(closed_deals, admin_user, rep, exempt, client_for):
    deal = DealFactory(actor=rep, name="Big one", amount="100")
    actions.do_update_record(deal, {"amount": "120"}, version=version_of(deal), actor=rep)  # open: editable
    response = client_for(rep).post(reverse("crm:kanban_move", args=["deals", deal.pk]),
                                    {"field": "stage", "value": "won", "version": Deal.objects.get(pk=deal.pk).version})
    assert response.status_code == 200
    assert kinds(deal)[-1] == "locked"
    for user in (rep, exempt, admin_user):
        with pytest.raises(GuardRefusal, match="Locked by rule “Closed deals”: you may not edit this record."):
            actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=user)
        with pytest.raises(GuardRefusal, match="Closed deals"):
            actions.do_update_record(deal, {"stage": "negotiation"}, version=version_of(deal), actor=user, path="import")
    for user in (rep, admin_user):  # the owner and the admin may delete records at all
        with pytest.raises(GuardRefusal, match="you may not delete this record"):
            actions.do_delete_record(deal, version=version_of(deal), actor=user)
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.stage, str(stored.amount), stored.deleted_at) == ("won", "120.00", None)
    state = lock_state(stored, actions.bound_schema("deals", stored.org), rep)
    assert [lock.name for lock in state.locks] == ["Closed deals"]
    assert {"edit", "delete", "change_owner"} <= state.restricted_actions
    assert state.editable_fields == []


def test_a_admin_override_is_on_the_timeline_and_ends_when_the_deal_reopens(closed_deals, admin_user, rep):
    deal = DealFactory(actor=rep, stage="lost")
    with pytest.raises(PermissionDenied):
        locking.do_override_unlock(deal, closed_deals, "Customer came back", actor=rep)
    with pytest.raises(actions.RecordValidationError):
        locking.do_override_unlock(deal, closed_deals, "  ", actor=admin_user)
    locking.do_override_unlock(deal, closed_deals, "Customer came back", actor=admin_user)
    entry = TimelineEntry.objects.filter(record_id=deal.pk, kind="lock_overridden").get()
    assert entry.changes["reason"] == [None, "Customer came back"]
    assert entry.changes["rule"][0]["name"] == "Closed deals"
    # Lifted while the deal still matches: the admin's edits do not lock it again ...
    actions.do_update_record(deal, {"amount": "900"}, version=version_of(deal), actor=rep)
    assert not RecordLock.objects.filter(record_id=deal.pk, kind="rule").exists()
    # ... until it stops matching (the override ends) and matches again.
    actions.do_update_record(deal, {"stage": "negotiation"}, version=version_of(deal), actor=rep)
    assert not RecordLock.objects.filter(record_id=deal.pk).exists()
    actions.do_update_record(deal, {"stage": "won"}, version=version_of(deal), actor=rep)
    assert RecordLock.objects.filter(record_id=deal.pk, kind="rule").exists()
    with pytest.raises(GuardRefusal):
        actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=rep)


def test_a_refused_attempts_are_on_the_timeline_and_change_nothing(closed_deals, rep, client_for):
    deal = DealFactory(actor=rep, stage="won", amount="50")
    before = Deal.objects.get(pk=deal.pk)
    response = client_for(rep).post(reverse("crm:edit", args=["deals", deal.pk]),
                                    {"name": deal.name, "stage": "won", "amount": "70", "version": before.version})
    assert response.status_code == 400
    assert "Locked by rule “Closed deals”" in response.content.decode()
    after = Deal.objects.get(pk=deal.pk)
    assert (after.version, after.amount) == (before.version, before.amount)
    refused = TimelineEntry.objects.get(record_id=deal.pk, kind="refused")
    assert refused.changes["action"] == [None, "update"]
    assert refused.path == "page"


# --- B: lead contact details ------------------------------------------------------------------

@pytest.fixture
def contact_details_lock(org, admin_user, enable, sales_rep_profile):
    enable("leads")
    do_set_org_default(org, "leads", "public_read_write", actor=admin_user)
    return locking.do_save_field_lock(org, "leads", name="Lead contact details", fields=["phone", "email"],
                                      profiles=[sales_rep_profile.pk], actor=admin_user)


def test_b_sales_reps_can_never_change_a_leads_phone_or_email(contact_details_lock, rep, exempt, admin_user,
                                                               client_for):
    lead = LeadFactory(actor=rep, phone="13800138000", email="li@example.cn", company="Xingchen")
    for path in ("page", "api", "import", "bulk"):
        with pytest.raises(GuardRefusal, match="The field “Phone” is locked by “Lead contact details”"):
            actions.do_update_record(lead, {"phone": "13900000000"}, version=version_of(lead), actor=rep, path=path)
        with pytest.raises(GuardRefusal, match="Email"):
            actions.do_update_record(lead, {"email": "x@example.cn", "company": "New"}, version=version_of(lead), actor=rep,
                                     path=path)
    # Other fields stay editable, also from the edit page (which posts the unchanged phone too).
    response = client_for(rep).post(reverse("crm:edit", args=["leads", lead.pk]), {
        "last_name": lead.last_name, "company": "Xingchen Tech", "phone": lead.phone, "email": lead.email,
        "status": "new", "version": Lead.objects.get(pk=lead.pk).version})
    assert response.status_code == 302
    # There the locked fields are disabled with the lock's name, and a phone posted anyway is ignored.
    form = client_for(rep).get(reverse("crm:edit", args=["leads", lead.pk])).content.decode()
    assert re.search(r'<input [^>]*name="phone"[^>]*disabled', form)
    assert "Locked by field lock: Lead contact details" in form
    response = client_for(rep).post(reverse("crm:edit", args=["leads", lead.pk]), {
        "last_name": lead.last_name, "company": "Xingchen Tech", "phone": "13900000000", "email": lead.email,
        "status": "new", "version": Lead.objects.get(pk=lead.pk).version})
    assert response.status_code == 302 and Lead.objects.get(pk=lead.pk).phone == "13800138000"
    # Users outside the profile are exempt.
    actions.do_update_record(lead, {"phone": "13700000000"}, version=version_of(lead), actor=exempt)
    actions.do_update_record(lead, {"email": "new@example.cn"}, version=version_of(lead), actor=admin_user)
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.phone, stored.email, stored.company) == ("13700000000", "new@example.cn", "Xingchen Tech")
    state = lock_state(stored, actions.bound_schema("leads", stored.org), rep)
    assert state.read_only_fields == ["email", "phone"] and "company" in state.editable_fields
    assert not state.locked  # a field lock is not a record lock


def test_b_creating_a_lead_with_phone_and_email_is_allowed(contact_details_lock, rep):
    lead = LeadFactory(actor=rep, phone="111", email="a@b.cn")
    assert Lead.objects.get(pk=lead.pk).phone == "111"


def test_b_field_lock_with_criteria_applies_only_while_matching(org, admin_user, enable, rep, sales_rep_profile):
    enable("leads")
    do_set_org_default(org, "leads", "public_read_write", actor=admin_user)
    locking.do_save_field_lock(org, "leads", name="Qualified contact", fields=["phone"],
                               criteria={"all": [{"field": "status", "op": "eq", "value": "qualified"}]},
                               profiles=[sales_rep_profile.pk], actor=admin_user)
    lead = LeadFactory(actor=rep, phone="111")
    actions.do_update_record(lead, {"phone": "222"}, version=version_of(lead), actor=rep)
    actions.do_update_record(lead, {"status": "qualified"}, version=version_of(lead), actor=rep)
    with pytest.raises(GuardRefusal, match="Qualified contact"):
        actions.do_update_record(lead, {"phone": "333"}, version=version_of(lead), actor=rep)


# --- C: approved orders ------------------------------------------------------------------------

APPROVED = {"all": [{"field": "status", "op": "eq", "value": "approved"}]}
EVERYTHING = ["edit", "bulk_edit", "import_update", "delete", "change_owner", "add_attachment", "delete_attachment"]


@pytest.fixture
def approved_orders(org, orders, manager, enable):
    enable(orders.key, actor=manager)
    return locking.do_create_lock_rule(org, orders.key, name="Approved orders", criteria=APPROVED, on_approval=True,
                                       restricted_actions=EVERYTHING, actor=manager)


def _upload():
    return SimpleUploadedFile("order.pdf", b"%PDF", content_type="application/pdf")


def test_c_nothing_about_an_approved_order_may_change(approved_orders, orders_schema, manager, member, admin_user,
                                                      client_for):
    order = actions.do_create_record(orders_schema, {"title": "PO-1", "amount": "1000", "quantity": 3}, actor=member)
    attachment = actions.do_add_attachment(order, _upload(), actor=member)
    actions.do_update_record(order, {"quantity": 4}, version=version_of(order), actor=member)
    response = client_for(member).post(reverse("crm:kanban_move", args=[orders_schema.key, order.pk]),
                                       {"field": "status", "value": "approved",
                                        "version": TeamRecord.objects.get(pk=order.pk).version})
    assert response.status_code == 200
    # Matching the rule's criteria is not enough: it locks when the order's approval completes.
    assert not RecordLock.objects.filter(record_id=order.pk).exists()
    locking.do_lock_after_approval(TeamRecord.objects.get(pk=order.pk), actor=manager, path="approval:7")
    for user in (member, manager, admin_user):
        for changes in ({"amount": "1"}, {"quantity": 1}, {"status": "draft"}, {"title": "PO-2"}):
            with pytest.raises(GuardRefusal, match="Approved orders"):
                actions.do_update_record(order, changes, version=version_of(order), actor=user)
        with pytest.raises(GuardRefusal, match="attach files"):
            actions.do_add_attachment(order, _upload(), actor=user)
        with pytest.raises(GuardRefusal, match="remove files"):
            actions.do_delete_attachment(attachment, actor=user)
    with pytest.raises(GuardRefusal):
        actions.do_delete_record(order, version=version_of(order), actor=manager)
    response = client_for(manager).post(reverse("crm:kanban_move", args=[orders_schema.key, order.pk]),
                                        {"field": "status", "value": "draft",
                                         "version": TeamRecord.objects.get(pk=order.pk).version})
    assert response.status_code == 403 and "Approved orders" in response.json()["error"]
    stored = TeamRecord.objects.get(pk=order.pk)
    assert stored.status == "approved" and stored.data[orders_schema.field("quantity").key] == 4
    assert stored.deleted_at is None
    # Notes are not restricted by this rule.
    actions.do_add_note(order, "Shipped on Monday", actor=member)


def test_c_lock_after_approval_entry_point(org, orders, orders_schema, manager, member, enable):
    """The approval process calls do_lock_after_approval; a rule saved after the order was
    approved locks it then (before, its save had nothing to match)."""
    enable(orders.key, actor=manager)
    order = actions.do_create_record(orders_schema, {"title": "PO-9", "status": "approved"}, actor=member)
    rule = locking.do_create_lock_rule(org, orders.key, name="Approved orders", criteria=APPROVED, on_approval=True,
                                       restricted_actions=EVERYTHING, actor=manager)
    assert not RecordLock.objects.filter(record_id=order.pk).exists()
    locks = locking.do_lock_after_approval(order, actor=manager, path="approval:12")
    assert [lock.rule_id for lock in locks] == [rule.pk]
    assert TimelineEntry.objects.filter(record_id=order.pk, kind="locked", path="approval:12").exists()
    assert locking.do_lock_after_approval(order, actor=manager, path="approval:12") == []  # idempotent
    with pytest.raises(GuardRefusal):
        actions.do_update_record(order, {"amount": "5"}, version=version_of(order), actor=member)


def test_c_a_save_or_applying_the_rule_never_locks_without_an_approval(approved_orders, orders_schema, member,
                                                                        manager):
    """A "lock after approval" rule matching on create, on edit or when applied to the records
    already stored locks nothing; it still unlocks an approved order that stops matching."""
    order = actions.do_create_record(orders_schema, {"title": "PO-3", "status": "approved"}, actor=member)
    other = actions.do_create_record(orders_schema, {"title": "PO-4", "status": "draft"}, actor=member)
    actions.do_update_record(other, {"status": "approved"}, version=version_of(other), actor=member)
    assert locking.do_apply_rule_to_existing(approved_orders, actor=manager) == {"locked": 0, "unlocked": 0}
    assert not RecordLock.objects.filter(record_id__in=[order.pk, other.pk]).exists()
    actions.do_update_record(order, {"amount": "7"}, version=version_of(order), actor=member)  # not locked
    locking.do_lock_after_approval(TeamRecord.objects.get(pk=order.pk), actor=manager, path="approval:8")
    with pytest.raises(GuardRefusal, match="Approved orders"):
        actions.do_update_record(order, {"amount": "8"}, version=version_of(order), actor=member)
    locking.do_update_lock_rule(approved_orders, name="Approved orders", on_approval=True, actor=manager,
                                criteria={"all": [{"field": "status", "op": "eq", "value": "draft"}]},
                                restricted_actions=EVERYTHING)
    assert locking.do_apply_rule_to_existing(approved_orders, actor=manager) == {"locked": 0, "unlocked": 1}
    assert not RecordLock.objects.filter(record_id=order.pk).exists()

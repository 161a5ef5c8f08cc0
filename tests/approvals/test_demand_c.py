"""Demand C: once a deal passes approval, its amount, quantity and files can no longer change, by
any path (edit page, inline edit, bulk edit, kanban, attachments, actions): the approval's final
action marks it approved and the module's "lock after approval" rule (discount above 12%) locks it
(`locking.actions.do_lock_after_approval`, path "approval:<id>"). Before approval, while pending,
the same paths are refused to the rep by the approval freeze and allowed to the admin."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from approvals.actions import do_decide_approval
from approvals.models import ApprovalRequest
from crm import actions
from crm.guards import GuardRefusal
from crm.models import Attachment, Deal, TimelineEntry
from locking import actions as locking
from locking.models import RecordLock
from tests.factories import DealFactory
from tests.helpers import version_of

pytestmark = pytest.mark.django_db
EVERYTHING = ["edit", "bulk_edit", "import_update", "delete", "change_owner", "add_attachment", "delete_attachment"]


def _file():
    return SimpleUploadedFile("contract.pdf", b"%PDF-1.4", content_type="application/pdf")


@pytest.fixture
def approved_deals(org, admin_user, rep, director, discount_process):
    quantity = actions.do_create_field(org, "deals", api_name="quantity", label_en="Quantity", field_type="integer",
                                       actor=admin_user)
    approved = actions.do_create_field(org, "deals", api_name="discount_approved", label_en="Discount approved",
                                       field_type="boolean", actor=admin_user)
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    locking.do_create_lock_rule(org, "deals", name="Approved deals", on_approval=True, actor=admin_user,
                                criteria={"all": [{"field": "discount", "op": "gt", "value": 12}]},
                                restricted_actions=EVERYTHING, editable_fields=["close_date"])
    discount_process([{"rule": "any", "approvers": {"manager": True}}],
                     on_approve=[{"type": "field_update", "field": approved.key, "value": True}])
    return quantity.key


def test_an_approved_deal_is_locked_on_every_path(approved_deals, rep, director, admin_user, client_for):
    quantity = approved_deals
    deal = DealFactory(actor=rep, name="Contract", amount="10000", discount="20", **{quantity: 5})
    attachment = actions.do_add_attachment(deal, _file(), actor=admin_user)  # the admin may while pending
    request = ApprovalRequest.objects.get(record_id=deal.pk)
    assert not RecordLock.objects.filter(record_id=deal.pk).exists()  # it matches, but is not approved yet
    do_decide_approval(request, "approve", actor=director)
    stored = Deal.objects.get(pk=deal.pk)
    assert RecordLock.objects.filter(record_id=deal.pk).exists()
    assert TimelineEntry.objects.filter(record_id=deal.pk, kind="locked", path=f"approval:{request.pk}").exists()
    assert TimelineEntry.objects.filter(record_id=deal.pk, kind="updated", path=f"approval:{request.pk}").exists()
    for user in (rep, director, admin_user):
        for changes in ({"amount": "1"}, {quantity: 1}):
            with pytest.raises(GuardRefusal, match="Approved deals"):
                actions.do_update_record(deal, changes, version=version_of(deal), actor=user)
            with pytest.raises(GuardRefusal, match="Approved deals"):
                actions.do_bulk_edit_records("deals", {deal.pk: version_of(deal)}, changes, actor=user)
        with pytest.raises(GuardRefusal, match="attach files"):
            actions.do_add_attachment(deal, _file(), actor=user)
        with pytest.raises(GuardRefusal, match="remove files"):
            actions.do_delete_attachment(attachment, actor=user)
        client = client_for(user)
        client.post(reverse("crm:edit", args=["deals", deal.pk]),
                    {"name": "Contract", "stage": "won", "amount": "5", "version": version_of(deal)})
        client.post(reverse("crm:field", args=["deals", deal.pk, "amount"]),
                    {"amount": "5", "version": version_of(deal)}, HTTP_HX_REQUEST="true")
        client.post(reverse("crm:bulk_edit", args=["deals"]),
                    {"field": "amount", "value": "5", "ids": [f"{deal.pk}:{version_of(deal)}"]})
        response = client.post(reverse("crm:kanban_move", args=["deals", deal.pk]),
                               {"field": "stage", "value": "lost", "version": version_of(deal)})
        assert response.status_code == 403 and "Approved deals" in response.json()["error"]
        client.post(reverse("crm:attachment_add", args=["deals", deal.pk]), {"file": _file()})
        client.post(reverse("crm:attachment_delete", args=["deals", deal.pk, attachment.pk]))
    after = Deal.objects.get(pk=deal.pk)
    assert after.amount == stored.amount == 10000 and after.custom[quantity] == 5 and after.stage == stored.stage
    assert list(Attachment.objects.filter(record_id=deal.pk).values_list("pk", flat=True)) == [attachment.pk]
    # The field the rule leaves editable still is.
    actions.do_update_record(deal, {"close_date": "2027-03-01"}, version=version_of(deal), actor=rep)


def test_while_pending_the_same_paths_refuse_the_rep_and_allow_the_admin(approved_deals, rep, admin_user, client_for):
    quantity = approved_deals
    deal = DealFactory(actor=rep, name="Contract", amount="10000", discount="20", **{quantity: 5})
    client = client_for(rep)
    client.post(reverse("crm:edit", args=["deals", deal.pk]),
                {"name": "Contract", "stage": "won", "amount": "5", "version": version_of(deal)})
    client.post(reverse("crm:field", args=["deals", deal.pk, "amount"]),
                {"amount": "5", "version": version_of(deal)}, HTTP_HX_REQUEST="true")
    client.post(reverse("crm:bulk_edit", args=["deals"]),
                {"field": "amount", "value": "5", "ids": [f"{deal.pk}:{version_of(deal)}"]})
    client.post(reverse("crm:attachment_add", args=["deals", deal.pk]), {"file": _file()})
    assert Deal.objects.get(pk=deal.pk).amount == 10000
    assert not Attachment.objects.filter(record_id=deal.pk).exists()
    refused = TimelineEntry.objects.filter(record_id=deal.pk, kind="refused")
    assert refused.count() >= 3 and all("Awaiting approval" in e.changes["reason"][1] for e in refused)
    # The edit page shows the amount read-only with the reason.
    page = client.get(reverse("crm:edit", args=["deals", deal.pk])).content.decode()
    assert "Awaiting approval" in page
    admin = client_for(admin_user)
    admin.post(reverse("crm:field", args=["deals", deal.pk, "amount"]),
               {"amount": "9000", "version": version_of(deal)}, HTTP_HX_REQUEST="true")
    assert Deal.objects.get(pk=deal.pk).amount == 9000

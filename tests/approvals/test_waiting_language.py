"""Who a request waits for is told in the reader's language, not in the language of whoever
submitted it: a slot keeps its kind (the owner's manager, a role, a group, the process admins, a
person), and its words are chosen when it is shown."""
from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from approvals import engine
from approvals.actions import do_delegate_approval
from approvals.models import ApprovalRequest
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def awaiting(record):
    return ApprovalRequest.objects.get(record_id=record.pk, status__in=("pending", "delegated"))


def in_chinese(request) -> str:
    with translation.override("zh-hans"):
        return engine.pending_message(request)


def test_the_owners_manager_is_named_in_the_readers_language(rep, director, discount_process):
    discount_process([{"rule": "any", "approvers": {"manager": True}}])
    with translation.override("en"):
        request = awaiting(DealFactory(actor=rep, name="Big", discount="30"))
        assert "the owner's manager (Dora)" in engine.pending_message(request)
    text = in_chinese(request)
    assert "负责人的上级 (Dora)" in text and "owner's manager" not in text


def test_roles_and_the_process_admins_too(rep, director, vp, finance, admin_user, discount_process, roles):
    from access.actions import do_set_membership_active

    discount_process([{"rule": "all", "approvers": {"roles": [roles["vp"].pk], "users": [director.pk]}}])
    with translation.override("en"):
        request = awaiting(DealFactory(actor=rep, name="Big", discount="30"))
    with translation.override("zh-hans"):
        role_words = translation.gettext("role %(role)s") % {"role": "VP Sales"}
        admins_words = translation.gettext("the process admins")
    assert role_words != "role VP Sales" and admins_words != "the process admins"
    text = in_chinese(request)
    assert f"{role_words} (Victor)" in text and "Dora" in text and "role VP Sales" not in text

    # A level nobody active can take goes to the process admins: named in Chinese too.
    do_set_membership_active(director.membership, False, actor=admin_user)
    do_set_membership_active(vp.membership, False, actor=admin_user)
    with translation.override("en"):
        request = awaiting(DealFactory(actor=rep, name="Bigger", discount="40"))
    assert admins_words in in_chinese(request)


def test_a_delegated_step_names_the_person_and_old_slots_keep_their_label(rep, director, vp, discount_process):
    discount_process([{"rule": "any", "approvers": {"manager": True}}])
    request = awaiting(DealFactory(actor=rep, name="Big", discount="30"))
    do_delegate_approval(request, vp.pk, actor=director)
    request.refresh_from_db()
    assert engine.waiting_names(request) == "Victor" and in_chinese(request).count("Victor") == 1
    # A slot saved before slots kept their kind: its stored words are shown as they are.
    request.slots = [{"users": [vp.pk], "label": "the owner's manager (Victor)", "done": False}]
    assert engine.waiting_names(request) == "the owner's manager (Victor)"


def test_the_deal_page_in_chinese_names_the_manager_in_chinese(rep, director, discount_process, client_for):
    discount_process([{"rule": "any", "approvers": {"manager": True}}])
    with translation.override("en"):
        deal = DealFactory(actor=rep, name="Big", discount="30")
    client = client_for(rep)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    response = client.get(reverse("crm:detail", args=["deals", deal.pk]))
    message = response.content.decode().split('data-testid="approval-message">', 1)[1].split("</span>", 1)[0]
    assert "负责人的上级 (Dora)" in message and "manager" not in message

"""Every write path sends the version its user saw: a missing one is refused with a reason and
changes nothing (an edit without it would overwrite a change made meanwhile unseen)."""
from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crm import actions
from crm.models import Deal, TimelineEntry
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

MISSING = "The record's version is missing"


@pytest.fixture
def deal(standard_user):
    return actions.do_create_record("deals", {"name": "Versioned", "amount": "100"}, actor=standard_user)


def unchanged(deal) -> bool:
    stored = Deal.objects.get(pk=deal.pk)
    return (stored.version, stored.amount, stored.owner_id, stored.deleted_at) == (1, 100, deal.owner_id, None)


@pytest.mark.parametrize("write", [
    lambda d, u, o: actions.do_update_record(d, {"amount": "5"}, version=None, actor=u),
    lambda d, u, o: actions.do_update_record(d, {"amount": "5"}, version="", actor=u),
    lambda d, u, o: actions.do_delete_record(d, version=None, actor=u),
    lambda d, u, o: actions.do_change_owner(d, o.pk, version=None, actor=u),
    lambda d, u, o: actions.do_bulk_change_owner("deals", {d.pk: None}, o.pk, actor=u),
    lambda d, u, o: actions.do_bulk_edit_records("deals", {d.pk: None}, {"amount": "5"}, actor=u),
], ids=["update", "update-empty", "delete", "owner", "bulk-owner", "bulk-edit"])
def test_an_action_without_a_version_is_refused(deal, standard_user, other_user, write):
    with pytest.raises(actions.RecordValidationError) as refused:
        write(deal, standard_user, other_user)
    assert MISSING in " ".join(refused.value.messages)
    assert unchanged(deal)
    assert list(TimelineEntry.objects.filter(record_id=deal.pk).values_list("kind", flat=True)) == ["created"]


def test_the_version_is_a_required_argument(deal, standard_user, other_user):
    with pytest.raises(TypeError):
        actions.do_update_record(deal, {"amount": "5"}, actor=standard_user)
    with pytest.raises(TypeError):
        actions.do_delete_record(deal, actor=standard_user)
    with pytest.raises(TypeError):
        actions.do_change_owner(deal, other_user.pk, actor=standard_user)


def test_with_the_current_version_each_write_goes_through(deal, standard_user, other_user):
    actions.do_update_record(deal, {"amount": "5"}, version=1, actor=standard_user)
    actions.do_change_owner(deal, other_user.pk, version=2, actor=standard_user)
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.amount, stored.owner_id, stored.version) == (5, other_user.pk, 3)


HTMX = {"HTTP_HX_REQUEST": "true"}


def test_inline_edit_without_a_version_is_refused_with_the_reason(deal, standard_user, client_for):
    response = client_for(standard_user).post(reverse("crm:field", args=["deals", deal.pk, "amount"]),
                                              {"amount": "5"}, **HTMX)
    assert response.status_code == 400
    assert "version is missing" in response.content.decode().replace("&#x27;", "'")
    assert unchanged(deal)
    ok = client_for(standard_user).post(reverse("crm:field", args=["deals", deal.pk, "amount"]),
                                        {"amount": "5", "version": 1}, **HTMX)
    assert ok.status_code == 200 and Deal.objects.get(pk=deal.pk).amount == 5


def test_the_edit_form_without_a_version_is_refused_with_the_reason(deal, standard_user, client_for):
    response = client_for(standard_user).post(reverse("crm:edit", args=["deals", deal.pk]),
                                              {"name": "Versioned", "stage": "qualification", "amount": "5"})
    assert response.status_code == 400
    assert "version is missing" in " ".join(response.context["form"].non_field_errors())
    assert unchanged(deal)


def test_delete_and_owner_pages_without_a_version_are_refused(deal, standard_user, other_user, client_for):
    client = client_for(standard_user)
    response = client.post(reverse("crm:delete", args=["deals", deal.pk]))
    assert any(MISSING in str(m) for m in get_messages(response.wsgi_request))
    response = client.post(reverse("crm:owner", args=["deals", deal.pk]), {"owner": other_user.pk})
    assert any(MISSING in str(m) for m in get_messages(response.wsgi_request))
    assert unchanged(deal)
    # The pages themselves carry the version.
    assert f'name="version" value="{deal.version}"' in client.get(
        reverse("crm:delete", args=["deals", deal.pk])).content.decode()
    assert f'name="version" value="{deal.version}"' in client.get(deal.get_absolute_url()).content.decode()


def test_a_stale_delete_is_a_conflict(deal, standard_user, client_for):
    actions.do_update_record(deal, {"amount": "7"}, version=1, actor=standard_user)
    response = client_for(standard_user).post(reverse("crm:delete", args=["deals", deal.pk]), {"version": 1})
    assert any("after you opened it" in str(m) for m in get_messages(response.wsgi_request))
    assert Deal.objects.get(pk=deal.pk).deleted_at is None
    client_for(standard_user).post(reverse("crm:delete", args=["deals", deal.pk]), {"version": version_of(deal)})
    assert Deal.objects.get(pk=deal.pk).deleted_at is not None


def test_a_kanban_move_without_a_version_is_refused(deal, standard_user, client_for):
    response = client_for(standard_user).post(reverse("crm:kanban_move", args=["deals", deal.pk]),
                                              {"field": "stage", "value": "won"})
    assert response.status_code == 400 and MISSING in response.json()["error"]
    assert unchanged(deal)

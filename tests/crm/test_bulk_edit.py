"""Bulk edit from the list: one field, many records, all or nothing, through the record actions."""
from __future__ import annotations

import pytest
from django.urls import reverse

from access.actions import do_set_org_default
from crm import actions
from crm.guards import GuardRefusal, register_guard, unregister_guard
from crm.models import Deal, TimelineEntry
from tests.helpers import version_of, versions_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def deals(org, admin_user, standard_user, other_user):
    do_set_org_default(org, "deals", "private", actor=admin_user)
    mine = [actions.do_create_record("deals", {"name": f"Mine {i}", "amount": "100"}, actor=standard_user)
            for i in range(3)]
    theirs = actions.do_create_record("deals", {"name": "Theirs", "amount": "100"}, actor=other_user)
    return mine, theirs


def url(**params):
    return reverse("crm:bulk_edit", args=["deals"])


def chosen(records) -> list[str]:
    """The list page's checkbox values: "pk:version"."""
    return [f"{record.pk}:{version_of(record)}" for record in records]


def test_the_page_offers_the_fields_and_the_value_widget_of_the_chosen_field(deals, standard_user, client_for):
    mine, _ = deals
    client = client_for(standard_user)
    page = client.get(url(), {"ids": chosen(mine)})
    assert page.status_code == 200
    assert "stage" in dict(page.context["form"].fields["field"].choices)
    page = client.get(url(), {"ids": chosen(mine), "field": "stage"})
    assert 'name="value"' in page.content.decode() and "Negotiation" in page.content.decode()


def test_bulk_edit_changes_every_chosen_record_and_logs_each(deals, standard_user, client_for):
    mine, theirs = deals
    response = client_for(standard_user).post(url(), {"ids": chosen(mine[:2]), "field": "stage",
                                                      "value": "negotiation"})
    assert response.status_code == 302
    assert list(Deal.objects.filter(pk__in=[d.pk for d in mine]).order_by("pk").values_list("stage", flat=True)) == [
        "negotiation", "negotiation", "qualification"]
    entries = TimelineEntry.objects.filter(kind="updated", path="bulk", record_id__in=[d.pk for d in mine])
    assert sorted(e.record_id for e in entries) == sorted(d.pk for d in mine[:2])
    assert all(e.changes["stage"][1] for e in entries)


def test_a_record_out_of_reach_refuses_the_whole_batch(deals, standard_user, client_for):
    mine, theirs = deals
    response = client_for(standard_user).post(url(), {"ids": chosen([mine[0], theirs]), "field": "stage",
                                                      "value": "negotiation"})
    assert response.status_code == 403
    assert set(Deal.objects.values_list("stage", flat=True)) == {"qualification"}


def test_a_bad_value_is_named_and_saves_nothing(deals, standard_user, client_for):
    mine, _ = deals
    response = client_for(standard_user).post(url(), {"ids": chosen(mine), "field": "amount",
                                                      "value": "lots"})
    assert response.status_code == 400
    assert response.context["form"].errors["value"]
    assert set(Deal.objects.values_list("amount", flat=True)) == {100}


def test_no_records_or_no_field_is_refused(deals, standard_user, client_for):
    client = client_for(standard_user)
    assert client.get(url()).status_code == 302
    mine, _ = deals
    response = client.post(url(), {"ids": chosen([mine[0]]), "field": "nonsense", "value": "x"})
    assert response.status_code == 400 and response.context["form"].errors["field"]


def test_a_guard_refusing_one_record_rolls_back_all_and_logs_the_refusal(deals, standard_user):
    mine, _ = deals

    def no_third(context):
        if context.record.pk == mine[2].pk:
            raise GuardRefusal("Not this one.", guard="test")

    register_guard(no_third)
    try:
        with pytest.raises(GuardRefusal):
            actions.do_bulk_edit_records("deals", versions_of(mine), {"stage": "won"}, actor=standard_user)
    finally:
        unregister_guard(no_third)
    assert set(Deal.objects.filter(pk__in=[d.pk for d in mine]).values_list("stage", flat=True)) == {"qualification"}
    refused = TimelineEntry.objects.get(kind="refused", record_id=mine[2].pk)
    assert refused.path == "bulk" and refused.changes["reason"][1] == "Not this one."
    assert not TimelineEntry.objects.filter(kind="updated", record_id__in=[d.pk for d in mine]).exists()


def test_the_list_page_links_to_bulk_edit(deals, standard_user, client_for):
    body = client_for(standard_user).get(reverse("crm:list", args=["deals"])).content.decode()
    assert 'data-testid="bulk-edit"' in body and reverse("crm:bulk_edit", args=["deals"]) in body


def test_the_list_page_sends_each_records_version_with_its_id(deals, standard_user, client_for):
    mine, _ = deals
    actions.do_update_record(mine[0], {"amount": "5"}, version=1, actor=standard_user)
    page = client_for(standard_user).get(reverse("crm:list", args=["deals"])).content.decode()
    assert f'value="{mine[0].pk}:2"' in page and f'value="{mine[1].pk}:1"' in page


def test_a_record_changed_since_the_list_was_shown_refuses_the_batch_and_is_named(deals, standard_user, other_user,
                                                                                  admin_user, client_for):
    mine, _ = deals
    shown = chosen(mine)
    actions.do_update_record(mine[1], {"amount": "7"}, version=1, actor=standard_user)
    response = client_for(standard_user).post(url(), {"ids": shown, "field": "stage", "value": "negotiation"})
    assert response.status_code == 409
    assert "“Mine 1”" in " ".join(response.context["form"].non_field_errors())
    assert set(Deal.objects.values_list("stage", flat=True)) == {"qualification"}


def test_ids_without_versions_are_refused_with_a_reason(deals, standard_user, client_for):
    mine, _ = deals
    response = client_for(standard_user).post(url(), {"ids": [d.pk for d in mine], "field": "stage",
                                                      "value": "negotiation"})
    assert response.status_code == 400
    assert "version is missing" in " ".join(response.context["form"].non_field_errors())
    assert set(Deal.objects.values_list("stage", flat=True)) == {"qualification"}


def test_bulk_owner_change_checks_the_versions_the_list_showed(deals, standard_user, other_user, client_for):
    mine, _ = deals
    shown = chosen(mine[:2])
    actions.do_update_record(mine[0], {"amount": "7"}, version=1, actor=standard_user)
    client = client_for(standard_user)
    response = client.post(reverse("crm:bulk_owner", args=["deals"]), {"owner": other_user.pk, "ids": shown},
                           follow=True)
    assert "“Mine 0”" in response.content.decode()
    assert set(Deal.objects.filter(pk__in=[d.pk for d in mine]).values_list("owner_id", flat=True)) == {
        standard_user.pk}
    missing = client.post(reverse("crm:bulk_owner", args=["deals"]),
                          {"owner": other_user.pk, "ids": [d.pk for d in mine[:2]]}, follow=True)
    assert "version is missing" in missing.content.decode()
    client.post(reverse("crm:bulk_owner", args=["deals"]), {"owner": other_user.pk, "ids": chosen(mine[:2])})
    assert set(Deal.objects.filter(pk__in=[d.pk for d in mine[:2]]).values_list("owner_id", flat=True)) == {
        other_user.pk}

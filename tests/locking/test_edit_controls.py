"""What locks do to the editing controls: the edit page's disabled fields (with the reason), the
record page's inline edit controls (none where a lock keeps the field, a lock with the reason
instead), refused inline saves, note editing under an "edit notes" restriction, and what the
pages cost. Each from both sides: the user the lock is for, and a user it exempts."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.actions import do_set_org_default
from crm import actions
from crm.models import Deal, Note, TimelineEntry
from locking import actions as locking
from locking import ui  # noqa: F401  (registers the record page providers, as locking's app does)
from teams.models import TeamRecord
from tests.factories import DealFactory
from tests.locking.conftest import WON
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


def detail_url(deal):
    return reverse("crm:detail", args=["deals", deal.pk])


def edit_url(deal):
    return reverse("crm:edit", args=["deals", deal.pk])


def field_url(deal, key, name="crm:field"):
    return reverse(name, args=["deals", deal.pk, key])


def disabled(page: str, name: str) -> bool:
    tag = re.search(rf'<(?:input|select|textarea) [^>]*name="{name}"[^>]*>', page)
    assert tag is not None, f"no field {name}"
    return " disabled" in tag.group(0)


def edit_controls(page: str) -> set[str]:
    return set(re.findall(r'data-inline-edit="([^"]+)"', page))


def lock_marks(page: str) -> dict[str, str]:
    """Field key -> the tooltip of its lock mark (fields a lock keeps read-only for the viewer)."""
    return {key: title for title, key in re.findall(
        r'title="([^"]+)" aria-label="[^"]+" data-field-locked="([^"]+)"', page)}


@pytest.fixture
def closed_deals(org, admin_user, enable, add_rule, sales_rep_profile):
    """Won or lost deals are locked for sales reps, except their close date; their discount is
    read-only for sales reps whatever the stage."""
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals")
    locking.do_save_field_lock(org, "deals", name="Discount", fields=["discount"], profiles=[sales_rep_profile.pk],
                               actor=admin_user)
    return add_rule("deals", "Closed deals", WON, locked_for="selected", profiles=[sales_rep_profile.pk],
                    restricted_actions=["edit", "bulk_edit", "import_update", "edit_note"],
                    editable_fields=["close_date"])


# --- the edit page ---------------------------------------------------------------------------------

def test_edit_page_disables_what_locks_keep_and_ignores_it_when_posted(closed_deals, rep, client_for):
    deal = DealFactory(actor=rep, stage="won", amount="50", discount="5")
    client = client_for(rep)
    page = text(client.get(edit_url(deal)))
    for name in ("name", "stage", "amount", "discount"):
        assert disabled(page, name), name
    assert not disabled(page, "close_date")
    assert 'data-read-only-reason="amount"' in page and "Locked by rule: Closed deals" in page
    assert 'data-read-only-reason="close_date"' not in page
    response = client.post(edit_url(deal), {"name": "Renamed", "stage": "proposal", "amount": "70", "discount": "9",
                                            "close_date": "2030-06-30", "version": deal.version})
    assert response.status_code == 302
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.name, stored.stage, str(stored.amount), str(stored.discount), str(stored.close_date)) == (
        deal.name, "won", "50.00", "5.00", "2030-06-30")
    assert not TimelineEntry.objects.filter(record_id=deal.pk, kind="refused").exists()


def test_edit_page_of_an_exempt_user_is_all_editable(closed_deals, rep, exempt, client_for):
    deal = DealFactory(actor=rep, stage="won", amount="50")
    client = client_for(exempt)
    page = text(client.get(edit_url(deal)))
    assert not any(disabled(page, name) for name in ("name", "stage", "amount", "discount", "close_date"))
    assert "data-read-only-reason" not in page
    response = client.post(edit_url(deal), {"name": deal.name, "stage": "won", "amount": "70", "discount": "9",
                                            "version": deal.version})
    assert response.status_code == 302
    stored = Deal.objects.get(pk=deal.pk)
    assert (str(stored.amount), str(stored.discount)) == ("70.00", "9.00")


def test_field_lock_alone_disables_its_field_on_an_open_deal(closed_deals, rep, client_for):
    deal = DealFactory(actor=rep, stage="proposal", discount="5")
    page = text(client_for(rep).get(edit_url(deal)))
    assert disabled(page, "discount") and not disabled(page, "amount")
    assert "Locked by field lock: Discount" in page and "Locked by rule" not in page


def test_a_fully_locked_record_has_its_edit_page_refused(org, admin_user, enable, add_rule, sales_rep_profile, rep,
                                                         exempt, client_for):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    enable("deals")
    add_rule("deals", "Closed deals", WON, locked_for="selected", profiles=[sales_rep_profile.pk])
    deal = DealFactory(actor=rep, stage="won", amount="50")
    response = client_for(rep).get(edit_url(deal))
    assert response.status_code == 403
    page = text(response)
    assert "Locked by rule “Closed deals”: you may not edit this record." in page
    assert all(disabled(page, name) for name in ("name", "stage", "amount", "close_date"))
    assert "<button class=\"btn btn-primary\">" not in page  # no working Save button
    response = client_for(rep).post(edit_url(deal), {"name": deal.name, "stage": "won", "amount": "70",
                                                     "version": deal.version})
    assert response.status_code == 400 and "Locked by rule “Closed deals”" in text(response)
    assert str(Deal.objects.get(pk=deal.pk).amount) == "50.00"
    assert TimelineEntry.objects.filter(record_id=deal.pk, kind="refused").exists()
    assert client_for(exempt).get(edit_url(deal)).status_code == 200


# --- the record page and inline edit ---------------------------------------------------------------

def test_record_page_offers_inline_edit_only_where_locks_allow(closed_deals, rep, exempt, client_for):
    deal = DealFactory(actor=rep, stage="won")
    page = text(client_for(rep).get(detail_url(deal)))
    assert edit_controls(page) == {"close_date"}
    marks = lock_marks(page)
    assert marks["amount"] == marks["stage"] == "Locked by rule: Closed deals"
    assert marks["discount"] == "Locked by rule: Closed deals"  # the rule is named first
    assert "owner" not in marks and "close_date" not in marks

    open_deal = DealFactory(actor=rep, stage="proposal")
    page = text(client_for(rep).get(detail_url(open_deal)))
    assert "discount" not in edit_controls(page) and {"amount", "stage", "close_date"} <= edit_controls(page)
    assert lock_marks(page) == {"discount": "Locked by field lock: Discount"}

    page = text(client_for(exempt).get(detail_url(deal)))
    assert {"name", "stage", "amount", "discount", "close_date"} <= edit_controls(page)
    assert lock_marks(page) == {}


def test_a_locked_field_saved_inline_is_refused_with_the_reason(closed_deals, rep, exempt, client_for):
    deal = DealFactory(actor=rep, stage="won", amount="50")
    client = client_for(rep)
    response = client.get(field_url(deal, "amount", "crm:field_edit"), **HTMX)
    assert response.status_code == 403
    assert "You may not change the field “Amount”. Locked by rule: Closed deals" in text(response)
    response = client.post(field_url(deal, "amount"), {"amount": "70", "version": deal.version}, **HTMX)
    assert response.status_code == 403
    assert ("“Amount” was not saved: Locked by rule “Closed deals”: you may not edit this record. "
            "You may still change: Close date.") in text(response)
    response = client.post(field_url(deal, "discount"), {"discount": "9", "version": deal.version}, **HTMX)
    assert response.status_code == 403 and "“Discount %” was not saved: Locked by rule" in text(response)
    stored = Deal.objects.get(pk=deal.pk)
    assert (str(stored.amount), stored.discount, stored.version) == ("50.00", None, deal.version)
    assert TimelineEntry.objects.filter(record_id=deal.pk, kind="refused", path="inline").count() == 2

    # The field the rule leaves editable is saved in place; an exempt user changes the rest.
    response = client.post(field_url(deal, "close_date"), {"close_date": "2030-06-30", "version": deal.version},
                           **HTMX)
    assert response.status_code == 200 and "data-inline-edit=\"close_date\"" in text(response)
    version = Deal.objects.get(pk=deal.pk).version
    response = client_for(exempt).post(field_url(deal, "amount"), {"amount": "70", "version": version}, **HTMX)
    assert response.status_code == 200
    assert str(Deal.objects.get(pk=deal.pk).amount) == "70.00"


def test_a_field_lock_refuses_inline_for_its_users_only(closed_deals, rep, exempt, client_for):
    deal = DealFactory(actor=rep, stage="proposal")
    response = client_for(rep).post(field_url(deal, "discount"), {"discount": "9", "version": deal.version}, **HTMX)
    assert response.status_code == 403
    assert ("“Discount %” was not saved: The field “Discount %” is locked by “Discount”: you may not change it."
            in text(response))
    assert Deal.objects.get(pk=deal.pk).discount is None
    response = client_for(exempt).post(field_url(deal, "discount"), {"discount": "9", "version": deal.version},
                                       **HTMX)
    assert response.status_code == 200 and str(Deal.objects.get(pk=deal.pk).discount) == "9.00"


def test_an_inline_save_that_locks_the_record_reloads_the_page(closed_deals, rep, client_for):
    deal = DealFactory(actor=rep, stage="proposal")
    response = client_for(rep).post(field_url(deal, "stage"), {"stage": "won", "version": deal.version}, **HTMX)
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    assert Deal.objects.get(pk=deal.pk).stage == "won"
    page = text(client_for(rep).get(detail_url(deal)))
    assert "Locked by rule: Closed deals" in page and edit_controls(page) == {"close_date"}


# --- notes -------------------------------------------------------------------------------------------

def test_edit_notes_restriction_blocks_the_author_it_is_for(closed_deals, rep, exempt, client_for):
    deal = DealFactory(actor=rep, stage="won")
    mine = actions.do_add_note(deal, "Rep's note", actor=rep)
    theirs = actions.do_add_note(deal, "Eddie's note", actor=exempt)
    page = text(client_for(rep).get(detail_url(deal)))
    assert 'data-blocked="edit_note"' in page and f'data-note-edit="{mine.pk}"' not in page
    assert "Locked by rule “Closed deals”: you may not edit the notes of this record." in page
    response = client_for(rep).post(reverse("crm:note_edit", args=["deals", deal.pk, mine.pk]), {"body": "Changed"},
                                    follow=True)
    assert "you may not edit the notes of this record" in text(response)
    assert Note.objects.get(pk=mine.pk).body == "Rep's note"

    page = text(client_for(exempt).get(detail_url(deal)))
    assert f'data-note-edit="{theirs.pk}"' in page and 'data-blocked="edit_note"' not in page
    client_for(exempt).post(reverse("crm:note_edit", args=["deals", deal.pk, theirs.pk]), {"body": "Changed"})
    assert Note.objects.get(pk=theirs.pk).body == "Changed"


# --- cost --------------------------------------------------------------------------------------------

def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_page_queries_do_not_grow_with_fields_or_field_locks(org, closed_deals, admin_user, rep, sales_rep_profile,
                                                             client_for):
    deal = DealFactory(actor=rep, stage="won")
    client = client_for(rep)
    urls = [detail_url(deal), edit_url(deal)]
    for url in urls:
        client.get(url)
    few = [_queries(client, url) for url in urls]
    keys = []
    for i in range(6):
        keys.append(actions.do_create_field(org, "deals", api_name=f"extra_{i}", label_en=f"Extra {i}",
                                            field_type="text", actor=admin_user).key)
    locking.do_save_field_lock(org, "deals", name="Extras", fields=keys[:3], profiles=[sales_rep_profile.pk],
                               actor=admin_user)
    deal = Deal.objects.get(pk=deal.pk)
    page = text(client.get(detail_url(deal)))
    assert set(keys) <= set(lock_marks(page))
    for url in urls:
        client.get(url)
    assert [_queries(client, url) for url in urls] == few


# --- team modules (demand C) ---------------------------------------------------------------------------

def test_inline_edit_of_a_team_record_until_its_approval_locks_it(orders, orders_schema, org, manager, member,
                                                                  enable, client_for):
    enable(orders.key, actor=manager)
    locking.do_create_lock_rule(org, orders.key, name="Approved orders", actor=manager,
                                criteria={"all": [{"field": "status", "op": "eq", "value": "approved"}]},
                                restricted_actions=["edit", "bulk_edit", "import_update"])
    order = actions.do_create_record(orders_schema, {"title": "PO-1", "quantity": 3}, actor=member)
    quantity = orders_schema.field("quantity").key  # a JSON-stored field: f_<id>
    url = reverse("crm:field", args=[orders.key, order.pk, quantity])
    detail = reverse("crm:detail", args=[orders.key, order.pk])
    client = client_for(member)
    assert quantity in edit_controls(text(client.get(detail)))
    response = client.post(url, {quantity: "4", "version": order.version}, **HTMX)
    assert response.status_code == 200 and f'data-field="{quantity}">4<button' in text(response)

    order = actions.do_update_record(order, {"status": "approved"}, version=version_of(order), actor=manager)
    page = text(client.get(detail))
    assert edit_controls(page) == set() and lock_marks(page)[quantity] == "Locked by rule: Approved orders"
    response = client.post(url, {quantity: "5", "version": order.version}, **HTMX)
    assert response.status_code == 403 and "“Quantity” was not saved: Locked by rule “Approved orders”" in text(
        response)
    assert TeamRecord.objects.get(pk=order.pk).data[quantity] == 4

"""Record pages as a person uses them: isolation, permissions, forms, budgets."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.actions import do_set_membership_active, do_set_org_default
from crm import actions
from crm.models import Account, Attachment, Deal, Note, TimelineEntry

pytestmark = pytest.mark.django_db


def make_records(owner, prefix="Acme"):
    account = actions.do_create_record("accounts", {"name": f"{prefix} Holdings", "phone": "+86 138 0013 8000"},
                                       actor=owner)
    contact = actions.do_create_record("contacts", {"last_name": f"{prefix} Person", "account": account.pk},
                                       actor=owner)
    lead = actions.do_create_record("leads", {"last_name": f"{prefix} Lead", "company": prefix}, actor=owner)
    deal = actions.do_create_record("deals", {"name": f"{prefix} Deal", "account": account.pk, "amount": "100"},
                                    actor=owner)
    task = actions.do_create_record("tasks", {"subject": f"{prefix} Task"}, actor=owner)
    note = actions.do_add_note(account, "hello", actor=owner)
    attachment = actions.do_add_attachment(account, SimpleUploadedFile("plan.txt", b"secret plan"), actor=owner)
    return {"accounts": account, "contacts": contact, "leads": lead, "deals": deal, "tasks": task,
            "note": note, "attachment": attachment}


def record_urls(records):
    account = records["accounts"]
    urls = []
    for module in ("accounts", "contacts", "leads", "deals", "tasks"):
        pk = records[module].pk
        for name in ("detail", "edit", "delete", "owner", "note_add", "attachment_add"):
            urls.append(reverse(f"crm:{name}", args=[module, pk]))
    urls += [
        reverse("crm:attachment_download", args=["accounts", account.pk, records["attachment"].pk]),
        reverse("crm:attachment_delete", args=["accounts", account.pk, records["attachment"].pk]),
        reverse("crm:note_delete", args=["accounts", account.pk, records["note"].pk]),
    ]
    return urls


def test_other_orgs_records_are_404_on_every_url(other_org_user, admin_user, client_for):
    theirs = make_records(other_org_user, prefix="Globex")
    client = client_for(admin_user)
    for url in record_urls(theirs):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"owner": admin_user.pk, "body": "x", "name": "taken"}).status_code == 404, url
    assert Account.objects.get(pk=theirs["accounts"].pk).name == "Globex Holdings"
    assert Note.objects.filter(pk=theirs["note"].pk).exists()
    assert Attachment.objects.filter(pk=theirs["attachment"].pk).exists()


def test_other_orgs_records_never_in_lists_filters_or_search(other_org_user, admin_user, client_for):
    make_records(other_org_user, prefix="Globex")
    make_records(admin_user, prefix="Acme")
    client = client_for(admin_user)
    for module in ("accounts", "contacts", "leads", "deals", "tasks"):
        for query in ("", "?q=Globex", "?q=8000", "?q=Holdings&sort=name"):
            body = client.get(reverse("crm:list", args=[module]) + query).content.decode()
            for name in ("Globex Holdings", "Globex Person", "Globex Lead", "Globex Deal", "Globex Task"):
                assert name not in body, (module, query)
    body = client.get(reverse("crm:list", args=["accounts"]) + "?q=8000").content.decode()
    assert "Acme Holdings" in body


def test_same_org_user_without_access_gets_404(admin_user, standard_user, other_user, client_for):
    do_set_org_default(admin_user.org, "deals", "private", actor=admin_user)
    deal = actions.do_create_record("deals", {"name": "Private deal"}, actor=other_user)
    client = client_for(standard_user)
    assert client.get(reverse("crm:detail", args=["deals", deal.pk])).status_code == 404
    assert client.post(reverse("crm:edit", args=["deals", deal.pk]), {"name": "mine"}).status_code == 404
    assert "Private deal" not in client.get(reverse("crm:list", args=["deals"])).content.decode()
    assert client_for(other_user).get(reverse("crm:detail", args=["deals", deal.pk])).status_code == 200


def test_public_read_only_shows_but_refuses_edit(admin_user, standard_user, other_user, client_for):
    do_set_org_default(admin_user.org, "accounts", "public_read", actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Shared"}, actor=other_user)
    client = client_for(standard_user)
    page = client.get(reverse("crm:detail", args=["accounts", account.pk]))
    assert page.status_code == 200
    assert reverse("crm:edit", args=["accounts", account.pk]) not in page.content.decode()
    assert client.get(reverse("crm:edit", args=["accounts", account.pk])).status_code == 403
    assert client.post(reverse("crm:edit", args=["accounts", account.pk]),
                       {"name": "Hijacked", "version": 1}).status_code == 403
    assert Account.objects.get(pk=account.pk).name == "Shared"


def test_create_with_bad_input_names_each_field_and_saves_nothing(standard_user, client_for):
    client = client_for(standard_user)
    response = client.post(reverse("crm:create", args=["deals"]), {
        "name": "Broken", "stage": "nonsense", "amount": "lots", "discount": "150", "close_date": "31/31/2026",
    })
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) >= {"stage", "amount", "discount", "close_date"}
    assert not Deal.objects.filter(name="Broken").exists()
    assert not TimelineEntry.objects.filter(kind="created", org=standard_user.org).exists()


def test_required_field_missing_is_named(standard_user, client_for):
    response = client_for(standard_user).post(reverse("crm:create", args=["accounts"]), {"name": ""})
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert not Account.objects.filter(org=standard_user.org).exists()


def test_stale_edit_is_refused_with_who_and_when(standard_user, other_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Original"}, actor=standard_user)
    actions.do_update_record(account, {"name": "Theirs"}, version=1, actor=other_user)
    response = client_for(standard_user).post(reverse("crm:edit", args=["accounts", account.pk]),
                                              {"name": "Mine", "version": 1})
    assert response.status_code == 400
    message = " ".join(response.context["form"].non_field_errors())
    assert str(other_user) in message
    assert Account.objects.get(pk=account.pk).name == "Theirs"


def test_edit_writes_timeline_shown_on_the_page(standard_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Before", "employees": "10"}, actor=standard_user)
    client = client_for(standard_user)
    response = client.post(reverse("crm:edit", args=["accounts", account.pk]),
                           {"name": "After", "employees": "12", "version": 1})
    assert response.status_code == 302
    page = client.get(reverse("crm:detail", args=["accounts", account.pk])).content.decode()
    assert "<del>Before</del> → After" in page
    assert "<del>10</del> → 12" in page


def test_custom_field_appears_in_form_list_and_filter(admin_user, client_for):
    definition = actions.do_create_field(admin_user.org, "accounts", api_name="tier", label_en="Customer tier",
                                         field_type="picklist", options=[{"value": "gold"}, {"value": "silver"}],
                                         actor=admin_user)
    client = client_for(admin_user)
    form_page = client.get(reverse("crm:create", args=["accounts"])).content.decode()
    assert "Customer tier" in form_page
    assert client.post(reverse("crm:create", args=["accounts"]), {"name": "Gold Co", definition.key: "gold"}).status_code == 302
    assert client.post(reverse("crm:create", args=["accounts"]), {"name": "Silver Co", definition.key: "silver"}).status_code == 302
    listing = client.get(reverse("crm:list", args=["accounts"]) + f"?{definition.key}=gold&columns=name&columns={definition.key}")
    body = listing.content.decode()
    assert "Gold Co" in body and "Silver Co" not in body
    assert "Customer tier" in body


def test_a_fields_help_text_is_shown_as_text_never_as_markup(admin_user, standard_user, client_for):
    actions.do_create_field(admin_user.org, "accounts", api_name="tier", label_en="Tier", field_type="text",
                            help_text="<script>alert('x')</script> Gold or <b>silver</b>", actor=admin_user)
    page = client_for(standard_user).get(reverse("crm:create", args=["accounts"])).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Gold or &lt;b&gt;silver&lt;/b&gt;" in page
    assert "<script>alert(" not in page and "<b>silver</b>" not in page


def test_retired_field_is_hidden_and_data_kept(admin_user, client_for):
    definition = actions.do_create_field(admin_user.org, "accounts", api_name="score", label_en="Loyalty points",
                                         field_type="integer", actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Scored", "score": "7"}, actor=admin_user)
    actions.do_set_field_retired(definition, True, actor=admin_user)
    client = client_for(admin_user)
    assert "Loyalty points" not in client.get(reverse("crm:detail", args=["accounts", account.pk])).content.decode()
    assert Account.objects.get(pk=account.pk).custom[definition.key] == 7


def test_field_settings_are_admin_only(admin_user, standard_user, client_for):
    url = reverse("crm:settings_field_new", args=["accounts"])
    assert client_for(standard_user).post(url, {"label_en": "X", "api_name": "x", "field_type": "text"}).status_code == 404
    response = client_for(admin_user).post(url, {"label_en": "Region", "api_name": "region", "field_type": "text"})
    assert response.status_code == 302
    bad = client_for(admin_user).post(url, {"label_en": "Bad", "api_name": "9bad", "field_type": "text"})
    assert bad.status_code == 400 and "api_name" in bad.context["form"].errors


def test_attachment_download_checks_access(admin_user, standard_user, other_user, client_for):
    do_set_org_default(admin_user.org, "accounts", "private", actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Files"}, actor=other_user)
    attachment = actions.do_add_attachment(account, SimpleUploadedFile("a.txt", b"contents"), actor=other_user)
    url = reverse("crm:attachment_download", args=["accounts", account.pk, attachment.pk])
    response = client_for(other_user).get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"contents"
    assert client_for(standard_user).get(url).status_code == 404


def test_bulk_owner_change_from_the_list(admin_user, standard_user, client_for):
    accounts = [actions.do_create_record("accounts", {"name": f"A{i}"}, actor=admin_user) for i in range(3)]
    response = client_for(admin_user).post(reverse("crm:bulk_owner", args=["accounts"]),
                                           {"ids": [f"{a.pk}:{a.version}" for a in accounts],
                                            "owner": standard_user.pk})
    assert response.status_code == 302
    assert set(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("owner", flat=True)) == {
        standard_user.pk}
    assert TimelineEntry.objects.filter(kind="owner_changed", record_id__in=[a.pk for a in accounts]).count() == 3


def test_delete_and_restore_from_recycle_bin(admin_user, standard_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Binned"}, actor=standard_user)
    client = client_for(standard_user)
    assert client.post(reverse("crm:delete", args=["accounts", account.pk]),
                       {"version": account.version}).status_code == 302
    assert client.get(reverse("crm:detail", args=["accounts", account.pk])).status_code == 404
    assert client.get(reverse("crm:recycle_bin")).status_code == 404
    admin = client_for(admin_user)
    assert "Binned" in admin.get(reverse("crm:recycle_bin")).content.decode()
    admin.post(reverse("crm:recycle_bin"), {"module": "accounts", "pk": account.pk})
    assert client.get(reverse("crm:detail", args=["accounts", account.pk])).status_code == 200


def test_deactivated_user_session_ends_at_once(admin_user, standard_user, client_for):
    client = client_for(standard_user)
    assert client.get(reverse("crm:list", args=["accounts"])).status_code == 200
    do_set_membership_active(standard_user.membership, False, actor=admin_user)
    response = client.get(reverse("crm:list", args=["accounts"]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert client.get(reverse("crm:list", args=["accounts"])).status_code == 302


def test_task_created_from_a_record_is_linked(standard_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Linked"}, actor=standard_user)
    client = client_for(standard_user)
    url = reverse("crm:create", args=["tasks"]) + f"?related_module=accounts&related_pk={account.pk}"
    assert client.post(url, {"subject": "Call them", "status": "not_started"}).status_code == 302
    assert "Call them" in client.get(reverse("crm:detail", args=["accounts", account.pk])).content.decode()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("module", ["accounts", "contacts", "deals", "tasks"])
def test_list_and_detail_query_counts_do_not_grow_with_rows(module, admin_user, standard_user, client_for):
    actions.do_create_field(admin_user.org, module, api_name="owner2", label_en="Second owner", field_type="user",
                            actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Parent"}, actor=standard_user)

    def add(count):
        for i in range(count):
            data = {"accounts": {"name": f"Acc {i}"}, "contacts": {"last_name": f"C {i}", "account": account.pk},
                    "deals": {"name": f"D {i}", "account": account.pk, "close_date": dt.date(2026, 1, 1)},
                    "tasks": {"subject": f"T {i}", "assignee": standard_user.pk}}[module]
            data["owner2"] = standard_user.pk
            record = actions.do_create_record(module, data, actor=standard_user)
            actions.do_add_note(record, f"note {i}", actor=standard_user)
        return record

    client = client_for(standard_user)
    columns = "&".join(f"columns={key}" for key in ("owner", "owner2", "account", "assignee"))
    list_url = reverse("crm:list", args=[module]) + "?per_page=100&" + columns
    record = add(10)
    for url in (list_url, reverse("crm:detail", args=[module, record.pk])):
        client.get(url)  # per-process caches (content types, permission ids) are filled once, not per row
    small_list = _queries(client, list_url)
    small_detail = _queries(client, reverse("crm:detail", args=[module, record.pk]))
    record = add(90)
    for _ in range(5):
        actions.do_add_note(record, "more", actor=standard_user)
    assert _queries(client, list_url) == small_list
    assert _queries(client, reverse("crm:detail", args=[module, record.pk])) == small_detail
    assert small_list <= 20

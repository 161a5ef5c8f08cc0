"""File fields on org modules: a "Contract" file field on deals, uploaded on the record form,
downloaded only through the access-checked view, replaced and cleared through the record actions
(so locks, field permissions and the timeline apply), with clear errors for bad uploads."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access.actions import do_set_org_default
from access.models import Profile
from access.sharing_actions import do_clone_profile, do_set_profile_field_levels, do_set_user_profile
from crm import actions
from crm.criteria import to_predicate, to_q
from crm.models import Attachment, Deal, TimelineEntry
from crm.modules import get_module, org_modules
from locking import actions as locking
from tests.helpers import version_of
from tests.locking.conftest import rebind

pytestmark = pytest.mark.django_db


def upload(name: str = "contract.pdf", content: bytes = b"%PDF signed") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "application/pdf")


@pytest.fixture
def contract(org, admin_user):
    """The "Contract" file field of deals; deals are readable by everyone in the org."""
    do_set_org_default(org, "deals", "public_read", actor=admin_user)
    return actions.do_create_field(org, "deals", api_name="contract", label_en="Contract", label_zh="合同",
                                   field_type="file", in_list=True, actor=admin_user)


@pytest.fixture
def deal(contract, standard_user):
    return actions.do_create_record("deals", {"name": "Northwind", "contract": upload()}, actor=standard_user)


def fresh(record) -> Deal:
    return Deal.objects.get(pk=record.pk)


def download_url(record, key: str) -> str:
    return reverse("crm:field_file", args=["deals", record.pk, key])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def form_data(record, **values) -> dict:
    return {"name": record.name, "stage": record.stage, "version": version_of(record), **values}


def field_entries(record, key: str) -> list[tuple[str, list]]:
    entries = TimelineEntry.objects.filter(record_id=record.pk, kind__in=("created", "updated")).order_by("pk")
    return [(entry.kind, entry.changes[key]) for entry in entries if key in entry.changes]


def test_owner_uploads_replaces_and_clears_on_the_record_form(contract, standard_user, client_for):
    client = client_for(standard_user)
    key = contract.key
    created = client.post(reverse("crm:create", args=["deals"]),
                          {"name": "Northwind", "stage": "qualification", key: upload("v1.pdf", b"first"),
                           **_token(client)})
    assert created.status_code == 302
    deal = Deal.objects.get(name="Northwind")
    stored = deal.custom[key]
    assert stored["name"] == "v1.pdf" and stored["size"] == 5
    row = Attachment.objects.get(pk=stored["id"])
    assert row.field_key == key and row.record_id == deal.pk and row.org_id == deal.org_id

    # Downloaded as an attachment, never from the media URL; not listed among the record's attachments.
    response = client.get(download_url(deal, key))
    assert response.status_code == 200 and body(response) == b"first"
    assert response["Content-Disposition"].startswith("attachment") and "v1.pdf" in response["Content-Disposition"]
    page = client.get(reverse("crm:detail", args=["deals", deal.pk]))
    assert download_url(deal, key) in page.content.decode()
    assert list(page.context["attachments"]) == []
    assert client.get(reverse("crm:attachment_download", args=["deals", deal.pk, row.pk])).status_code == 404

    # The edit form shows the file and replaces it.
    edit = client.get(reverse("crm:edit", args=["deals", deal.pk])).content.decode()
    assert "v1.pdf" in edit and 'enctype="multipart/form-data"' in edit
    replaced = client.post(reverse("crm:edit", args=["deals", deal.pk]), form_data(deal, **{key: upload("v2.pdf", b"second")}))
    assert replaced.status_code == 302
    assert fresh(deal).custom[key]["name"] == "v2.pdf"
    assert body(client.get(download_url(deal, key))) == b"second"
    assert not Attachment.objects.filter(pk=row.pk).exists()  # the replaced file went with the write

    # Saving the form without a new file keeps it.
    assert client.post(reverse("crm:edit", args=["deals", deal.pk]), form_data(deal, name="Northwind Ltd")).status_code == 302
    assert fresh(deal).custom[key]["name"] == "v2.pdf"

    # Clearing removes it.
    assert client.post(reverse("crm:edit", args=["deals", deal.pk]),
                       form_data(deal, **{f"{key}-clear": "on"})).status_code == 302
    assert key not in fresh(deal).custom
    assert not Attachment.objects.filter(record_id=deal.pk, field_key=key).exists()
    assert client.get(download_url(deal, key)).status_code == 404

    # Each upload, replacement and clear is on the timeline, by name.
    history = field_entries(deal, key)
    assert [kind for kind, _change in history] == ["created", "updated", "updated"]
    assert history[0][1][1]["name"] == "v1.pdf"
    assert (history[1][1][0]["name"], history[1][1][1]["name"]) == ("v1.pdf", "v2.pdf")
    assert history[2][1][0]["name"] == "v2.pdf" and history[2][1][1] is None
    timeline = client.get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    assert "v1.pdf" in timeline and "v2.pdf" in timeline


def _token(client) -> dict:
    """The one-time token of a new record's form, as the page gives it."""
    page = client.get(reverse("crm:create", args=["deals"]))
    return {"form_token": page.context["form"]["form_token"].value()}


def test_replaced_file_bytes_are_removed_once_committed(deal, contract, standard_user, django_capture_on_commit_callbacks):
    old = Attachment.objects.get(pk=deal.custom[contract.key]["id"])
    storage, name = old.file.storage, old.file.name
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_update_record(deal, {"contract": upload("v2.pdf")}, version=version_of(deal), actor=standard_user)
    assert not storage.exists(name)


def test_a_viewer_downloads_but_cannot_replace_or_clear(deal, contract, other_user, client_for):
    client = client_for(other_user)  # deals are public read only: Olga sees Sam's deal
    assert body(client.get(download_url(deal, contract.key))) == b"%PDF signed"
    assert client.get(reverse("crm:edit", args=["deals", deal.pk])).status_code == 403
    response = client.post(reverse("crm:edit", args=["deals", deal.pk]),
                           form_data(deal, **{contract.key: upload("mine.pdf", b"mine")}))
    assert response.status_code in (400, 403)
    for value in (upload("mine.pdf"), None):
        with pytest.raises(PermissionDenied):
            actions.do_update_record(deal, {"contract": value}, version=version_of(deal), actor=other_user)
    assert fresh(deal).custom[contract.key]["name"] == "contract.pdf"
    assert Attachment.objects.filter(record_id=deal.pk).count() == 1


def test_a_locked_record_refuses_replace_and_clear(org, deal, contract, standard_user, admin_user, client_for):
    locking.do_save_lock_config(org, "deals", enabled=True, manual_enabled=True, restricted_actions=["edit"],
                                actor=admin_user)
    locking.do_lock_record(deal, "Under audit", actor=admin_user)
    for value in (upload("v2.pdf"), None):
        with pytest.raises(PermissionDenied) as refused:
            actions.do_update_record(fresh(deal), {"contract": value}, version=version_of(deal), actor=standard_user)
        assert "Under audit" in str(refused.value) or "lock" in str(refused.value).lower()
    assert fresh(deal).custom[contract.key]["name"] == "contract.pdf"
    assert Attachment.objects.filter(record_id=deal.pk).count() == 1
    assert TimelineEntry.objects.filter(record_id=deal.pk, kind="refused").count() == 2
    # Still downloadable: a lock stops changes, not reading.
    assert client_for(standard_user).get(download_url(deal, contract.key)).status_code == 200
    # Unlocked, the owner may replace it.
    locking.do_unlock_record(fresh(deal), actor=admin_user)
    actions.do_update_record(fresh(deal), {"contract": upload("v2.pdf")}, version=version_of(deal), actor=standard_user)
    assert fresh(deal).custom[contract.key]["name"] == "v2.pdf"


def limit_field(org, admin_user, user, key: str, level: str):
    profile = do_clone_profile(Profile.objects.get(org=org, name="Standard"), f"No {level}", actor=admin_user)
    keys = [f.key for f in get_module("deals", org).bind(org).fields]
    do_set_profile_field_levels(profile, "deals", {key: level}, actor=admin_user,
                                known_modules=[m.key for m in org_modules()], known_field_keys=keys)
    do_set_user_profile(user.membership, profile, actor=admin_user)
    return rebind(user)


def test_a_hidden_file_field_is_not_downloadable(org, deal, contract, admin_user, other_user, client_for):
    url = download_url(deal, contract.key)
    assert client_for(other_user).get(url).status_code == 200
    hidden = limit_field(org, admin_user, other_user, contract.key, "hidden")
    client = client_for(hidden)
    assert client.get(url).status_code == 404
    page = client.get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    assert url not in page and "contract.pdf" not in page


def test_a_read_only_file_field_is_downloaded_but_not_changed(org, deal, contract, admin_user, standard_user,
                                                               client_for):
    owner = limit_field(org, admin_user, standard_user, contract.key, "read_only")
    client = client_for(owner)
    assert client.get(download_url(deal, contract.key)).status_code == 200
    form = client.get(reverse("crm:edit", args=["deals", deal.pk])).context["form"]
    assert form.fields[contract.key].disabled
    with pytest.raises(PermissionDenied):
        actions.do_update_record(deal, {"contract": upload("v2.pdf")}, version=version_of(deal), actor=owner)
    # A file posted anyway for a disabled field is ignored; the rest is saved.
    client.post(reverse("crm:edit", args=["deals", deal.pk]),
                form_data(deal, name="Renamed", **{contract.key: upload("v2.pdf")}))
    assert fresh(deal).name == "Renamed" and fresh(deal).custom[contract.key]["name"] == "contract.pdf"


def test_another_org_always_gets_404(deal, contract, other_org_user, client_for):
    client = client_for(other_org_user)
    assert client.get(download_url(deal, contract.key)).status_code == 404
    assert client.get(reverse("crm:field_file", args=["deals", deal.pk, "f_999999"])).status_code == 404


def test_only_file_fields_are_downloaded(deal, contract, standard_user, client_for):
    client = client_for(standard_user)
    assert client.get(download_url(deal, "name")).status_code == 404
    assert client.get(download_url(deal, "not_a_field")).status_code == 404
    empty = actions.do_create_record("deals", {"name": "No contract"}, actor=standard_user)
    assert client.get(download_url(empty, contract.key)).status_code == 404


def test_bad_uploads_are_refused_by_name_and_write_nothing(deal, contract, standard_user, client_for, settings):
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    client = client_for(standard_user)
    url = reverse("crm:edit", args=["deals", deal.pk])
    before = (fresh(deal).version, Attachment.objects.count(), TimelineEntry.objects.count())
    cases = {
        "big.pdf": (b"x" * (1024 * 1024 + 1), "larger than 1 MB"),
        "empty.pdf": (b"", "empty"),
    }
    for name, (content, reason) in cases.items():
        response = client.post(url, form_data(deal, **{contract.key: SimpleUploadedFile(name, content)}))
        assert response.status_code == 400
        assert reason in " ".join(response.context["form"].errors[contract.key])
        with pytest.raises(actions.RecordValidationError) as refused:
            actions.do_update_record(deal, {"contract": SimpleUploadedFile(name, content)},
                                     version=version_of(deal), actor=standard_user)
        assert reason in " ".join(refused.value.message_dict[contract.key])
    # A file field takes only uploads: not text, not another file's id or value.
    other = actions.do_create_record("deals", {"name": "Other", "contract": upload("other.pdf")}, actor=standard_user)
    before = (fresh(deal).version, Attachment.objects.count(), TimelineEntry.objects.count())
    for value in ("contract.pdf", other.custom[contract.key], other.custom[contract.key]["id"]):
        with pytest.raises(actions.RecordValidationError) as refused:
            actions.do_update_record(deal, {"contract": value}, version=version_of(deal), actor=standard_user)
        assert contract.key in refused.value.message_dict
    assert (fresh(deal).version, Attachment.objects.count(), TimelineEntry.objects.count()) == before


def test_a_file_field_has_no_default_and_is_never_unique(org, admin_user):
    for settings_ in ({"default": "x.pdf"}, {"unique": True}):
        with pytest.raises(actions.RecordValidationError):
            actions.do_create_field(org, "deals", api_name="proof", label_en="Proof", field_type="file",
                                    actor=admin_user, **settings_)


def test_is_empty_criteria_and_list_pages(deal, contract, standard_user, client_for, org):
    schema = get_module("deals", org).bind(org)
    empty = actions.do_create_record("deals", {"name": "No contract"}, actor=standard_user)
    has = {"all": [{"field": contract.key, "op": "is_not_empty", "value": None}]}
    lacks = {"all": [{"field": contract.key, "op": "is_empty", "value": None}]}
    assert list(Deal.objects.filter(to_q(has, schema)).values_list("pk", flat=True)) == [deal.pk]
    assert list(Deal.objects.filter(to_q(lacks, schema)).values_list("pk", flat=True)) == [empty.pk]
    assert to_predicate(has, schema)(fresh(deal)) and not to_predicate(has, schema)(empty)
    page = client_for(standard_user).get(reverse("crm:list", args=["deals"]))
    assert page.status_code == 200 and "contract.pdf" in page.content.decode()


def test_bulk_edit_and_inline_edit_do_not_offer_file_fields(deal, contract, standard_user, client_for):
    client = client_for(standard_user)
    page = client.get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    assert f'data-inline-edit="{contract.key}"' not in page
    bulk = client.get(reverse("crm:bulk_edit", args=["deals"]), {"ids": [f"{deal.pk}:{deal.version}"]})
    assert contract.key not in dict(bulk.context["form"].fields["field"].choices)

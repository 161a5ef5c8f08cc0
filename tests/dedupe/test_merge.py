"""Merging duplicates: what moves to the survivor, the recycle bin, permissions both sides,
locks, other organisations, and bad input."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import pytest
from access.share_actions import do_share_record
from access.shares import record_shares
from crm import actions as crm
from crm.models import Account, Attachment, Contact, Deal, Lead, Note, RecordLink, Task, TimelineEntry
from dedupe.actions import do_merge_records
from teams.models import TeamRecord
from tests.factories import AccountFactory, ContactFactory, DealFactory, LeadFactory, TaskFactory
from tests.helpers import version_of


def _on(record):
    return {"org_id": record.org_id, "record_type": ContentType.objects.get_for_model(record), "record_id": record.pk}


def test_merge_moves_everything_to_the_survivor(admin_user, other_user, manager, case_studies, client_for):
    org = admin_user.org
    keep = AccountFactory(actor=admin_user, name="Acme", city="Beijing")
    dup = AccountFactory(actor=admin_user, name="ACME ", phone="+86 138 0013 8000", city="Shanghai")
    crm.do_add_note(dup, "Met at the fair", actor=admin_user)
    crm.do_add_attachment(dup, SimpleUploadedFile("brief.txt", b"hello"), actor=admin_user)
    task = TaskFactory(actor=admin_user, subject="Call back")
    crm.do_link_task(task, dup, actor=admin_user)
    contact = ContactFactory(actor=admin_user, last_name="Li", account=dup)
    deal = DealFactory(actor=admin_user, name="Big deal", account=dup)
    partner = crm.do_create_field(org, "contacts", api_name="partner", label_en="Partner", field_type="lookup",
                                  target="accounts", actor=admin_user)
    partnered = ContactFactory(actor=admin_user, last_name="Wu", partner=dup)
    study = crm.do_create_record(case_studies.key, {"title": "Acme story", "customer": dup.pk}, actor=manager)
    do_share_record(org, "accounts", dup, user=other_user, access="read", actor=admin_user)
    history = TimelineEntry.objects.filter(**_on(dup)).count()

    client = client_for(admin_user)
    page = client.get(reverse("dedupe:merge", args=["accounts"]), {"ids": [keep.pk, dup.pk]})
    assert page.status_code == 200 and 'name="field_phone"' in page.content.decode()
    response = client.post(reverse("dedupe:merge", args=["accounts"]), {
        "ids": [keep.pk, dup.pk], "master": keep.pk, "field_phone": dup.pk, "field_city": keep.pk,
        "field_name": keep.pk, f"version_{keep.pk}": version_of(keep), f"version_{dup.pk}": version_of(dup)})
    assert response.status_code == 302, response.content.decode()[:3000]

    keep.refresh_from_db()
    dup.refresh_from_db()
    assert (keep.name, keep.phone, keep.city) == ("Acme", "+8613800138000", "Beijing")
    assert dup.deleted_at is not None
    assert Note.objects.filter(**_on(keep), body="Met at the fair").exists()
    assert Attachment.objects.filter(**_on(keep), name="brief.txt").exists()
    assert Task.objects.get(pk=task.pk).related_id == keep.pk
    assert Contact.objects.get(pk=contact.pk).account_id == keep.pk
    assert Deal.objects.get(pk=deal.pk).account_id == keep.pk
    assert Contact.objects.get(pk=partnered.pk).custom[partner.key] == keep.pk
    customer = crm.bound_schema(case_studies.key, org).field("customer")
    assert customer.get_value(TeamRecord.objects.get(pk=study.pk)) == keep.pk
    links = RecordLink.objects.filter(org=org, target_type=ContentType.objects.get_for_model(Account))
    assert set(links.filter(source_id__in=[partnered.pk, study.pk]).values_list("target_id", flat=True)) == {keep.pk}
    assert [share.user.pk for share in record_shares(keep)] == [other_user.pk]
    # The other record's history is the survivor's now; the survivor says what was merged.
    kinds = list(TimelineEntry.objects.filter(**_on(keep)).values_list("kind", flat=True))
    assert kinds.count("created") == 2 and "merged" in kinds
    assert TimelineEntry.objects.filter(**_on(keep)).count() >= history + 3
    merged = TimelineEntry.objects.get(**_on(keep), kind="merged")
    assert f"#{dup.pk}" in merged.changes["merged"][1] and merged.path == "merge"
    assert TimelineEntry.objects.filter(**_on(contact), kind="updated", path="merge").exists()
    assert set(TimelineEntry.objects.filter(**_on(dup)).values_list("kind", flat=True)) == {"merged_into", "deleted"}
    detail = client.get(reverse("crm:detail", args=["accounts", keep.pk])).content.decode()
    assert "Merged" in detail

    crm.do_restore_record(dup, actor=admin_user)  # from the recycle bin, as any deleted record
    dup.refresh_from_db()
    assert dup.deleted_at is None and dup.name == "ACME"


def test_team_records_merge_too(manager, case_studies):
    keep = crm.do_create_record(case_studies.key, {"title": "Acme story"}, actor=manager)
    dup = crm.do_create_record(case_studies.key, {"title": "ACME  story"}, actor=manager)
    crm.do_add_note(dup, "Draft sent", actor=manager)
    do_merge_records(keep, [dup], {}, actor=manager)
    assert Note.objects.filter(**_on(keep), body="Draft sent").exists()
    assert TeamRecord.objects.get(pk=dup.pk).deleted_at is not None


def test_a_unique_value_moves_to_the_survivor(admin_user):
    code = crm.do_create_field(admin_user.org, "accounts", api_name="code", label_en="Code", field_type="text",
                               unique=True, actor=admin_user)
    keep = AccountFactory(actor=admin_user, name="Acme")
    dup = AccountFactory(actor=admin_user, name="Acme", code="AC-1")
    kept = do_merge_records(keep, [dup], {code.key: dup.pk}, actor=admin_user)
    assert Account.objects.get(pk=kept.pk).custom[code.key] == "AC-1"


def test_a_chosen_file_is_copied_to_the_survivor(admin_user):
    brief = crm.do_create_field(admin_user.org, "accounts", api_name="brief", label_en="Brief", field_type="file",
                                actor=admin_user)
    keep = AccountFactory(actor=admin_user, name="Acme")
    dup = AccountFactory(actor=admin_user, name="Acme", brief=SimpleUploadedFile("brief.pdf", b"%PDF-1 brief"))
    kept = do_merge_records(keep, [dup], {brief.key: dup.pk}, actor=admin_user)
    value = brief.spec().get_value(Account.objects.get(pk=kept.pk))
    copy = Attachment.objects.get(pk=value.id)
    assert (copy.record_id, copy.field_key, copy.name) == (keep.pk, brief.key, "brief.pdf")
    assert copy.file.read() == b"%PDF-1 brief"
    original = brief.spec().get_value(Account.objects.get(pk=dup.pk))
    assert original.id != value.id and Attachment.objects.get(pk=original.id).record_id == dup.pk


def test_merge_needs_edit_on_the_survivor_and_delete_on_the_others(standard_user, other_user, client_for):
    own = LeadFactory(actor=standard_user, last_name="Zhang", company="Acme")
    own_too = LeadFactory(actor=standard_user, last_name="Zhang", company="ACME")
    theirs = LeadFactory(actor=other_user, last_name="Zhang", company="Acme")
    do_share_record(standard_user.org, "leads", theirs, user=standard_user, access="read_write", actor=other_user)
    url = reverse("dedupe:merge", args=["leads"])
    client = client_for(standard_user)

    # Sam may edit Olga's lead (shared read/write) but not delete it: it cannot be merged away.
    response = client.post(url, {"ids": [own.pk, theirs.pk], "master": own.pk})
    assert response.status_code == 403
    assert "permission" in response.content.decode()
    assert Lead.objects.get(pk=theirs.pk).deleted_at is None
    # ... but it can be the one kept, and his own leads can go.
    assert client.post(url, {"ids": [theirs.pk, own.pk], "master": theirs.pk}).status_code == 302
    assert Lead.objects.get(pk=own.pk).deleted_at is not None
    with pytest.raises(PermissionDenied):
        do_merge_records(own_too, [theirs], {}, actor=standard_user)
    do_merge_records(theirs, [own_too], {"company": own_too.pk}, actor=standard_user)
    assert Lead.objects.get(pk=theirs.pk).company == "ACME"


def test_a_locked_record_refuses_with_the_reason_and_nothing_is_written(admin_user, standard_user, enable, client_for):
    from locking import actions as locking

    enable("leads", manual_enabled=True)
    keep = LeadFactory(actor=standard_user, last_name="Zhang", company="Acme")
    dup = LeadFactory(actor=standard_user, last_name="Zhang", company="Acme", phone="13800138000")
    crm.do_add_note(dup, "Keep me here", actor=standard_user)
    locking.do_lock_record(dup, "Under audit", actor=admin_user)
    response = client_for(standard_user).post(reverse("dedupe:merge", args=["leads"]), {
        "ids": [keep.pk, dup.pk], "master": keep.pk, "field_phone": dup.pk})
    assert response.status_code == 403
    assert "Under audit" in response.content.decode()
    keep.refresh_from_db()
    dup.refresh_from_db()
    assert keep.phone == "" and dup.deleted_at is None
    assert Note.objects.filter(**_on(dup)).count() == 1
    assert not TimelineEntry.objects.filter(**_on(keep), kind="merged").exists()
    # A locked survivor refuses the values it would take, with the lock's reason.
    locking.do_unlock_record(dup, actor=admin_user)
    locking.do_lock_record(keep, "Frozen for the audit", actor=admin_user)
    with pytest.raises(PermissionDenied, match="Frozen for the audit"):
        do_merge_records(keep, [dup], {"phone": dup.pk}, actor=standard_user)
    keep.refresh_from_db()
    assert keep.phone == "" and Note.objects.filter(**_on(dup)).count() == 1


def test_another_organisation_cannot_reach_the_pages_or_merge(admin_user, other_org_user, client_for):
    keep = AccountFactory(actor=admin_user, name="Acme")
    dup = AccountFactory(actor=admin_user, name="Acme")
    client = client_for(other_org_user)
    url = reverse("dedupe:merge", args=["accounts"])
    assert client.get(url, {"ids": [keep.pk, dup.pk]}).status_code == 404
    assert client.post(url, {"ids": [keep.pk, dup.pk], "master": keep.pk}).status_code == 404
    found = client.get(reverse("dedupe:find", args=["accounts"]), {"fields": "name"})
    assert found.status_code == 200 and f'value="{keep.pk}"' not in found.content.decode()
    with pytest.raises(PermissionDenied):
        do_merge_records(keep, [dup], {}, actor=other_org_user)
    assert Account.objects.filter(pk__in=[keep.pk, dup.pk], deleted_at__isnull=True).count() == 2


def test_bad_input_is_answered_clearly(admin_user, client_for):
    keep = AccountFactory(actor=admin_user, name="Acme")
    dup = AccountFactory(actor=admin_user, name="Acme", phone="123456")
    client = client_for(admin_user)
    url = reverse("dedupe:merge", args=["accounts"])
    assert client.get(url, {"ids": [keep.pk, 10**12]}).status_code == 404
    assert client.get(url, {"ids": ["abc", keep.pk]}).status_code == 400
    twice = client.get(url, {"ids": [keep.pk, keep.pk]})
    assert twice.status_code == 400 and "named twice" in twice.content.decode()
    assert "at least two" in client.get(url, {"ids": [keep.pk]}).content.decode()
    base = {"ids": [keep.pk, dup.pk], "master": keep.pk}
    for tampered, message in ((("field_nope", keep.pk), "Unknown field"), (("field_phone", 999), "Choose one of"),
                              (("field_phone", "x"), "Choose one of")):
        response = client.post(url, {**base, tampered[0]: tampered[1]})
        assert response.status_code == 400 and message in response.content.decode(), tampered
    stranger = client.post(url, {**base, "master": 999})
    assert stranger.status_code == 400
    stale = client.post(url, {**base, f"version_{dup.pk}": 0})
    assert stale.status_code == 409
    with pytest.raises(crm.RecordValidationError):
        do_merge_records(keep, [keep], {}, actor=admin_user)
    assert Account.objects.filter(pk__in=[keep.pk, dup.pk], deleted_at__isnull=True).count() == 2
    # The list page's "Merge" button posts the chosen rows: the table opens.
    opened = client.post(url, {"ids": [keep.pk, dup.pk]})
    assert opened.status_code == 302 and f"ids={dup.pk}" in opened["Location"]

"""The recycle bin covers team records too, and purging leaves no orphan row: notes, files,
timeline entries, record links (both ways), manual shares and record locks go with the record."""
from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from access.actions import do_set_org_default
from access.share_actions import do_share_record
from crm import actions
from crm.models import Account, Attachment, Deal, Note, RecordLink, TimelineEntry
from locking import actions as locking
from locking.models import RecordLock
from teams.actions import do_submit_request
from teams.models import TeamRecord
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


def delete_long_ago(monkeypatch, record, actor):
    """Delete as if 31 days ago (past the recycle bin's 30)."""
    real_now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: real_now - dt.timedelta(days=31))
    actions.do_delete_record(record, version=version_of(record), actor=actor)
    monkeypatch.undo()


def rows_about(record) -> dict[str, int]:
    """Every row that names the record, in every table that can."""
    record_type = ContentType.objects.get_for_model(record)
    about = {"record_type": record_type, "record_id": record.pk}
    counts = {
        "notes": Note.objects.filter(**about).count(),
        "attachments": Attachment.objects.filter(**about).count(),
        "timeline": TimelineEntry.objects.filter(**about).count(),
        "links from": RecordLink.objects.filter(source_type=record_type, source_id=record.pk).count(),
        "links to": RecordLink.objects.filter(target_type=record_type, target_id=record.pk).count(),
        "locks": RecordLock.objects.filter(org_id=record.org_id, module=record.MODULE_KEY,
                                           record_id=record.pk).count(),
    }
    for model in apps.get_models():  # manual shares: guardian's direct permission rows
        field = next((f for f in model._meta.fields if f.name == "content_object"), None)
        if field is not None and field.related_model is type(record):
            counts[model._meta.label] = model.objects.filter(content_object_id=record.pk).count()
    return counts


def test_purge_removes_a_team_record_and_everything_about_it(case_studies, case_schema, requester, manager,
                                                             admin_user, member, monkeypatch):
    customer = actions.do_create_record("accounts", {"name": "Northwind"}, actor=requester)
    request = do_submit_request(case_studies, {"title": "Story", case_schema.field("customer").key: customer.pk},
                                actor=requester)
    actions.do_add_note(request, "Draft soon", actor=manager)
    actions.do_add_attachment(request, SimpleUploadedFile("draft.docx", b"x"), actor=manager)
    before = rows_about(request)
    assert before["notes"] == before["attachments"] == before["links from"] == 1 and before["timeline"] >= 3
    delete_long_ago(monkeypatch, request, manager)
    kept = do_submit_request(case_studies, {"title": "Kept"}, actor=requester)
    assert actions.do_purge_recycle_bin() == 1
    assert not TeamRecord.objects.filter(pk=request.pk).exists() and TeamRecord.objects.filter(pk=kept.pk).exists()
    assert set(rows_about(request).values()) == {0}
    assert not Attachment.objects.exists()


def test_purge_removes_locks_shares_and_links_pointing_at_the_record(org, admin_user, standard_user, other_user,
                                                                     case_studies, case_schema, requester,
                                                                     monkeypatch):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    locking.do_save_lock_config(org, "deals", enabled=True, manual_enabled=True, restricted_actions=["edit"],
                                actor=admin_user)
    deal = actions.do_create_record("deals", {"name": "Audited"}, actor=admin_user)
    locking.do_lock_record(deal, "Under audit", actor=admin_user)
    do_share_record(org, "deals", deal, user=other_user, access="read", actor=admin_user)
    account = actions.do_create_record("accounts", {"name": "Gone Ltd"}, actor=requester)
    pointing = do_submit_request(case_studies, {"title": "About Gone",
                                                case_schema.field("customer").key: account.pk}, actor=requester)
    assert rows_about(deal)["locks"] == 1 and rows_about(account)["links to"] == 1
    assert any(v == 1 for k, v in rows_about(deal).items() if "." in k)  # the share
    delete_long_ago(monkeypatch, deal, admin_user)
    delete_long_ago(monkeypatch, account, admin_user)
    assert actions.do_purge_recycle_bin() == 2
    assert not Deal.objects.filter(pk=deal.pk).exists() and not Account.objects.filter(pk=account.pk).exists()
    assert set(rows_about(deal).values()) == {0}
    assert set(rows_about(account).values()) == {0}
    assert TeamRecord.objects.filter(pk=pointing.pk).exists()  # the record that pointed at it stays


def test_a_record_in_the_bin_for_less_than_30_days_is_kept(case_studies, requester, manager):
    request = do_submit_request(case_studies, {"title": "Recent"}, actor=requester)
    actions.do_delete_record(request, version=version_of(request), actor=manager)
    assert actions.do_purge_recycle_bin() == 0
    assert rows_about(request)["timeline"] == 2


def test_the_recycle_bin_lists_and_restores_team_records(case_studies, requester, manager, admin_user, client_for):
    request = do_submit_request(case_studies, {"title": "Binned request"}, actor=requester)
    actions.do_delete_record(request, version=version_of(request), actor=manager)
    client = client_for(admin_user)
    page = client.get(reverse("crm:recycle_bin"))
    assert "Binned request" in page.content.decode()
    assert [g["module"].key for g in page.context["groups"] if g["rows"]] == [case_studies.key]
    response = client.post(reverse("crm:recycle_bin"), {"module": case_studies.key, "pk": request.pk})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.deleted_at is None


def test_only_administrators_open_the_recycle_bin(case_studies, requester, manager, client_for):
    request = do_submit_request(case_studies, {"title": "Binned request"}, actor=requester)
    actions.do_delete_record(request, version=version_of(request), actor=manager)
    assert client_for(manager).get(reverse("crm:recycle_bin")).status_code == 404
    assert client_for(manager).post(reverse("crm:recycle_bin"),
                                    {"module": case_studies.key, "pk": request.pk}).status_code == 404
    request.refresh_from_db()
    assert request.deleted_at is not None

"""The marketer's case-study sheet into the Case Studies team module, with the team's assignment
rule applied on the way in; and undoing an import."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from automation import assignment_actions
from crm import actions
from crm.models import Lead, TimelineEntry
from imports.models import ImportJob
from teams.models import TeamRecord
from tests.helpers import version_of
from tests.imports.conftest import confirm, dry_run, import_file, job_page, latest_job, upload
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401

pytestmark = pytest.mark.django_db


def test_case_studies_are_imported_into_the_team_module_and_assigned_by_its_rule(
        case_studies, manager, member, participant, admin_user, client_for,  # noqa: F811
        django_capture_on_commit_callbacks):
    acme = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    star = actions.do_create_record("accounts", {"name": "北京星辰科技有限公司"}, actor=admin_user)
    rule = assignment_actions.do_create_assignment_rule(manager.org, case_studies.key, name="Team", actor=manager)
    assignment_actions.do_add_assignment_entry(rule, actor=manager, criteria=None, method="round_robin", pool="team",
                                               pool_space_id=case_studies.space_id)
    assignment_actions.do_activate_assignment_rule(rule, actor=manager)
    client = client_for(manager)
    start = reverse("imports:start", args=[case_studies.key])
    assert start in client.get(reverse("crm:list", args=[case_studies.key])).content.decode()
    assert upload(client, case_studies.key, "case_studies.csv").status_code == 302
    job = latest_job()
    schema = actions.bound_schema(case_studies.key, manager.org)
    keys = {spec.api_name: spec.key for spec in schema.custom_fields}
    assert job.mapping["0"] == "title"  # 标题
    # The person sends 客户 to Customer and 截止日期 to Due date by hand.
    columns = {"0": "title", "1": keys["customer"], "2": keys["due"], "3": keys["brief"]}
    dry_run(client, job, columns, duplicates="create", match_fields=[], day_first="1")
    assert job.expected["created"] == 2, job.preview
    with django_capture_on_commit_callbacks(execute=True):
        confirm(client, job)
    assert job.status == ImportJob.Status.DONE and job.created_count == 2
    records = {r.title: r for r in TeamRecord.objects.filter(module=case_studies)}
    assert set(records) == {"Acme story", "星辰 story"}
    acme_story = records["Acme story"]
    assert acme_story.data[keys["customer"]] == acme.pk and acme_story.data[keys["due"]] == "2026-12-03"
    assert records["星辰 story"].data[keys["customer"]] == star.pk
    assert records["星辰 story"].data[keys["due"]] == "2026-12-03"
    # The team's rule gave each one an assignee from the space, in turn.
    space = sorted([manager.pk, member.pk, participant.pk])
    assert sorted(r.assignee_id for r in records.values()) == space[:2]
    assert TimelineEntry.objects.filter(record_id=acme_story.pk, kind="created", path="import").exists()


@pytest.fixture
def imported(standard_user, sam):
    """An import that created a lead (row 2), updated an existing one (row 3) and then the one it
    created (row 4: the same e-mail as row 2)."""
    existing = actions.do_create_record("leads", {"last_name": "Old name", "company": "Old Ltd",
                                                  "email": "existing@example.test"}, actor=standard_user)
    job = import_file(sam, "leads", "duplicate_rows.csv", duplicates="update")
    assert (job.created_count, job.updated_count) == (1, 2)
    return job, existing


def test_undo_deletes_what_the_import_created_and_restores_what_it_updated(imported, sam):
    job, existing = imported
    response = sam.post(reverse("imports:undo", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UNDONE
    # Undone from the last row up: row 4's change is put back, then row 2's record deleted.
    assert job.undo_report == {"deleted": 1, "restored": 2, "refused": [], "refused_count": 0}
    assert list(Lead.objects.filter(deleted_at__isnull=True).values_list("last_name", flat=True)) == ["Old name"]
    assert Lead.objects.get(email="twin@example.test").deleted_at is not None  # in the recycle bin
    assert TimelineEntry.objects.filter(record_id=existing.pk, kind="updated").count() == 2
    assert Lead.objects.get(pk=existing.pk).last_name == "Old name"
    assert "Undone: 1 records deleted, 2 restored, 0 left as they are." in job_page(sam, job)
    # Twice is refused.
    sam.post(reverse("imports:undo", args=[job.pk]))
    job.refresh_from_db()
    assert job.undo_report["deleted"] == 1


def test_undo_leaves_records_changed_since_and_says_why(imported, standard_user, sam):
    job, existing = imported
    twin = Lead.objects.get(email="twin@example.test")
    actions.do_update_record(twin, {"last_name": "Renamed by hand"}, version=version_of(twin), actor=standard_user)
    sam.post(reverse("imports:undo", args=[job.pk]))
    job.refresh_from_db()
    assert job.undo_report["deleted"] == 0 and job.undo_report["restored"] == 1
    changed = "Changed since the import (Last name)."
    assert job.undo_report["refused"] == [{"row": 4, "record": "Renamed by hand", "reason": changed},
                                          {"row": 2, "record": "Renamed by hand", "reason": changed}]
    assert Lead.objects.get(pk=twin.pk).deleted_at is None
    assert Lead.objects.get(pk=existing.pk).last_name == "Old name"


def test_undo_is_offered_for_7_days_only(imported, sam):
    job, _existing = imported
    assert "Undo this import" in job_page(sam, job)
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=8)):
        assert "Undo this import" not in job_page(sam, job)
        sam.post(reverse("imports:undo", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and Lead.objects.filter(deleted_at__isnull=True).count() == 2


def test_a_colleague_cannot_undo_my_import(imported, other_user, client_for):
    job, _existing = imported
    assert client_for(other_user).post(reverse("imports:undo", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE


def test_a_requester_of_the_team_module_may_not_import_into_it(case_studies, requester, client_for):  # noqa: F811
    client = client_for(requester)
    assert client.get(reverse("imports:start", args=[case_studies.key])).status_code == 403
    assert upload(client, case_studies.key, "case_studies.csv").status_code == 403
    assert not ImportJob.objects.exists() and not TeamRecord.objects.filter(module=case_studies).exists()


def test_a_participant_of_the_team_may_not_import_and_a_member_may(case_studies, participant, member,  # noqa: F811
                                                                  client_for):
    start = reverse("imports:start", args=[case_studies.key])
    listing = reverse("crm:list", args=[case_studies.key])
    client = client_for(participant)
    assert start not in client.get(listing).content.decode()
    assert client.get(start).status_code == 403
    assert upload(client, case_studies.key, "case_studies.csv").status_code == 403
    assert not ImportJob.objects.exists()
    client = client_for(member)
    assert start in client.get(listing).content.decode()
    assert upload(client, case_studies.key, "case_studies.csv").status_code == 302


def test_an_undo_that_stopped_goes_on_after_what_it_committed(imported, standard_user, sam, monkeypatch):
    from imports import actions as import_actions
    from imports import tasks

    job, existing = imported
    monkeypatch.setattr(import_actions, "UNDO_BATCH", 1)
    job = import_actions.do_start_undo(job, actor=standard_user)
    assert (job.status, job.undo_total) == (ImportJob.Status.UNDOING, 3)
    real = import_actions._undo_batch
    calls = []

    def stops_on_the_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the worker's database went away")
        return real(*args)

    monkeypatch.setattr(import_actions, "_undo_batch", stops_on_the_second_batch)
    with pytest.raises(RuntimeError):
        tasks.undo_import.run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.undo_done, job.undo_report["restored"]) == (ImportJob.Status.UNDOING, 1, 1)
    page = job_page(sam, job)
    assert "The undo stopped:" in page and "Go on with the undo" in page
    tasks.undo_import.run(job.pk)  # a stopped undo is not taken up again by itself
    job.refresh_from_db()
    assert job.undo_done == 1
    monkeypatch.setattr(import_actions, "_undo_batch", real)
    sam.post(reverse("imports:undo", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UNDONE and not job.error
    assert job.undo_report == {"deleted": 1, "restored": 2, "refused": [], "refused_count": 0}
    assert Lead.objects.get(pk=existing.pk).last_name == "Old name"
    assert list(Lead.objects.filter(deleted_at__isnull=True).values_list("pk", flat=True)) == [existing.pk]

"""File fields on team modules: the case study's deliverable is a file field "shown to requesters",
so the requester downloads it from the Requests tab without seeing the record's internal files."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm import actions
from crm.models import Attachment, FieldDefinition, TimelineEntry
from teams.actions import do_assign, do_submit_request
from teams.models import TeamRecord
from tests.helpers import version_of
from tests.teams.conftest import (case_schema, case_studies, manager, marketing, member, outsider,  # noqa: F401
                                  participant, requester)

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(case_studies, manager, org):
    """The deliverable (shown to requesters) and an internal working file (not shown)."""
    deliverable = actions.do_create_field(org, case_studies.key, api_name="deliverable", label_en="Deliverable",
                                          field_type="file", shown_to_requesters=True, in_list=True, actor=manager)
    working = actions.do_create_field(org, case_studies.key, api_name="working_file", label_en="Working file",
                                      field_type="file", actor=manager)
    return deliverable, working


@pytest.fixture
def story(case_studies, files, requester, manager, member):
    record = do_submit_request(case_studies, {"title": "Northwind story"}, actor=requester)
    return do_assign(record, member.pk, version=record.version, actor=manager)


def fresh(record) -> TeamRecord:
    return TeamRecord.objects.get(pk=record.pk)


def url(module, record, key: str) -> str:
    return reverse("crm:field_file", args=[module.key, record.pk, key])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def deliver(story, member, **files):
    return actions.do_update_record(fresh(story), {k: SimpleUploadedFile(v, v.encode()) for k, v in files.items()},
                                    version=version_of(story), actor=member)


def test_requester_downloads_the_deliverable_but_not_internal_files(case_studies, files, story, member, requester,
                                                                    client_for):
    deliverable, working = files
    deliver(story, member, deliverable="final.pdf", working_file="draft.docx")
    internal = actions.do_add_attachment(fresh(story), SimpleUploadedFile("notes.txt", b"internal"), actor=member)
    client = client_for(requester)

    assert body(client.get(url(case_studies, story, deliverable.key))) == b"final.pdf"
    assert client.get(url(case_studies, story, working.key)).status_code == 404
    assert client.get(reverse("crm:attachment_download", args=[case_studies.key, story.pk, internal.pk])).status_code == 404
    tab = client.get(reverse("teams:requests")).content.decode()
    assert url(case_studies, story, deliverable.key) in tab and "final.pdf" in tab
    assert "draft.docx" not in tab and "notes.txt" not in tab
    page = client.get(reverse("crm:detail", args=[case_studies.key, story.pk])).content.decode()
    assert "final.pdf" in page and "draft.docx" not in page and "notes.txt" not in page

    # The team sees and downloads all of them.
    team = client_for(member)
    assert body(team.get(url(case_studies, story, working.key))) == b"draft.docx"
    assert team.get(reverse("crm:attachment_download", args=[case_studies.key, story.pk, internal.pk])).status_code == 200


def test_requester_cannot_replace_or_clear_the_deliverable(case_studies, files, story, member, requester,
                                                           client_for):
    deliverable, _working = files
    deliver(story, member, deliverable="final.pdf")
    for value in (SimpleUploadedFile("mine.pdf", b"mine"), None):
        with pytest.raises(PermissionDenied):
            actions.do_update_record(fresh(story), {deliverable.key: value}, version=version_of(story), actor=requester)
    assert fresh(story).data[deliverable.key]["name"] == "final.pdf"
    # Their edit form shows it read-only; their request form does not offer it.
    form = client_for(requester).get(reverse("crm:edit", args=[case_studies.key, story.pk])).context["form"]
    assert form.fields[deliverable.key].disabled
    request_form = client_for(requester).get(reverse("teams:request_new", args=[case_studies.pk])).context["form"]
    assert deliverable.key not in request_form.fields


def test_team_member_uploads_replaces_and_clears_with_timeline(case_studies, files, story, member, manager):
    deliverable, _working = files
    deliver(story, member, deliverable="v1.pdf")
    deliver(story, member, deliverable="v2.pdf")
    actions.do_update_record(fresh(story), {deliverable.key: None}, version=version_of(story), actor=manager)
    assert deliverable.key not in fresh(story).data
    assert not Attachment.objects.filter(record_id=story.pk, field_key=deliverable.key).exists()
    changes = [entry.changes[deliverable.key] for entry in TimelineEntry.objects.filter(
        record_id=story.pk, kind="updated").order_by("pk") if deliverable.key in entry.changes]
    assert [(old and old["name"], new and new["name"]) for old, new in changes] == [
        (None, "v1.pdf"), ("v1.pdf", "v2.pdf"), ("v2.pdf", None)]


def test_people_outside_the_team_and_other_orgs_get_404(case_studies, files, story, member, outsider,
                                                        other_org_user, client_for):
    deliverable, _working = files
    deliver(story, member, deliverable="final.pdf")
    for user in (outsider, other_org_user):
        assert client_for(user).get(url(case_studies, story, deliverable.key)).status_code == 404


def test_the_builder_adds_a_file_field_shown_to_requesters(case_studies, manager, member, client_for):
    client = client_for(manager)
    response = client.post(reverse("teams:field_new", args=[case_studies.pk]),
                           {"label_en": "Final video", "api_name": "final_video", "field_type": "file",
                            "shown_to_requesters": "on"})
    assert response.status_code == 302
    field = FieldDefinition.objects.get(module=case_studies.key, api_name="final_video")
    assert field.field_type == "file" and field.shown_to_requesters
    # Only a manager of the team builds fields.
    refused = client_for(member).post(reverse("teams:field_new", args=[case_studies.pk]),
                                      {"label_en": "X", "api_name": "x_file", "field_type": "file"})
    assert refused.status_code in (403, 404)
    assert not FieldDefinition.objects.filter(api_name="x_file").exists()


def test_team_record_form_uploads_the_deliverable(case_studies, files, story, member, client_for):
    deliverable, _working = files
    client = client_for(member)
    edit = reverse("crm:edit", args=[case_studies.key, story.pk])
    record = fresh(story)
    response = client.post(edit, {"title": record.title, "status": record.status, "version": record.version,
                                  deliverable.key: SimpleUploadedFile("final.pdf", b"%PDF")})
    assert response.status_code == 302
    assert body(client.get(url(case_studies, story, deliverable.key))) == b"%PDF"

"""The Requests tab: submitting, following, downloading deliverables."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import actions
from teams.actions import do_assign, do_submit_request
from teams.models import TeamRecord
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(admin_user):
    return actions.do_create_record("accounts", {"name": "Northwind", "industry": "technology"}, actor=admin_user)


def test_request_form_shows_only_fields_for_requesters(case_studies, requester, client_for):
    page = client_for(requester).get(reverse("teams:request_new", args=[case_studies.pk]))
    assert page.status_code == 200
    fields = set(page.context["form"].fields)
    assert {"title"} <= fields and "status" not in fields and "assignee" not in fields
    labels = page.content.decode()
    assert "Brief" in labels and "Internal notes" not in labels


def test_submit_from_the_tab_and_follow_it(case_studies, case_schema, requester, manager, participant, account,
                                           client_for):
    client = client_for(requester)
    brief = case_schema.field("brief").key
    customer = case_schema.field("customer").key
    response = client.post(reverse("teams:request_new", args=[case_studies.pk]),
                           {"title": "Case study: Northwind", brief: "Cloud move", customer: account.pk})
    assert response.status_code == 302
    record = TeamRecord.objects.get(title="Case study: Northwind")
    assert record.requested_by == requester and record.status == "requested" and record.owner == requester
    do_assign(record, participant.pk, version=version_of(record), actor=manager)
    tab = client.get(reverse("teams:requests")).content.decode()
    assert "Case study: Northwind" in tab and str(participant) in tab and "Requested" in tab


def test_request_form_bad_input_saves_nothing(case_studies, case_schema, requester, client_for):
    due = case_schema.field("due").key
    response = client_for(requester).post(reverse("teams:request_new", args=[case_studies.pk]),
                                          {"title": "", due: "someday"})
    assert response.status_code == 400
    assert {"title", due} <= set(response.context["form"].errors)
    assert not TeamRecord.objects.exists()


def test_non_requester_cannot_open_the_form(case_studies, outsider, member, client_for):
    for user in (outsider, member):
        assert client_for(user).get(reverse("teams:request_new", args=[case_studies.pk])).status_code == 404


def test_requester_downloads_deliverables_only(case_studies, case_schema, requester, manager, client_for):
    request = do_submit_request(case_studies, {"title": "Story"}, actor=requester)
    final = actions.do_add_attachment(request, SimpleUploadedFile("story.pdf", b"%PDF final"), actor=manager,
                                      deliverable=True)
    draft = actions.do_add_attachment(request, SimpleUploadedFile("draft.docx", b"draft"), actor=manager)
    actions.do_update_record(request, {"status": "done"}, version=version_of(request), actor=manager)
    client = client_for(requester)
    tab = client.get(reverse("teams:requests")).content.decode()
    final_url = reverse("crm:attachment_download", args=[case_studies.key, request.pk, final.pk])
    draft_url = reverse("crm:attachment_download", args=[case_studies.key, request.pk, draft.pk])
    assert final_url in tab and draft_url not in tab
    response = client.get(final_url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF final"
    assert client.get(draft_url).status_code == 404
    assert client_for(manager).get(draft_url).status_code == 200


def test_requests_tab_query_count_does_not_grow(case_studies, requester, manager, client_for):
    client = client_for(requester)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("teams:requests")).status_code == 200
        return len(captured)

    for i in range(3):
        record = do_submit_request(case_studies, {"title": f"R{i}"}, actor=requester)
        actions.do_add_attachment(record, SimpleUploadedFile("f.txt", b"x"), actor=manager, deliverable=True)
    few = queries()
    for i in range(30):
        do_submit_request(case_studies, {"title": f"More {i}"}, actor=requester)
    assert queries() == few

"""The timeline shows each viewer only entries about what they may see; a note one may not read
is missing for them (404), whether they read, edit or delete it."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm import actions
from crm.models import Note
from teams.actions import do_submit_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(case_studies, case_schema, requester, manager):
    request = do_submit_request(case_studies, {"title": "Northwind story"}, actor=requester)
    actions.do_add_attachment(request, SimpleUploadedFile("internal-pricing.xlsx", b"x"), actor=manager)
    actions.do_add_attachment(request, SimpleUploadedFile("final.pdf", b"%PDF"), actor=manager, deliverable=True)
    internal = actions.do_add_note(request, "Budget is tight, keep it short", actor=manager)
    addressed = actions.do_add_note(request, "@rep draft is on its way", actor=manager)
    request.refresh_from_db()
    actions.do_update_record(request, {case_schema.field("internal_notes").key: "Margin 5%"},
                             version=request.version, actor=manager)
    return {"record": request, "internal": internal, "addressed": addressed}


def timeline(client, record):
    return client.get(record.get_absolute_url()).context["timeline"]


def test_a_requester_sees_only_entries_about_what_they_may_see(story, requester, client_for):
    entries = timeline(client_for(requester), story["record"])
    kinds = [e.kind for e in entries]
    files = [e.changes["file"][1] for e in entries if e.kind == "attachment_added"]
    assert files == ["final.pdf"]
    notes = [e.changes["note"][1] for e in entries if e.kind == "note_added"]
    assert notes == [story["addressed"].pk]
    assert "updated" not in kinds  # only a hidden field changed
    assert "created" in kinds
    page = client_for(requester).get(story["record"].get_absolute_url()).content.decode()
    assert "internal-pricing.xlsx" not in page and "Margin 5%" not in page


def test_the_team_sees_every_entry(story, manager, member, client_for):
    for user in (manager, member):
        entries = timeline(client_for(user), story["record"])
        files = sorted(e.changes["file"][1] for e in entries if e.kind == "attachment_added")
        assert files == ["final.pdf", "internal-pricing.xlsx"]
        assert len([e for e in entries if e.kind == "note_added"]) == 2
        assert any(e.kind == "updated" for e in entries)


def test_a_deleted_note_shows_to_the_team_not_to_the_requester(story, manager, requester, client_for):
    actions.do_delete_note(story["internal"], actor=manager)
    assert any(e.kind == "note_deleted" for e in timeline(client_for(manager), story["record"]))
    assert not any(e.kind == "note_deleted" for e in timeline(client_for(requester), story["record"]))


def test_a_note_the_requester_may_not_read_is_missing_for_them(story, requester, client_for):
    client = client_for(requester)
    record, internal = story["record"], story["internal"]
    delete = reverse("crm:note_delete", args=[record.module.key, record.pk, internal.pk])
    edit = reverse("crm:note_edit", args=[record.module.key, record.pk, internal.pk])
    assert client.post(delete).status_code == 404
    assert client.post(edit, {"body": "changed"}).status_code == 404
    internal.refresh_from_db()
    assert internal.body == "Budget is tight, keep it short"


def test_a_requester_deletes_their_own_note(story, requester, client_for):
    record = story["record"]
    own = actions.do_add_note(record, "Thanks!", actor=requester)
    response = client_for(requester).post(reverse("crm:note_delete", args=[record.module.key, record.pk, own.pk]))
    assert response.status_code == 302 and not Note.objects.filter(pk=own.pk).exists()

"""Inline edit on a record's page: one field's form in place, saved through the record actions
(path "inline"), with the reason next to the field when a save is refused or invalid; and note
editing by the note's author or an administrator."""
from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from access.actions import do_set_org_default
from access.models import Profile
from access.sharing_actions import do_clone_profile, do_set_profile_field_levels, do_set_user_profile
from crm import actions
from crm.models import Deal, Lead, Note, TimelineEntry
from crm.modules import get_module, org_modules
from tests.locking.conftest import rebind

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def field_url(record, key, name="crm:field", module="deals"):
    return reverse(name, args=[module, record.pk, key])


def detail_url(record, module="deals"):
    return reverse("crm:detail", args=[module, record.pk])


def text(response) -> str:
    return response.content.decode()


def edit_controls(page: str) -> set[str]:
    return set(re.findall(r'data-inline-edit="([^"]+)"', page))


@pytest.fixture
def deal(org, admin_user, standard_user):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    return actions.do_create_record("deals", {"name": "Northwind", "amount": "100", "stage": "proposal"},
                                    actor=standard_user)


def test_edit_one_field_in_place(deal, standard_user, client_for):
    client = client_for(standard_user)
    page = text(client.get(detail_url(deal)))
    assert {"name", "stage", "amount", "close_date"} <= edit_controls(page)
    assert "owner" not in edit_controls(page)  # changed with its own form

    form = client.get(field_url(deal, "amount", "crm:field_edit"), **HTMX)
    assert form.status_code == 200
    assert 'name="amount"' in text(form) and 'value="100.00"' in text(form)
    assert f'name="version" value="{deal.version}"' in text(form)

    response = client.post(field_url(deal, "amount"), {"amount": "250", "version": deal.version}, **HTMX)
    assert response.status_code == 200
    assert re.search(r'data-field="amount">250\.00<button', text(response))  # the new value, with its control again
    assert "HX-Refresh" not in response  # the lock state did not change: no reload
    # the "Modified" line and the timeline come along, swapped in place by htmx
    modified = text(response).split('id="record-modified" hx-swap-oob="true">', 1)[1].split("</dd>", 1)[0]
    assert str(standard_user) in modified
    oob_timeline = text(response).split('id="timeline-entries" hx-swap-oob="true">', 1)[1]
    assert "Updated" in oob_timeline and "by inline edit" in oob_timeline
    stored = Deal.objects.get(pk=deal.pk)
    assert str(stored.amount) == "250.00" and stored.version == deal.version + 1
    entry = TimelineEntry.objects.filter(record_id=deal.pk, kind="updated").get()
    assert entry.path == "inline" and entry.changes["amount"] == ["100.00", "250"]
    # the record's timeline says how the change was made
    timeline = text(client.get(detail_url(deal)))
    assert "by inline edit" in timeline and "on the page" in timeline  # the update, and the creation


def test_cancel_shows_the_stored_value_again(deal, standard_user, client_for):
    client = client_for(standard_user)
    assert client.get(field_url(deal, "amount", "crm:field_edit"), **HTMX).status_code == 200
    shown = client.get(field_url(deal, "amount"), **HTMX)
    assert shown.status_code == 200 and 'data-field="amount">100.00<button' in text(shown)
    assert Deal.objects.get(pk=deal.pk).version == deal.version


def test_an_invalid_value_is_named_next_to_the_field_and_changes_nothing(deal, standard_user, client_for):
    client = client_for(standard_user)
    response = client.post(field_url(deal, "amount"), {"amount": "lots", "version": deal.version}, **HTMX)
    assert response.status_code == 400
    assert "“Amount” was not saved: Enter a number." in text(response)
    assert 'data-inline-form' in text(response) and 'value="lots"' in text(response)  # to correct it
    response = client.post(field_url(deal, "name"), {"name": "", "version": deal.version}, **HTMX)
    assert response.status_code == 400 and "“Deal name” was not saved: This field is required." in text(response)
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.name, str(stored.amount), stored.version) == ("Northwind", "100.00", deal.version)


def test_a_stale_inline_edit_is_refused_as_a_conflict(deal, standard_user, other_user, client_for):
    actions.do_update_record(deal, {"amount": "300"}, version=deal.version, actor=other_user)
    response = client_for(standard_user).post(field_url(deal, "amount"), {"amount": "250", "version": deal.version},
                                              **HTMX)
    assert response.status_code == 409
    assert "“Amount” was not saved: Olga changed this record at" in text(response)
    assert str(Deal.objects.get(pk=deal.pk).amount) == "300.00"


def test_a_reader_who_may_not_edit_gets_no_control_and_is_refused(org, admin_user, other_user, standard_user,
                                                                   client_for):
    do_set_org_default(org, "deals", "public_read", actor=admin_user)
    deal = actions.do_create_record("deals", {"name": "Read only", "amount": "5"}, actor=other_user)
    client = client_for(standard_user)
    page = text(client.get(detail_url(deal)))
    assert edit_controls(page) == set() and "data-field-locked" not in page
    refused = client.get(field_url(deal, "amount", "crm:field_edit"), **HTMX)
    assert refused.status_code == 403 and "You may not change the field “Amount”." in text(refused)
    response = client.post(field_url(deal, "amount"), {"amount": "9", "version": deal.version}, **HTMX)
    assert response.status_code == 403
    assert "“Amount” was not saved: You do not have permission to do this on this record." in text(response)
    assert str(Deal.objects.get(pk=deal.pk).amount) == "5.00"
    # The owner may.
    response = client_for(other_user).post(field_url(deal, "amount"), {"amount": "9", "version": deal.version},
                                           **HTMX)
    assert response.status_code == 200 and str(Deal.objects.get(pk=deal.pk).amount) == "9.00"


@pytest.fixture
def limited(org, admin_user, standard_user):
    """Sam's profile hides the amount and makes the stage read-only on deals."""
    profile = do_clone_profile(Profile.objects.get(org=org, name="Standard"), "Limited", actor=admin_user)
    keys = [f.key for f in get_module("deals", org).bind(org).fields]
    do_set_profile_field_levels(profile, "deals", {"amount": "hidden", "stage": "read_only"}, actor=admin_user,
                                known_modules=[m.key for m in org_modules()], known_field_keys=keys)
    do_set_user_profile(standard_user.membership, profile, actor=admin_user)
    return rebind(standard_user)


def test_profile_read_only_and_hidden_fields_have_no_inline_edit(deal, limited, admin_user, client_for):
    client = client_for(limited)
    page = text(client.get(detail_url(deal)))
    assert "name" in edit_controls(page)
    assert "stage" not in edit_controls(page) and 'data-field="amount"' not in page
    assert client.get(field_url(deal, "stage", "crm:field_edit"), **HTMX).status_code == 403
    response = client.post(field_url(deal, "stage"), {"stage": "won", "version": deal.version}, **HTMX)
    assert response.status_code == 403
    assert "“Stage” was not saved: You may not change the field “Stage”." in text(response)
    for url in (field_url(deal, "amount"), field_url(deal, "amount", "crm:field_edit")):
        assert client.get(url, **HTMX).status_code == 404  # a hidden field does not exist for them
    assert client.post(field_url(deal, "amount"), {"amount": "1", "version": deal.version}, **HTMX).status_code == 404
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.stage, str(stored.amount)) == ("proposal", "100.00")
    # The edit page shows the read-only field disabled, with the reason.
    form = text(client.get(reverse("crm:edit", args=["deals", deal.pk])))
    assert re.search(r'<select [^>]*name="stage"[^>]*disabled', form)
    assert "Read-only for your profile." in form
    # An administrator changes both in place.
    admin = client_for(admin_user)
    assert {"stage", "amount"} <= edit_controls(text(admin.get(detail_url(deal))))
    assert admin.post(field_url(deal, "stage"), {"stage": "won", "version": deal.version}, **HTMX).status_code == 200
    assert Deal.objects.get(pk=deal.pk).stage == "won"


def test_other_orgs_and_invisible_records_and_unknown_fields_are_404(deal, org, admin_user, other_user,
                                                                     other_org_user, standard_user, client_for):
    do_set_org_default(org, "leads", "private", actor=admin_user)
    private = actions.do_create_record("leads", {"last_name": "Hidden"}, actor=other_user)
    cases = [(client_for(other_org_user), deal, "deals", "amount"),  # another org's record
             (client_for(standard_user), private, "leads", "last_name"),  # same org, not visible
             (client_for(standard_user), deal, "deals", "nope")]  # no such field
    for client, record, module, key in cases:
        for name in ("crm:field", "crm:field_edit"):
            assert client.get(field_url(record, key, name, module), **HTMX).status_code == 404
        response = client.post(field_url(record, key, module=module), {key: "Taken", "version": 1}, **HTMX)
        assert response.status_code == 404
    assert Deal.objects.get(pk=deal.pk).version == deal.version
    assert Lead.objects.get(pk=private.pk).last_name == "Hidden"


# --- notes ---------------------------------------------------------------------------------------

def note_edit_url(note, record):
    return reverse("crm:note_edit", args=["deals", record.pk, note.pk])


def test_the_author_edits_a_note_and_the_timeline_says_so(deal, standard_user, other_user, client_for):
    note = actions.do_add_note(deal, "Call on Monday", actor=standard_user)
    client = client_for(standard_user)
    page = text(client.get(detail_url(deal)))
    assert f'data-note-edit="{note.pk}"' in page and note_edit_url(note, deal) in page
    response = client.post(note_edit_url(note, deal), {"body": "Call on Tuesday, @olga"}, follow=True)
    assert "Note saved." in text(response) and "Call on Tuesday, @olga" in text(response)
    note.refresh_from_db()
    assert note.body == "Call on Tuesday, @olga"
    assert list(note.mentions.values_list("username", flat=True)) == ["olga"]
    entry = TimelineEntry.objects.get(record_id=deal.pk, kind="note_edited")
    assert (entry.actor_id, entry.path, entry.changes) == (standard_user.pk, "page", {"note": [note.pk, note.pk]})
    assert "Note edited" in text(response)


def test_only_the_author_or_an_administrator_edits_a_note(deal, standard_user, other_user, admin_user, client_for):
    note = actions.do_add_note(deal, "Mine", actor=standard_user)
    other = client_for(other_user)
    assert f'data-note-edit="{note.pk}"' not in text(other.get(detail_url(deal)))
    response = other.post(note_edit_url(note, deal), {"body": "Theirs"}, follow=True)
    assert "Only the author or an administrator may edit a note." in text(response)
    with pytest.raises(PermissionDenied):
        actions.do_update_note(note, "Theirs", actor=other_user)
    assert Note.objects.get(pk=note.pk).body == "Mine"
    assert not TimelineEntry.objects.filter(record_id=deal.pk, kind="note_edited").exists()

    admin = client_for(admin_user)
    assert f'data-note-edit="{note.pk}"' in text(admin.get(detail_url(deal)))
    admin.post(note_edit_url(note, deal), {"body": "Corrected by admin"})
    assert Note.objects.get(pk=note.pk).body == "Corrected by admin"


def test_an_empty_note_is_refused_and_other_orgs_notes_are_404(deal, standard_user, other_org_user, client_for):
    note = actions.do_add_note(deal, "Keep me", actor=standard_user)
    response = client_for(standard_user).post(note_edit_url(note, deal), {"body": "   "}, follow=True)
    assert "A note cannot be empty." in text(response)
    with pytest.raises(actions.RecordValidationError):
        actions.do_update_note(note, "  ", actor=standard_user)
    assert client_for(other_org_user).post(note_edit_url(note, deal), {"body": "x"}).status_code == 404
    assert Note.objects.get(pk=note.pk).body == "Keep me"

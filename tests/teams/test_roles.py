"""The team role table: every role x action x own/others', through actions and pages."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from access.visibility import visible
from crm import actions
from crm.guards import GuardRefusal
from crm.models import Note
from teams.actions import do_assign, do_submit_request
from teams.models import TeamRecord
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

ROLES = ["manager", "member", "participant", "requester", "admin_user", "team_modules_admin", "outsider",
         "other_org_user"]

# role: (view own, view others', create, edit own, edit others', delete own, delete others', assign)
EXPECTED = {
    "manager":            (True, True, True, True, True, True, True, True),
    "member":             (True, True, True, True, False, True, False, False),
    "participant":        (True, False, True, True, False, False, False, False),
    "requester":          (True, False, False, True, False, False, False, False),
    "admin_user":         (True, True, True, True, True, True, True, True),
    "team_modules_admin": (None, True, False, None, False, None, False, False),
    "outsider":           (None, False, False, None, False, None, False, False),
    "other_org_user":     (None, False, False, None, False, None, False, False),
}


@pytest.fixture
def cast(request, manager, member, participant, requester, admin_user, team_modules_admin, outsider,
         other_org_user):
    return {name: request.getfixturevalue(name) for name in ROLES}


@pytest.fixture
def others_record(case_schema, manager):
    return actions.do_create_record(case_schema, {"title": "Manager's own work"}, actor=manager)


def own_record(role, user, case_studies, case_schema):
    if role == "requester":
        return do_submit_request(case_studies, {"title": "Please write a case study"}, actor=user)
    if EXPECTED[role][0] is None:
        return None
    return actions.do_create_record(case_schema, {"title": f"{role}'s record"}, actor=user)


def allowed(callable_):
    try:
        callable_()
    except PermissionDenied:
        return False
    return True


@pytest.mark.parametrize("role", ROLES)
def test_role_table_through_actions(role, cast, case_studies, case_schema, others_record, participant):
    user = cast[role]
    view_own, view_others, create, edit_own, edit_others, delete_own, delete_others, assign = EXPECTED[role]
    can_create = allowed(lambda: actions.do_create_record(case_schema, {"title": "new"}, actor=user))
    assert can_create is create
    mine = own_record(role, user, case_studies, case_schema)
    assert visible(user, case_schema, "view").filter(pk=others_record.pk).exists() is view_others
    if mine is not None:
        assert visible(user, case_schema, "view").filter(pk=mine.pk).exists() is view_own
        assert allowed(lambda: actions.do_update_record(mine, {"title": "edited"}, version=version_of(mine), actor=user)) is edit_own
    assert allowed(lambda: actions.do_update_record(others_record, {"title": "edited by other"}, version=version_of(others_record),
                                                    actor=user)) is edit_others
    assert allowed(lambda: do_assign(others_record, participant.pk, version=version_of(others_record), actor=user)) is assign
    if mine is not None:
        assert allowed(lambda: actions.do_delete_record(mine, version=version_of(mine), actor=user)) is delete_own
    assert allowed(lambda: actions.do_delete_record(others_record, version=version_of(others_record), actor=user)) is delete_others
    unchanged = TeamRecord.objects.get(pk=others_record.pk)
    if not edit_others:
        assert unchanged.title == "Manager's own work"
    if not delete_others:
        assert unchanged.deleted_at is None


@pytest.mark.parametrize("role", ROLES)
def test_role_table_through_pages(role, cast, case_studies, case_schema, others_record, client_for):
    user = cast[role]
    view_own, view_others, create, edit_own, edit_others, *_ = EXPECTED[role]
    client = client_for(user)
    module = case_schema.key
    detail = client.get(reverse("crm:detail", args=[module, others_record.pk]))
    assert detail.status_code == (200 if view_others else 404)
    listing = client.get(reverse("crm:list", args=[module]))
    if role == "other_org_user":
        assert listing.status_code == 404
    else:
        assert ("Manager&#x27;s own work" in listing.content.decode()) is view_others
    edit = client.post(reverse("crm:edit", args=[module, others_record.pk]),
                       {"title": "Hijacked", "status": "requested", "version": others_record.version})
    expected_edit = 302 if edit_others else (403 if view_others else 404)
    assert edit.status_code == expected_edit
    new = client.post(reverse("crm:create", args=[module]), {"title": "From the page", "status": "requested"})
    assert (new.status_code == 302) is create
    assert TeamRecord.objects.filter(title="From the page").exists() is create


def test_only_managers_set_final_status(case_schema, member, manager):
    record = actions.do_create_record(case_schema, {"title": "Mine"}, actor=member)
    with pytest.raises(GuardRefusal, match="Only a manager"):
        actions.do_update_record(record, {"status": "done"}, version=version_of(record), actor=member)
    assert TeamRecord.objects.get(pk=record.pk).status == "requested"
    actions.do_update_record(record, {"status": "done"}, version=version_of(record), actor=manager)
    assert TeamRecord.objects.get(pk=record.pk).status == "done"


def test_requester_edits_only_while_first_status_and_only_shown_fields(case_studies, case_schema, requester,
                                                                         manager):
    request = do_submit_request(case_studies, {"title": "Case study for Acme", "brief": "Cloud migration"},
                                actor=requester)
    assert request.requested_by == requester and request.status == "requested"
    with pytest.raises(GuardRefusal):
        actions.do_update_record(request, {"internal_notes": "peek"}, version=version_of(request), actor=requester)
    actions.do_update_record(request, {"brief": "Cloud migration, 2 pages"}, version=version_of(request), actor=requester)
    actions.do_update_record(request, {"status": "in_progress"}, version=version_of(request), actor=manager)
    with pytest.raises(PermissionDenied):
        actions.do_update_record(request, {"brief": "changed later"}, version=version_of(request), actor=requester)
    assert visible(requester, case_schema, "view").filter(pk=request.pk).exists()


def test_requester_page_hides_internal_fields_and_other_comments(case_studies, case_schema, requester, manager,
                                                                  client_for):
    request = do_submit_request(case_studies, {"title": "Need a story", "brief": "Retail"}, actor=requester)
    actions.do_update_record(request, {"internal_notes": "Budget is tight"}, version=version_of(request), actor=manager)
    actions.do_add_note(request, "Internal: ask legal first", actor=manager)
    actions.do_add_note(request, f"@{requester.username} draft is on its way", actor=manager)
    body = client_for(requester).get(reverse("crm:detail", args=[case_schema.key, request.pk])).content.decode()
    assert "Retail" in body and "draft is on its way" in body
    assert "Budget is tight" not in body and "ask legal first" not in body
    manager_body = client_for(manager).get(reverse("crm:detail", args=[case_schema.key, request.pk])).content.decode()
    assert "Budget is tight" in manager_body and "ask legal first" in manager_body


def test_requester_edits_own_comment_but_not_the_teams(case_studies, case_schema, requester, manager,
                                                         client_for):
    request = do_submit_request(case_studies, {"title": "Need a story", "brief": "Retail"}, actor=requester)
    mine = actions.do_add_note(request, "Deadline is Friday", actor=requester)
    theirs = actions.do_add_note(request, f"@{requester.username} noted", actor=manager)
    client = client_for(requester)
    client.post(reverse("crm:note_edit", args=[case_schema.key, request.pk, mine.pk]), {"body": "Deadline is Monday"})
    client.post(reverse("crm:note_edit", args=[case_schema.key, request.pk, theirs.pk]), {"body": "Rewritten"})
    assert Note.objects.get(pk=mine.pk).body == "Deadline is Monday"
    assert Note.objects.get(pk=theirs.pk).body == f"@{requester.username} noted"


def test_requester_cannot_create_outside_requests_tab(case_schema, requester):
    with pytest.raises(GuardRefusal, match="Requests tab"):
        actions.do_create_record(case_schema, {"title": "Sneaky"}, actor=requester)


def test_record_page_offers_inline_edit_only_where_the_team_rules_allow(case_studies, case_schema, manager, member,
                                                                        requester, client_for):
    """Assigning is for managers; requesters change only the fields shown to them. The page says so
    instead of offering a control the guard would refuse."""
    import re

    request = do_submit_request(case_studies, {"title": "Need a story", "brief": "Retail"}, actor=requester)
    own = actions.do_create_record(case_schema, {"title": "Mia's own brief"}, actor=member)  # members edit their own

    def controls(user, record=request) -> tuple[set[str], set[str]]:
        body = client_for(user).get(reverse("crm:detail", args=[case_schema.key, record.pk])).content.decode()
        return (set(re.findall(r'data-inline-edit="([^"]+)"', body)),
                set(re.findall(r'data-field-locked="([^"]+)"', body)))

    editable, locked = controls(manager)
    assert {"title", "assignee"} <= editable and not locked
    editable, locked = controls(member, own)
    assert "title" in editable and "assignee" not in editable and "assignee" in locked
    brief = next(spec.key for spec in case_schema.fields if spec.label == "Brief")
    editable, locked = controls(requester)
    assert {"title", brief} <= editable and "assignee" not in editable
    # and the edit form shows the assignee disabled to the member, with the reason
    form = client_for(member).get(reverse("crm:edit", args=[case_schema.key, own.pk])).content.decode()
    assert "Only a manager of this team may assign records." in form

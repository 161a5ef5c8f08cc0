"""Team spaces and the module builder, as a manager uses them without the org admin."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from crm import actions
from crm.actions import RecordValidationError
from crm.models import FieldDefinition
from teams.actions import do_create_space, do_set_team_member
from teams.models import TeamMember, TeamModule, TeamRecord, TeamSpace
from teams.schema import schema_for

pytestmark = pytest.mark.django_db


def test_only_org_admins_create_spaces(admin_user, standard_user, client_for):
    with pytest.raises(PermissionDenied):
        do_create_space(standard_user.org, name_en="Legal", actor=standard_user)
    assert client_for(standard_user).post(reverse("teams:spaces"), {"name_en": "Legal"}).status_code == 404
    response = client_for(admin_user).post(reverse("teams:spaces"), {"name_en": "Legal", "managers": [standard_user.pk]})
    assert response.status_code == 302
    space = TeamSpace.objects.get(name_en="Legal")
    assert TeamMember.objects.get(space=space).user == standard_user


def test_managers_add_members_but_not_managers(marketing, manager, outsider, client_for):
    client = client_for(manager)
    client.post(reverse("teams:members", args=[marketing.pk]), {"user": outsider.pk, "role": "participant"})
    assert TeamMember.objects.get(space=marketing, user=outsider).role == "participant"
    client.post(reverse("teams:members", args=[marketing.pk]), {"user": outsider.pk, "role": "manager"})
    assert TeamMember.objects.get(space=marketing, user=outsider).role == "participant"
    with pytest.raises(PermissionDenied):
        do_set_team_member(marketing, outsider.pk, "manager", actor=manager)


def test_manager_builds_a_module_in_the_browser_flow(marketing, manager, member, client_for):
    client = client_for(manager)
    response = client.post(reverse("teams:module_new", args=[marketing.pk]), {
        "name_en": "Case Studies", "name_zh": "案例研究", "icon": "file-earmark-text",
        "statuses": "requested | Requested\nwriting | Writing | 撰写中 | #0d6efd\ndone | Done",
        "manager_only_statuses": "done", "done_statuses": "done"})
    assert response.status_code == 302
    module = TeamModule.objects.get(name_en="Case Studies")
    assert [s["value"] for s in module.statuses] == ["requested", "writing", "done"]
    assert module.manager_only_statuses == ["done"]
    response = client.post(reverse("teams:field_new", args=[module.pk]), {
        "label_en": "Customer", "api_name": "customer", "field_type": "lookup", "target": "accounts",
        "shown_to_requesters": "on", "in_list": "on"})
    assert response.status_code == 302
    response = client.post(reverse("teams:field_new", args=[module.pk]), {
        "label_en": "Format", "api_name": "format", "field_type": "picklist",
        "options": "pdf | PDF | | #dc3545\nvideo | Video"})
    assert response.status_code == 302
    definition = FieldDefinition.objects.get(module=module.key, api_name="format")
    assert definition.options[0] == {"value": "pdf", "label_en": "PDF", "label_zh": "", "color": "#dc3545"}
    form = client.get(reverse("crm:create", args=[module.key])).content.decode()
    assert "Customer" in form and "Format" in form
    for user in (member,):
        assert client_for(user).get(reverse("teams:fields", args=[module.pk])).status_code == 404
        assert client_for(user).post(reverse("teams:field_new", args=[module.pk]),
                                     {"label_en": "X", "api_name": "x", "field_type": "text"}).status_code == 404


def test_adding_a_field_touches_no_record_and_retiring_keeps_data(case_studies, case_schema, manager):
    record = actions.do_create_record(case_schema, {"title": "A", "brief": "kept"}, actor=manager)
    before = TeamRecord.objects.get(pk=record.pk).modified_at
    actions.do_create_field(case_studies.org, case_studies.key, api_name="pages", label_en="Pages",
                            field_type="integer", actor=manager)
    assert TeamRecord.objects.get(pk=record.pk).modified_at == before
    brief = FieldDefinition.objects.get(module=case_studies.key, api_name="brief")
    actions.do_set_field_retired(brief, True, actor=manager)
    assert TeamRecord.objects.get(pk=record.pk).data[brief.key] == "kept"


def test_type_change_that_loses_data_is_refused(case_studies, case_schema, manager):
    actions.do_create_record(case_schema, {"title": "A", "brief": "some words"}, actor=manager)
    brief = FieldDefinition.objects.get(module=case_studies.key, api_name="brief")
    with pytest.raises(RecordValidationError) as excinfo:
        actions.do_update_field(brief, label_en="Brief", field_type="integer", actor=manager)
    assert "lose the values stored on 1 records" in " ".join(excinfo.value.message_dict["field_type"])
    assert FieldDefinition.objects.get(pk=brief.pk).field_type == "long_text"
    actions.do_update_field(brief, label_en="Brief", field_type="text", actor=manager)
    assert FieldDefinition.objects.get(pk=brief.pk).field_type == "text"


def test_unique_field_refuses_a_repeat(case_studies, case_schema, manager):
    actions.do_create_field(case_studies.org, case_studies.key, api_name="code", label_en="Code", field_type="text",
                            unique=True, actor=manager)
    bound = schema_for(case_studies).bind(case_studies.org)  # rebinding picks up the new field
    actions.do_create_record(bound, {"title": "A", "code": "CS-1"}, actor=manager)
    with pytest.raises(RecordValidationError) as excinfo:
        actions.do_create_record(bound, {"title": "B", "code": "CS-1"}, actor=manager)
    assert bound.field("code").key in excinfo.value.message_dict
    assert not TeamRecord.objects.filter(title="B").exists()


def test_other_org_cannot_reach_team_pages(case_studies, marketing, other_org_user, client_for):
    client = client_for(other_org_user)
    for url in (reverse("teams:space", args=[marketing.pk]), reverse("teams:fields", args=[case_studies.pk]),
                reverse("teams:module_settings", args=[case_studies.pk]),
                reverse("teams:request_new", args=[case_studies.pk]), reverse("crm:list", args=[case_studies.key])):
        assert client.get(url).status_code == 404, url


def test_status_colours_must_be_colours(marketing, manager):
    from teams.actions import do_create_team_module

    with pytest.raises(RecordValidationError) as excinfo:
        do_create_team_module(marketing, name_en="Sneaky", actor=manager,
                              statuses=[{"value": "a", "color": "#000;display:none"}])
    assert "colour" in " ".join(excinfo.value.message_dict["statuses"])
    assert not TeamModule.objects.filter(name_en="Sneaky").exists()

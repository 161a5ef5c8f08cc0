"""Names, labels and picklist options longer than they may be are refused by name, with the
limit, before the database sees them (no 500, nothing saved)."""
from __future__ import annotations

import pytest
from django.urls import reverse

from crm import actions
from crm.models import FieldDefinition
from teams import actions as team_actions
from teams.models import TeamModule, TeamSpace

pytestmark = pytest.mark.django_db

STATUS = [{"value": "new", "label_en": "New"}]


def test_a_field_label_too_long_is_named(org, admin_user):
    with pytest.raises(actions.RecordValidationError) as refused:
        actions.do_create_field(org, "accounts", api_name="tier", label_en="L" * 101, field_type="text",
                                actor=admin_user)
    assert refused.value.message_dict["label_en"] == [
        "Label (English) can be at most 100 characters (this has 101)."]
    with pytest.raises(actions.RecordValidationError) as refused:
        actions.do_create_field(org, "accounts", api_name="tier", label_en="Tier", field_type="text",
                                help_text="h" * 256, actor=admin_user)
    assert "Help text can be at most 255 characters" in refused.value.message_dict["help_text"][0]
    assert not FieldDefinition.objects.exists()
    field = actions.do_create_field(org, "accounts", api_name="tier", label_en="L" * 100, field_type="text",
                                    actor=admin_user)
    with pytest.raises(actions.RecordValidationError):
        actions.do_update_field(field, label_en="Tier", label_zh="等" * 101, actor=admin_user)
    field.refresh_from_db()
    assert field.label_en == "L" * 100 and field.label_zh == ""


@pytest.mark.parametrize("option, part", [
    ({"value": "v" * 61}, "its value can be at most 60"),
    ({"value": "gold", "label_en": "G" * 101}, "its English label can be at most 100"),
    ({"value": "gold", "label_zh": "金" * 101}, "its Chinese label can be at most 100"),
])
def test_a_picklist_option_too_long_is_named(org, admin_user, option, part):
    with pytest.raises(actions.RecordValidationError) as refused:
        actions.do_create_field(org, "accounts", api_name="tier", label_en="Tier", field_type="picklist",
                                options=[{"value": "ok"}, option], actor=admin_user)
    assert refused.value.message_dict["options"][0].startswith(f"Option 2: {part} characters")
    assert not FieldDefinition.objects.exists()


def test_the_field_page_shows_the_option_problem(org, admin_user, client_for):
    response = client_for(admin_user).post(reverse("crm:settings_field_new", args=["accounts"]), {
        "label_en": "Tier", "api_name": "tier", "field_type": "picklist", "options": "gold | " + "G" * 101})
    assert response.status_code == 400
    assert "Option 1: its English label can be at most 100 characters" in response.content.decode()
    assert not FieldDefinition.objects.exists()


def test_space_and_module_names_too_long_are_named(org, admin_user, manager):
    with pytest.raises(actions.RecordValidationError) as refused:
        team_actions.do_create_space(org, name_en="S" * 101, actor=admin_user)
    assert refused.value.message_dict["name_en"] == ["Name (English) can be at most 100 characters (this has 101)."]
    space = team_actions.do_create_space(org, name_en="S" * 100, manager_ids=[manager.pk], actor=admin_user)
    with pytest.raises(actions.RecordValidationError) as refused:
        team_actions.do_create_team_module(space, name_en="Asks", name_zh="问" * 101, statuses=STATUS, actor=manager)
    assert "Name (Chinese) can be at most 100 characters" in refused.value.message_dict["name_zh"][0]
    with pytest.raises(actions.RecordValidationError) as refused:
        team_actions.do_create_team_module(space, name_en="Asks", statuses=[{"value": "s" * 61}], actor=manager)
    assert "its value can be at most 60 characters" in refused.value.message_dict["statuses"][0]
    assert TeamSpace.objects.count() == 1 and not TeamModule.objects.exists()


def test_a_team_page_refusal_is_a_sentence_not_a_dict(case_studies, manager, client_for):
    from django.contrib.messages import get_messages

    response = client_for(manager).post(reverse("teams:requesters", args=[case_studies.pk]), {"users": ["999999"]})
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Choose an active user of this organisation."]

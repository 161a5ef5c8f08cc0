"""Team module names: unique within a space, with a singular and a plural name in both languages."""
from __future__ import annotations

import importlib

import pytest
from django.utils import translation
from django.apps import apps
from django.urls import reverse

from crm.actions import RecordValidationError
from teams import actions
from teams.models import TeamModule

from .conftest import STATUSES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_afterwards():
    """Switching a user's language activates it in this thread: later tests expect English."""
    yield
    translation.activate("en")


def test_a_second_module_of_the_same_name_in_a_space_is_refused(case_studies, marketing, manager):
    with pytest.raises(RecordValidationError) as exc:
        actions.do_create_team_module(marketing, name_en="case studies", statuses=STATUSES, actor=manager)
    assert "name_en" in exc.value.message_dict
    with pytest.raises(RecordValidationError) as exc:
        actions.do_create_team_module(marketing, name_en="Stories", name_zh="案例研究", statuses=STATUSES,
                                      actor=manager)
    assert "name_zh" in exc.value.message_dict
    assert TeamModule.objects.filter(space=marketing).count() == 1


def test_renaming_onto_another_module_is_refused_and_changes_nothing(case_studies, marketing, manager):
    press = actions.do_create_team_module(marketing, name_en="Press releases", statuses=STATUSES, actor=manager)
    with pytest.raises(RecordValidationError):
        actions.do_update_team_module(press, name_en="CASE STUDIES", statuses=STATUSES, actor=manager)
    press.refresh_from_db()
    assert press.name_en == "Press releases"
    # Keeping its own name is no clash.
    actions.do_update_team_module(case_studies, name_en="Case Studies", name_zh="案例研究", statuses=STATUSES,
                                  done_statuses=["done"], actor=manager)


def test_the_same_name_in_another_space_is_fine(case_studies, admin_user, manager):
    sales = actions.do_create_space(admin_user.org, name_en="Sales", manager_ids=[manager.pk], actor=admin_user)
    module = actions.do_create_team_module(sales, name_en="Case Studies", statuses=STATUSES, actor=admin_user)
    assert module.pk != case_studies.pk


def test_the_database_refuses_a_duplicate_the_check_did_not_see(case_studies, marketing):
    twin = TeamModule(org_id=marketing.org_id, space=marketing, name_en="CASE studies", statuses=STATUSES)
    with pytest.raises(RecordValidationError):
        actions._save_module(twin)
    assert TeamModule.objects.filter(space=marketing).count() == 1


def test_the_builder_form_names_the_clash(case_studies, marketing, manager, client_for):
    response = client_for(manager).post(reverse("teams:module_new", args=[marketing.pk]), {
        "name_en": "Case Studies", "icon": "kanban", "statuses": "requested | Requested"})
    assert response.status_code == 400
    assert "already has a module named" in response.content.decode()
    assert TeamModule.objects.filter(space=marketing).count() == 1


def test_singular_names_default_to_the_name_and_can_be_set(marketing, manager, client_for):
    plain = actions.do_create_team_module(marketing, name_en="Briefs", name_zh="简报", statuses=STATUSES,
                                          actor=manager)
    assert (plain.name_singular_en, plain.name_singular_zh) == ("Briefs", "简报")
    response = client_for(manager).post(reverse("teams:module_new", args=[marketing.pk]), {
        "name_en": "Case studies", "name_singular_en": "Case study", "name_zh": "案例研究",
        "name_singular_zh": "案例", "icon": "kanban", "statuses": "requested | Requested"})
    assert response.status_code == 302
    module = TeamModule.objects.get(space=marketing, name_en="Case studies")
    assert (module.name_singular_en, module.name_singular_zh) == ("Case study", "案例")


def test_pages_use_the_singular_for_one_record_and_the_plural_for_lists(case_studies, manager, client_for):
    actions.do_update_team_module(case_studies, name_en="Case studies", name_zh="案例研究", statuses=STATUSES,
                                  name_singular_en="Case study", name_singular_zh="案例", done_statuses=["done"],
                                  actor=manager)
    client = client_for(manager)
    listing = client.get(reverse("crm:list", args=[case_studies.key])).content.decode()
    assert "New Case study" in listing and "New Case studies" not in listing
    assert "<title>Case studies" in listing or ">Case studies<" in listing or " Case studies</h1>" in listing
    new = client.get(reverse("crm:create", args=[case_studies.key])).content.decode()
    assert "New Case study" in new
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    listing = client.get(reverse("crm:list", args=[case_studies.key])).content.decode()
    assert "新建案例<" in listing.replace("新建案例研究", "") and "案例研究" in listing


def test_the_migration_gives_existing_modules_a_singular_name(case_studies):
    TeamModule.objects.filter(pk=case_studies.pk).update(name_singular_en="", name_singular_zh="")
    migration = importlib.import_module("teams.migrations.0003_teammodule_singular_names")
    migration.dedupe_and_fill(apps, None)
    case_studies.refresh_from_db()
    assert (case_studies.name_singular_en, case_studies.name_singular_zh) == ("Case Studies", "案例研究")

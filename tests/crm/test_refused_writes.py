"""A refused request writes nothing: every view that creates something about another record
resolves that record through access first (another org's or an invisible record is a 404, with
no row written anywhere)."""
from __future__ import annotations

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access.actions import do_set_org_default
from crm import actions
from crm.models import Task

pytestmark = pytest.mark.django_db

APPS = ("access", "crm", "teams", "locking", "guardian")


def row_counts() -> dict[str, int]:
    """Rows of every table of the apps, so "nothing written" is checked everywhere."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()
            if model._meta.app_label in APPS}


@pytest.fixture
def theirs(other_org_user):
    """Globex's account and task."""
    account = actions.do_create_record("accounts", {"name": "Globex Holdings"}, actor=other_org_user)
    task = actions.do_create_record("tasks", {"subject": "Globex task"}, actor=other_org_user)
    return {"accounts": account, "tasks": task}


def test_task_for_another_orgs_record_is_refused_and_not_created(standard_user, theirs, client_for):
    client = client_for(standard_user)
    url = reverse("crm:create", args=["tasks"]) + f"?related_module=accounts&related_pk={theirs['accounts'].pk}"
    before = row_counts()
    assert client.get(url).status_code == 404
    response = client.post(url, {"subject": "Sneaky"})
    assert response.status_code == 404
    assert row_counts() == before
    assert not Task.objects.filter(subject="Sneaky").exists()


def test_task_for_an_invisible_record_of_the_same_org_is_refused(admin_user, standard_user, client_for):
    do_set_org_default(admin_user.org, "accounts", "private", actor=admin_user)
    hidden = actions.do_create_record("accounts", {"name": "Private"}, actor=admin_user)
    url = reverse("crm:create", args=["tasks"]) + f"?related_module=accounts&related_pk={hidden.pk}"
    before = row_counts()
    assert client_for(standard_user).post(url, {"subject": "Sneaky"}).status_code == 404
    assert row_counts() == before


def test_task_for_a_visible_record_is_created_and_linked(standard_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Mine"}, actor=standard_user)
    url = reverse("crm:create", args=["tasks"]) + f"?related_module=accounts&related_pk={account.pk}"
    response = client_for(standard_user).post(url, {"subject": "Call them", "status": "not_started"})
    assert response.status_code == 302 and response["Location"] == account.get_absolute_url()
    task = Task.objects.get(subject="Call them")
    assert task.related_id == account.pk


def test_task_with_an_unknown_related_module_writes_nothing(standard_user, client_for):
    url = reverse("crm:create", args=["tasks"]) + "?related_module=nothing&related_pk=1"
    before = row_counts()
    assert client_for(standard_user).post(url, {"subject": "Sneaky"}).status_code == 404
    assert row_counts() == before


def other_record_posts(theirs):
    """(url name, args, data) of every view that writes about one record, aimed at Globex's."""
    account, task = theirs["accounts"], theirs["tasks"]
    upload = SimpleUploadedFile("x.txt", b"x")
    return [
        ("crm:note_add", ["accounts", account.pk], {"body": "hi"}),
        ("crm:attachment_add", ["accounts", account.pk], {"file": upload}),
        ("crm:edit", ["accounts", account.pk], {"name": "Hijacked", "version": 1}),
        ("crm:delete", ["accounts", account.pk], {}),
        ("crm:owner", ["accounts", account.pk], {"owner": 1}),
        ("crm:field", ["accounts", account.pk, "name"], {"name": "Hijacked", "version": 1}),
        ("crm:share_add", ["accounts", account.pk], {"user": 1, "access": "read"}),
        ("crm:share_revoke", ["accounts", account.pk], {"share": 1}),
        ("locking:lock", ["accounts", account.pk], {"reason": "mine"}),
        ("locking:unlock", ["accounts", account.pk], {}),
        ("locking:override_unlock", ["accounts", account.pk], {"reason": "mine"}),
        ("crm:kanban_move", ["tasks", task.pk], {"field": "status", "value": "done", "version": 1}),
    ]


def test_every_record_write_aimed_at_another_org_is_a_404_that_writes_nothing(admin_user, theirs, client_for):
    client = client_for(admin_user)
    for name, args, data in other_record_posts(theirs):
        before = row_counts()
        response = client.post(reverse(name, args=args), data)
        assert response.status_code == 404, name
        assert row_counts() == before, name


def test_team_request_to_another_orgs_module_writes_nothing(admin_user, other_org_user, client_for):
    from teams import actions as team_actions

    space = team_actions.do_create_space(other_org_user.org, name_en="Globex team", manager_ids=[other_org_user.pk],
                                         actor=other_org_user)
    module = team_actions.do_create_team_module(
        space, name_en="Asks", statuses=[{"value": "new", "label_en": "New"}], actor=other_org_user)
    before = row_counts()
    response = client_for(admin_user).post(reverse("teams:request_new", args=[module.pk]), {"title": "Sneaky"})
    assert response.status_code == 404
    assert row_counts() == before

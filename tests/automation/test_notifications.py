"""Notifications: who is told about a record event, the bell, the page and marking as read."""
from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from tests.workers import thread_worker
from automation import messages
from automation.actions import do_mark_read, do_notify
from automation.delivery import deliver
from automation.messages import render
from automation.models import Notification
from automation.models import PendingEvent
from automation.tasks import process_event
from crm.events import RecordEvent
from crm import actions as crm_actions
from teams import actions as team_actions
from tests.teams.conftest import (STATUSES, case_studies, manager, marketing, member, outsider,  # noqa: F401
                                  participant, requester)


def inbox(user):
    return list(Notification.objects.filter(recipient=user).order_by("pk"))


def texts(user, language="en"):
    with translation.override(language):
        return [render(n) for n in inbox(user)]


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the after-commit listeners (and so the eager task) of the actions inside the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_the_new_owner_is_told_and_the_actor_is_not(admin_user, standard_user, committed):
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    with committed():
        crm_actions.do_change_owner(account, standard_user.pk, version=account.version, actor=admin_user)
    assert [n.kind for n in inbox(standard_user)] == [messages.OWNER]
    assert inbox(admin_user) == []
    assert texts(standard_user) == ["Alice Admin made you the owner of Initech"]


def test_giving_a_record_to_oneself_tells_nobody(admin_user, standard_user, committed):
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=standard_user, owner=admin_user)
    with committed():
        crm_actions.do_change_owner(account, standard_user.pk, version=account.version, actor=standard_user)
    assert Notification.objects.count() == 0


def test_a_requester_is_told_on_assignment_and_on_done_in_their_language(case_studies, manager, member,
                                                                         requester, committed):
    request = team_actions.do_submit_request(case_studies, {"title": "Acme story"}, actor=requester)
    with committed():
        request = team_actions.do_assign(request, member.pk, version=request.version, actor=manager)
    with committed():
        request = crm_actions.do_update_record(request, {"status": "in_progress"}, version=request.version,
                                               actor=manager)
    with committed():
        crm_actions.do_update_record(request, {"status": "done"}, version=request.version, actor=manager)
    assert [n.kind for n in inbox(requester)] == [messages.REQUEST_ASSIGNED, messages.REQUEST_STATUS,
                                                  messages.REQUEST_DONE]
    assert [n.kind for n in inbox(member)] == [messages.ASSIGNED]
    assert inbox(manager) == []
    member_name = str(member)
    assert texts(requester) == [f"Your request Acme story was assigned to {member_name}",
                                "Your request Acme story moved to In progress", "Your request Acme story is done"]
    assert texts(requester, "zh-hans") == [f"您的请求 Acme story 已分配给 {member_name}",
                                           "您的请求 Acme story 已进入“进行中”", "您的请求 Acme story 已完成"]


def test_nobody_is_told_about_a_record_they_cannot_open(case_studies, manager, requester, outsider):
    request = team_actions.do_submit_request(case_studies, {"title": "Secret"}, actor=requester)
    written = deliver(uuid.uuid4().hex, case_studies.key, request.org_id, request.pk, manager.pk,
                      {"assignee": [None, outsider.pk]})
    assert written == 1  # the requester only
    assert inbox(outsider) == []
    assert [n.kind for n in inbox(requester)] == [messages.REQUEST_ASSIGNED]


def _pending(record, actor, changes, kind="owner_changed"):
    """An outbox row as an action writes it, not yet handled."""
    event = RecordEvent(kind=kind, module=record.MODULE_KEY, org_id=record.org_id, record_id=record.pk,
                        actor_id=actor.pk, path="page", changes=changes)
    return PendingEvent.objects.create(org_id=record.org_id, event_id=event.id, payload=event.as_json())


def test_a_retried_event_notifies_once(admin_user, standard_user):
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user, owner=standard_user)
    changes = {"owner": [admin_user.pk, standard_user.pk]}
    event = RecordEvent(kind="owner_changed", module="accounts", org_id=account.org_id, record_id=account.pk,
                        actor_id=admin_user.pk, path="page", changes=changes)
    assert deliver(event.id, "accounts", account.org_id, account.pk, admin_user.pk, changes) == 1
    assert deliver(event.id, "accounts", account.org_id, account.pk, admin_user.pk, changes) == 0
    pending = _pending(account, admin_user, changes)
    assert process_event.apply(args=(pending.pk,)).get() is True
    assert process_event.apply(args=(pending.pk,)).get() is False  # handled and gone
    assert len(inbox(standard_user)) == 2  # one per event, not per delivery
    assert not PendingEvent.objects.filter(pk=pending.pk).exists()


def _notify(user, count, actor=None, org=None):
    org = org or user.org
    for _i in range(count):
        do_notify(org_id=org.pk, recipient_id=user.pk, kind=messages.OWNER, module="accounts", record_id=1,
                  key=uuid.uuid4().hex, actor_id=actor and actor.pk, params={"record": "Initech"})


def test_the_bell_shows_the_unread_count_bounded(standard_user, client_for):
    client = client_for(standard_user)
    assert 'data-testid="bell-count"' not in client.get("/notifications/bell/").content.decode()
    _notify(standard_user, 3)
    assert ">3</span>" in client.get("/notifications/bell/").content.decode()
    _notify(standard_user, 97)
    assert ">99+</span>" in client.get("/notifications/bell/").content.decode()
    page = client.get("/notifications/").content.decode()
    assert 'hx-get="/notifications/bell/"' in page and 'hx-trigger="load, every 30s"' in page


def test_the_page_lists_own_notifications_newest_first_paginated(admin_user, standard_user, client_for):
    _notify(standard_user, 26, actor=admin_user)
    newest = Notification.objects.filter(recipient=standard_user).latest("pk")
    client = client_for(standard_user)
    first = client.get("/notifications/").content.decode()
    assert first.count('data-testid="notification-unread"') == 25
    assert "Alice Admin made you the owner of Initech" in first and "/m/accounts/1/" in first
    assert first.index(f'name="id" value="') == first.index(f'name="id" value="{newest.pk}"')  # newest first
    assert client.get("/notifications/?page=2").content.decode().count('data-testid="notification-unread"') == 1
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    zh = client.get("/notifications/").content.decode()
    assert "Alice Admin 将您设为 Initech 的负责人" in zh


def test_the_page_costs_the_same_queries_for_1_or_25_notifications(standard_user, admin_user, client_for):
    client = client_for(standard_user)
    _notify(standard_user, 1, actor=admin_user)
    client.get("/notifications/")
    with CaptureQueriesContext(connection) as one:
        client.get("/notifications/")
    _notify(standard_user, 24, actor=standard_user)
    with CaptureQueriesContext(connection) as many:
        client.get("/notifications/")
    assert len(many) == len(one)


def test_mark_one_and_mark_all_read(standard_user, client_for):
    _notify(standard_user, 3)
    first, *rest = inbox(standard_user)
    client = client_for(standard_user)
    assert client.post("/notifications/read/", {"id": first.pk}).status_code == 302
    assert [n.read_at is not None for n in inbox(standard_user)] == [True, False, False]
    client.post("/notifications/read/", {"all": "1"})
    assert all(n.read_at for n in inbox(standard_user))
    assert 'data-testid="bell-count"' not in client.get("/notifications/bell/").content.decode()


def test_another_users_or_orgs_notification_is_not_found(standard_user, other_user, other_org_user, client_for):
    _notify(other_user, 1)
    _notify(other_org_user, 1)
    theirs, foreign = Notification.objects.order_by("pk")
    client = client_for(standard_user)
    for pk in (theirs.pk, foreign.pk, 10 ** 9, "x", ""):
        assert client.post("/notifications/read/", {"id": pk}).status_code == 404
    client.post("/notifications/read/", {"all": "1"})
    assert Notification.objects.filter(read_at__isnull=False).count() == 0
    page = client.get("/notifications/").content.decode()
    assert "notification-unread" not in page
    assert do_mark_read(standard_user, [theirs.pk, foreign.pk]) == 0


def test_a_notification_of_another_org_of_the_same_user_stays_there(standard_user, other_org, admin_user,
                                                                   client_for):
    _notify(standard_user, 1, org=other_org)  # as if the user were a member there too
    client = client_for(standard_user)
    assert "notification-unread" not in client.get("/notifications/").content.decode()
    assert client.post("/notifications/read/", {"id": inbox(standard_user)[0].pk}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_once(admin_user, make_user, settings):
    rep = make_user(admin_user.org, username="rep")
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    with thread_worker("notify-test", settings.CELERY_BROKER_URL) as queue:
        pending = _pending(account, admin_user, {"owner": [admin_user.pk, rep.pk]})
        for _i in range(2):  # the same event delivered twice, as after a lost acknowledgement
            process_event.apply_async(args=(pending.pk,), queue=queue)
        deadline = time.monotonic() + 30
        while not inbox(rep) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # time for the second delivery, which must write nothing
    assert len(inbox(rep)) == 1

"""Notification preferences (in the app, by e-mail, both, none), the e-mails and their task,
and the preferences page."""
from __future__ import annotations

import time
import uuid

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from tests.workers import thread_worker
from access.actions import do_set_language
from automation import messages
from automation.actions import do_notify, do_set_notification_preferences
from automation.delivery import notify_users, send_notification_email
from automation.models import Notification, NotificationPreference
from crm import actions as crm_actions
from teams import actions as team_actions
from tests.teams.conftest import (STATUSES, case_studies, manager, marketing, member, outsider,  # noqa: F401
                                  participant, requester)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def story(case_studies, requester):
    return team_actions.do_submit_request(case_studies, {"title": "Acme story"}, actor=requester)


def bell(client) -> str:
    return client.get("/notifications/bell/").content.decode()


def prefer(user, channel, kind=messages.MENTIONED):
    do_set_notification_preferences(user, {kind: channel}, actor=user)


@pytest.mark.parametrize("channel, shown, mailed", [
    ("in_app", True, False), ("email", False, True), ("both", True, True), ("none", False, False)])
def test_each_choice_is_honoured(story, manager, member, client_for, committed, channel, shown, mailed):
    prefer(member, channel)
    with committed():
        crm_actions.do_add_note(story, "@mia please look", actor=manager)
    client = client_for(member)
    assert (">1</span>" in bell(client)) is shown
    assert ('data-testid="notification-unread"' in client.get("/notifications/").content.decode()) is shown
    assert [m.to for m in mail.outbox] == ([[member.email]] if mailed else [])
    rows = Notification.objects.filter(recipient=member)
    assert rows.count() == (0 if channel == "none" else 1)  # "none" writes nothing at all
    if mailed:
        assert rows.get().emailed_at is not None


def test_a_preference_is_per_kind(story, manager, member, committed):
    prefer(member, "none", kind=messages.ASSIGNED)
    with committed():
        story = team_actions.do_assign(story, member.pk, version=story.version, actor=manager)
    with committed():
        crm_actions.do_add_note(story, "@mia", actor=manager)
    assert [n.kind for n in Notification.objects.filter(recipient=member)] == [messages.MENTIONED]


def test_the_email_is_in_the_recipients_language_with_an_absolute_link(story, manager, member, settings,
                                                                       committed):
    settings.SITE_URL = "https://crm.example.com/"
    prefer(member, "email")
    with committed():
        note = crm_actions.do_add_note(story, "@mia can you write the <Acme> & Co story?", actor=manager)
    (english,) = mail.outbox
    link = f"https://crm.example.com/m/{story.module.key}/{story.pk}/#note-{note.pk}"
    assert english.subject == "Mark mentioned you in a note on Acme story"
    assert link in english.body
    assert "@mia can you write the <Acme> & Co story?" in english.body  # the note, as written
    assert "https://crm.example.com/notifications/preferences/" in english.body
    do_set_language(member, "zh-hans")
    with committed():
        crm_actions.do_add_note(story, "@mia 再看一下", actor=manager)
    chinese = mail.outbox[1]
    assert chinese.subject == "Mark 在 Acme story 的备注中提到了您"
    assert "打开：" in chinese.body and "@mia 再看一下" in chinese.body


def test_a_rule_notice_by_email(story, manager, member, committed):
    prefer(member, "both", kind=messages.RULE_NOTICE)
    with committed():
        count = notify_users(story.org_id, [member.pk], messages.RULE_NOTICE, story.module.key, story.pk,
                             f"rule:1:{uuid.uuid4().hex}", actor_id=manager.pk,
                             params={"rule": "Onboarding", "message": "Start the onboarding"})
    assert count == 1
    assert [m.subject for m in mail.outbox] == ["Onboarding on Acme story: Start the onboarding"]


def test_no_email_about_a_record_the_recipient_can_no_longer_open(story, manager, member, marketing):
    from teams.models import TeamMember

    row = do_notify(org_id=story.org_id, recipient_id=member.pk, kind=messages.ASSIGNED, module=story.module.key,
                    record_id=story.pk, key=uuid.uuid4().hex, params={"record": "Acme story"}, by_email=True)
    # Before the e-mail goes, Mia becomes a participant, who opens only her own records.
    team_actions.do_set_team_member(marketing, member.pk, TeamMember.Role.PARTICIPANT, actor=manager)
    assert send_notification_email.apply(args=[row.pk]).get() is False
    assert mail.outbox == []


def _email_row(user, record_id=1) -> Notification:
    return do_notify(org_id=user.org.pk, recipient_id=user.pk, kind=messages.OWNER, module="accounts",
                     record_id=record_id, key=uuid.uuid4().hex, params={"record": "Initech"}, in_app=True,
                     by_email=True)


def test_a_failing_mail_server_keeps_the_notification_and_a_retry_sends_once(admin_user, standard_user,
                                                                            client_for, settings):
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user, owner=standard_user)
    row = _email_row(standard_user, account.pk)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    with pytest.raises(OSError):
        send_notification_email.apply(args=[row.pk], throw=True, retries=8)  # the last try gives up
    row.refresh_from_db()
    assert row.emailed_at is None
    assert ">1</span>" in bell(client_for(standard_user))  # the in-app notification is there all the same
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert send_notification_email.apply(args=[row.pk]).get() is True
    assert send_notification_email.apply(args=[row.pk]).get() is False
    assert len(mail.outbox) == 1


def test_a_retried_delivery_sends_the_email_the_first_try_could_not(story, manager, member, settings,
                                                                    committed):
    prefer(member, "email", kind=messages.RULE_NOTICE)
    args = (story.org_id, [member.pk], messages.RULE_NOTICE, story.module.key, story.pk, "rule:1:event-1")
    params = {"rule": "Onboarding", "message": "Start"}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    with committed():
        assert notify_users(*args, actor_id=manager.pk, params=params) == 1
    assert mail.outbox == [] and Notification.objects.get(recipient=member).emailed_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for _try in range(2):  # the caller retries with the same key: nothing new, the e-mail goes once
        with committed():
            assert notify_users(*args, actor_id=manager.pk, params=params) == 0
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_an_email_once(admin_user, make_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    rep = make_user(admin_user.org, username="rep")
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user, owner=rep)
    row = _email_row(rep, account.pk)
    with thread_worker("notify-mail-test", settings.CELERY_BROKER_URL) as queue:
        for _i in range(2):  # the same task twice, as after a lost acknowledgement
            send_notification_email.apply_async(args=(row.pk,), queue=queue)
        deadline = time.monotonic() + 30
        while Notification.objects.filter(pk=row.pk, emailed_at__isnull=True).exists() \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # time for the second task, which must send nothing
    assert [m.to for m in mail.outbox] == [[rep.email]]
    assert Notification.objects.get(pk=row.pk).emailed_at is not None


# --- the preferences page -------------------------------------------------------------

def test_the_page_shows_the_defaults_and_saves_ones_own_choices(standard_user, other_user, client_for):
    client = client_for(standard_user)
    page = client.get("/notifications/preferences/").content.decode()
    assert page.count('value="in_app" checked') == len(messages.KIND_LABELS)  # the default
    data = {kind: "in_app" for kind in messages.KIND_LABELS}
    data.update({messages.MENTIONED: "both", messages.RULE_NOTICE: "none", "user": other_user.pk})
    response = client.post("/notifications/preferences/", data)
    assert response.status_code == 302
    mine = dict(NotificationPreference.objects.filter(user=standard_user).values_list("kind", "channel"))
    assert mine[messages.MENTIONED] == "both" and mine[messages.RULE_NOTICE] == "none"
    assert not NotificationPreference.objects.filter(user=other_user).exists()  # "user" is not a field
    page = client.get("/notifications/preferences/").content.decode()
    assert 'value="both" checked' in page and "Your notification preferences are saved." in page


def test_bad_choices_write_nothing_and_name_the_row(standard_user, client_for):
    client = client_for(standard_user)
    data = {kind: "in_app" for kind in messages.KIND_LABELS}
    data[messages.MENTIONED] = "pigeon"
    response = client.post("/notifications/preferences/", data)
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not NotificationPreference.objects.exists()
    with pytest.raises(ValidationError) as error:
        do_set_notification_preferences(standard_user, {"no_such_kind": "email"}, actor=standard_user)
    assert "no_such_kind" in error.value.message_dict


def test_nobody_sets_another_users_preferences(standard_user, other_user, client):
    with pytest.raises(PermissionDenied):
        do_set_notification_preferences(other_user, {messages.MENTIONED: "none"}, actor=standard_user)
    response = client.post("/notifications/preferences/", {messages.MENTIONED: "none"})
    assert response.status_code == 302 and "/login/" in response["Location"]  # anonymous: log in first
    assert not NotificationPreference.objects.exists()


def test_none_for_owner_changes_tells_the_new_owner_nothing(standard_user, committed, admin_user):
    prefer(standard_user, "none", kind=messages.OWNER)
    assert NotificationPreference.objects.get(user=standard_user).org_id == standard_user.org.pk
    account = crm_actions.do_create_record("accounts", {"name": "Initech"}, actor=admin_user)
    with committed():
        crm_actions.do_change_owner(account, standard_user.pk, version=account.version, actor=admin_user)
    assert not Notification.objects.filter(recipient=standard_user).exists()


def test_the_page_in_chinese_and_the_links_to_it(standard_user, client_for):
    client = client_for(standard_user)
    assert 'href="/notifications/preferences/"' in client.get("/notifications/").content.decode()
    do_set_language(standard_user, "zh-hans")
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = client.get("/notifications/preferences/").content.decode()
    assert "通知偏好" in page and "有人在备注中提到我" in page

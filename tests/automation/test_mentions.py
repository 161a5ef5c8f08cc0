"""@mentions in notes, and `notify_users`, the door workflow rules notify through."""
from __future__ import annotations

import uuid

import pytest
from django.utils import translation

from access.actions import do_set_org_default
from automation import messages
from automation.delivery import deliver, notify_users
from automation.messages import path, render
from automation.models import Notification
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
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def story(case_studies, requester):
    return team_actions.do_submit_request(case_studies, {"title": "Acme story"}, actor=requester)


def test_the_mentioned_who_may_open_the_record_are_told_with_a_link_to_the_note(
        story, manager, member, outsider, other_org_user, committed):
    with committed():
        note = crm_actions.do_add_note(story, "@mia @otto @mark @globex-admin please have a look.", actor=manager)
    assert [n.kind for n in inbox(member)] == [messages.MENTIONED]
    assert inbox(outsider) == []  # cannot open the request
    assert inbox(manager) == []  # the author mentioned themselves
    assert inbox(other_org_user) == []  # another org's user
    assert texts(member) == ["Mark mentioned you in a note on Acme story"]
    assert texts(member, "zh-hans") == ["Mark 在 Acme story 的备注中提到了您"]
    assert path(inbox(member)[0]) == f"/m/{story.module.key}/{story.pk}/#note-{note.pk}"


def test_editing_a_note_tells_only_the_newly_mentioned(story, manager, member, requester, participant,
                                                       committed):
    with committed():
        note = crm_actions.do_add_note(story, "Over to @mia", actor=manager)
    with committed():
        note = crm_actions.do_update_note(note, "Over to @mia and @rep", actor=manager)
    with committed():
        crm_actions.do_update_note(note, "Over to @mia and @rep, thanks @emily", actor=manager)
    assert len(inbox(member)) == 1
    assert [n.kind for n in inbox(requester)] == [messages.MENTIONED]  # the request's requester may open it
    assert inbox(participant) == []  # a participant opens only their own records


def test_a_note_on_a_private_record_tells_only_who_can_see_it(admin_user, standard_user, other_user, committed):
    do_set_org_default(admin_user.org, "deals", "private", actor=admin_user)
    deal = crm_actions.do_create_record("deals", {"name": "Big deal", "stage": "negotiation"}, actor=standard_user)
    with committed():
        crm_actions.do_add_note(deal, "@olga @acme-admin can you help?", actor=standard_user)
    assert inbox(other_user) == []
    assert [n.kind for n in inbox(admin_user)] == [messages.MENTIONED]


def test_another_orgs_user_is_never_told_even_if_named_by_id(story, manager, other_org_user):
    changes = {"mentions": [[], [other_org_user.pk]], "note": [None, 1]}
    assert deliver(uuid.uuid4().hex, story.module.key, story.org_id, story.pk, manager.pk, changes) == 0
    assert inbox(other_org_user) == []


def test_the_bell_of_the_mentioned_counts_it(story, manager, member, client_for, committed):
    with committed():
        crm_actions.do_add_note(story, "@mia", actor=manager)
    client = client_for(member)
    assert ">1</span>" in client.get("/notifications/bell/").content.decode()
    assert "#note-" in client.get("/notifications/").content.decode()


def test_notify_users_tells_who_may_open_once_per_key(story, manager, member, outsider, requester,
                                                       other_org_user):
    args = (story.org_id, [member.pk, outsider.pk, requester.pk, manager.pk, other_org_user.pk, None],
            messages.RULE_NOTICE, story.module.key, story.pk, f"rule:7:{uuid.uuid4().hex}")
    params = {"rule": "Onboarding", "message": "Start the onboarding"}
    assert notify_users(*args, actor_id=manager.pk, params=params) == 2  # the member and the requester
    assert notify_users(*args, actor_id=manager.pk, params=params) == 0  # a retry writes nothing
    assert inbox(outsider) == inbox(manager) == inbox(other_org_user) == []
    assert texts(member) == ["Onboarding on Acme story: Start the onboarding"]
    assert texts(requester, "zh-hans") == ["Onboarding（Acme story）：Start the onboarding"]


def test_notify_users_may_include_the_actor_and_picks_the_readers_language(story, manager):
    params = {"rule": "Onboarding", "message_en": "Start", "message_zh": "开始"}
    assert notify_users(story.org_id, [manager.pk], messages.RULE_NOTICE, story.module.key, story.pk,
                        "k", actor_id=manager.pk, params=params, include_actor=True) == 1
    assert texts(manager) == ["Onboarding on Acme story: Start"]
    assert texts(manager, "zh-hans") == ["Onboarding（Acme story）：开始"]


def test_notify_users_about_a_missing_record_writes_nothing(story, member):
    assert notify_users(story.org_id, [member.pk], messages.RULE_NOTICE, story.module.key, 10 ** 9, "k") == 0
    assert notify_users(story.org_id, [member.pk], messages.RULE_NOTICE, "no-such-module", story.pk, "k") == 0

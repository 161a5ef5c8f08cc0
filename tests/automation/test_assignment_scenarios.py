"""Assignment stories: case-study requests about key accounts go straight to the marketing
manager; the others go round robin to the team, and the requester hears who has it."""
from __future__ import annotations

import pytest

from automation import assignment_actions as actions
from automation.models import Notification
from crm.actions import do_create_field
from teams import actions as team_actions
from teams.models import TeamRecord
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_key_account_requests_go_straight_to_the_marketing_manager(case_studies, manager, member,  # noqa: F811
                                                                  participant, requester, committed):
    key = do_create_field(manager.org, case_studies.key, api_name="key_account", label_en="Key account",
                          field_type="boolean", shown_to_requesters=True, actor=manager)
    rule = actions.do_create_assignment_rule(manager.org, case_studies.key, name="Case studies", actor=manager)
    actions.do_add_assignment_entry(rule, actor=manager, method="user", user_id=manager.pk,
                                    criteria={"all": [{"field": key.key, "op": "eq", "value": True}]})
    actions.do_add_assignment_entry(rule, actor=manager, criteria=None, method="round_robin", pool="users",
                                    pool_users=[member.pk, participant.pk])
    actions.do_activate_assignment_rule(rule, actor=manager)
    with committed():
        vip = team_actions.do_submit_request(case_studies, {"title": "Initech story", key.key: True}, actor=requester)
        plain = [team_actions.do_submit_request(case_studies, {"title": f"Story {i}"}, actor=requester)
                 for i in range(2)]
    assert TeamRecord.objects.get(pk=vip.pk).assignee_id == manager.pk
    assert sorted(TeamRecord.objects.get(pk=r.pk).assignee_id for r in plain) == sorted([member.pk, participant.pk])
    told = {(n.recipient_id, n.kind) for n in Notification.objects.filter(record_id=vip.pk)}
    # The manager hears of it although the rule acts as them; the requester hears who has it.
    assert told == {(manager.pk, "assigned"), (requester.pk, "request_assigned")}

"""The case-study story's cast: a Marketing space, its Case Studies module and people."""
from __future__ import annotations

import pytest

from teams import actions
from teams.models import TeamMember

STATUSES = [
    {"value": "requested", "label_en": "Requested", "label_zh": "已请求", "color": "#6c757d"},
    {"value": "in_progress", "label_en": "In progress", "label_zh": "进行中", "color": "#0d6efd"},
    {"value": "review", "label_en": "Review", "label_zh": "审核", "color": "#fd7e14"},
    {"value": "done", "label_en": "Done", "label_zh": "完成", "color": "#198754"},
]


@pytest.fixture
def manager(org, make_user):
    return make_user(org, username="mark")


@pytest.fixture
def member(org, make_user):
    return make_user(org, username="mia")


@pytest.fixture
def participant(org, make_user):
    return make_user(org, username="emily")


@pytest.fixture
def requester(org, make_user):
    return make_user(org, username="rep")


@pytest.fixture
def outsider(org, make_user):
    return make_user(org, username="otto")


@pytest.fixture
def team_modules_admin(org, make_user, admin_user):
    from access.actions import do_set_team_modules_admin

    user = make_user(org, username="ceo")
    do_set_team_modules_admin(user.membership, True, actor=admin_user)
    user.membership.refresh_from_db()
    return user


@pytest.fixture
def marketing(admin_user, manager, member, participant):
    space = actions.do_create_space(admin_user.org, name_en="Marketing", name_zh="市场部", manager_ids=[manager.pk],
                                    actor=admin_user)
    actions.do_set_team_member(space, member.pk, TeamMember.Role.MEMBER, actor=manager)
    actions.do_set_team_member(space, participant.pk, TeamMember.Role.PARTICIPANT, actor=manager)
    return space


@pytest.fixture
def case_studies(marketing, manager, requester):
    from crm.actions import do_create_field

    module = actions.do_create_team_module(marketing, name_en="Case Studies", name_zh="案例研究",
                                           icon="file-earmark-text", statuses=STATUSES,
                                           manager_only_statuses=["done"], done_statuses=["done"], actor=manager)
    do_create_field(marketing.org, module.key, api_name="customer", label_en="Customer", field_type="lookup",
                    target="accounts", shown_to_requesters=True, in_list=True, actor=manager)
    due = do_create_field(marketing.org, module.key, api_name="due", label_en="Due date", field_type="date",
                          shown_to_requesters=True, in_list=True, actor=manager)
    do_create_field(marketing.org, module.key, api_name="brief", label_en="Brief", field_type="long_text",
                    shown_to_requesters=True, actor=manager)
    do_create_field(marketing.org, module.key, api_name="internal_notes", label_en="Internal notes",
                    field_type="long_text", actor=manager)
    module = actions.do_update_team_module(module, name_en=module.name_en, name_zh=module.name_zh, icon=module.icon,
                                           statuses=STATUSES, manager_only_statuses=["done"],
                                           done_statuses=["done"], due_field_id=due.pk, actor=manager)
    actions.do_set_requesters(module, [requester.pk], actor=manager)
    return module


@pytest.fixture
def case_schema(case_studies, org):
    from teams.schema import schema_for

    return schema_for(case_studies).bind(org)

"""A small team world for My Work: a Support space with a Tickets module (done status "closed"),
a member who gets tickets assigned and a requester who files requests."""
from __future__ import annotations

import pytest

from teams import actions
from teams.models import TeamMember

STATUSES = [
    {"value": "open", "label_en": "Open", "label_zh": "待处理", "color": "#6c757d"},
    {"value": "working", "label_en": "Working", "label_zh": "处理中", "color": "#0d6efd"},
    {"value": "closed", "label_en": "Closed", "label_zh": "已关闭", "color": "#198754"},
]


@pytest.fixture
def support(admin_user, standard_user):
    space = actions.do_create_space(admin_user.org, name_en="Support", name_zh="支持", manager_ids=[admin_user.pk],
                                    actor=admin_user)
    actions.do_set_team_member(space, standard_user.pk, TeamMember.Role.MEMBER, actor=admin_user)
    return space


@pytest.fixture
def tickets(support, admin_user, other_user):
    module = actions.do_create_team_module(support, name_en="Tickets", name_zh="工单", statuses=STATUSES,
                                           done_statuses=["closed"], actor=admin_user)
    actions.do_set_requesters(module, [other_user.pk], actor=admin_user)
    return module

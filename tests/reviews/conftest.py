"""The referral review's cast: a sales manager above two sales reps in the org chart, an
"Employee name" custom field on leads (added through the custom-field action), and the review
process "Referral check": a lead entered on its page or by the Requests tab whose source is
Referral has its employee's name reviewed by the sales managers."""
from __future__ import annotations

import pytest

from access.sharing_actions import do_create_role, do_set_user_role
from crm.actions import do_create_field
from reviews.actions import do_create_review_process
from tests.helpers import fresh


@pytest.fixture
def roles(admin_user):
    manager_role = do_create_role(admin_user.org, name="Sales manager", actor=admin_user)
    rep_role = do_create_role(admin_user.org, name="Sales rep", parent=manager_role, actor=admin_user)
    return manager_role, rep_role


@pytest.fixture
def manager(org, make_user, roles, admin_user):
    user = make_user(org, username="maria")
    do_set_user_role(user.membership, roles[0], actor=admin_user)
    return fresh(user)


@pytest.fixture
def rep(org, make_user, roles, admin_user):
    user = make_user(org, username="rob")
    do_set_user_role(user.membership, roles[1], actor=admin_user)
    return fresh(user)


@pytest.fixture
def other_rep(org, make_user, roles, admin_user):
    user = make_user(org, username="rita")
    do_set_user_role(user.membership, roles[1], actor=admin_user)
    return fresh(user)


@pytest.fixture
def employee_field(admin_user):
    return do_create_field(admin_user.org, "leads", api_name="employee_name", label_en="Employee name",
                           label_zh="推荐员工姓名", field_type="text", actor=admin_user)


@pytest.fixture
def referral_check(admin_user, roles, employee_field):
    return do_create_review_process(admin_user.org, "leads", {
        "name": "Referral check", "paths": ["page", "request"], "fields": [employee_field.key],
        "criteria": {"all": [{"field": "source", "op": "eq", "value": "referral"}]},
        "reviewers": {"roles": [roles[0].pk]}, "active": True}, actor=admin_user)

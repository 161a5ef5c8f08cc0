"""Locking fixtures: a "Sales rep" profile (users locked by rules for selected profiles), the
helpers to switch locking on and to add rules, and a team "Orders" module for demand C.

    rep          a standard user with the "Sales rep" profile
    exempt       a standard user with the shipped "Standard" profile
    enable(module_key, **config)             locking on (by the org admin)
    add_rule(module_key, name, criteria, **kw)  a lock rule (by the org admin)
"""
from __future__ import annotations

import pytest

from access.models import Profile
from access.sharing_actions import do_clone_profile, do_set_user_profile
from access.visibility import bind_org
from locking import actions as locking

WON = {"all": [{"field": "stage", "op": "in", "value": ["won", "lost"]}]}


@pytest.fixture
def sales_rep_profile(org, admin_user):
    standard = Profile.objects.get(org=org, name="Standard")
    return do_clone_profile(standard, "Sales rep", actor=admin_user)


def rebind(user):
    """The user with a freshly read membership (after a profile or role change)."""
    from access.models import Membership

    membership = Membership.objects.select_related("profile", "org_role").get(org=user.org, user=user)
    return bind_org(user, user.org, membership)


@pytest.fixture
def rep(org, make_user, admin_user, sales_rep_profile):
    user = make_user(org, username="rita")
    do_set_user_profile(user.membership, sales_rep_profile, actor=admin_user)
    return rebind(user)


@pytest.fixture
def exempt(org, make_user):
    return make_user(org, username="eddie")


@pytest.fixture
def enable(org, admin_user):
    def make(module_key, actor=None, **config):
        config.setdefault("enabled", True)
        return locking.do_save_lock_config(org, module_key, actor=actor or admin_user, **config)

    return make


@pytest.fixture
def add_rule(org, admin_user):
    def make(module_key, name, criteria, actor=None, **kw):
        return locking.do_create_lock_rule(org, module_key, name=name, criteria=criteria, actor=actor or admin_user,
                                           **kw)

    return make


# The team cast (manager, member, participant, requester, outsider, marketing space).
from tests.teams.conftest import manager, marketing, member, outsider, participant, requester  # noqa: E402,F401

ORDER_STATUSES = [
    {"value": "draft", "label_en": "Draft"},
    {"value": "submitted", "label_en": "Submitted"},
    {"value": "approved", "label_en": "Approved"},
]


@pytest.fixture
def orders(marketing, manager, org):
    """A team module "Orders" with an amount and a quantity (demand C's contract/order/payment)."""
    from crm.actions import do_create_field
    from teams.actions import do_create_team_module

    module = do_create_team_module(marketing, name_en="Orders", statuses=ORDER_STATUSES, actor=manager)
    do_create_field(org, module.key, api_name="amount", label_en="Amount", field_type="currency", actor=manager)
    do_create_field(org, module.key, api_name="quantity", label_en="Quantity", field_type="integer", actor=manager)
    return module


@pytest.fixture
def orders_schema(orders, org):
    from teams.schema import schema_for

    return schema_for(orders).bind(org)

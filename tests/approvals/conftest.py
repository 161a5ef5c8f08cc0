"""Approval fixtures: a small sales org with a role tree, and a deal discount process.

    roles        {"ceo", "vp", "director", "rep"}: a chain, each the parent of the next
    rep          a standard user in role "rep" (owns the deals)
    director     in role "director" (the rep's manager)
    vp, ceo      in roles "vp" and "ceo"
    finance      a standard user named as an approver of the parallel level
    discount_process(levels=..., **kw)  a deals process "Discount > 12%" (criteria discount > 12)
"""
from __future__ import annotations

import pytest

from access.actions import do_set_org_default
from access.models import Membership
from access.sharing_actions import do_create_role, do_set_user_role
from access.visibility import bind_org
from approvals.actions import do_save_approval_process

DISCOUNT = {"all": [{"field": "discount", "op": "gt", "value": "12"}]}


def rebind(user):
    membership = Membership.objects.select_related("profile", "org_role").get(org=user.org, user=user)
    return bind_org(user, user.org, membership)


@pytest.fixture
def roles(org, admin_user):
    ceo = do_create_role(org, name="CEO", actor=admin_user)
    vp = do_create_role(org, name="VP Sales", parent=ceo, actor=admin_user)
    director = do_create_role(org, name="Sales director", parent=vp, actor=admin_user)
    rep = do_create_role(org, name="Sales rep", parent=director, actor=admin_user)
    return {"ceo": ceo, "vp": vp, "director": director, "rep": rep}


def _in_role(make_user, org, admin_user, role, username):
    user = make_user(org, username=username)
    do_set_user_role(user.membership, role, actor=admin_user)
    return rebind(user)


@pytest.fixture
def rep(org, make_user, admin_user, roles):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    return _in_role(make_user, org, admin_user, roles["rep"], "rita")


@pytest.fixture
def director(org, make_user, admin_user, roles):
    return _in_role(make_user, org, admin_user, roles["director"], "dora")


@pytest.fixture
def vp(org, make_user, admin_user, roles):
    return _in_role(make_user, org, admin_user, roles["vp"], "victor")


@pytest.fixture
def ceo(org, make_user, admin_user, roles):
    return _in_role(make_user, org, admin_user, roles["ceo"], "carla")


@pytest.fixture
def finance(org, make_user):
    return make_user(org, username="fiona")


@pytest.fixture
def discount_process(org, admin_user):
    def make(levels, actor=None, **kw):
        kw.setdefault("trigger", "create_or_edit")
        return do_save_approval_process(org, "deals", name=kw.pop("name", "Discount > 12%"), criteria=DISCOUNT,
                                        levels=levels, actor=actor or admin_user, **kw)

    return make

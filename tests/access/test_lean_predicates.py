"""The predicate carries only the branches that can grant this user something: no share
subqueries without a share, no sharing rule whose "shared with" side leaves the user out, no
role-hierarchy subquery with nobody below. What decides that is cached in the real Redis and
follows every change at once: a share, an unshare, a group's members, a role, a rule.

Real commits (transaction=True), so the shared cache is really filled between the steps.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.actions import do_set_org_default
from access.models import Membership, SharingRule
from access.share_actions import do_revoke_share, do_share_record
from access.sharing_actions import (
    do_create_group, do_create_role, do_create_sharing_rule, do_delete_sharing_rule, do_move_role,
    do_set_user_role, do_update_group,
)
from access.shares import find_share
from access.visibility import access_predicate, visible
from crm import actions
from crm.criteria import validate
from crm.modules import get_module
from crm.sharing_views import explain_access
from tests.helpers import fresh

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(org, admin_user, make_user):
    """Private accounts. owner owns the account; reader is a standard user with nothing on it."""
    do_set_org_default(org, "accounts", "private", actor=admin_user)
    owner, reader = make_user(org, username="owner"), make_user(org, username="reader")
    account = actions.do_create_record("accounts", {"name": "Initech"}, actor=owner)
    schema = get_module("accounts", org).bind(org)
    return SimpleNamespace(org=org, admin=admin_user, owner=owner, reader=reader, account=account, schema=schema)


def sql(user, acme, action="view") -> str:
    return str(visible(fresh(user), acme.schema, action).query).lower()


def sees(user, acme, action="view") -> bool:
    return visible(fresh(user), acme.schema, action).filter(pk=acme.account.pk).exists()


def test_no_share_no_share_subqueries_and_a_share_shows_at_once(acme):
    assert "usershare" not in sql(acme.reader, acme) and "groupshare" not in sql(acme.reader, acme)
    assert not sees(acme.reader, acme)
    do_share_record(acme.org, "accounts", acme.account, user=acme.reader, access="read", actor=acme.owner)
    assert sees(acme.reader, acme)
    assert "usershare" in sql(acme.reader, acme) and "groupshare" not in sql(acme.reader, acme)
    assert not sees(acme.reader, acme, "edit")  # read only
    assert "usershare" not in sql(acme.reader, acme, "edit")  # no read/write share: no edit subquery
    do_share_record(acme.org, "accounts", acme.account, user=acme.reader, access="read_write", actor=acme.owner)
    assert sees(acme.reader, acme, "edit")
    do_revoke_share(find_share(acme.account, f"user:{acme.reader.pk}"), actor=acme.owner)
    assert not sees(acme.reader, acme)
    assert "usershare" not in sql(acme.reader, acme)


def test_the_other_side_a_share_with_someone_else_gives_nothing(acme, make_user):
    bystander = make_user(acme.org, username="bystander")
    do_share_record(acme.org, "accounts", acme.account, user=acme.reader, access="read", actor=acme.owner)
    assert sees(acme.reader, acme)
    assert not sees(bystander, acme)
    assert "usershare" not in sql(bystander, acme)


def test_joining_a_group_that_holds_a_share_shows_the_record_at_once(acme):
    partners = do_create_group(acme.org, name="Partners", actor=acme.admin)
    do_share_record(acme.org, "accounts", acme.account, group=partners, access="read", actor=acme.owner)
    assert not sees(acme.reader, acme)
    assert "groupshare" not in sql(acme.reader, acme)
    do_update_group(partners, name="Partners", user_ids=[acme.reader.pk], role_ids=[], actor=acme.admin)
    assert sees(acme.reader, acme)
    assert "groupshare" in sql(acme.reader, acme) and "usershare" not in sql(acme.reader, acme)
    do_update_group(partners, name="Partners", user_ids=[], role_ids=[], actor=acme.admin)
    assert not sees(acme.reader, acme)


def test_taking_a_role_that_is_in_a_shared_group_shows_the_record_at_once(acme):
    role = do_create_role(acme.org, name="Partner desk", actor=acme.admin)
    partners = do_create_group(acme.org, name="Partners", role_ids=[role.pk], actor=acme.admin)
    do_share_record(acme.org, "accounts", acme.account, group=partners, access="read", actor=acme.owner)
    assert not sees(acme.reader, acme)
    do_set_user_role(Membership.objects.get(pk=acme.reader.membership.pk), role, actor=acme.admin)
    assert sees(acme.reader, acme)
    do_set_user_role(Membership.objects.get(pk=acme.reader.membership.pk), None, actor=acme.admin)
    assert not sees(acme.reader, acme)


def test_a_rule_that_cannot_match_the_user_leaves_no_clause(acme, make_user):
    insiders = do_create_group(acme.org, name="Insiders", actor=acme.admin)
    before = sql(acme.reader, acme)
    do_create_sharing_rule(acme.org, "accounts", name="Named accounts", criteria={"all": [
        {"field": "name", "op": "contains", "value": "Initech"}]}, target_kind="group", target_group=insiders,
        access="read", actor=acme.admin, known_modules=["accounts"],
        validate_criteria=lambda c: validate(c, acme.schema))
    assert sql(acme.reader, acme) == before  # not in the group: the rule adds nothing
    assert not sees(acme.reader, acme)
    do_update_group(insiders, name="Insiders", user_ids=[acme.reader.pk], role_ids=[], actor=acme.admin)
    assert sql(acme.reader, acme) != before and sees(acme.reader, acme)
    do_delete_sharing_rule(SharingRule.objects.get(org=acme.org, name="Named accounts"), actor=acme.admin)
    assert sql(acme.reader, acme) == before and not sees(acme.reader, acme)


def test_the_role_hierarchy_only_when_someone_is_below(acme):
    boss_role = do_create_role(acme.org, name="Boss", actor=acme.admin)
    owner_role = do_create_role(acme.org, name="Rep", actor=acme.admin)
    do_set_user_role(Membership.objects.get(pk=acme.reader.membership.pk), boss_role, actor=acme.admin)
    assert "access_membership" not in sql(acme.reader, acme)  # nobody below the boss yet
    assert not sees(acme.reader, acme)
    do_move_role(owner_role, boss_role, actor=acme.admin)
    do_set_user_role(Membership.objects.get(pk=acme.owner.membership.pk), owner_role, actor=acme.admin)
    assert "access_membership" in sql(acme.reader, acme)
    assert sees(acme.reader, acme)  # above the owner now
    do_set_user_role(Membership.objects.get(pk=acme.owner.membership.pk), None, actor=acme.admin)
    assert not sees(acme.reader, acme)


def test_a_cached_predicate_costs_no_query_and_is_built_once_per_request_user(acme):
    do_share_record(acme.org, "accounts", acme.account, user=acme.reader, access="read", actor=acme.owner)
    str(visible(fresh(acme.reader), acme.schema).query)  # fills the shared cache
    user = fresh(acme.reader)  # a new request's user
    with CaptureQueriesContext(connection) as built:
        first = access_predicate(user, acme.schema, "view")
    assert len(built) == 0
    assert access_predicate(user, acme.schema, "view") is first  # the same object: built once


def test_the_why_page_still_names_every_grant(acme):
    partners = do_create_group(acme.org, name="Partners", user_ids=[acme.reader.pk], actor=acme.admin)
    do_share_record(acme.org, "accounts", acme.account, group=partners, access="read", actor=acme.owner)
    do_share_record(acme.org, "accounts", acme.account, user=acme.reader, access="read_write", actor=acme.owner)
    rows = {row.user.pk: row for row in explain_access(acme.schema, acme.account)}
    reader = rows[acme.reader.pk]
    assert reader.can_view and reader.can_edit
    labels = [str(g.label) for g in reader.grants]
    assert any("Partners" in label for label in labels) and "Manual share" in labels
    assert not rows[acme.admin.pk].notes and rows[acme.admin.pk].can_edit


def test_few_shares_are_listed_as_an_array_many_as_a_subquery(acme, make_user, monkeypatch):
    """Both forms give the same rows; the array form keeps the planner's estimate small."""
    from access import visibility

    monkeypatch.setattr(visibility, "FEW_SHARES", 1)
    second = actions.do_create_record("accounts", {"name": "Hooli"}, actor=acme.owner)
    do_share_record(acme.org, "accounts", acme.account, user=acme.reader, access="read", actor=acme.owner)
    assert "array(select" in sql(acme.reader, acme) and sees(acme.reader, acme)
    do_share_record(acme.org, "accounts", second, user=acme.reader, access="read", actor=acme.owner)
    assert "array(select" not in sql(acme.reader, acme) and "in (select" in sql(acme.reader, acme)
    assert set(visible(fresh(acme.reader), acme.schema).values_list("pk", flat=True)) == {acme.account.pk, second.pk}

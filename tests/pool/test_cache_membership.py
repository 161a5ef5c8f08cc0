"""A pool's cached membership follows team-space, group and role membership at once.

Who belongs to which pool (`pool.selectors.pool_facts`) is cached in Redis per user under the
org's access generation and the pools' generation (`access.generations`). Adding someone to a
team space, a group or a role, or taking them out, is an access setting: its action records an
audit entry (`access.audit.record`), which bumps the org's access generation, so the next request
reads the membership afresh instead of a day-old answer. The tests commit (the cache is filled
only by committed reads), check that the answer really comes from the cache before the change,
and read as a new request would (a fresh user object, no per-request memo).
"""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.models import Membership, User
from access.sharing_actions import do_create_group, do_create_role, do_set_user_role, do_update_group
from access.visibility import bind_org
from pool import actions
from pool.selectors import pool_facts, pools_for
from teams import actions as team_actions
from tests.pool.conftest import waiting_leads

pytestmark = pytest.mark.django_db(transaction=True)


def as_new_request(user: Any) -> Any:
    """The user as the next request sees them: read again, nothing remembered on the object."""
    fresh = User.objects.get(pk=user.pk)
    return bind_org(fresh, user.org, Membership.objects.select_related("profile", "org_role")
                    .get(org=user.org, user=fresh))


def pool_ids(user: Any) -> set[int]:
    return {pool.pk for pool in pools_for(as_new_request(user))}


def assert_cached(user: Any) -> None:
    """The membership is read from the shared cache: no query for it."""
    pool_facts(as_new_request(user))  # filled (committed reads fill it)
    reader = as_new_request(user)
    with CaptureQueriesContext(connection) as captured:
        pool_facts(reader)
    assert not [q for q in captured.captured_queries if "pool_pool" in q["sql"]]


def sees_waiting(client: Any, lead: Any) -> bool:
    """Whether the user's leads list shows the waiting lead (the pool's grant)."""
    page = client.get(reverse("crm:list", args=["leads"]) + "?columns=company").content.decode()
    return reverse("crm:detail", args=["leads", lead.pk]) in page


@pytest.fixture
def rep(org, make_user):
    return make_user(org, username="rep")


def make_pool(admin: Any, **members: Any) -> Any:
    return actions.do_save_pool(admin.org, actor=admin, name="East", module="leads", members=members)


def test_a_user_added_to_a_member_team_space_sees_the_pool_at_once_and_not_after_removal(
        admin_user, rep, client_for):
    space = team_actions.do_create_space(admin_user.org, name_en="Ops", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    pool = make_pool(admin_user, spaces=[space])
    lead = waiting_leads(admin_user, pool, count=1)[0]
    client = client_for(rep)
    assert pool_ids(rep) == set() and not sees_waiting(client, lead)
    assert_cached(rep)

    team_actions.do_set_team_member(space, rep.pk, "member", actor=admin_user)
    assert pool_ids(rep) == {pool.pk} and sees_waiting(client, lead)
    assert_cached(rep)

    team_actions.do_remove_team_member(space, rep.pk, actor=admin_user)
    assert pool_ids(rep) == set() and not sees_waiting(client, lead)


def test_a_user_added_to_a_member_group_sees_the_pool_at_once_and_not_after_removal(admin_user, rep, client_for):
    group = do_create_group(admin_user.org, name="Hunters", actor=admin_user)
    pool = make_pool(admin_user, groups=[group])
    lead = waiting_leads(admin_user, pool, count=1)[0]
    client = client_for(rep)
    assert pool_ids(rep) == set() and not sees_waiting(client, lead)
    assert_cached(rep)

    do_update_group(group, name="Hunters", user_ids=[rep.pk], role_ids=[], actor=admin_user)
    assert pool_ids(rep) == {pool.pk} and sees_waiting(client, lead)
    assert_cached(rep)

    do_update_group(group, name="Hunters", user_ids=[], role_ids=[], actor=admin_user)
    assert pool_ids(rep) == set() and not sees_waiting(client, lead)


def test_a_role_in_a_member_group_brings_the_pool_and_taking_it_away_removes_it(admin_user, rep, client_for):
    role = do_create_role(admin_user.org, name="Sales East", parent=None, actor=admin_user)
    group = do_create_group(admin_user.org, name="Hunters", actor=admin_user)
    pool = make_pool(admin_user, groups=[group])
    do_set_user_role(Membership.objects.get(org=admin_user.org, user=rep), role, actor=admin_user)
    assert pool_ids(rep) == set()
    assert_cached(rep)

    # The group gains the rep's role: the rep's own membership row is unchanged.
    do_update_group(group, name="Hunters", user_ids=[], role_ids=[role.pk], actor=admin_user)
    assert pool_ids(rep) == {pool.pk}
    assert_cached(rep)

    do_update_group(group, name="Hunters", user_ids=[], role_ids=[], actor=admin_user)
    assert pool_ids(rep) == set()


def test_a_user_given_a_member_role_sees_the_pool_at_once_and_not_after_losing_it(admin_user, rep, client_for):
    role = do_create_role(admin_user.org, name="Sales East", parent=None, actor=admin_user)
    pool = make_pool(admin_user, roles=[role])
    lead = waiting_leads(admin_user, pool, count=1)[0]
    client = client_for(rep)
    assert pool_ids(rep) == set() and not sees_waiting(client, lead)
    assert_cached(rep)

    membership = Membership.objects.get(org=admin_user.org, user=rep)
    do_set_user_role(membership, role, actor=admin_user)
    assert pool_ids(rep) == {pool.pk} and sees_waiting(client, lead)
    assert_cached(rep)

    do_set_user_role(Membership.objects.get(pk=membership.pk), None, actor=admin_user)
    assert pool_ids(rep) == set() and not sees_waiting(client, lead)

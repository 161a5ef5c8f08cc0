"""Manual sharing of one record: who may share and revoke, what a share changes in `visible()`
and on the record page (for the user and for the members of a group), the sharing card, and
the administrators' "Why can they see this?" page.

Roles, groups, profiles and sharing rules are made through `access.sharing_actions` (the
administrators' settings actions); records through `crm.actions`; shares through
`access.share_actions`.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import get_perms

from access.actions import do_set_membership_active, do_set_org_default
from access.models import Group, Organization, User
from access.share_actions import do_revoke_share, do_share_record
from access.sharing_actions import (
    do_create_group, do_create_role, do_create_sharing_rule, do_delete_group, do_set_user_role,
)
from access.visibility import bind_org, visible
from crm import actions
from crm.criteria import validate
from access.shares import record_shares
from crm.models import Deal, DealGroupShare, DealUserShare
from crm.modules import get_module, org_modules
from crm.sharing import sharing_context
from crm.sharing_views import explain_access
from tests.helpers import fresh

pytestmark = pytest.mark.django_db


# --- the world ----------------------------------------------------------------------------------


def schema_of(module: str, org: Organization):
    return get_module(module, org).bind(org)


@pytest.fixture
def world(org, admin_user, make_user):
    """Acme's org chart: CEO > Sales manager > Sales rep > Intern. Deals are private.

    rep owns the deal; peer is another sales rep; manager and ceo are above rep; intern is
    below; target has no role; member belongs to the group "Partners"."""
    ceo_role = do_create_role(org, name="CEO", actor=admin_user)
    manager_role = do_create_role(org, name="Sales manager", parent=ceo_role, actor=admin_user)
    rep_role = do_create_role(org, name="Sales rep", parent=manager_role, actor=admin_user)
    intern_role = do_create_role(org, name="Intern", parent=rep_role, actor=admin_user)
    users = {}
    for name, role in (("ceo", ceo_role), ("manager", manager_role), ("rep", rep_role), ("peer", rep_role),
                       ("intern", intern_role), ("target", None), ("member", None)):
        user = make_user(org, username=name)
        if role is not None:
            do_set_user_role(user.membership, role, actor=admin_user)
        users[name] = user
    group = do_create_group(org, name="Partners", user_ids=[users["member"].pk], actor=admin_user)
    do_set_org_default(org, "deals", "private", actor=admin_user)
    users = {name: fresh(user) for name, user in users.items()}
    deal = actions.do_create_record("deals", {"name": "Big deal"}, actor=users["rep"])
    return SimpleNamespace(org=org, admin=fresh(admin_user), group=group, deal=deal, schema=schema_of("deals", org),
                           roles=SimpleNamespace(ceo=ceo_role, manager=manager_role, rep=rep_role, intern=intern_role),
                           **users)


def sees(user: User, world, action: str = "view") -> bool:
    return visible(fresh(user), world.schema, action).filter(pk=world.deal.pk).exists()


def shares_of(deal) -> list:
    return record_shares(Deal.objects.get(pk=deal.pk))


def share_keys(deal) -> list[str]:
    return [share.key for share in shares_of(deal)]


def no_shares() -> bool:
    return not DealUserShare.objects.exists() and not DealGroupShare.objects.exists()


def detail_url(record) -> str:
    return reverse("crm:detail", args=[record.MODULE_KEY, record.pk])


# --- a share changes visible() and the record page -----------------------------------------------

def test_a_share_with_a_user_opens_the_record_and_revoking_closes_it(world, client_for):
    client = client_for(world.target)
    assert not sees(world.target, world)
    assert client.get(detail_url(world.deal)).status_code == 404

    share = do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
    assert (share.granted_by, share.access, share.user, share.group) == (world.rep, "read", world.target, None)
    # stored as a guardian object permission: guardian's own checks agree
    assert get_perms(world.target, world.deal) == ["view_deal"]
    assert world.target.has_perm("crm.view_deal", world.deal) and not world.target.has_perm("crm.change_deal",
                                                                                            world.deal)
    assert sees(world.target, world, "view") and sees(world.target, world, "export")
    assert not sees(world.target, world, "edit")
    assert client.get(detail_url(world.deal)).status_code == 200
    assert "Big deal" in client.get(reverse("crm:list", args=["deals"])).content.decode()
    assert not sees(world.peer, world)  # nobody else

    do_revoke_share(share, actor=world.rep)
    assert no_shares() and get_perms(world.target, world.deal) == []
    assert not sees(world.target, world)
    assert client.get(detail_url(world.deal)).status_code == 404


def test_a_read_write_share_allows_editing_but_not_deleting(world):
    do_share_record(world.org, "deals", world.deal, user=world.target, access="read_write", actor=world.rep)
    assert sorted(get_perms(world.target, world.deal)) == ["change_deal", "view_deal"]
    assert sees(world.target, world, "edit")
    assert not sees(world.target, world, "delete")
    updated = actions.do_update_record(world.deal, {"amount": "50"}, version=1, actor=fresh(world.target))
    assert updated.version == 2


def test_a_share_with_a_group_opens_the_record_to_its_members(world, client_for):
    client = client_for(world.member)
    assert client.get(detail_url(world.deal)).status_code == 404
    share = do_share_record(world.org, "deals", world.deal, group=world.group, access="read", actor=world.rep)
    assert sees(world.member, world)
    assert not sees(world.target, world)  # not in the group
    assert client.get(detail_url(world.deal)).status_code == 200
    do_revoke_share(share, actor=world.admin)
    assert not sees(world.member, world)
    assert client.get(detail_url(world.deal)).status_code == 404


def test_a_group_of_roles_brings_the_role_holders(world, admin_user):
    interns = do_create_group(world.org, name="Interns", role_ids=[world.roles.intern.pk], actor=admin_user)
    do_share_record(world.org, "deals", world.deal, group=interns, access="read", actor=world.rep)
    # The intern sees the deal by the share (owners below see nothing of their managers' records).
    assert sees(world.intern, world)


def test_sharing_again_changes_the_access_of_the_existing_share(world):
    first = do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
    second = do_share_record(world.org, "deals", world.deal, user=world.target, access="read_write",
                             actor=world.manager)
    assert second.key == first.key
    [share] = shares_of(world.deal)
    assert (share.key, share.access, share.granted_by) == (first.key, "read_write", world.manager)
    assert sees(world.target, world, "edit")


# --- who may share ------------------------------------------------------------------------------

WHO = [("rep", True), ("manager", True), ("ceo", True), ("admin", True),
       ("peer", False), ("intern", False), ("target", False), ("member", False)]


@pytest.mark.parametrize("who, allowed", WHO, ids=[f"{w}-{'may' if ok else 'may-not'}" for w, ok in WHO])
def test_who_may_share_and_revoke(world, who, allowed):
    actor = getattr(world, who)
    if allowed:
        share = do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=actor)
        assert sees(world.target, world)
        do_revoke_share(share, actor=actor)
        assert not sees(world.target, world)
    else:
        with pytest.raises(PermissionDenied):
            do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=actor)
        assert no_shares()
        share = do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
        with pytest.raises(PermissionDenied):
            do_revoke_share(share, actor=actor)
        assert share_keys(world.deal) == [share.key]


def test_another_orgs_admin_may_not_share_or_revoke(world, other_org_user):
    with pytest.raises(PermissionDenied):
        do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=other_org_user)
    with pytest.raises(PermissionDenied):  # their own org named, our record
        do_share_record(other_org_user.org, "deals", world.deal, user=other_org_user, access="read",
                        actor=other_org_user)
    share = do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
    with pytest.raises(PermissionDenied):
        do_revoke_share(share, actor=other_org_user)
    assert share_keys(world.deal) == [share.key]


def test_the_owner_moved_out_of_the_hierarchy_takes_the_right_with_them(world, admin_user):
    do_set_user_role(fresh(world.rep).membership, None, actor=admin_user)
    with pytest.raises(PermissionDenied):
        do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=fresh(world.manager))


def test_a_record_filed_under_another_module_is_refused(world):
    with pytest.raises(PermissionDenied):
        do_share_record(world.org, "accounts", world.deal, user=world.target, access="read", actor=world.admin)


@pytest.mark.parametrize("case", ["other-org-user", "inactive-user", "other-org-group", "owner", "both", "neither",
                                  "bad-access"])
def test_share_targets_are_checked(world, other_org_user, admin_user, case):
    kwargs = {"access": "read"}
    if case == "other-org-user":
        kwargs["user"] = other_org_user
    elif case == "inactive-user":
        do_set_membership_active(fresh(world.target).membership, False, actor=admin_user)
        kwargs["user"] = world.target
    elif case == "other-org-group":
        kwargs["group"] = do_create_group(other_org_user.org, name="Globex friends", actor=other_org_user)
    elif case == "owner":
        kwargs["user"] = world.rep
    elif case == "both":
        kwargs.update(user=world.target, group=world.group)
    elif case == "bad-access":
        kwargs.update(user=world.target, access="owner")
    with pytest.raises(ValidationError):
        do_share_record(world.org, "deals", world.deal, actor=world.rep, **kwargs)
    assert no_shares()


# --- the views --------------------------------------------------------------------------------

def test_share_and_revoke_through_the_page(world, client_for):
    client = client_for(world.rep)
    share_url = reverse("crm:share_add", args=["deals", world.deal.pk])
    response = client.post(share_url, {"target": f"user:{world.target.pk}", "access": "read_write"})
    assert response.status_code == 302 and response["Location"].endswith(detail_url(world.deal) + "#sharing")
    [share] = shares_of(world.deal)
    assert (share.user, share.access) == (world.target, "read_write")
    assert client_for(world.target).get(detail_url(world.deal)).status_code == 200

    client.post(share_url, {"target": f"group:{world.group.pk}", "access": "read"})
    assert f"group:{world.group.pk}" in share_keys(world.deal)

    revoke_url = reverse("crm:share_revoke", args=["deals", world.deal.pk])
    assert client.post(revoke_url, {"share": share.key}).status_code == 302
    assert share_keys(world.deal) == [f"group:{world.group.pk}"]
    assert client_for(world.target).get(detail_url(world.deal)).status_code == 404
    assert client.get(share_url).status_code == 405
    assert client.post(revoke_url, {"share": share.key}).status_code == 404  # already gone
    assert client.post(revoke_url, {"share": "x"}).status_code == 404


def test_a_user_who_sees_the_record_but_may_not_share_is_refused(world, admin_user, client_for):
    do_set_org_default(world.org, "deals", "public_read", actor=admin_user)
    client = client_for(world.peer)
    response = client.post(reverse("crm:share_add", args=["deals", world.deal.pk]),
                           {"target": f"user:{world.target.pk}", "access": "read"}, follow=True)
    assert response.status_code == 200
    assert "may change who it is shared with" in response.content.decode()
    assert no_shares()


def test_sharing_pages_are_404_for_records_out_of_reach(world, other_org_user, client_for):
    share = do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
    for user in (other_org_user, world.peer):
        client = client_for(user)
        for name, data in (("share_add", {"target": f"user:{world.target.pk}", "access": "read"}),
                           ("share_revoke", {"share": share.key}), ("share_why", {})):
            url = reverse(f"crm:{name}", args=["deals", world.deal.pk])
            assert client.post(url, data).status_code == 404, (user, name)
            assert client.get(url).status_code == 404, (user, name)
    assert share_keys(world.deal) == [share.key]


def test_a_share_of_another_record_cannot_be_revoked_through_this_one(world, client_for):
    mine = actions.do_create_record("deals", {"name": "Peer deal"}, actor=world.peer)
    theirs = do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
    response = client_for(world.peer).post(reverse("crm:share_revoke", args=["deals", mine.pk]),
                                           {"share": theirs.key})
    assert response.status_code == 404
    assert share_keys(world.deal) == [theirs.key]


def test_a_share_target_from_another_org_is_refused_by_the_page(world, other_org_user, client_for):
    client_for(world.rep).post(reverse("crm:share_add", args=["deals", world.deal.pk]),
                               {"target": f"user:{other_org_user.pk}", "access": "read"})
    assert no_shares()


# --- the sharing card --------------------------------------------------------------------------

def _card(user, record, org) -> str:
    request = RequestFactory().get("/")
    request.user, request.org = user, org
    schema = schema_of(record.MODULE_KEY, org)
    context = {"record": record, "module": schema.module, "schema": schema, "user": user,
               **sharing_context(request, schema, record)}
    return render_to_string("crm/includes/sharing_card.html", context, request=request)


def test_the_card_lists_owner_shares_and_rules_for_those_who_manage_sharing(world, admin_user):
    do_create_sharing_rule(world.org, "deals", name="Managers' deals to partners", target_kind="group",
                           target_group=world.group, owner_kind="role", owner_role=world.roles.manager,
                           actor=admin_user, known_modules=[m.key for m in org_modules()])
    do_share_record(world.org, "deals", world.deal, user=world.target, access="read_write", actor=world.manager)
    html = _card(fresh(world.rep), world.deal, world.org)
    assert "Rep" in html and "Owner: full access" in html
    assert "Target" in html and "Read/write" in html and "Shared by Manager" in html
    assert "Managers&#x27; deals to partners" in html and "not this record" in html
    assert 'name="target"' in html and f'value="group:{world.group.pk}"' in html
    assert f'value="user:{world.rep.pk}"' not in html  # not the owner
    assert "Revoke" in html
    assert "Who can see this" not in html  # the diagnostic page is for administrators
    assert "Who can see this" in _card(world.admin, world.deal, world.org)


def test_the_card_shows_only_the_owner_to_other_viewers(world, admin_user):
    do_set_org_default(world.org, "deals", "public_read", actor=admin_user)
    do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
    html = _card(fresh(world.peer), world.deal, world.org)
    assert "Rep" in html
    assert "Target" not in html and 'name="target"' not in html and "Revoke" not in html


def test_the_card_costs_the_same_queries_whatever_the_number_of_shares(world, make_user):
    request = RequestFactory().get("/")
    request.user, request.org = fresh(world.rep), world.org

    def count() -> int:
        record = Deal.objects.get(pk=world.deal.pk)  # as a request loads it: owner not cached
        with CaptureQueriesContext(connection) as captured:
            sharing_context(request, world.schema, record)
        return len(captured)

    do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
    few = count()
    for i in range(5):
        do_share_record(world.org, "deals", world.deal, user=make_user(world.org), access="read", actor=world.rep)
    assert count() == few <= 6


# --- "Why can they see this?" ------------------------------------------------------------------

def _why_rows(client, record) -> str:
    response = client.get(reverse("crm:share_why", args=[record.MODULE_KEY, record.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, username: str) -> str:
    start = html.index(f'data-user="{username}"')
    return html[start:html.index("</tr>", start)]


def test_why_page_names_each_grant(world, admin_user, make_user, client_for):
    rule_user = make_user(world.org, username="ruled")
    do_set_user_role(rule_user.membership, world.roles.intern, actor=admin_user)
    do_create_sharing_rule(world.org, "deals", name="Big ones to interns", target_kind="role",
                           target_role=world.roles.intern, criteria={"all": [{"field": "name", "op": "contains",
                                                                              "value": "Big"}]},
                           access="read_write", actor=admin_user, known_modules=[m.key for m in org_modules()],
                           validate_criteria=lambda c: validate(c, world.schema))
    do_share_record(world.org, "deals", world.deal, user=world.target, access="read", actor=world.rep)
    do_share_record(world.org, "deals", world.deal, group=world.group, access="read_write", actor=world.rep)
    html = _why_rows(client_for(admin_user), world.deal)

    expected = {
        "acme-admin": ("yes", "yes", "Administrator"),
        "rep": ("yes", "yes", "Owner of the record"),
        "manager": ("yes", "yes", "Role hierarchy"),
        "ceo": ("yes", "yes", "Role hierarchy"),
        "target": ("yes", "no", "Manual share"),
        "member": ("yes", "yes", "Manual share with group “Partners”"),
        "ruled": ("yes", "yes", "Sharing rule “Big ones to interns”"),
        "intern": ("yes", "yes", "Sharing rule “Big ones to interns”"),
        "peer": ("no", "no", "No grant gives access."),
    }
    for username, (view, edit, reason) in expected.items():
        row = _row(html, username)
        assert f'data-view="{view}" data-edit="{edit}"' in row, username
        assert reason in row, (username, row)
    assert "by Rep on" in _row(html, "target")
    # the page agrees with visible() for every member
    for username in expected:
        user = bind_org(User.objects.get(username=username), world.org)
        assert (f'data-view="{"yes" if visible(user, world.schema, "view").filter(pk=world.deal.pk).exists() else "no"}"'
                in _row(html, username))


def test_why_page_names_the_org_wide_default_and_profile_refusals(world, admin_user, client_for):
    do_set_org_default(world.org, "deals", "public_read", actor=admin_user)
    html = _why_rows(client_for(admin_user), world.deal)
    row = _row(html, "peer")
    assert 'data-view="yes" data-edit="no"' in row and "Org-wide default" in row and "Public read only" in row


def test_why_page_explains_team_roles(world, admin_user, client_for):
    from teams import actions as team_actions
    from teams import roles

    space = team_actions.do_create_space(world.org, name_en="Design", manager_ids=[world.peer.pk], actor=admin_user)
    roles.forget(world.peer)
    statuses = [{"value": "open", "label_en": "Open"}, {"value": "done", "label_en": "Done"}]
    module = team_actions.do_create_team_module(space, name_en="Briefs", statuses=statuses, done_statuses=["done"],
                                                actor=fresh(world.peer))
    record = actions.do_create_record(module.key, {"title": "Poster"}, actor=fresh(world.peer))
    html = _why_rows(client_for(admin_user), record)
    assert 'data-view="yes" data-edit="yes"' in _row(html, "peer") and "Team role" in _row(html, "peer")
    assert 'data-view="no"' in _row(html, "rep")
    # Team records are not shared one by one.
    html = _card(fresh(world.peer), record, world.org)
    assert "team roles" in html and 'name="target"' not in html
    client_for(world.peer).post(reverse("crm:share_add", args=[module.key, record.pk]),
                                {"target": f"user:{world.target.pk}", "access": "read"})
    assert no_shares()


def test_why_page_is_for_administrators_only(world, client_for):
    url = reverse("crm:share_why", args=["deals", world.deal.pk])
    assert client_for(world.rep).get(url).status_code == 404
    assert client_for(world.manager).get(url).status_code == 404


def test_why_page_costs_a_fixed_number_of_queries_per_member(world, admin_user, make_user):
    do_share_record(world.org, "deals", world.deal, group=world.group, access="read", actor=world.rep)
    do_create_sharing_rule(world.org, "deals", name="Reps to interns", target_kind="role",
                           target_role=world.roles.intern, owner_kind="role", owner_role=world.roles.rep,
                           actor=admin_user, known_modules=[m.key for m in org_modules()])

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            rows = explain_access(world.schema, world.deal)
        return len(captured), len(rows)

    before, members = queries()
    for i in range(4):
        make_user(world.org, username=f"extra{i}")
    after, more = queries()
    assert more == members + 4
    per_member = (after - before) / 4
    assert per_member <= 6, per_member
    assert before <= 10 + 6 * members


def test_a_group_holding_shares_is_not_deleted_until_they_are_revoked(world):
    share = do_share_record(world.org, "deals", world.deal, group=world.group, access="read", actor=world.rep)
    with pytest.raises(ValidationError) as excinfo:
        do_delete_group(world.group, actor=world.admin)
    assert "holds 1 manual record shares" in str(excinfo.value)
    assert sees(world.member, world)
    do_revoke_share(share, actor=world.rep)
    twin = world.group.auth_group_id
    do_delete_group(world.group, actor=world.admin)
    assert not Group.objects.filter(pk=world.group.pk).exists()
    assert not AuthGroup.objects.filter(pk=twin).exists()  # the hidden auth group goes with it

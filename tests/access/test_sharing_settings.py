"""Sharing settings: profiles, the org chart, groups, sharing rules and the access log, through
`access.sharing_actions` and their pages. Permissions from both sides (tables), bad input
refused naming the field with nothing saved, and the point of it all: what `visible()` and
`field_level()` answer afterwards."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from access import sharing_actions as sa
from access.models import (
    PERMISSIONS, AccessLog, Group, Membership, Organization, OrgRole, Profile, SharingRule, User,
)
from access.visibility import field_level, module_allowed, visible
from crm import actions as crm_actions
from crm.criteria import validate as validate_criteria
from crm.modules import get_module, org_modules
from tests.helpers import fresh

pytestmark = pytest.mark.django_db

MODULES = [m.key for m in org_modules()]


def deal_ids(user: User, action: str = "view") -> set[int]:
    return set(visible(fresh(user), get_module("deals"), action).values_list("pk", flat=True))


def rule_validator(org: Organization, module: str = "deals") -> Callable[[dict], dict]:
    bound = get_module(module, org).bind(org)
    return lambda criteria: validate_criteria(criteria, bound)


def grid(default: bool = True, **modules: dict[str, bool]) -> dict[str, dict[str, bool]]:
    """A full permission grid: every permission `default` everywhere, with module overrides."""
    rows = {scope: {p: default for p in PERMISSIONS} for scope in ["*", *MODULES]}
    for module, changes in modules.items():
        rows[module].update(changes)
    return rows


def snapshot() -> dict[str, list]:
    """Every row of the sharing model, in every org."""
    return {
        "profiles": list(Profile.objects.order_by("pk").values()),
        "roles": list(OrgRole.objects.order_by("pk").values()),
        "groups": list(Group.objects.order_by("pk").values()),
        "group_users": list(Group.users.through.objects.order_by("pk").values()),
        "group_roles": list(Group.roles.through.objects.order_by("pk").values()),
        "rules": list(SharingRule.objects.order_by("pk").values()),
        "memberships": list(Membership.objects.order_by("pk").values()),
    }


# --- the org chart the tests share -----------------------------------------------------------------

@dataclass
class Chart:
    """CEO > VP Sales > Sales Manager > Rep, and VP Marketing under the CEO; a user in each."""

    org: Organization
    admin: User
    roles: dict[str, OrgRole] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    profile: Profile | None = None  # a cloned, editable profile nobody holds
    group: Group | None = None
    rule: SharingRule | None = None

    def role(self, name: str) -> OrgRole:
        return OrgRole.objects.get(pk=self.roles[name].pk)


@pytest.fixture
def chart(org, admin_user, make_user) -> Chart:
    c = Chart(org, admin_user)
    for name, parent in [("CEO", None), ("VP Sales", "CEO"), ("Sales Manager", "VP Sales"), ("Rep", "Sales Manager"),
                         ("VP Marketing", "CEO")]:
        c.roles[name] = sa.do_create_role(org, name=name, parent=c.roles.get(parent), actor=admin_user)
    for username, role in [("ceo", "CEO"), ("vps", "VP Sales"), ("manager", "Sales Manager"), ("rep", "Rep"),
                           ("vpm", "VP Marketing")]:
        user = make_user(org, username=username)
        sa.do_set_user_role(user.membership, c.roles[role], actor=admin_user)
        c.users[username] = fresh(user)
    standard = Profile.objects.get(org=org, name="Standard")
    c.profile = sa.do_clone_profile(standard, "Sales", actor=admin_user)
    c.group = sa.do_create_group(org, name="Auditors", user_ids=[c.users["vpm"].pk], actor=admin_user)
    c.rule = sa.do_create_sharing_rule(org, "deals", name="Reps to auditors", owner_kind="role",
                                       owner_role=c.roles["Rep"], target_kind="group", target_group=c.group,
                                       actor=admin_user, known_modules=MODULES)
    return c


# --- permissions of every action, from both sides ----------------------------------------------------

ACTIONS: dict[str, Callable[[Chart, User], Any]] = {
    "clone_profile": lambda c, actor: sa.do_clone_profile(c.profile, "Copy", actor=actor),
    "update_profile": lambda c, actor: sa.do_update_profile(c.profile, name="Field sales", actor=actor),
    "set_profile_permissions": lambda c, actor: sa.do_set_profile_permissions(
        c.profile, grid(deals={"delete": False}), actor=actor, known_modules=MODULES),
    "set_profile_field_levels": lambda c, actor: sa.do_set_profile_field_levels(
        c.profile, "deals", {"amount": "hidden"}, actor=actor, known_modules=MODULES,
        known_field_keys=["amount", "discount"]),
    "delete_profile": lambda c, actor: sa.do_delete_profile(c.profile, actor=actor),
    "set_user_profile": lambda c, actor: sa.do_set_user_profile(c.users["rep"].membership, c.profile, actor=actor),
    "create_role": lambda c, actor: sa.do_create_role(c.org, name="CFO", parent=c.roles["CEO"], actor=actor),
    "rename_role": lambda c, actor: sa.do_rename_role(c.roles["Rep"], "Account executive", actor=actor),
    "move_role": lambda c, actor: sa.do_move_role(c.roles["Sales Manager"], c.roles["VP Marketing"], actor=actor),
    "delete_role": lambda c, actor: sa.do_delete_role(
        sa.do_create_role(c.org, name="Intern", parent=c.roles["Rep"], actor=c.admin), actor=actor),
    "set_user_role": lambda c, actor: sa.do_set_user_role(c.users["rep"].membership, c.roles["CEO"], actor=actor),
    "create_group": lambda c, actor: sa.do_create_group(c.org, name="Board", role_ids=[c.roles["CEO"].pk],
                                                        actor=actor),
    "update_group": lambda c, actor: sa.do_update_group(c.group, name="Auditors", user_ids=[c.users["ceo"].pk],
                                                        role_ids=[], actor=actor),
    "delete_group": lambda c, actor: sa.do_delete_group(
        sa.do_create_group(c.org, name="Temp", actor=c.admin), actor=actor),
    "create_sharing_rule": lambda c, actor: sa.do_create_sharing_rule(
        c.org, "deals", name="Won deals to marketing", criteria={"all": [{"field": "stage", "op": "eq",
                                                                          "value": "won"}]},
        target_kind="role_and_below", target_role=c.roles["VP Marketing"], actor=actor, known_modules=MODULES,
        validate_criteria=rule_validator(c.org)),
    "delete_sharing_rule": lambda c, actor: sa.do_delete_sharing_rule(c.rule, actor=actor),
}
ACTORS = ["admin", "standard", "other_org_admin", "chart_member"]


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("name", list(ACTIONS))
def test_only_the_orgs_administrators_may_change_sharing(chart, standard_user, other_org_user, name, who):
    actor = {"admin": chart.admin, "standard": standard_user, "other_org_admin": other_org_user,
             "chart_member": chart.users["ceo"]}[who]
    if name == "delete_role" or name == "delete_group":  # their targets are made first, by the admin
        before = None
    else:
        before = snapshot()
    if who == "admin":
        ACTIONS[name](chart, actor)
        assert before is None or snapshot() != before
        return
    with pytest.raises(PermissionDenied):
        ACTIONS[name](chart, actor)
    if before is not None:
        assert snapshot() == before


# --- the pages, from both sides --------------------------------------------------------------------

def page_urls(c: Chart) -> list[str]:
    return [
        reverse("sharing_profiles"), reverse("sharing_profile", args=[c.profile.pk]),
        reverse("sharing_profile_fields", args=[c.profile.pk]) + "?module=deals",
        reverse("sharing_profile_clone", args=[c.profile.pk]), reverse("sharing_profile_delete", args=[c.profile.pk]),
        reverse("sharing_members"), reverse("sharing_roles"), reverse("sharing_role", args=[c.roles["Rep"].pk]),
        reverse("sharing_role_delete", args=[c.roles["Rep"].pk]), reverse("sharing_groups"),
        reverse("sharing_group", args=[c.group.pk]), reverse("sharing_group_delete", args=[c.group.pk]),
        reverse("sharing_rules") + "?module=deals", reverse("sharing_rule_new") + "?module=deals",
        reverse("sharing_rule_delete", args=[c.rule.pk]), reverse("sharing_access_log"),
    ]


def probe_body(c: Chart) -> dict[str, Any]:
    """A body that would change something if a view accepted it."""
    rep = c.users["rep"]
    return {"name": "Hijacked", "op": "move", "parent": c.roles["VP Marketing"].pk, "membership": rep.membership.pk,
            "profile": c.profile.pk, "org_role": c.roles["CEO"].pk, "users": [rep.pk], "owner_kind": "role",
            "owner_role": c.roles["Rep"].pk, "target_kind": "role", "target_role": c.roles["CEO"].pk,
            "access": "read_write", "module": "deals", "perm__*__view": "on"}


def test_admin_opens_every_page(chart, client_for):
    client = client_for(chart.admin)
    for url in page_urls(chart):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b'data-testid="sharing-nav"' in response.content or b"Delete the" in response.content, url


@pytest.mark.parametrize("who", ["standard", "chart_member", "other_org_admin"])
def test_everyone_else_gets_404_and_changes_nothing(chart, standard_user, other_org_user, client_for, who):
    user = {"standard": standard_user, "chart_member": chart.users["ceo"], "other_org_admin": other_org_user}[who]
    client = client_for(user)
    before = snapshot()
    for url in page_urls(chart):
        is_org_neutral = "/settings/sharing/" in url and not any(ch.isdigit() for ch in url.split("?")[0])
        if who == "other_org_admin" and is_org_neutral:
            # Their own org's page: nothing of Acme on it, and Acme's ids in a body change nothing of Acme.
            response = client.get(url)
            assert response.status_code == 200, url
            for secret in (b"Sales Manager", b"Auditors", b"Reps to auditors", b"rep@"):
                assert secret not in response.content, (url, secret)
            client.post(url, probe_body(chart))
            continue
        assert client.get(url).status_code == 404, url
        assert client.post(url, probe_body(chart)).status_code == 404, url
    acme = {key: [row for row in rows if row.get("org_id") in (None, chart.org.pk)] for key, rows in before.items()}
    after = {key: [row for row in rows if row.get("org_id") in (None, chart.org.pk)] for key, rows in snapshot().items()}
    assert after == acme


def test_anonymous_is_sent_to_log_in(chart, client):
    response = client.get(reverse("sharing_roles"))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- profiles ------------------------------------------------------------------------------------------

def test_clone_copies_permissions_and_field_levels(chart):
    sa.do_set_profile_field_levels(chart.profile, "deals", {"amount": "hidden"}, actor=chart.admin,
                                   known_modules=MODULES, known_field_keys=["amount"])
    clone = sa.do_clone_profile(chart.profile, "Sales copy", actor=chart.admin)
    assert clone.permissions == chart.profile.permissions and not clone.is_system
    assert clone.field_levels == {"deals": {"amount": "hidden"}}


@pytest.mark.parametrize("name, field_name, message", [
    ("", "name", "required"), ("   ", "name", "required"), ("x" * 101, "name", "at most 100"),
    ("standard", "name", "already exists"), ("Sales", "name", "already exists"),
])
def test_clone_refuses_bad_names(chart, name, field_name, message):
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        sa.do_clone_profile(chart.profile, name, actor=chart.admin)
    assert message in " ".join(exc.value.message_dict[field_name])
    assert snapshot() == before


def test_shipped_profiles_are_cloned_and_edited_but_not_deleted_or_renamed(chart):
    standard = Profile.objects.get(org=chart.org, name="Standard")
    sa.do_set_profile_permissions(standard, grid(deals={"delete": False}), actor=chart.admin, known_modules=MODULES)
    sa.do_update_profile(standard, name="Standard", description="Everyone", actor=chart.admin)
    standard.refresh_from_db()
    assert standard.allows("deals", "delete") is False and standard.description == "Everyone"
    with pytest.raises(ValidationError) as exc:
        sa.do_update_profile(standard, name="Regular", actor=chart.admin)
    assert "name" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        sa.do_delete_profile(standard, actor=chart.admin)
    assert "shipped" in " ".join(exc.value.message_dict["profile"])
    assert Profile.objects.filter(pk=standard.pk, name="Standard").exists()


def test_a_profile_in_use_is_not_deleted_until_nobody_holds_it(chart):
    rep = chart.users["rep"]
    standard = rep.membership.profile
    sa.do_set_user_profile(rep.membership, chart.profile, actor=chart.admin)
    with pytest.raises(ValidationError) as exc:
        sa.do_delete_profile(chart.profile, actor=chart.admin)
    assert "held by 1 users" in " ".join(exc.value.message_dict["profile"])
    sa.do_set_user_profile(Membership.objects.get(pk=rep.membership.pk), standard, actor=chart.admin)
    sa.do_delete_profile(chart.profile, actor=chart.admin)
    assert not Profile.objects.filter(pk=chart.profile.pk).exists()


def test_permission_grid_stores_module_rows_as_differences_from_the_default(chart):
    sa.do_set_profile_permissions(chart.profile, grid(True, deals={"view": False, "export": False}),
                                  actor=chart.admin, known_modules=MODULES)
    chart.profile.refresh_from_db()
    assert chart.profile.permissions == {"*": {p: True for p in PERMISSIONS},
                                         "deals": {"view": False, "export": False}}
    assert chart.profile.allows("deals", "view") is False and chart.profile.allows("accounts", "view") is True


def test_permission_grid_keeps_rows_of_modules_it_does_not_show(chart):
    chart.profile.permissions = {**chart.profile.permissions, "team-99": {"view": False}}
    chart.profile.save()
    sa.do_set_profile_permissions(chart.profile, grid(), actor=chart.admin, known_modules=MODULES)
    chart.profile.refresh_from_db()
    assert chart.profile.permissions["team-99"] == {"view": False}


@pytest.mark.parametrize("bad", [
    {"*": {p: True for p in PERMISSIONS}, "widgets": {p: True for p in PERMISSIONS}},  # unknown module
    {"deals": {p: True for p in PERMISSIONS}},  # no default row
    {"*": {"view": True}},  # missing permissions
    {"*": {**{p: True for p in PERMISSIONS}, "fly": True}},  # unknown permission
    {"*": {**{p: True for p in PERMISSIONS}, "view": "yes"}},  # not a boolean
])
def test_bad_permission_grids_are_refused_naming_permissions(chart, bad):
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        sa.do_set_profile_permissions(chart.profile, bad, actor=chart.admin, known_modules=MODULES)
    assert set(exc.value.message_dict) == {"permissions"}
    assert snapshot() == before


def test_bad_field_levels_are_refused_naming_the_field(chart):
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        sa.do_set_profile_field_levels(chart.profile, "deals", {"amount": "secret", "nope": "hidden"},
                                       actor=chart.admin, known_modules=MODULES, known_field_keys=["amount"])
    assert set(exc.value.message_dict) == {"amount", "fields"}
    assert "nope" in exc.value.message_dict["fields"][0]
    with pytest.raises(ValidationError) as exc:
        sa.do_set_profile_field_levels(chart.profile, "widgets", {}, actor=chart.admin, known_modules=MODULES,
                                       known_field_keys=[])
    assert "module" in exc.value.message_dict
    assert snapshot() == before


def test_assigning_another_orgs_profile_is_refused(chart, other_org):
    globex_profile = Profile.objects.get(org=other_org, name="Read-only")
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        sa.do_set_user_profile(chart.users["rep"].membership, globex_profile, actor=chart.admin)
    assert "profile" in exc.value.message_dict
    assert snapshot() == before


# --- profiles: the effects, through visible() and field_level() ------------------------------------------

def test_a_profile_without_view_on_deals_sees_no_deals(chart):
    rep = chart.users["rep"]
    own = crm_actions.do_create_record("deals", {"name": "Rep's deal"}, actor=rep)
    account = crm_actions.do_create_record("accounts", {"name": "Rep's account"}, actor=rep)
    assert deal_ids(rep) == {own.pk}
    sa.do_set_profile_permissions(chart.profile, grid(True, deals={"view": False}), actor=chart.admin,
                                  known_modules=MODULES)
    sa.do_set_user_profile(rep.membership, chart.profile, actor=chart.admin)
    rep = fresh(rep)
    assert deal_ids(rep) == set()
    assert not module_allowed(rep, "deals", "view")
    assert visible(rep, get_module("accounts")).filter(pk=account.pk).exists()
    # An administrator holding the same profile keeps full access.
    sa.do_set_user_profile(chart.admin.membership, chart.profile, actor=chart.admin)
    assert own.pk in deal_ids(chart.admin)


def test_field_levels_are_stored_and_read_back(chart):
    crm_actions.do_create_field(chart.org, "deals", api_name="margin", label_en="Margin", field_type="decimal",
                                actor=chart.admin)
    bound = get_module("deals").bind(chart.org)
    margin = bound.field("margin").key
    sa.do_set_profile_field_levels(chart.profile, "deals", {"amount": "hidden", "discount": "read_only",
                                                            margin: "hidden", "name": "read_write"},
                                   actor=chart.admin, known_modules=MODULES,
                                   known_field_keys=[f.key for f in bound.fields])
    chart.profile.refresh_from_db()
    assert chart.profile.field_levels == {"deals": {"amount": "hidden", "discount": "read_only", margin: "hidden"}}
    rep = chart.users["rep"]
    sa.do_set_user_profile(rep.membership, chart.profile, actor=chart.admin)
    rep = fresh(rep)
    assert field_level(rep, "deals", "amount") == "hidden"
    assert field_level(rep, "deals", "discount") == "read_only"
    assert field_level(rep, "deals", margin) == "hidden"
    assert field_level(rep, "deals", "name") == "read_write"
    assert field_level(rep, "accounts", "name") == "read_write"
    assert field_level(chart.admin, "deals", "amount") == "read_write"
    # Back to read/write: the stored entry goes away.
    sa.do_set_profile_field_levels(chart.profile, "deals", {"amount": "read_write", "discount": "read_write",
                                                            margin: "read_write"},
                                   actor=chart.admin, known_modules=MODULES,
                                   known_field_keys=[f.key for f in bound.fields])
    assert Profile.objects.get(pk=chart.profile.pk).field_levels == {}
    assert field_level(fresh(rep), "deals", "amount") == "read_write"


# --- the org chart -------------------------------------------------------------------------------------

def paths(c: Chart) -> dict[str, str]:
    return {name: c.role(name).path for name in c.roles}


def test_roles_get_materialised_paths(chart):
    ids = {name: role.pk for name, role in chart.roles.items()}
    assert paths(chart) == {
        "CEO": f"/{ids['CEO']}/",
        "VP Sales": f"/{ids['CEO']}/{ids['VP Sales']}/",
        "Sales Manager": f"/{ids['CEO']}/{ids['VP Sales']}/{ids['Sales Manager']}/",
        "Rep": f"/{ids['CEO']}/{ids['VP Sales']}/{ids['Sales Manager']}/{ids['Rep']}/",
        "VP Marketing": f"/{ids['CEO']}/{ids['VP Marketing']}/",
    }


def test_moving_a_role_moves_its_whole_subtree(chart):
    ids = {name: role.pk for name, role in chart.roles.items()}
    moved = sa.do_move_role(chart.roles["Sales Manager"], chart.roles["VP Marketing"], actor=chart.admin)
    assert moved.parent_id == ids["VP Marketing"]
    assert paths(chart) == {
        "CEO": f"/{ids['CEO']}/",
        "VP Sales": f"/{ids['CEO']}/{ids['VP Sales']}/",
        "Sales Manager": f"/{ids['CEO']}/{ids['VP Marketing']}/{ids['Sales Manager']}/",
        "Rep": f"/{ids['CEO']}/{ids['VP Marketing']}/{ids['Sales Manager']}/{ids['Rep']}/",
        "VP Marketing": f"/{ids['CEO']}/{ids['VP Marketing']}/",
    }
    # To the top of the chart, taking three levels with it.
    sa.do_move_role(chart.role("VP Marketing"), None, actor=chart.admin)
    assert chart.role("VP Marketing").parent_id is None
    assert paths(chart)["Rep"] == f"/{ids['VP Marketing']}/{ids['Sales Manager']}/{ids['Rep']}/"
    assert paths(chart)["CEO"] == f"/{ids['CEO']}/"


@pytest.mark.parametrize("role, under", [("VP Sales", "Rep"), ("VP Sales", "Sales Manager"), ("CEO", "Rep"),
                                         ("Rep", "Rep")])
def test_moving_a_role_under_its_own_subordinate_is_refused(chart, role, under):
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        sa.do_move_role(chart.roles[role], chart.roles[under], actor=chart.admin)
    assert "cannot be moved under itself or under one of its subordinates" in exc.value.message_dict["parent"][0]
    assert snapshot() == before


def test_roles_of_another_org_are_refused(chart, other_org_user):
    globex_role = sa.do_create_role(other_org_user.org, name="Globex CEO", actor=other_org_user)
    before = snapshot()
    with pytest.raises(ValidationError) as exc:
        sa.do_move_role(chart.roles["Rep"], globex_role, actor=chart.admin)
    assert "parent" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        sa.do_create_role(chart.org, name="Spy", parent=globex_role, actor=chart.admin)
    assert "parent" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        sa.do_set_user_role(chart.users["rep"].membership, globex_role, actor=chart.admin)
    assert "org_role" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        sa.do_create_role(chart.org, name=" ", actor=chart.admin)
    assert "name" in exc.value.message_dict
    assert snapshot() == before


def test_only_a_leaf_without_members_or_rules_is_deleted(chart):
    before = snapshot()
    with pytest.raises(ValidationError) as exc:  # has roles below
        sa.do_delete_role(chart.roles["Sales Manager"], actor=chart.admin)
    assert "below it" in exc.value.message_dict["role"][0]
    with pytest.raises(ValidationError) as exc:  # has a member
        sa.do_delete_role(chart.roles["VP Marketing"], actor=chart.admin)
    assert "1 members" in exc.value.message_dict["role"][0]
    sa.do_set_user_role(chart.users["rep"].membership, None, actor=chart.admin)
    with pytest.raises(ValidationError) as exc:  # a sharing rule names it
        sa.do_delete_role(chart.roles["Rep"], actor=chart.admin)
    assert "Reps to auditors" in exc.value.message_dict["role"][0]
    sa.do_delete_sharing_rule(chart.rule, actor=chart.admin)
    sa.do_delete_role(chart.roles["Rep"], actor=chart.admin)
    assert not OrgRole.objects.filter(pk=chart.roles["Rep"].pk).exists()
    assert len(snapshot()["roles"]) == len(before["roles"]) - 1


# --- the org chart: the effects, through visible() ------------------------------------------------------

def test_role_hierarchy_and_moves_change_visibility_at_once(chart):
    rep, manager, vps, vpm, ceo = (chart.users[n] for n in ("rep", "manager", "vps", "vpm", "ceo"))
    deal = crm_actions.do_create_record("deals", {"name": "Rep's deal"}, actor=rep)  # deals are private
    sa.do_delete_sharing_rule(chart.rule, actor=chart.admin)  # only the hierarchy here
    assert deal.pk in deal_ids(manager) and deal.pk in deal_ids(vps) and deal.pk in deal_ids(ceo)
    assert deal.pk not in deal_ids(vpm)
    assert deal.pk in deal_ids(manager, "edit")

    # Move the manager's branch (with the rep) under VP Marketing.
    sa.do_move_role(chart.roles["Sales Manager"], chart.roles["VP Marketing"], actor=chart.admin)
    assert deal.pk not in deal_ids(vps)
    assert deal.pk in deal_ids(vpm) and deal.pk in deal_ids(ceo) and deal.pk in deal_ids(manager)

    # Move one user: the rep to the top of another branch; the manager no longer sees the deal.
    sa.do_set_user_role(rep.membership, chart.roles["VP Sales"], actor=chart.admin)
    assert deal.pk not in deal_ids(manager) and deal.pk not in deal_ids(vpm)
    assert deal.pk in deal_ids(ceo) and deal.pk in deal_ids(rep)

    # No role at all: only the owner (and administrators).
    sa.do_set_user_role(Membership.objects.get(pk=rep.membership.pk), None, actor=chart.admin)
    assert deal_ids(ceo) == set() and deal.pk in deal_ids(rep) and deal.pk in deal_ids(chart.admin)


def test_moving_a_user_is_seen_by_their_next_request(chart, client_for):
    rep, vpm = chart.users["rep"], chart.users["vpm"]
    crm_actions.do_create_record("deals", {"name": "Zephyr renewal"}, actor=rep)
    sa.do_delete_sharing_rule(chart.rule, actor=chart.admin)
    vpm_client = client_for(vpm)
    deals = reverse("crm:list", args=["deals"])
    assert "Zephyr renewal" not in vpm_client.get(deals).content.decode()
    response = client_for(chart.admin).post(reverse("sharing_members"), {
        "op": "org_role", "membership": vpm.membership.pk, "org_role": chart.roles["VP Sales"].pk})
    assert response.status_code == 302
    assert "Zephyr renewal" in vpm_client.get(deals).content.decode()


# --- groups -----------------------------------------------------------------------------------------------

def test_groups_are_created_renamed_and_refuse_outsiders(chart, other_org_user):
    group = sa.do_create_group(chart.org, name="Leaders", user_ids=[chart.users["ceo"].pk],
                               role_ids=[chart.roles["VP Sales"].pk], actor=chart.admin)
    sa.do_update_group(group, name="Leadership", user_ids=[chart.users["vps"].pk, chart.users["vpm"].pk],
                       role_ids=[], actor=chart.admin)
    group.refresh_from_db()
    assert group.name == "Leadership"
    assert set(group.users.values_list("username", flat=True)) == {"vps", "vpm"} and not group.roles.exists()
    globex_role = sa.do_create_role(other_org_user.org, name="Globex role", actor=other_org_user)
    before = snapshot()
    for kwargs, field_name in [({"user_ids": [other_org_user.pk]}, "users"), ({"role_ids": [globex_role.pk]}, "roles"),
                               ({"name": "auditors"}, "name"), ({"name": ""}, "name")]:
        with pytest.raises(ValidationError) as exc:
            sa.do_update_group(group, **{"name": "Leadership", "user_ids": [], "role_ids": [], **kwargs},
                               actor=chart.admin)
        assert field_name in exc.value.message_dict, kwargs
    assert snapshot() == before


def test_a_group_named_by_a_rule_is_not_deleted(chart):
    with pytest.raises(ValidationError) as exc:
        sa.do_delete_group(chart.group, actor=chart.admin)
    assert "Reps to auditors" in exc.value.message_dict["group"][0]
    sa.do_delete_sharing_rule(chart.rule, actor=chart.admin)
    sa.do_delete_group(chart.group, actor=chart.admin)
    assert not Group.objects.filter(pk=chart.group.pk).exists()


# --- sharing rules -------------------------------------------------------------------------------------------

def create_rule(c: Chart, **kwargs: Any) -> SharingRule:
    values = {"name": "Rule", "target_kind": "role", "target_role": c.roles["VP Marketing"], "actor": c.admin,
              "known_modules": MODULES, "validate_criteria": rule_validator(c.org)}
    values.update(kwargs)
    return sa.do_create_sharing_rule(c.org, values.pop("module", "deals"), **values)


def test_rule_refusals_name_the_field_and_save_nothing(chart, other_org_user):
    globex_role = sa.do_create_role(other_org_user.org, name="Globex role", actor=other_org_user)
    globex_group = sa.do_create_group(other_org_user.org, name="Globex group", actor=other_org_user)
    won = {"all": [{"field": "stage", "op": "eq", "value": "won"}]}
    cases = [
        ({"owner_kind": "role", "owner_role": chart.roles["Rep"], "criteria": won}, "criteria", "not both"),
        ({}, "owner_kind", "Choose whose records"),
        ({"criteria": {"all": []}}, "criteria", "at least one condition"),
        ({"criteria": {"all": [{"field": "nope", "op": "eq", "value": 1}]}}, "criteria", "Unknown field “nope”"),
        ({"criteria": {"all": [{"field": "stage", "op": "gt", "value": "won"}]}}, "criteria", "cannot be used"),
        ({"criteria": ["stage"]}, "criteria", "one key"),
        ({"owner_kind": "role"}, "owner_role", "Choose a role"),
        ({"owner_kind": "group"}, "owner_group", "Choose a group"),
        ({"owner_kind": "team"}, "owner_kind", "Choose a role"),
        ({"owner_kind": "role_and_below", "owner_role": globex_role}, "owner_role", "this organisation"),
        ({"criteria": won, "target_role": globex_role}, "target_role", "this organisation"),
        ({"criteria": won, "target_kind": "group", "target_role": None, "target_group": globex_group},
         "target_group", "this organisation"),
        ({"criteria": won, "target_role": None}, "target_role", "Choose a role"),
        ({"criteria": won, "access": "owner"}, "access", "read only or read/write"),
        ({"criteria": won, "name": " "}, "name", "required"),
        ({"criteria": won, "module": "widgets"}, "module", "Unknown module"),
    ]
    before = snapshot()
    for kwargs, field_name, message in cases:
        with pytest.raises(ValidationError) as exc:
            create_rule(chart, **kwargs)
        assert field_name in exc.value.message_dict, (kwargs, exc.value.message_dict)
        assert message in " ".join(exc.value.message_dict[field_name]), (kwargs, exc.value.message_dict)
    assert snapshot() == before


def test_criteria_are_stored_cleaned(chart):
    rule = create_rule(chart, criteria={"any": [{"field": "amount", "op": "gt", "value": "1000"},
                                                {"field": "stage", "op": "in", "value": ["won"]}]})
    assert rule.criteria == {"any": [{"field": "amount", "op": "gt", "value": "1000"},
                                     {"field": "stage", "op": "in", "value": ["won"]}]}
    assert rule.owner_kind == "" and rule.owner_role is None


def test_owner_and_criteria_rules_open_records_through_visible(chart):
    rep, vpm, vps = chart.users["rep"], chart.users["vpm"], chart.users["vps"]
    deal = crm_actions.do_create_record("deals", {"name": "Rep's deal"}, actor=rep)
    won = crm_actions.do_create_record("deals", {"name": "Big win", "stage": "won"}, actor=vps)
    # The fixture's rule: deals owned by reps, read-only, to the Auditors group (VP Marketing is in it).
    assert deal.pk in deal_ids(vpm) and deal.pk not in deal_ids(vpm, "edit") and won.pk not in deal_ids(vpm)
    create_rule(chart, name="Wins to marketing", criteria={"all": [{"field": "stage", "op": "eq", "value": "won"}]},
                target_kind="role_and_below", target_role=chart.roles["VP Marketing"], access="read_write")
    assert won.pk in deal_ids(vpm) and won.pk in deal_ids(vpm, "edit")
    assert won.pk not in deal_ids(rep)
    sa.do_delete_sharing_rule(chart.rule, actor=chart.admin)
    assert deal.pk not in deal_ids(vpm)


# --- the pages: writes through the forms ---------------------------------------------------------------

def test_profile_pages_clone_edit_grid_and_field_levels(chart, client_for):
    client = client_for(chart.admin)
    standard = Profile.objects.get(org=chart.org, name="Standard")
    response = client.post(reverse("sharing_profile_clone", args=[standard.pk]), {"name": "Sales"})
    assert response.status_code == 400 and "name" in response.context["form"].errors
    response = client.post(reverse("sharing_profile_clone", args=[standard.pk]), {"name": "No deals"})
    clone = Profile.objects.get(org=chart.org, name="No deals")
    assert response.status_code == 302 and response["Location"] == reverse("sharing_profile", args=[clone.pk])

    page = client.get(reverse("sharing_profile", args=[clone.pk])).content.decode()
    for scope in ["*", *MODULES]:
        assert f'name="perm__{scope}__view"' in page
    body = {f"perm__{scope}__{p}": "on" for scope in ["*", *MODULES] for p in PERMISSIONS
            if not (scope == "deals" and p == "view") and p != "manage"}
    assert client.post(reverse("sharing_profile", args=[clone.pk]), body).status_code == 302
    clone.refresh_from_db()
    assert clone.permissions["deals"] == {"view": False}
    assert clone.allows("accounts", "view") and not clone.allows("accounts", "manage")

    fields_url = reverse("sharing_profile_fields", args=[clone.pk])
    page = client.get(fields_url + "?module=deals").content.decode()
    assert 'name="amount"' in page and 'name="discount"' in page
    response = client.post(fields_url + "?module=deals", {"module": "deals", "amount": "invisible"})
    assert response.status_code == 400 and "amount" in response.context["form"].errors
    assert Profile.objects.get(pk=clone.pk).field_levels == {}
    response = client.post(fields_url, {"module": "deals", "amount": "hidden", "discount": "read_only"})
    assert response.status_code == 302
    assert Profile.objects.get(pk=clone.pk).field_levels == {"deals": {"amount": "hidden", "discount": "read_only"}}

    rep = chart.users["rep"]
    response = client.post(reverse("sharing_members"), {"op": "profile", "membership": rep.membership.pk,
                                                        "profile": clone.pk})
    assert response.status_code == 302
    own = crm_actions.do_create_record("deals", {"name": "Mine"}, actor=chart.admin, owner=rep)
    assert own.pk not in deal_ids(rep) and field_level(fresh(rep), "deals", "amount") == "hidden"

    response = client.post(reverse("sharing_profile_delete", args=[clone.pk]))
    assert response.status_code == 400 and b"held by 1 users" in response.content
    response = client.post(reverse("sharing_profile_delete", args=[standard.pk]))
    assert response.status_code == 400 and Profile.objects.filter(pk=standard.pk).exists()
    spare = Profile.objects.get(org=chart.org, name="Sales")
    assert client.post(reverse("sharing_profile_delete", args=[spare.pk])).status_code == 302
    assert not Profile.objects.filter(pk=spare.pk).exists()


def test_role_pages_add_rename_move_and_refuse_a_cycle(chart, client_for):
    client = client_for(chart.admin)
    response = client.post(reverse("sharing_roles"), {"name": "", "parent": chart.roles["CEO"].pk})
    assert response.status_code == 400 and "name" in response.context["form"].errors
    response = client.post(reverse("sharing_roles"), {"name": "CFO", "parent": chart.roles["CEO"].pk})
    assert response.status_code == 302
    cfo = OrgRole.objects.get(org=chart.org, name="CFO")
    assert cfo.path == f"{chart.roles['CEO'].path}{cfo.pk}/"

    page = client.get(reverse("sharing_roles")).content.decode()
    depths = {name: f'data-role="{name}" data-depth="{depth}"' for name, depth in
              [("CEO", 0), ("VP Sales", 1), ("Sales Manager", 2), ("Rep", 3), ("CFO", 1)]}
    for name, marker in depths.items():
        assert marker in page, name
    assert page.index('data-role="VP Sales"') < page.index('data-role="Sales Manager"') < page.index('data-role="Rep"')

    role_url = reverse("sharing_role", args=[chart.roles["VP Sales"].pk])
    page = client.get(role_url).content.decode()
    assert f'value="{chart.roles["Rep"].pk}"' not in page.split('id="move-role-form"')[1]  # not offered
    before = snapshot()
    response = client.post(role_url, {"op": "move", "parent": chart.roles["Rep"].pk})
    assert response.status_code == 400
    assert "subordinates" in " ".join(response.context["move_form"].errors["parent"])
    assert snapshot() == before
    assert client.post(role_url, {"op": "move", "parent": cfo.pk}).status_code == 302
    assert chart.role("Rep").path == f"{cfo.path}{chart.roles['VP Sales'].pk}/{chart.roles['Sales Manager'].pk}/" \
                                     f"{chart.roles['Rep'].pk}/"
    assert client.post(role_url, {"op": "rename", "name": "VP Revenue"}).status_code == 302
    assert chart.role("VP Sales").name == "VP Revenue"

    response = client.post(reverse("sharing_role_delete", args=[chart.roles["Sales Manager"].pk]))
    assert response.status_code == 400 and b"below it" in response.content
    assert client.post(reverse("sharing_role_delete", args=[cfo.pk])).status_code == 400  # VP Revenue below
    empty = sa.do_create_role(chart.org, name="Empty", actor=chart.admin)
    assert client.post(reverse("sharing_role_delete", args=[empty.pk])).status_code == 302
    assert not OrgRole.objects.filter(pk=empty.pk).exists()


def test_group_pages(chart, client_for, other_org_user):
    client = client_for(chart.admin)
    response = client.post(reverse("sharing_groups"), {"name": "Board", "users": [other_org_user.pk]})
    assert response.status_code == 400 and "users" in response.context["form"].errors
    assert not Group.objects.filter(name="Board").exists()
    response = client.post(reverse("sharing_groups"), {"name": "Board", "users": [chart.users["ceo"].pk],
                                                       "roles": [chart.roles["VP Sales"].pk]})
    assert response.status_code == 302
    board = Group.objects.get(org=chart.org, name="Board")
    assert list(board.users.values_list("username", flat=True)) == ["ceo"]
    response = client.post(reverse("sharing_group", args=[board.pk]), {"name": "Auditors"})
    assert response.status_code == 400 and "name" in response.context["form"].errors
    assert client.post(reverse("sharing_group", args=[board.pk]), {"name": "Directors"}).status_code == 302
    board.refresh_from_db()
    assert board.name == "Directors" and not board.users.exists() and not board.roles.exists()
    assert client.post(reverse("sharing_group_delete", args=[board.pk])).status_code == 302
    assert client.post(reverse("sharing_group_delete", args=[chart.group.pk])).status_code == 400
    assert Group.objects.filter(pk=chart.group.pk).exists()


def test_rule_pages_rows_json_and_refusals(chart, client_for):
    client = client_for(chart.admin)
    new = reverse("sharing_rule_new") + "?module=deals"
    page = client.get(new).content.decode()
    assert 'name="c0_field"' in page and '<option value="stage">' in page
    base = {"module": "deals", "name": "Wins", "target_kind": "role", "target_role": chart.roles["VP Marketing"].pk,
            "access": "read", "joiner": "all"}
    count = SharingRule.objects.count()
    for body, field_name in [
        ({}, "owner_kind"),
        ({"owner_kind": "role", "owner_role": chart.roles["Rep"].pk, "c0_field": "stage", "c0_op": "eq",
          "c0_value": "won"}, "criteria"),
        ({"c0_field": "stage", "c0_op": "gt", "c0_value": "won"}, "criteria"),
        ({"c0_field": "stage", "c0_value": "won"}, "c0_op"),
        ({"criteria": "{not json"}, "criteria"),
        ({"criteria": '{"all": [{"field": "stage", "op": "eq", "value": "won"}]}', "c0_field": "stage",
          "c0_op": "eq", "c0_value": "won"}, "criteria"),
        ({"criteria": '{"all": [{"field": "stage", "op": "eq", "value": "won"}]}', "target_role": ""},
         "target_role"),
    ]:
        response = client.post(new, {**base, **body})
        assert response.status_code == 400, body
        assert field_name in response.context["form"].errors, (body, response.context["form"].errors)
    assert SharingRule.objects.count() == count

    response = client.post(new, {**base, "c0_field": "stage", "c0_op": "in", "c0_value": "won, negotiation",
                                 "c1_field": "amount", "c1_op": "gte", "c1_value": "500"})
    assert response.status_code == 302
    rule = SharingRule.objects.get(org=chart.org, name="Wins")
    assert rule.criteria == {"all": [{"field": "stage", "op": "in", "value": ["won", "negotiation"]},
                                     {"field": "amount", "op": "gte", "value": "500"}]}
    response = client.post(new, {**base, "name": "Big", "criteria": '{"any": [{"field": "amount", "op": "gt", '
                                                                    '"value": 10000}]}'})
    assert response.status_code == 302 and SharingRule.objects.filter(org=chart.org, name="Big").exists()
    response = client.post(new, {**base, "name": "Managers' deals", "owner_kind": "role_and_below",
                                 "owner_role": chart.roles["Sales Manager"].pk, "access": "read_write"})
    assert response.status_code == 302
    listing = client.get(reverse("sharing_rules") + "?module=deals").content.decode()
    assert "Stage is one of won, negotiation and Amount is at least 500" in listing
    assert "CEO › VP Sales › Sales Manager" in listing and "Reps to auditors" in listing
    assert client.post(reverse("sharing_rule_delete", args=[rule.pk])).status_code == 302
    assert not SharingRule.objects.filter(pk=rule.pk).exists()


def test_access_log_newest_first_in_pages(chart, client_for, standard_user, other_org):
    AccessLog.objects.bulk_create(
        [AccessLog(org=chart.org, user=chart.admin, user_name="Alice", action="export", module="deals", count=i)
         for i in range(60)]
        + [AccessLog(org=other_org, user_name="Globex person", action="export", module="deals", count=999)])
    client = client_for(chart.admin)
    first = client.get(reverse("sharing_access_log"))
    entries = first.context["entries"]
    assert len(entries) == 50 and first.context["has_older"] and not first.context["has_newer"]
    assert [e.count for e in entries] == list(range(59, 9, -1))
    second = client.get(reverse("sharing_access_log") + "?page=2")
    assert [e.count for e in second.context["entries"]] == list(range(9, -1, -1))
    assert not second.context["has_older"] and b"Globex person" not in second.content
    assert client.get(reverse("sharing_access_log") + "?page=x").status_code == 200
    assert client_for(standard_user).get(reverse("sharing_access_log")).status_code == 404


def test_page_query_counts_do_not_grow_with_rows(chart, client_for, django_assert_max_num_queries):
    client = client_for(chart.admin)
    for i in range(10):
        sa.do_create_role(chart.org, name=f"Extra {i}", parent=chart.roles["Rep"], actor=chart.admin)
        sa.do_create_group(chart.org, name=f"Group {i}", role_ids=[chart.roles["CEO"].pk], actor=chart.admin)
    for name in ("sharing_roles", "sharing_groups", "sharing_members", "sharing_profiles"):
        with django_assert_max_num_queries(15):
            assert client.get(reverse(name)).status_code == 200
    with django_assert_max_num_queries(20):
        assert client.get(reverse("sharing_rules") + "?module=deals").status_code == 200

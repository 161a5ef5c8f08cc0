"""The sharing model as a table, asserted through the pages and the CSV export a person uses.

Each row sets up one grant (or refusal) and names, for one user, whether they may view, edit,
delete and export a deal owned by the sales rep "rep". The org chart is
CEO > VP Sales > Sales manager > Sales rep (> Intern), so the hierarchy is checked three
levels up. Deals are private unless the row says otherwise.
"""
from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest
from django.urls import reverse

from access.actions import do_set_org_default
from access.models import PERMISSIONS, AccessLog, Profile
from access.share_actions import do_revoke_share, do_share_record
from access.sharing_actions import (
    do_clone_profile, do_create_group, do_create_role, do_create_sharing_rule, do_set_profile_field_levels,
    do_set_profile_permissions, do_set_user_profile, do_set_user_role,
)
from crm import actions
from crm.criteria import validate
from crm.models import Deal, TimelineEntry
from crm.modules import get_module, org_modules
from tests.helpers import fresh

pytestmark = pytest.mark.django_db

DEAL = "Big Northwind deal"
MODULES = [m.key for m in org_modules()]


@pytest.fixture
def world(org, admin_user, make_user):
    ceo = do_create_role(org, name="CEO", actor=admin_user)
    vp = do_create_role(org, name="VP Sales", parent=ceo, actor=admin_user)
    manager = do_create_role(org, name="Sales manager", parent=vp, actor=admin_user)
    rep = do_create_role(org, name="Sales rep", parent=manager, actor=admin_user)
    intern = do_create_role(org, name="Intern", parent=rep, actor=admin_user)
    users = {}
    for name, role in (("ceo", ceo), ("vp", vp), ("manager", manager), ("rep", rep), ("peer", rep),
                       ("intern", intern), ("member", None), ("outsider", None)):
        user = make_user(org, username=name)
        if role is not None:
            do_set_user_role(user.membership, role, actor=admin_user)
        users[name] = user
    group = do_create_group(org, name="Partners", user_ids=[users["member"].pk], actor=admin_user)
    do_set_org_default(org, "deals", "private", actor=admin_user)
    users = {name: fresh(user) for name, user in users.items()}
    users["admin"] = fresh(admin_user)
    deal = actions.do_create_record("deals", {"name": DEAL, "amount": "5000", "stage": "qualification"},
                                    actor=users["rep"])
    return SimpleNamespace(org=org, admin=users["admin"], users=users, group=group, deal=deal,
                           roles=SimpleNamespace(rep=rep, intern=intern))


def _grid(**modules: dict[str, bool]) -> dict[str, dict[str, bool]]:
    rows = {scope: {p: True for p in PERMISSIONS} for scope in ["*", *MODULES]}
    for module, changes in modules.items():
        rows[module].update(changes)
    return rows


def _profile_for(world, username: str, name: str, **deals: bool) -> None:
    standard = Profile.objects.get(org=world.org, name="Standard")
    profile = do_clone_profile(standard, name, actor=world.admin)
    do_set_profile_permissions(profile, _grid(deals=deals), actor=world.admin, known_modules=MODULES)
    do_set_user_profile(world.users[username].membership, profile, actor=world.admin)


def _validator(world):
    bound = get_module("deals", world.org).bind(world.org)
    return lambda criteria: validate(criteria, bound)


# --- the rows: set-up, user, and (view, edit, delete, export) --------------------------------------

def private(world):
    pass


def public_read(world):
    do_set_org_default(world.org, "deals", "public_read", actor=world.admin)


def public_read_write(world):
    do_set_org_default(world.org, "deals", "public_read_write", actor=world.admin)


def owner_rule(world):
    do_create_sharing_rule(world.org, "deals", name="Reps' deals to partners", target_kind="group",
                           target_group=world.group, owner_kind="role", owner_role=world.roles.rep,
                           access="read", actor=world.admin, known_modules=MODULES)


def criteria_rule(world):
    do_create_sharing_rule(world.org, "deals", name="Big ones to interns", target_kind="role",
                           target_role=world.roles.intern,
                           criteria={"all": [{"field": "name", "op": "contains", "value": "Big"}]},
                           access="read_write", actor=world.admin, known_modules=MODULES,
                           validate_criteria=_validator(world))


def criteria_rule_not_matching(world):
    do_create_sharing_rule(world.org, "deals", name="Small ones to interns", target_kind="role",
                           target_role=world.roles.intern,
                           criteria={"all": [{"field": "name", "op": "contains", "value": "Small"}]},
                           access="read_write", actor=world.admin, known_modules=MODULES,
                           validate_criteria=_validator(world))


def manual_read_share(world):
    do_share_record(world.org, "deals", world.deal, user=world.users["outsider"], access="read",
                    actor=world.users["rep"])


def manual_share_revoked(world):
    share = do_share_record(world.org, "deals", world.deal, user=world.users["outsider"], access="read_write",
                            actor=world.users["rep"])
    do_revoke_share(share, actor=world.users["rep"])


def manual_group_share(world):
    do_share_record(world.org, "deals", world.deal, group=world.group, access="read_write",
                    actor=world.users["manager"])


def profile_without_edit(world):
    _profile_for(world, "rep", "No deal editing", edit=False)


def profile_without_view(world):
    _profile_for(world, "rep", "No deals", view=False)


def profile_without_export(world):
    _profile_for(world, "rep", "No deal export", export=False)


def profile_without_delete(world):
    _profile_for(world, "manager", "No deal deleting", delete=False)


def read_only_profile(world):
    do_set_org_default(world.org, "deals", "public_read_write", actor=world.admin)
    do_set_user_profile(world.users["peer"].membership, Profile.objects.get(org=world.org, name="Read-only"),
                        actor=world.admin)


ALL, NONE = (True, True, True, True), (False, False, False, False)
READ = (True, False, False, True)  # view and export
READ_WRITE = (True, True, False, True)

TABLE = [
    (private, "admin", ALL),
    (private, "rep", ALL),
    (private, "manager", ALL),  # one level above the owner
    (private, "vp", ALL),  # two levels
    (private, "ceo", ALL),  # three levels
    (private, "peer", NONE),  # same role, not above
    (private, "intern", NONE),  # below the owner
    (private, "outsider", NONE),
    (public_read, "peer", READ),
    (public_read, "outsider", READ),
    (public_read_write, "peer", READ_WRITE),
    (owner_rule, "member", READ),
    (owner_rule, "outsider", NONE),
    (criteria_rule, "intern", READ_WRITE),
    (criteria_rule, "peer", NONE),
    (criteria_rule_not_matching, "intern", NONE),
    (manual_read_share, "outsider", READ),
    (manual_read_share, "peer", NONE),
    (manual_share_revoked, "outsider", NONE),
    (manual_group_share, "member", READ_WRITE),
    (profile_without_edit, "rep", (True, False, True, True)),
    (profile_without_view, "rep", (False, False, False, 404)),  # the module is closed to them
    (profile_without_export, "rep", (True, True, True, 403)),  # refused outright
    (profile_without_delete, "manager", (True, True, False, True)),
    (read_only_profile, "peer", READ),
]


def _ids(row) -> str:
    setup, username, _ = row
    return f"{setup.__name__}-{username}"


def _export_names(response) -> list[str]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return [row[0] for row in csv.reader(io.StringIO(text))][1:]


@pytest.mark.parametrize("row", TABLE, ids=[_ids(r) for r in TABLE])
def test_permission_table_through_pages_and_export(world, client_for, row):
    setup, username, (may_view, may_edit, may_delete, may_export) = row
    setup(world)
    user = fresh(world.users[username])
    client = client_for(user)
    deal = world.deal
    detail = reverse("crm:detail", args=["deals", deal.pk])

    # view: the page, and the list
    page = client.get(detail)
    assert page.status_code == (200 if may_view else 404)
    listed = DEAL in client.get(reverse("crm:list", args=["deals"])).content.decode()
    assert listed == may_view

    # export: the CSV holds the deal exactly when the user may export it; a profile without the
    # export switch (403) or without the module (404) is refused outright, and nothing is logged.
    logs_before = AccessLog.objects.filter(org=world.org).count()
    response = client.post(reverse("exports:export", args=["deals"]))
    if may_export in (403, 404):
        assert response.status_code == may_export
        assert AccessLog.objects.filter(org=world.org).count() == logs_before
    else:
        assert response.status_code == 200
        assert (DEAL in _export_names(response)) == may_export
        log = AccessLog.objects.filter(org=world.org).latest("at")
        assert (log.user_id, log.module, log.action, log.count) == (user.pk, "deals", "export", int(may_export))

    # edit: through the edit form (the new name still matches the criteria rule's "Big")
    response = client.post(reverse("crm:edit", args=["deals", deal.pk]),
                           {"name": "Big edited deal", "stage": "qualification", "amount": "5000",
                            "version": deal.version})
    deal.refresh_from_db()
    if may_edit:
        assert response.status_code == 302 and deal.name == "Big edited deal"
    else:
        assert response.status_code == (403 if may_view else 404)
        assert deal.name == DEAL

    # delete: to the recycle bin, or refused with nothing changed
    response = client.post(reverse("crm:delete", args=["deals", deal.pk]), {"version": deal.version})
    deal.refresh_from_db()
    assert (deal.deleted_at is not None) == may_delete
    if not may_delete:
        assert response.status_code == (403 if may_view else 404)


# --- field permissions: hidden and read-only fields ------------------------------------------------

@pytest.fixture
def amount_hidden(world):
    standard = Profile.objects.get(org=world.org, name="Standard")
    profile = do_clone_profile(standard, "No amounts", actor=world.admin)
    bound = get_module("deals", world.org).bind(world.org)
    do_set_profile_field_levels(profile, "deals", {"amount": "hidden", "stage": "read_only"}, actor=world.admin,
                                known_modules=MODULES, known_field_keys=[f.key for f in bound.fields])
    do_set_user_profile(world.users["rep"].membership, profile, actor=world.admin)
    actions.do_update_record(world.deal, {"amount": "7777"}, version=world.deal.version, actor=world.admin)
    world.deal.refresh_from_db()
    return fresh(world.users["rep"])


def test_a_hidden_field_is_absent_from_every_page_and_the_export(world, amount_hidden, client_for):
    client = client_for(amount_hidden)
    deal = world.deal
    detail = client.get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    assert DEAL in detail
    assert 'data-field="amount"' not in detail  # neither the field...
    assert "7777" not in detail and "7,777" not in detail  # ...nor its change on the timeline
    assert TimelineEntry.objects.filter(record_id=deal.pk, changes__has_key="amount").exists()

    listing = client.get(reverse("crm:list", args=["deals"]) + "?columns=name&columns=amount")
    assert "7,777" not in listing.content.decode()
    assert "amount" not in listing.context["filterset"].form.fields
    assert all(spec.key != "amount" for spec in listing.context["all_fields"])
    # Filtering or searching by the hidden value finds nothing and gives it away nowhere.
    assert DEAL not in client.get(reverse("crm:list", args=["deals"]) + "?q=7777").content.decode()

    export = client.post(reverse("exports:export", args=["deals"]))
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "Amount" not in text.splitlines()[0] and "7777" not in text

    edit_form = client.get(reverse("crm:edit", args=["deals", deal.pk])).content.decode()
    assert 'name="amount"' not in edit_form

    # The administrator, with the full profile, sees it all.
    admin_page = client_for(world.admin).get(reverse("crm:detail", args=["deals", deal.pk])).content.decode()
    assert 'data-field="amount">7,777.00' in admin_page


def test_read_only_and_hidden_fields_cannot_be_changed_by_any_path(world, amount_hidden, client_for):
    client = client_for(amount_hidden)
    deal = world.deal
    response = client.post(reverse("crm:edit", args=["deals", deal.pk]),
                           {"name": "Renamed", "stage": "won", "amount": "1", "version": deal.version})
    assert response.status_code == 302
    deal.refresh_from_db()
    # The rename (read-write) went through; the read-only stage and the hidden amount did not.
    assert (deal.name, deal.stage, str(deal.amount)) == ("Renamed", "qualification", "7777.00")

    from django.core.exceptions import PermissionDenied

    for changes in ({"stage": "won"}, {"amount": "1"}):
        with pytest.raises(PermissionDenied):
            actions.do_update_record(deal, changes, version=deal.version, actor=amount_hidden, path="api")
    deal.refresh_from_db()
    assert (deal.stage, str(deal.amount)) == ("qualification", "7777.00")
    # An exempt user (the administrator) still may.
    actions.do_update_record(deal, {"stage": "won"}, version=deal.version, actor=world.admin)
    deal.refresh_from_db()
    assert deal.stage == "won"


def test_an_edit_that_would_take_the_record_out_of_reach_is_refused(world, client_for):
    criteria_rule(world)
    intern = fresh(world.users["intern"])
    response = client_for(intern).post(reverse("crm:edit", args=["deals", world.deal.pk]),
                                       {"name": "Renamed deal", "stage": "qualification", "amount": "5000",
                                        "version": world.deal.version})
    assert response.status_code == 400
    assert "out of your reach" in " ".join(response.context["form"].non_field_errors())
    world.deal.refresh_from_db()
    assert world.deal.name == DEAL

"""Configuration actions: who may configure, validation with errors keyed by field, the limit of
five rules, tenant isolation, and that a change takes effect on the next save."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from access.models import Profile
from access.sharing_actions import do_create_role
from crm import actions
from crm.guards import GuardRefusal
from locking import actions as locking
from locking import selectors
from locking.models import FieldLock, LockRule, RecordLock
from locking.state import lock_state
from tests.factories import DealFactory
from tests.locking.conftest import WON
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


def errors_of(exc_info) -> dict:
    return exc_info.value.message_dict


def test_a_sixth_rule_is_refused_with_a_clear_message(org, admin_user, add_rule):
    for n in range(5):
        add_rule("deals", f"Rule {n}", WON)
    with pytest.raises(actions.RecordValidationError) as exc:
        add_rule("deals", "Rule 6", WON)
    assert errors_of(exc) == {"__all__": [
        "A module can have at most 5 lock rules. Delete or change one of its rules instead."]}
    assert LockRule.objects.filter(org=org, module="deals").count() == 5
    add_rule("leads", "Other module", None)  # the limit is per module


@pytest.mark.parametrize("kwargs, field, message", [
    ({"name": ""}, "name", "This field is required."),
    ({"criteria": {"all": [{"field": "nope", "op": "eq", "value": 1}]}}, "criteria", "Unknown field “nope”."),
    ({"criteria": {"all": [{"field": "stage", "op": "gt", "value": "won"}]}}, "criteria", "cannot be used"),
    ({"restricted_actions": []}, "restricted_actions", "Choose at least one action to restrict."),
    ({"restricted_actions": ["fly"]}, "restricted_actions", "Choose actions from the list."),
    ({"editable_fields": ["nope"]}, "editable_fields", "Unknown field “nope”."),
    ({"locked_for": "selected"}, "locked_for", "Choose at least one profile, role or team role."),
    ({"locked_for": "some"}, "locked_for", "Choose who the lock applies to."),
    ({"locked_for": "selected", "team_roles": ["manager"]}, "team_roles", "team modules only"),
    ({"locked_for": "selected", "profiles": [999999]}, "profiles", "Choose from the list."),
])
def test_rule_validation_names_the_field(kwargs, field, message, org, admin_user):
    values = {"name": "Closed deals", "criteria": WON, **kwargs}
    with pytest.raises(actions.RecordValidationError) as exc:
        locking.do_create_lock_rule(org, "deals", actor=admin_user, **values)
    assert message in " ".join(errors_of(exc)[field])


def test_rule_names_are_unique_per_module(org, admin_user, add_rule):
    add_rule("deals", "Closed deals", WON)
    with pytest.raises(actions.RecordValidationError) as exc:
        add_rule("deals", "closed DEALS", WON)
    assert "name" in errors_of(exc)


def test_default_restricted_actions_are_the_edit_family(add_rule):
    rule = add_rule("deals", "Closed deals", WON)
    assert rule.restricted_actions == ["edit", "bulk_edit", "import_update"]
    assert rule.criteria == WON and rule.locked_for == "all"


def test_criteria_and_fields_by_api_name_are_stored_by_key(org, admin_user):
    field = actions.do_create_field(org, "deals", api_name="region", label_en="Region", field_type="text",
                                    actor=admin_user)
    rule = locking.do_create_lock_rule(org, "deals", name="EMEA", actor=admin_user,
                                       criteria={"all": [{"field": "region", "op": "eq", "value": "EMEA"}]},
                                       editable_fields=["region"])
    assert rule.criteria["all"][0]["field"] == field.key
    assert rule.editable_fields == [field.key]


def test_another_orgs_profiles_and_roles_are_refused(org, admin_user, other_org_user):
    theirs = Profile.objects.get(org=other_org_user.org, name="Standard")
    role = do_create_role(other_org_user.org, name="Their sales", actor=other_org_user)
    with pytest.raises(actions.RecordValidationError) as exc:
        locking.do_create_lock_rule(org, "deals", name="X", criteria=WON, locked_for="selected",
                                    profiles=[theirs.pk], roles=[role.pk], actor=admin_user)
    assert set(errors_of(exc)) == {"profiles", "roles"}


def test_only_admins_configure_org_modules(org, admin_user, standard_user, manager, enable):
    for call in (
        lambda: locking.do_save_lock_config(org, "deals", enabled=True, actor=standard_user),
        lambda: locking.do_create_lock_rule(org, "deals", name="X", criteria=WON, actor=standard_user),
        lambda: locking.do_save_field_lock(org, "deals", name="X", fields=["amount"], locked_for="all",
                                           actor=manager),
    ):
        with pytest.raises(PermissionDenied):
            call()


def test_team_managers_configure_their_team_modules_only(org, orders, manager, member, marketing):
    locking.do_save_lock_config(org, orders.key, enabled=True, actor=manager)
    rule = locking.do_create_lock_rule(org, orders.key, name="Approved", actor=manager,
                                       criteria={"all": [{"field": "status", "op": "eq", "value": "approved"}]},
                                       locked_for="selected", team_roles=["member", "requester"])
    assert rule.team_roles == ["member", "requester"]
    with pytest.raises(PermissionDenied):
        locking.do_update_lock_rule(rule, name="Approved", criteria=None, actor=member)
    with pytest.raises(PermissionDenied):
        locking.do_save_lock_config(org, "deals", enabled=True, actor=manager)
    config = selectors.lock_config(org, orders.key)
    assert config.locker_team_roles == ["manager"]  # the default for team modules


def test_another_orgs_rules_are_not_found(org, admin_user, other_org_user, add_rule):
    rule = add_rule("deals", "Closed deals", WON)
    field_lock = locking.do_save_field_lock(org, "deals", name="Amount", fields=["amount"], locked_for="all",
                                            actor=admin_user)
    for call in (
        lambda: locking.do_update_lock_rule(rule, name="Mine now", criteria=WON, actor=other_org_user),
        lambda: locking.do_delete_lock_rule(rule, actor=other_org_user),
        lambda: locking.do_start_apply_job(rule, actor=other_org_user),
        lambda: locking.do_apply_rule_to_existing(rule, actor=other_org_user),
        lambda: locking.do_delete_field_lock(field_lock, actor=other_org_user),
        lambda: locking.do_save_field_lock(other_org_user.org, "deals", name="Amount", fields=["amount"],
                                           locked_for="all", field_lock=field_lock, actor=other_org_user),
        lambda: locking.do_save_lock_config(org, "deals", enabled=False, actor=other_org_user),
    ):
        with pytest.raises(PermissionDenied):
            call()
    for lookup in (lambda: selectors.get_lock_rule(other_org_user.org, rule.pk),
                   lambda: selectors.get_field_lock(other_org_user.org, field_lock.pk),
                   lambda: selectors.get_lock_rule(org, "x")):
        with pytest.raises(Http404):
            lookup()
    assert selectors.get_lock_rule(org, rule.pk) == rule
    assert LockRule.objects.get(pk=rule.pk).name == "Closed deals"
    assert FieldLock.objects.filter(pk=field_lock.pk).exists()


def test_another_orgs_team_module_is_refused(org, orders, other_org_user):
    with pytest.raises(PermissionDenied):
        locking.do_save_lock_config(other_org_user.org, orders.key, enabled=True, actor=other_org_user)


def test_rule_changes_take_effect_on_the_next_save(org, admin_user, rep, enable, add_rule):
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    deal = DealFactory(actor=rep, stage="won")
    with pytest.raises(GuardRefusal):
        actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=rep)
    locking.do_update_lock_rule(rule, name="Closed deals", actor=admin_user,
                                criteria={"all": [{"field": "stage", "op": "eq", "value": "lost"}]})
    # The won deal no longer matches: its lock is no longer in force (the apply job removes its row).
    assert not lock_state(deal, actions.bound_schema("deals", org), rep).locked
    actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=rep)
    assert locking.do_apply_rule_to_existing(rule, actor=admin_user) == {"locked": 0, "unlocked": 1}
    assert not RecordLock.objects.filter(record_id=deal.pk).exists()
    enable("deals", enabled=False)
    lost = DealFactory(actor=rep, stage="lost")
    actions.do_update_record(lost, {"amount": "2"}, version=version_of(lost), actor=rep)  # locking off
    enable("deals")
    actions.do_update_record(lost, {"amount": "3"}, version=version_of(lost), actor=rep)  # matched already: left as it is
    assert locking.do_apply_rule_to_existing(rule, actor=admin_user) == {"locked": 1, "unlocked": 0}
    with pytest.raises(GuardRefusal):
        actions.do_update_record(lost, {"amount": "4"}, version=version_of(lost), actor=rep)
    reopened = DealFactory(actor=rep, stage="proposal")
    actions.do_update_record(reopened, {"stage": "lost"}, version=version_of(reopened), actor=rep)  # comes to match: locked
    with pytest.raises(GuardRefusal):
        actions.do_update_record(reopened, {"amount": "4"}, version=version_of(reopened), actor=rep)


def test_deleting_a_rule_unlocks_its_records_on_the_timeline(org, admin_user, rep, enable, add_rule):
    from crm.models import TimelineEntry

    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    deals = [DealFactory(actor=rep, stage="won") for _ in range(3)]
    assert locking.do_delete_lock_rule(rule, actor=admin_user) == 3
    assert not RecordLock.objects.filter(org=org).exists()
    assert TimelineEntry.objects.filter(record_id__in=[d.pk for d in deals], kind="unlocked").count() == 3
    actions.do_update_record(deals[0], {"amount": "1"}, version=version_of(deals[0]), actor=rep)


def test_field_lock_needs_fields(org, admin_user):
    with pytest.raises(actions.RecordValidationError) as exc:
        locking.do_save_field_lock(org, "leads", name="Nothing", fields=[], locked_for="all", actor=admin_user)
    assert errors_of(exc)["fields"] == ["Choose at least one field."]


def test_roles_cover_their_subordinates(org, admin_user, rep, exempt, enable, add_rule):
    from access.sharing_actions import do_set_user_role
    from tests.locking.conftest import rebind

    sales = do_create_role(org, name="Sales", actor=admin_user)
    east = do_create_role(org, name="Sales East", parent=sales, actor=admin_user)
    do_set_user_role(rep.membership, east, actor=admin_user)
    rep = rebind(rep)
    enable("deals")
    add_rule("deals", "Closed deals", WON, locked_for="selected", roles=[sales.pk])
    deal = DealFactory(actor=rep, stage="won")
    with pytest.raises(GuardRefusal):
        actions.do_update_record(deal, {"amount": "1"}, version=version_of(deal), actor=rep)
    other = DealFactory(actor=exempt, stage="won")
    actions.do_update_record(other, {"amount": "1"}, version=version_of(other), actor=exempt)

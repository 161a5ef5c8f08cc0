"""THE visibility function: org-wide defaults as a table, tenant isolation at the query level,
task assignees, deactivated members. Checked through `visible()` and through the actions."""
from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404

from access.actions import do_set_membership_active, do_set_org_default
from access.models import OrgWideDefault, User
from access.visibility import ACTIONS, access_predicate, bind_org, can, get_record, visible
from crm import actions
from crm.modules import org_modules
from tests.factories import FACTORIES
from tests.helpers import fresh
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

MODULES = [m.key for m in org_modules()]
REQUIRED = {"accounts": {"name": "Acme"}, "contacts": {"last_name": "Lee"}, "leads": {"last_name": "Lead"},
            "deals": {"name": "Big deal"}, "tasks": {"subject": "Call back"}}
PRIVATE, READ, READ_WRITE = OrgWideDefault.Level.values

# Who may do what on a record of a module with this org-wide default.
# role: admin (org administrator), owner (standard user who owns it), other (standard user who does not).
ALLOWED = {
    ("admin", PRIVATE): {"view", "edit", "delete", "export"},
    ("admin", READ): {"view", "edit", "delete", "export"},
    ("admin", READ_WRITE): {"view", "edit", "delete", "export"},
    ("owner", PRIVATE): {"view", "edit", "delete", "export"},
    ("owner", READ): {"view", "edit", "delete", "export"},
    ("owner", READ_WRITE): {"view", "edit", "delete", "export"},
    ("other", PRIVATE): set(),
    ("other", READ): {"view", "export"},
    ("other", READ_WRITE): {"view", "export", "edit"},
}
TABLE = [(role, level, action, action in ALLOWED[role, level])
         for role in ("admin", "owner", "other") for level in (PRIVATE, READ, READ_WRITE) for action in ACTIONS]


def schema_of(module, org):
    return actions.bound_schema(module, org)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("role, level, action, allowed", TABLE,
                         ids=[f"{r}-{lv}-{a}-{'yes' if ok else 'no'}" for r, lv, a, ok in TABLE])
def test_org_wide_default_table(org, admin_user, standard_user, other_user, role, level, action, allowed, module):
    do_set_org_default(org, module, level, actor=admin_user)
    owner = fresh(standard_user, org)
    record = actions.do_create_record(module, REQUIRED[module], actor=owner)
    actor = fresh({"admin": admin_user, "owner": standard_user, "other": other_user}[role], org)
    schema = schema_of(module, org)

    # through visible() (and can(), its one-record form)
    assert visible(actor, schema, action).filter(pk=record.pk).exists() is allowed
    assert can(actor, schema, record, action) is allowed

    # through the doors that use it
    if action == "view":
        if allowed:
            assert get_record(actor, schema, record.pk).pk == record.pk
        else:
            with pytest.raises(Http404):
                get_record(actor, schema, record.pk)
    elif action == "edit":
        if allowed:
            updated = actions.do_update_record(record, {**REQUIRED[module]} | _a_change(module), version=1,
                                               actor=actor)
            assert updated.version == 2
        else:
            with pytest.raises(PermissionDenied):
                actions.do_update_record(record, _a_change(module), version=1, actor=actor)
            assert schema.model.objects.get(pk=record.pk).version == 1
    elif action == "delete":
        if allowed:
            assert actions.do_delete_record(record, version=version_of(record), actor=actor).deleted_at is not None
        else:
            with pytest.raises(PermissionDenied):
                actions.do_delete_record(record, version=version_of(record), actor=actor)
            assert schema.model.objects.get(pk=record.pk).deleted_at is None
    # export has no action of its own yet: exports read visible(user, module, "export").


def _a_change(module):
    return {"accounts": {"city": "Paris"}, "contacts": {"title": "CEO"}, "leads": {"company": "Initech"},
            "deals": {"amount": "10"}, "tasks": {"status": "completed"}}[module]


@pytest.mark.parametrize("module, expected", [("accounts", READ_WRITE), ("contacts", READ_WRITE),
                                              ("leads", PRIVATE), ("deals", PRIVATE), ("tasks", PRIVATE)])
def test_module_defaults_without_an_org_setting(org, admin_user, standard_user, other_user, module, expected):
    record = actions.do_create_record(module, REQUIRED[module], actor=standard_user)
    schema = schema_of(module, org)
    seen = {a for a in ACTIONS if visible(other_user, schema, a).filter(pk=record.pk).exists()}
    assert seen == ALLOWED["other", expected]


def test_the_owner_of_a_record_keeps_access_when_the_default_tightens(org, admin_user, standard_user, other_user):
    mine = actions.do_create_record("accounts", {"name": "Mine"}, actor=standard_user)
    theirs = actions.do_create_record("accounts", {"name": "Theirs"}, actor=other_user)
    do_set_org_default(org, "accounts", PRIVATE, actor=admin_user)
    sam = fresh(standard_user, org)
    schema = schema_of("accounts", org)
    assert list(visible(sam, schema).values_list("pk", flat=True)) == [mine.pk]
    assert set(visible(fresh(admin_user, org), schema).values_list("pk", flat=True)) == {mine.pk, theirs.pk}


def test_only_admins_set_defaults(org, standard_user, admin_user, other_org_user):
    from django.core.exceptions import ValidationError

    with pytest.raises(PermissionDenied):
        do_set_org_default(org, "accounts", PRIVATE, actor=standard_user)
    with pytest.raises(PermissionDenied):
        do_set_org_default(org, "accounts", PRIVATE, actor=other_org_user)
    with pytest.raises(ValidationError):
        do_set_org_default(org, "accounts", "everyone", actor=admin_user)
    assert not OrgWideDefault.objects.exists()


def test_a_new_default_applies_to_the_next_read(org, admin_user, standard_user, other_user):
    """Regression: the defaults were cached on the Organization object and never dropped, so reads
    through the same object kept the old level. They are now cached in Redis and forgotten on change."""
    schema = schema_of("accounts", org)
    account = actions.do_create_record("accounts", {"name": "Sam's"}, actor=standard_user)
    assert visible(other_user, schema).filter(pk=account.pk).exists()  # public read/write
    do_set_org_default(org, "accounts", PRIVATE, actor=admin_user)
    assert not visible(other_user, schema).filter(pk=account.pk).exists()
    assert not visible(fresh(other_user, org), schema).filter(pk=account.pk).exists()  # another process


@pytest.mark.django_db(transaction=True)  # real commits, so the shared Redis cache is really written
def test_a_rolled_back_default_does_not_stick(org, admin_user, standard_user, other_user):
    """Regression: a read between do_set_org_default and a rollback cached the uncommitted level in
    Redis (for an hour, for every process). Now only reads outside a transaction are cached."""
    from django.db import transaction

    from access.visibility import defaults_cache_key

    schema = schema_of("accounts", org)
    account = actions.do_create_record("accounts", {"name": "Sam's"}, actor=standard_user)

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        with transaction.atomic():  # e.g. a settings form saving several modules, one of them invalid
            do_set_org_default(org, "accounts", PRIVATE, actor=admin_user)
            visible(other_user, schema).exists()  # anything that reads visibility in between
            raise Abandoned
    assert not OrgWideDefault.objects.filter(org=org).exists()
    assert visible(fresh(other_user, org), schema).filter(pk=account.pk).exists()  # still public read/write
    assert cache.get(defaults_cache_key(org.pk))[1] == {}  # what is shared now is the committed state
    assert visible(fresh(other_user, org), schema).filter(pk=account.pk).exists()  # read through the cache


# --- tenant isolation ----------------------------------------------------------------------

@pytest.fixture
def two_tenants(org, admin_user, standard_user, other_org_user):
    """One record of every module in each org, made by each org's own people."""
    ours = {m: FACTORIES[m](actor=standard_user) for m in MODULES}
    theirs = {m: FACTORIES[m](actor=other_org_user) for m in MODULES}
    return ours, theirs


@pytest.mark.parametrize("module", MODULES)
def test_other_orgs_records_are_never_visible(module, org, admin_user, standard_user, other_org_user, two_tenants):
    ours, theirs = two_tenants
    schema = schema_of(module, org)
    for user in (admin_user, standard_user):
        for action in ACTIONS:
            qs = visible(user, schema, action)
            assert theirs[module].pk not in set(qs.values_list("pk", flat=True))
            assert set(qs.values_list("org_id", flat=True)) <= {org.pk}
        assert not visible(user, schema, deleted=True).filter(pk=theirs[module].pk).exists()
    # and the other way round
    their_schema = schema_of(module, other_org_user.org)
    assert list(visible(other_org_user, their_schema).values_list("pk", flat=True)) == [theirs[module].pk]


@pytest.mark.parametrize("module", MODULES)
def test_get_record_gives_the_same_404_for_other_orgs_missing_and_hidden_records(
        module, org, admin_user, standard_user, other_user, two_tenants):
    ours, theirs = two_tenants
    schema = schema_of(module, org)
    model = schema.model
    missing = model.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    for user in (admin_user, standard_user):
        for pk in (theirs[module].pk, str(theirs[module].pk), missing, "abc", None, "1; DROP TABLE x"):
            for action in ACTIONS:
                with pytest.raises(Http404) as excinfo:
                    get_record(user, schema, pk, action)
                assert excinfo.value.args == ()  # nothing that tells the cases apart
    hidden = actions.do_create_record(module, REQUIRED[module], actor=admin_user)
    do_set_org_default(org, module, PRIVATE, actor=admin_user)
    with pytest.raises(Http404) as excinfo:
        get_record(fresh(other_user, org), schema, hidden.pk)
    assert excinfo.value.args == ()


def test_the_visibility_query_is_filtered_by_tenant_in_sql(org, admin_user, standard_user, other_user):
    """One SQL predicate: the org is always in it, and a standard user's rows are chosen by
    columns, never by a Python list of ids."""
    do_set_org_default(org, "tasks", PRIVATE, actor=admin_user)
    schema = schema_of("tasks", org)
    for user in (fresh(admin_user, org), fresh(standard_user, org)):
        for action in ACTIONS:
            sql = str(visible(user, schema, action).query)
            assert f'"crm_task"."org_id" = {org.pk}' in sql
            assert '"crm_task"."deleted_at" IS NULL' in sql
            # manual shares are a subquery, `id IN (SELECT ...)`; a literal list would be ids in Python
            assert not re.search(r'"crm_task"\."id" IN \(\d', sql)
    sql = str(visible(fresh(standard_user, org), schema, "edit").query)
    assert f'"crm_task"."owner_id" = {standard_user.pk}' in sql
    assert f'"crm_task"."assignee_id" = {standard_user.pk}' in sql


def test_a_user_bound_to_an_org_they_do_not_belong_to_sees_nothing(org, admin_user, other_org_user, two_tenants):
    intruder = bind_org(User.objects.get(pk=other_org_user.pk), org)  # e.g. a forged org switch
    for module in MODULES:
        schema = schema_of(module, org)
        for action in ACTIONS:
            assert not visible(intruder, schema, action).exists()
        with pytest.raises(PermissionDenied):
            actions.do_create_record(module, REQUIRED[module], actor=intruder)
    unbound = User.objects.get(pk=admin_user.pk)  # no org bound at all
    assert not visible(unbound, schema_of("accounts", org)).exists()


def test_actions_refuse_other_orgs_records(org, admin_user, other_org_user, two_tenants):
    ours, theirs = two_tenants
    target = theirs["accounts"]
    with pytest.raises(PermissionDenied):
        actions.do_update_record(target, {"name": "Hijacked"}, version=1, actor=admin_user)
    with pytest.raises(PermissionDenied):
        actions.do_delete_record(target, version=version_of(target), actor=admin_user)
    with pytest.raises(PermissionDenied):
        actions.do_change_owner(target, admin_user.pk, version=version_of(target), actor=admin_user)
    with pytest.raises(PermissionDenied):
        actions.do_add_note(target, "hello", actor=admin_user)
    with pytest.raises(PermissionDenied):
        actions.do_restore_record(target, actor=admin_user)
    stored = type(target).objects.get(pk=target.pk)
    assert (stored.name, stored.owner_id, stored.version, stored.deleted_at) == (target.name, other_org_user.pk, 1,
                                                                                None)


def test_unknown_action_is_an_error(org, admin_user):
    with pytest.raises(ValueError):
        access_predicate(admin_user, schema_of("accounts", org), "approve")


# --- tasks and their assignees -----------------------------------------------------------------

def test_tasks_are_visible_to_their_assignee(org, admin_user, standard_user, other_user, make_user):
    outsider = make_user(org, username="otto")
    schema = schema_of("tasks", org)
    task = actions.do_create_record("tasks", {"subject": "Call Globex", "assignee": other_user.pk},
                                    actor=standard_user)
    for action in ACTIONS:  # tasks are private: owner and assignee only
        assert can(other_user, schema, task, action)
        assert can(standard_user, schema, task, action)
        assert not can(outsider, schema, task, action)
    assert get_record(other_user, schema, task.pk).subject == "Call Globex"
    actions.do_update_record(task, {"status": "in_progress"}, version=1, actor=other_user)
    # reassigned: the old assignee loses it, the new one gains it
    actions.do_update_record(task, {"assignee": outsider.pk}, version=2, actor=standard_user)
    assert not visible(other_user, schema).filter(pk=task.pk).exists()
    assert visible(outsider, schema).filter(pk=task.pk).exists()
    with pytest.raises(Http404):
        get_record(other_user, schema, task.pk)


# --- deactivated members --------------------------------------------------------------------

@pytest.mark.parametrize("role", ["standard", "admin"])
def test_a_deactivated_membership_sees_nothing(org, admin_user, make_user, role):
    member = make_user(org, role=role, username=f"leaving-{role}")
    made = {m: actions.do_create_record(m, REQUIRED[m], actor=member) for m in MODULES}
    do_set_membership_active(User.objects.get(pk=member.pk).memberships.get(org=org), False, actor=admin_user)
    gone = fresh(member, org)
    for module in MODULES:
        schema = schema_of(module, org)
        for action in ACTIONS:
            assert not visible(gone, schema, action).exists(), (module, action)
            assert not visible(gone, schema, action, deleted=True).exists()
        with pytest.raises(Http404):
            get_record(gone, schema, made[module].pk)  # not even their own records
        assert visible(fresh(admin_user, org), schema).filter(pk=made[module].pk).exists()  # which stay


def test_a_deactivated_django_user_sees_nothing(org, admin_user, standard_user):
    account = actions.do_create_record("accounts", {"name": "Mine"}, actor=standard_user)
    user = fresh(standard_user, org)
    user.is_active = False  # as if an operator had disabled the login
    assert not visible(user, schema_of("accounts", org)).filter(pk=account.pk).exists()

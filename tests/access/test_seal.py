"""The tenant seal (docs/security.md, "Tenant seal"): PostgreSQL row-level security shows the
application's role the rows of the organisation bound for the request or task, and nothing when
none is bound, whatever the query forgets to filter. These tests switch to the application's
role (`crm_app`: no superuser, no BYPASSRLS, owns no table), made and granted like migrate does."""
from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from access import seal
from access.models import Membership, Organization
from access.seal_policies import EXEMPT, POLICY, SEARCH_FUNCTIONS, apply_policies, ensure_app_role, sealed_tables, unsealed_tables
from crm import actions as crm_actions
from crm.models import Account
from tests.workers import celery_worker, own_queue, redis_or_skip

APP_ROLE = "crm_app"


def _accounts(user, names):
    for name in names:
        crm_actions.do_create_record("accounts", {"name": name}, actor=user)


@pytest.fixture
def two_orgs(admin_user, other_org_user):
    """Acme with 2 accounts, Globex with 3, made as the owner (the tests' own role)."""
    _accounts(admin_user, ["A1", "A2"])
    _accounts(other_org_user, ["G1", "G2", "G3"])
    return admin_user, other_org_user


@pytest.fixture
def as_app_role(db):
    """The rest of the test runs as the application's role (SET ROLE, undone at the end)."""
    ensure_app_role(APP_ROLE, connection=connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {APP_ROLE}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


def _scalar(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


@pytest.mark.urls("tests.access.seal_urls")
def test_unscoped_queries_in_a_request_of_org_a_see_only_org_a(two_orgs, client_for, as_app_role):
    acme_admin, globex_admin = two_orgs
    acme, globex = acme_admin.org, globex_admin.org
    seen = client_for(acme_admin).get("/seal-probe/").json()
    assert seen["role"] == APP_ROLE
    assert seen["orm"] == [acme.pk] and seen["raw"] == [acme.pk] and seen["accounts"] == 2
    assert seen["memberships"] == [acme.pk] and seen["bound"] == str(acme.pk)
    seen = client_for(globex_admin).get("/seal-probe/").json()
    assert seen["orm"] == [globex.pk] and seen["raw"] == [globex.pk] and seen["accounts"] == 3
    # After the request nothing is bound on the (reused) connection: nothing is seen.
    assert _scalar("SELECT current_setting('app.org_id', true)") == ""
    assert Account.objects.count() == 0 and _scalar("SELECT count(*) FROM crm_account") == 0


def test_no_binding_sees_nothing_and_writes_nothing(two_orgs, as_app_role):
    acme_admin, _ = two_orgs
    assert Account.objects.count() == 0
    assert Membership.objects.count() == 0
    assert _scalar("SELECT count(*) FROM crm_lead") == 0
    assert Organization.objects.count() == 2  # the tenants' names are not sealed
    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO crm_note (record_id, body, created_at, author_id, org_id, record_type_id) "
                           "VALUES (1, 'x', now(), %s, %s, (SELECT min(id) FROM django_content_type))",
                           [acme_admin.pk, acme_admin.org.pk])


def test_a_binding_shows_its_org_and_refuses_writes_into_another(two_orgs, as_app_role):
    acme_admin, globex_admin = two_orgs
    with seal.bound(acme_admin.org.pk):
        assert Account.objects.count() == 2
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("UPDATE crm_account SET org_id = %s", [globex_admin.org.pk])
        # a row of another org is not there to update or delete
        assert Account.objects.filter(org=globex_admin.org).update(name="x") == 0
    assert Account.objects.count() == 0


def test_the_ways_out_are_explicit(two_orgs, as_app_role):
    with seal.cross_org("test: every org"):
        assert Account.objects.count() == 5
    assert Account.objects.count() == 0
    counts = {org_id: Account.objects.count() for org_id in seal.each_org()}
    assert sorted(counts.values()) == [2, 3]
    assert Account.objects.count() == 0
    with pytest.raises(ValueError):
        seal.cross_org("")


def test_bindings_nest_and_restore(two_orgs, as_app_role):
    acme_admin, globex_admin = two_orgs
    with seal.bound(acme_admin.org.pk):
        with seal.bound(globex_admin.org.pk):
            assert Account.objects.count() == 3
        assert Account.objects.count() == 2
        with pytest.raises(RuntimeError), seal.bound(globex_admin.org.pk):
            raise RuntimeError
        assert Account.objects.count() == 2
        # a failed statement inside a nested binding: the transaction's rollback restores it
        with pytest.raises(DatabaseError), transaction.atomic(), seal.bound(globex_admin.org.pk):
            _scalar("SELECT 1/0")
        assert _scalar("SELECT current_setting('app.org_id', true)") == str(acme_admin.org.pk)
        assert Account.objects.count() == 2


def test_the_app_role_cannot_lift_the_seal(as_app_role):
    assert _scalar("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user") is False
    assert _scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user") == 0
    for statement in ("ALTER TABLE crm_account DISABLE ROW LEVEL SECURITY",
                      "ALTER TABLE crm_account NO FORCE ROW LEVEL SECURITY",
                      f"DROP POLICY {POLICY} ON crm_account",
                      "ALTER TABLE crm_account OWNER TO crm_app"):
        with pytest.raises(DatabaseError, match="must be owner|permission denied"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)


def test_searches_can_use_their_index_behind_the_seal_and_still_see_one_org(two_orgs, as_app_role):
    """migrate marks the search conditions' functions LEAKPROOF, so PostgreSQL may test them before
    the policy (through the trigram index) instead of reading the whole organisation; the policy
    still decides which rows come back."""
    for name in SEARCH_FUNCTIONS:
        assert _scalar(f"SELECT proleakproof FROM pg_proc WHERE oid = '{name}'::regprocedure") is True
    admin_user, _ = two_orgs
    with seal.bound(admin_user.org.pk):
        assert sorted(Account.objects.filter(name__icontains="1").values_list("name", flat=True)) == ["A1"]
        assert _scalar("SELECT count(*) FROM crm_account WHERE upper(name) LIKE upper(%s)", ["%1%"]) == 1
        # A two-character term goes through the bigram index's expression.
        assert _scalar("SELECT count(*) FROM crm_account WHERE crm_bigrams(upper(name)) @> ARRAY[upper(%s)]",
                       ["a1"]) == 1


def test_every_org_data_table_has_a_forced_policy(db):
    """Fails when a table is neither sealed nor listed in access.seal_policies.EXEMPT (a new app's
    table is sealed by migrate when its model has an `org` field). Policies are applied first, as
    migrate's post_migrate does: tests that migrate backwards and forwards through the executor
    (tests/access/test_share_migration.py) recreate tables on the same test database without it."""
    apply_policies(connection)
    assert unsealed_tables() == []
    sealed = sealed_tables()
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        assert table in sealed or table in EXEMPT, f"{table} is neither sealed nor exempt"
        if any(f.name == "org" for f in model._meta.concrete_fields):
            assert table in sealed, f"{table} has an org but no seal"
    assert not set(EXEMPT) & set(sealed)


def test_a_request_costs_two_binding_statements_and_leaves_nothing_bound(admin_user, client_for):
    client = client_for(admin_user)
    client.get("/")
    before = seal.statements_sent
    assert client.get("/").status_code in (200, 302)
    assert seal.statements_sent - before == 2
    assert _scalar("SELECT current_setting('app.org_id', true)") in ("", None)
    assert seal.current() == seal.NOTHING


# --- as a real login of the application's role, and a real worker -------------------------------

def _url(role: str) -> str:
    db = connection.settings_dict
    return f"postgres://{role}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_login_as_the_app_role_sees_nothing_until_bound(two_orgs):
    ensure_app_role(APP_ROLE, connection=connection)
    acme = two_orgs[0].org
    with psycopg.connect(_url(APP_ROLE), autocommit=True) as db:
        assert db.execute("SELECT current_user").fetchone()[0] == APP_ROLE
        assert db.execute("SELECT count(*) FROM crm_account").fetchone()[0] == 0
        db.execute("SELECT set_config('app.org_id', %s, false)", [str(acme.pk)])
        assert db.execute("SELECT DISTINCT org_id FROM crm_account").fetchall() == [(acme.pk,)]


@pytest.fixture
def app_worker(settings, tmp_path):
    """A `celery worker` process connected as the application's role, on a queue of the test's own."""
    redis_or_skip(settings.CELERY_BROKER_URL)
    with own_queue("seal-test", settings.CELERY_BROKER_URL) as queue, \
            celery_worker(queue, settings.CELERY_BROKER_URL, _url(APP_ROLE), tmp_path / "worker.log", pool="solo",
                          include="tests.access.seal_probe", unset=("DATABASE_OWNER_URL", "DATABASE_AS_OWNER"),
                          CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"]) as process:
        yield process


@pytest.mark.urls("tests.access.seal_urls")
@pytest.mark.django_db(transaction=True)
def test_a_task_published_in_a_request_of_org_a_sees_only_org_a(two_orgs, client_for, app_worker):
    from django.core.cache import cache

    from .seal_probe import probe_task

    ensure_app_role(APP_ROLE, connection=connection)
    acme = two_orgs[0].org
    key = f"seal-probe-{uuid.uuid4().hex}"
    assert client_for(two_orgs[0]).get(f"/seal-probe/?publish={key}").status_code == 200
    unbound_key = key + "-unbound"
    probe_task.delay(unbound_key)  # published with nothing bound (as beat does)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (cache.get(key) is None or cache.get(unbound_key) is None):
        time.sleep(0.25)
    seen = cache.get(key)
    assert seen is not None, "the worker did not run the task"
    assert seen["role"] == APP_ROLE and seen["bound"] == str(acme.pk)
    assert seen["orm"] == [acme.pk] and seen["raw"] == [acme.pk] and seen["accounts"] == 2
    assert cache.get(unbound_key)["accounts"] == 0 and cache.get(unbound_key)["raw"] == []

"""The tenant seal's policies, roles and grants (docs/security.md, "Tenant seal").

Applied after every `migrate` (post_migrate), so a table added by any app is sealed as soon as
it exists: every model with an `org` field gets the policy `tenant_seal` on its `org_id`; a
many-to-many table between a sealed model and another gets it through its sealed side (the
parent row must be visible); the tables in EXEMPT hold no organisation's data. A test fails
when a table of the schema is neither sealed nor exempt.
"""
from __future__ import annotations

import logging

from django.apps import apps
from django.conf import settings
from django.db import connection as default_connection
from django.db import models

logger = logging.getLogger(__name__)

POLICY = "tenant_seal"
OWN_MEMBERSHIPS = "tenant_seal_own_memberships"

# Tables that hold no organisation's data, and why. A new table is sealed or listed here.
EXEMPT: dict[str, str] = {
    "access_organization": "the tenants themselves: names for the organisation switcher, no data of theirs",
    "access_user": "people, who may belong to several organisations",
    "security_loginevent": "a person's login history, before and across organisations",
    "security_usersession": "which sessions are a person's, before and across organisations",
    "access_user_groups": "Django's user-group link (unused, not organisation groups)",
    "access_user_user_permissions": "Django's user permissions (operators)",
    "auth_group": "Django's groups (unused)",
    "auth_group_permissions": "Django's group permissions (unused)",
    "auth_permission": "Django's permission names, the same for everyone",
    "django_content_type": "model names, the same for everyone",
    "django_migrations": "the schema's history",
    "django_session": "sessions of people, before and across organisations",
    "django_admin_log": "the operators' Django admin log",
    "guardian_userobjectpermission": "django-guardian's default table, unused (crm.UserShare is sealed)",
    "guardian_groupobjectpermission": "django-guardian's default table, unused (crm.GroupShare is sealed)",
    "axes_accessattempt": "failed logins by username and address, before an organisation is known",
    "axes_accessattemptexpiration": "failed logins' expiry",
    "axes_accessfailurelog": "failed logins",
    "axes_accesslog": "logins",
    "account_emailaddress": "django-allauth: people's e-mail addresses, before and across organisations",
    "account_emailconfirmation": "django-allauth: e-mail confirmations of people",
    "mfa_authenticator": "django-allauth: people's second factors",
    "access_unsentjob": "jobs the broker refused while down: task names and ids, sent again under "
                        "the organisation they were published in (bound_org_id)",
    "django_celery_beat_periodictask": "the beat schedule, the same for everyone",
    "django_celery_beat_periodictasks": "the beat schedule's change stamp",
    "django_celery_beat_intervalschedule": "the beat schedule",
    "django_celery_beat_crontabschedule": "the beat schedule",
    "django_celery_beat_solarschedule": "the beat schedule",
    "django_celery_beat_clockedschedule": "the beat schedule",
}


def _seal(column: str) -> str:
    # The settings are read in sub-selects, which PostgreSQL runs once per statement (init plans):
    # each row is then compared with a value, not parsed out of the settings again (half the cost
    # of the policy on a 10,000-row count).
    return (f"({column} = (SELECT NULLIF(current_setting('app.org_id', true), '')::bigint) "
            f"OR (SELECT current_setting('app.cross_org', true) = 'on'))")


def _org_field(model: type[models.Model]) -> models.Field | None:
    try:
        field = model._meta.get_field("org")
    except Exception:
        return None
    if getattr(field, "concrete", False) and field.is_relation and field.related_model._meta.label == "access.Organization":
        return field
    return None


def sealed_tables() -> dict[str, str]:
    """{table: policy expression} for every table of organisation data Django knows."""
    tables: dict[str, str] = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.db_table in EXEMPT:
            continue
        org = _org_field(model)
        if org is not None:
            tables[meta.db_table] = _seal(org.column)
            continue
        if meta.auto_created:  # a many-to-many table: sealed through its sealed side
            for field in meta.concrete_fields:
                parent = field.related_model if field.is_relation else None
                parent_org = _org_field(parent) if parent is not None else None
                if parent_org is not None:
                    q = default_connection.ops.quote_name
                    tables[meta.db_table] = (
                        f"EXISTS (SELECT 1 FROM {q(parent._meta.db_table)} AS parent "
                        f"WHERE parent.{q(parent._meta.pk.column)} = {q(field.column)} "
                        f"AND {_seal('parent.' + q(parent_org.column))})")
                    break
    return tables


def apply_policies(connection=default_connection) -> int:
    """Enable, FORCE and (re)write the policy of every sealed table. Idempotent."""
    q = connection.ops.quote_name
    tables = sealed_tables()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        existing = {row[0] for row in cursor.fetchall()}
        for table, expression in sorted(tables.items()):
            if table not in existing:
                continue
            cursor.execute(f"ALTER TABLE {q(table)} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {q(table)} FORCE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {q(table)}")
            cursor.execute(f"CREATE POLICY {POLICY} ON {q(table)} USING ({expression}) WITH CHECK ({expression})")
        if "access_membership" in existing:
            # The signed-in user's own memberships in every organisation (the organisation switcher,
            # the middleware choosing one), read only.
            cursor.execute(f"DROP POLICY IF EXISTS {OWN_MEMBERSHIPS} ON access_membership")
            cursor.execute(f"CREATE POLICY {OWN_MEMBERSHIPS} ON access_membership FOR SELECT "
                           f"USING (user_id = (SELECT NULLIF(current_setting('app.user_id', true), '')::bigint))")
        _definer_functions(cursor)
        _searchable_functions(cursor)
    return len(tables)


# Functions of the searches' conditions (`UPPER(col) LIKE UPPER(%s)`, the duplicate checks' LOWER,
# two-character terms' `crm_bigrams(UPPER(col)) @> ARRAY[...]`) that PostgreSQL does not mark
# LEAKPROOF: behind row security such a condition waits until the policy has filtered the rows, so
# the trigram or bigram index cannot serve it and a search reads the whole organisation (measured
# at 1,000,000 accounts: a two-character global search took 4.1 s instead of 55 ms). They raise no
# error that depends on a row's value (a LIKE pattern's error is about the pattern, which the
# application writes; arraycontains fails only on mismatched types), so they are marked LEAKPROOF.
# Only a superuser may.
SEARCH_FUNCTIONS = ("pg_catalog.upper(text)", "pg_catalog.lower(text)", "pg_catalog.textlike(text, text)",
                    "pg_catalog.arraycontains(anyarray, anyarray)", "public.crm_bigrams(text)")


def _searchable_functions(cursor) -> None:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if not cursor.fetchone()[0]:
        logger.warning("The tenant seal slows searches down until a superuser runs: %s",
                       " ".join(f"ALTER FUNCTION {name} LEAKPROOF;" for name in SEARCH_FUNCTIONS))
        return
    for name in SEARCH_FUNCTIONS:
        cursor.execute(f"ALTER FUNCTION {name} LEAKPROOF")


def _definer_functions(cursor) -> None:
    """The one piece of DDL the application does inside a transaction (dropping a custom field's
    index whose expression no longer fits, crm.field_indexes.drop_changed) needs the owner: a
    function owned by it, for those index names only."""
    cursor.execute("""
        CREATE OR REPLACE FUNCTION seal_drop_field_index(name text) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            IF name !~ '^cf_(idx|board)_[0-9]+$' THEN
                RAISE EXCEPTION 'not a field index: %', name;
            END IF;
            EXECUTE format('DROP INDEX IF EXISTS %I', name);
        END $$""")
    cursor.execute("REVOKE ALL ON FUNCTION seal_drop_field_index(text) FROM PUBLIC")


def app_role() -> tuple[str, str] | None:
    """(name, password) of the application's role when it differs from this connection's user."""
    role = settings.DATABASE_APP_ROLE
    if not role or role == settings.DATABASES["default"].get("USER"):
        return None
    return role, settings.DATABASE_APP_PASSWORD


def ensure_app_role(name: str, password: str = "", connection=default_connection) -> None:
    """Create the application's role if missing (LOGIN, no superuser, no BYPASSRLS, owns
    nothing) and grant it the data, not the tables: SELECT/INSERT/UPDATE/DELETE on every table,
    the sequences, and the same on tables the owner makes later (default privileges)."""
    from psycopg import sql

    raw = connection.connection
    role = sql.Identifier(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = %s", [name])
        row = cursor.fetchone()
        if row is None:
            try:
                with raw.transaction():
                    raw.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
                                .format(role))
            except Exception as exc:  # made meanwhile by another migrate on the same server
                logger.info("role %s: %s", name, exc)
        elif row[0]:
            raise RuntimeError(f"the application's role {name} must not be a superuser or bypass row security")
        if password:
            raw.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(password)))
        database = sql.Identifier(connection.settings_dict["NAME"])
        for statement in (
            "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {role}",
            "GRANT USAGE ON SCHEMA public TO {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
            "GRANT EXECUTE ON FUNCTION seal_drop_field_index(text) TO {role}",
        ):
            raw.execute(sql.SQL(statement).format(db=database, role=role))


def unsealed_tables(connection=default_connection) -> list[str]:
    """Tables of the schema that are neither exempt nor sealed (RLS on, FORCEd, a tenant_seal
    policy): what the coverage test reports."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
              AND NOT (c.relrowsecurity AND c.relforcerowsecurity
                       AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s))
            ORDER BY 1""", [POLICY])
        return [row[0] for row in cursor.fetchall() if row[0] not in EXEMPT]


def after_migrate(sender, using="default", plan=None, **kwargs) -> None:
    """After `migrate` (which passes its plan); not after a test's flush, which changes no table."""
    from django.db import connections

    if plan is None:
        return

    connection = connections[using]
    apply_policies(connection)
    role = app_role()
    if role is not None:
        ensure_app_role(*role, connection=connection)

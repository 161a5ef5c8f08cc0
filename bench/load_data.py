"""Fixture of bench/load.py: the 1,000,000-account organisation of bench/pages_data.py, plus 50
load users with records of their own and a leads pool they claim from.

- The organisation, its standard users, roles, sharing rules, team module and bulk rows are
  bench/pages_data.py's ("Pages Bench Org"; built once, reused when the counts match).
- USERS standard users `pbench_load00` ... through `access.actions`, members of the role
  "Load reps". Each owns ACCOUNTS accounts and DEALS deals of its own (the newest rows of the
  org, given to them by one UPDATE: fixture data, like the bulk rows), so no two load users
  edit the same record and an edit conflict would be a real failure.
- A leads pool "Bench leads" (bench/pool_data.py's pool: masked phone and e-mail, a capacity,
  a cool-down) whose members are the load users, with WAITING waiting leads and the claimed
  ones of pool_data (built once in SQL; later runs reuse what is left).

Import after django.setup().
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import connection, transaction

from access.actions import do_add_user
from access.models import Membership, OrgRole, User
from access.sharing_actions import do_create_role, do_set_user_role
from bench import pages_data, pool_data
from crm.models import Account, Deal

USERS = 50
ACCOUNTS = 100  # accounts each load user owns
DEALS = 40  # deals each load user owns
WAITING = 20_000  # waiting leads in the pool when it is first built
ROLE = "Load reps"


@dataclass
class LoadBench:
    pages: pages_data.OrgBench
    users: list[User]
    pool: pool_data.PoolBench


def _users(bench: pages_data.OrgBench) -> tuple[list[User], OrgRole]:
    org, admin = bench.org, bench.admin
    role = OrgRole.objects.filter(org=org, name=ROLE).first() or do_create_role(org, name=ROLE, actor=admin)
    users = []
    for i in range(USERS):
        username = f"pbench_load{i:02d}"
        user = User.objects.filter(username=username, memberships__org=org).first()
        if user is None:
            user = do_add_user(org, username=username, email=f"{username}@bench.example",
                               password=secrets.token_urlsafe(16), role=Membership.Role.STANDARD,
                               first_name=pool_data.GIVEN[i % 10], last_name=pool_data.SURNAMES[i % 10],
                               actor=admin).user
        users.append(user)
    for membership in Membership.objects.filter(org=org, user__in=users).exclude(org_role=role):
        do_set_user_role(membership, role, actor=admin)
    return users, role


def _own_records(bench: pages_data.OrgBench, users: list[User]) -> None:
    """Give each load user its slice of the org's newest live accounts and deals (once)."""
    ids = [u.pk for u in users]
    for model, per_user in ((Account, ACCOUNTS), (Deal, DEALS)):
        if model.objects.filter(org=bench.org, owner_id__in=ids, deleted_at__isnull=True).count() >= per_user * USERS:
            continue
        table = model._meta.db_table
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"""
                WITH picked AS (
                    SELECT id, row_number() OVER (ORDER BY id DESC) - 1 AS n FROM {table}
                    WHERE org_id = %(org)s AND deleted_at IS NULL ORDER BY id DESC LIMIT %(total)s)
                UPDATE {table} t SET owner_id = (%(users)s::bigint[])[1 + picked.n / %(per)s]
                FROM picked WHERE t.id = picked.id""",
                           {"org": bench.org.pk, "total": per_user * USERS, "users": ids, "per": per_user})
        print(f"Gave each load user {per_user} {model._meta.verbose_name_plural}.", flush=True)


def _pool(bench: pages_data.OrgBench, users: list[User], role: OrgRole) -> pool_data.PoolBench:
    org, admin = bench.org, bench.admin
    pool, policy = pool_data._pool(org, admin, role, bench.standard)
    pool_bench = pool_data.PoolBench(size=WAITING, org=org, admin=admin, pool_admin=bench.standard, rep=users[0],
                                     others=users[1:], pool=pool, policy=policy)
    waiting, claimed = pool_data._counts(pool_bench)
    if waiting + claimed == 0:
        with transaction.atomic():
            pool_data._insert_rows(pool_bench)
        pool_data.vacuum_analyze()
        print(f"Built the pool: {WAITING:,} waiting, {pool_data.CLAIMED:,} claimed leads.", flush=True)
    else:
        print(f"Reusing the pool: {waiting:,} waiting, {claimed:,} claimed leads.", flush=True)
    return pool_bench


def ensure() -> LoadBench:
    pages = pages_data.ensure_org("Pages Bench Org", "pbench", pages_data.Sizes.for_accounts(1_000_000, 100_000))
    pages_data.build_field_indexes(pages)
    users, role = _users(pages)
    _own_records(pages, users)
    pool = _pool(pages, users, role)
    return LoadBench(pages=pages, users=users, pool=pool)


def plan(bench: LoadBench) -> list[dict]:
    """What each load user works on: its accounts and deals (with their versions) and the
    waiting leads it may claim (its own share of them, none it released itself)."""
    out = []
    for i, user in enumerate(bench.users):
        accounts = list(Account.objects.filter(org=bench.pages.org, owner=user, deleted_at__isnull=True)
                        .order_by("pk").values_list("pk", flat=True)[:ACCOUNTS])
        deals = dict(Deal.objects.filter(org=bench.pages.org, owner=user, deleted_at__isnull=True)
                     .order_by("pk").values_list("pk", "version")[:DEALS])
        with connection.cursor() as cursor:
            cursor.execute("""SELECT record_id FROM pool_poolstate
                              WHERE org_id = %s AND pool_id = %s AND in_pool AND mod(record_id, %s) = %s
                                AND former_owner_id IS DISTINCT FROM %s ORDER BY record_id LIMIT 300""",
                           [bench.pages.org.pk, bench.pool.pool.pk, USERS, i, user.pk])
            leads = [row[0] for row in cursor.fetchall()]
        out.append({"username": user.username, "accounts": accounts,
                    "deals": [[pk, version] for pk, version in deals.items()], "leads": leads})
    return out

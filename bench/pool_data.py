"""Fixture organisations of bench/pool.py: users, a role, a leads pool with masked fields and
its recycling rules through the actions; the bulk rows in SQL.

One organisation per pool size ("Pool Bench Org 10000", "... 100000", "... 1000000"), each with a
leads pool "Bench leads" holding that many waiting leads, plus the same team around it in every
one: 20 reps (members of the pool through the role "Pool reps"), one pool administrator, 10,000
leads the reps claimed from the pool over the last 90 days (the measured rep holds 500), and the
pool history (a "released" move per waiting lead, a "released" and a "claimed" move per claimed
one). Every query of the pool starts with the organisation, so an organisation's pool of N is the
pool grown to N, and a second run measures every size again without rebuilding anything.

The bulk rows are fixture data for measurement only: one `INSERT ... SELECT ... FROM
generate_series` per table, not through the actions (a million claims or releases with their
timeline entries would take hours), so they carry no timeline. Import after django.setup().
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from access.actions import do_add_user, do_set_org_default, do_sign_up
from access.models import Membership, Organization, OrgRole, OrgWideDefault, User
from access.sharing_actions import do_create_role, do_set_user_role
from access.visibility import bind_org
from crm.modules import get_module
from pool import actions as pool_actions
from pool import recycle_actions
from pool.models import Pool, RecyclePolicy

REPS = 20  # the measured rep and 19 others, all members of the pool
CLAIMED = 10_000  # leads the reps hold, claimed from the pool (the same team at every pool size)
REP_HOLDS = 500  # of which the measured rep holds this many
POOL_NAME = "Bench leads"
MASKED = ["phone", "email"]
RULES = {"*": {"n": 30, "w": 180}}  # back to the pool after 30 days without a follow-up, 180 without a win
WARN_DAYS = 2
CITIES = ["上海", "北京", "深圳", "杭州", "广州", "成都", "Berlin", "London", "Singapore", "New York"]
BRANDS = ["星辰", "蓝天", "华夏", "龙腾", "金山", "长江", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark",
          "Wayne", "Tyrell", "Zenith", "Nimbus", "Vertex", "Quantum", "Pioneer", "Harbor"]
SUFFIXES = ["科技有限公司", "贸易有限公司", "集团", " Ltd", " Inc", " GmbH", " Group", " Labs"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "Smith", "Müller", "Garcia", "Tanaka"]
GIVEN = ["伟", "芳", "娜", "敏", "静", "Anna", "James", "Lena", "Kenji", "Maria"]
WAITING_STATUSES = ["new", "contacted", "unqualified"]
SOURCES = ["web", "referral", "event", "cold_call", "advertisement"]
WAITING_MAIL = "pool.example"  # w<i>@pool.example: a waiting lead of the fixture
CLAIMED_MAIL = "claimed.example"  # c<j>@claimed.example: a claimed lead of the fixture


@dataclass
class PoolBench:
    size: int
    org: Organization
    admin: User
    pool_admin: User
    rep: User
    others: list[User]
    pool: Pool
    policy: RecyclePolicy

    def schema(self) -> Any:
        return get_module("leads", self.org).bind(self.org)


def org_name(size: int) -> str:
    return f"Pool Bench Org {size}"


def _user(org: Organization, admin: User, username: str, first: str, last: str) -> User:
    found = User.objects.filter(username=username, memberships__org=org).first()
    if found is not None:
        return found
    # Random passwords: bench users do not log in with a password.
    return do_add_user(org, username=username, email=f"{username}@bench.example", password=secrets.token_urlsafe(16),
                       role=Membership.Role.STANDARD, first_name=first, last_name=last, actor=admin).user


def _people(org: Organization, admin: User, prefix: str) -> tuple[User, User, list[User], OrgRole]:
    rep = _user(org, admin, f"{prefix}_rep", "销售", "代表")
    pool_admin = _user(org, admin, f"{prefix}_pooladmin", "公海", "管理员")
    others = [_user(org, admin, f"{prefix}_r{i:02d}", GIVEN[i % len(GIVEN)], SURNAMES[i % len(SURNAMES)])
              for i in range(1, REPS)]
    role = OrgRole.objects.filter(org=org, name="Pool reps").first() or do_create_role(org, name="Pool reps",
                                                                                         actor=admin)
    for membership in Membership.objects.filter(org=org, user_id__in=[rep.pk, *[u.pk for u in others]]):
        if membership.org_role_id != role.pk:
            do_set_user_role(membership, role, actor=admin)
    return rep, pool_admin, others, role


def _pool(org: Organization, admin: User, role: OrgRole, pool_admin: User) -> tuple[Pool, RecyclePolicy]:
    """The leads pool (masked phone and e-mail; a capacity and a daily limit, so claims count them;
    a cool-down; the door's default dedupe) and its recycling rules, switched on a year ago."""
    pool = Pool.objects.filter(org=org, name=POOL_NAME).first()
    if pool is None:
        pool = pool_actions.do_save_pool(org, actor=admin, name=POOL_NAME, module="leads", masked_fields=MASKED,
                                         members={"roles": [role]}, admins=[pool_admin], capacity=1000,
                                         daily_claims=100_000, cooldown_days=7, embargo_hours=0)
    policy = RecyclePolicy.objects.filter(pool=pool, enabled=True).first()
    if policy is None:
        policy = recycle_actions.do_save_recycle_policy(pool, actor=admin, enabled=True, rules=RULES,
                                                        warn_days=WARN_DAYS)
        # Fixture: on for a year, so the claimed leads' due dates count from their claims.
        RecyclePolicy.objects.filter(pk=policy.pk).update(enabled_at=policy.enabled_at.replace(
            year=policy.enabled_at.year - 1))
        policy.refresh_from_db()
    return pool, policy


def _counts(bench: PoolBench) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("""SELECT (SELECT count(*) FROM pool_poolstate WHERE org_id = %(org)s AND pool_id = %(pool)s
                                  AND in_pool),
                                 (SELECT count(*) FROM crm_lead WHERE org_id = %(org)s AND pool_id = %(pool)s
                                  AND owner_id IS NOT NULL)""", {"org": bench.org.pk, "pool": bench.pool.pk})
        return cursor.fetchone()


HASHED = """FROM generate_series(1, %(n)s) AS i,
             LATERAL (SELECT hashint4(i + %(salt)s)::bigint + 2147483648 AS h,
                             now() - i * (interval '1 year' / %(n)s) - mod(i * 31, 300) * interval '1 second' AS t) x"""


def _pick(array: str, divisor: int) -> str:
    return f"(%({array})s::text[])[1 + mod(h / {divisor}, cardinality(%({array})s::text[]))]"


def _insert_rows(bench: PoolBench) -> None:
    """The waiting leads (owner empty, in the pool; former owners among the other reps, so the
    measured rep's cool-down never applies to them), the claimed leads, their pool states and
    the pool history."""
    others = [u.pk for u in bench.others]
    base = {"org": bench.org.pk, "pool": bench.pool.pk, "admin": bench.admin.pk, "others": others,
            "cities": CITIES, "brands": BRANDS, "suffixes": SUFFIXES, "surnames": SURNAMES, "given": GIVEN,
            "statuses": WAITING_STATUSES, "sources": SOURCES}
    lead_columns = """org_id, owner_id, pool_id, version, custom, created_at, created_by_id, modified_at,
                      modified_by_id, first_name, last_name, company, email, phone, status, source"""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL gin_pending_list_limit = '64MB'")  # fewer GIN merges while loading
        cursor.execute(f"""
            INSERT INTO crm_lead ({lead_columns})
            SELECT %(org)s, NULL, %(pool)s, 1, '{{}}'::jsonb, t - interval '30 days', %(admin)s, t, %(admin)s,
                   {_pick('given', 7)}, {_pick('surnames', 13)},
                   {_pick('cities', 3)} || {_pick('brands', 97)} || {_pick('suffixes', 9973)} || ' ' || i,
                   'w' || i || '@{WAITING_MAIL}', '+86138' || lpad(mod(i::bigint * 7919, 100000000)::text, 8, '0'),
                   {_pick('statuses', 11)}, {_pick('sources', 17)}
            {HASHED}""", {**base, "n": bench.size, "salt": 0})
        # Claimed: i continues after the waiting ones, so phones stay unique in the organisation.
        cursor.execute(f"""
            INSERT INTO crm_lead ({lead_columns})
            SELECT %(org)s, %(admin)s, %(pool)s, 2, '{{}}'::jsonb, t - interval '30 days', %(admin)s, t, %(admin)s,
                   {_pick('given', 7)}, {_pick('surnames', 13)},
                   {_pick('cities', 3)} || {_pick('brands', 97)} || {_pick('suffixes', 9973)} || ' c' || i,
                   'c' || i || '@{CLAIMED_MAIL}',
                   '+86139' || lpad(mod(i::bigint * 7919, 100000000)::text, 8, '0'), 'contacted', {_pick('sources', 17)}
            {HASHED}""", {**base, "n": CLAIMED, "salt": 1})
        cursor.execute(f"""
            INSERT INTO pool_poolstate (org_id, module, record_id, pool_id, in_pool, entered_at, entered_how,
                                        entry_reason, former_owner_id, due_rule, protected)
            SELECT org_id, 'leads', id, pool_id, owner_id IS NULL, modified_at, 'released', 'Not my region',
                   (%(others)s::bigint[])[1 + mod(id, cardinality(%(others)s::bigint[]))], '', false
            FROM crm_lead WHERE org_id = %(org)s AND pool_id = %(pool)s""", base)
        cursor.execute("""
            INSERT INTO pool_poolmove (org_id, pool_id, module, record_id, kind, from_user_id, actor_id, reason,
                                       overridden, path, at)
            SELECT org_id, pool_id, 'leads', record_id, 'released', former_owner_id, former_owner_id,
                   'Not my region', false, 'page', entered_at
            FROM pool_poolstate WHERE org_id = %(org)s AND pool_id = %(pool)s""", base)
    reset_claimed(bench)
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO pool_poolmove (org_id, pool_id, module, record_id, kind, to_user_id, actor_id, reason,
                                       overridden, path, at)
            SELECT org_id, pool_id, 'leads', record_id, 'claimed', holder_id, holder_id, '', false, 'page', claimed_at
            FROM pool_poolstate WHERE org_id = %(org)s AND pool_id = %(pool)s AND NOT in_pool""", base)


def reset_claimed(bench: PoolBench) -> None:
    """The claimed leads as the fixture wants them, relative to now: owned by their holder (the
    first 500 by the measured rep), last touched 0 to 31 days ago (a claim or a follow-up), so
    about 1 in 31 is due (30 days without a follow-up) and about 2 in 31 come due within the
    warning days; the same ones in every organisation (hashed by their rank, not their id). Run
    before every recycling run: the job returns the due ones to the pool."""
    params = {"org": bench.org.pk, "pool": bench.pool.pk, "rep": bench.rep.pk,
              "others": [u.pk for u in bench.others], "holds": REP_HOLDS}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE TEMP TABLE bench_claimed ON COMMIT DROP AS
            SELECT id, CASE WHEN j <= %(holds)s THEN %(rep)s
                            ELSE (%(others)s::bigint[])[1 + mod(j, cardinality(%(others)s::bigint[]))] END AS holder,
                   touched, touched - mod(h / 7, 60) * interval '1 day' AS claimed,
                   CASE WHEN mod(h / 7, 60) = 0 THEN NULL ELSE touched END AS followed
            FROM (SELECT id, j, h, now() - mod(h, 1000) * (interval '31 days' / 1000) AS touched
                  FROM (SELECT id, j, hashint4(j::int)::bigint + 2147483648 AS h
                        FROM (SELECT id, row_number() OVER (ORDER BY id) AS j FROM crm_lead
                              WHERE org_id = %(org)s AND pool_id = %(pool)s
                              AND email LIKE '%%@{CLAIMED_MAIL}') c1) c0) c""", params)
        cursor.execute("""UPDATE crm_lead l SET owner_id = c.holder FROM bench_claimed c
                          WHERE l.id = c.id AND l.owner_id IS DISTINCT FROM c.holder""")
        cursor.execute("""
            UPDATE pool_poolstate s SET in_pool = false, holder_id = c.holder, claimed_at = c.claimed,
                   entered_at = c.claimed - interval '10 days', followed_up_at = c.followed,
                   due_at = c.touched + interval '30 days', due_rule = 'n', warned_for = NULL, protected = false
            FROM bench_claimed c WHERE s.org_id = %(org)s AND s.module = 'leads' AND s.record_id = c.id""", params)


def ensure_org(size: int) -> PoolBench:
    """Create or reuse the organisation of one pool size; rebuild its rows unless they are there."""
    name, prefix = org_name(size), f"pb{size}"
    membership = (Membership.objects.select_related("org", "user")
                  .filter(org__name=name, user__username=f"{prefix}_admin").first())
    if membership is None:
        membership = do_sign_up(org_name=name, username=f"{prefix}_admin", email=f"{prefix}_admin@bench.example",
                                password=secrets.token_urlsafe(16), first_name="管理员", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    do_set_org_default(org, "leads", OrgWideDefault.Level.PRIVATE, actor=admin)
    rep, pool_admin, others, role = _people(org, admin, prefix)
    pool, policy = _pool(org, admin, role, pool_admin)
    bench = PoolBench(size=size, org=org, admin=admin, pool_admin=bind_org(pool_admin, org), rep=bind_org(rep, org),
                      others=others, pool=pool, policy=policy)
    have = _counts(bench)
    if have == (size, CLAIMED):
        print(f"Reusing {name}: {size:,} waiting, {CLAIMED:,} claimed.", flush=True)
    else:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            # Fixture rows only: nothing but the pool's rows and the bench's timeline points at them.
            for table in ("pool_poolmove", "pool_poolstate", "crm_lead"):
                cursor.execute(f"DELETE FROM {table} WHERE org_id = %s", [org.pk])
            _insert_rows(bench)
        print(f"Built {name} ({size:,} waiting, {CLAIMED:,} claimed leads) in {time.perf_counter() - started:.1f} s.",
              flush=True)
        vacuum_analyze()
    return bench


def vacuum_analyze() -> None:
    """Fresh statistics and visibility maps, as in steady state."""
    with connection.cursor() as cursor:
        for table in ("crm_lead", "pool_poolstate", "pool_poolmove"):
            cursor.execute(f"VACUUM ANALYZE {table}")

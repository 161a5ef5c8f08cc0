"""Benchmark of the sharing model: `access.visible` with hierarchy, sharing rules and manual shares vs hand-written SQL.

Usage (env as for the app: DATABASE_URL, REDIS_URL, DJANGO_SETTINGS_MODULE=config.settings)::

    python bench/sharing_visibility.py [--records N] [--runs R] [--warmup W]

It builds (or reuses) an organisation "Sharing Bench Org" with 50 users, a role tree
CEO > VP > Manager > Rep, accounts private by default, three sharing rules on accounts
that apply to the measured user (a Manager with 5 reps below), 1,000 manual shares and N
accounts (default 1,000,000). Manual shares are django-guardian object permissions (rows of
crm_accountusershare / crm_accountgroupshare, see access.shares), created through
access.share_actions.do_share_record. Then, for that user, it times the accounts list's first
page (`visible(...).select_related("owner").order_by("-modified_at", "-pk")[:25]`) and the
exact `count()` of the same queryset, each against the same predicate written by hand (the
manual shares as the same uncorrelated `id IN (SELECT content_object_id ...)` over the two
permission tables) and run through a raw cursor. Further rows isolate where the time goes (the
ORM's SQL text through a raw cursor, so without the Python side; the first visible() of a
request, which looks the user's sharing rules up; jit = off). It prints p50/p95 in
milliseconds, the ratios and an EXPLAIN (ANALYZE, BUFFERS) summary of each.
See docs/benchmarks.md, "Sharing". This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import QuerySet  # noqa: E402

from access.actions import do_add_user, do_set_org_default, do_sign_up  # noqa: E402
from access.models import (  # noqa: E402
    Group, Membership, Organization, OrgRole, OrgWideDefault, SharingRule, User,
)
from access.share_actions import do_share_record  # noqa: E402
from access.sharing_actions import (  # noqa: E402
    do_create_group, do_create_role, do_create_sharing_rule, do_delete_sharing_rule, do_move_role, do_set_user_role,
    do_update_group,
)
from access.visibility import bind_org, visible  # noqa: E402
from crm.models import Account, AccountGroupShare, AccountUserShare  # noqa: E402
from crm.modules import get_module  # noqa: E402
from crm.schema import BoundSchema  # noqa: E402
from bench.timing import percentile, require_migrated, timed_runs  # noqa: E402

ORG_NAME = "Sharing Bench Org"
ADMIN_USERNAME = "sharebench_admin"
PREFIX = "sharebench_"
PER_PAGE = 25
MANUAL_SHARES = 1000
GROUP_SHARES = 200  # of the manual shares, this many go to a group the measured user is in (the rest to the user)
INDUSTRIES = ["technology", "manufacturing", "finance", "healthcare", "retail", "education", "other"]
CRITERIA = {"all": [{"field": "industry", "op": "eq", "value": "technology"}]}

# The role tree (depth 3 below the root): name -> (parent, users in it). 49 users + the admin = 50.
# The measured user is the only member of "Manager East 1", with the 5 reps of "Rep East 1" below.
ROLE_TREE: list[tuple[str, str | None, int]] = [
    ("CEO", None, 1),
    ("VP East", "CEO", 1),
    ("VP West", "CEO", 1),
    ("Manager East 1", "VP East", 1),
    ("Manager East 2", "VP East", 1),
    ("Manager East 3", "VP East", 1),
    ("Manager West 1", "VP West", 1),
    ("Manager West 2", "VP West", 1),
    ("Manager West 3", "VP West", 1),
    ("Rep East 1", "Manager East 1", 5),
    ("Rep East 2", "Manager East 2", 7),
    ("Rep East 3", "Manager East 3", 7),
    ("Rep West 1", "Manager West 1", 7),
    ("Rep West 2", "Manager West 2", 7),
    ("Rep West 3", "Manager West 3", 7),
]
MEASURED_ROLE = "Manager East 1"


# --------------------------------------------------------------------------- fixtures
@dataclass
class Bench:
    org: Organization
    admin: User
    user: User  # the measured Manager, bound to the org
    roles: dict[str, OrgRole]
    users_by_role: dict[str, list[User]]
    key_accounts: Group  # owner group of rule 2 (4 reps from other teams)
    managers: Group  # target group of rule 2 and of 200 manual shares (all manager roles)
    rules: list[SharingRule]
    view_permission_id: int  # auth_permission id of crm.view_account, for the hand-written SQL


def _ensure_users(org: Organization, admin: User) -> dict[str, list[User]]:
    """49 standard users through access.actions.do_add_user, named after their role slot."""
    users: dict[str, list[User]] = {}
    for role_name, _parent, count in ROLE_TREE:
        slug = role_name.lower().replace(" ", "_")
        users[role_name] = []
        for i in range(1, count + 1):
            username = f"{PREFIX}{slug}_{i}"
            user = User.objects.filter(username=username, memberships__org=org).first()
            if user is None:
                user = do_add_user(org, username=username, email=f"{username}@bench.example",
                                   password=secrets.token_urlsafe(16), role=Membership.Role.STANDARD,
                                   first_name=role_name, last_name=str(i), actor=admin).user
            users[role_name].append(user)
    return users


def _ensure_roles(org: Organization, admin: User, users: dict[str, list[User]]) -> dict[str, OrgRole]:
    """The role tree and each user's place in it, through access.sharing_actions."""
    roles: dict[str, OrgRole] = {}
    for name, parent_name, _count in ROLE_TREE:
        parent = roles.get(parent_name) if parent_name else None
        role = OrgRole.objects.filter(org=org, name=name).first()
        if role is None:
            role = do_create_role(org, name=name, parent=parent, actor=admin)
        elif role.parent_id != (parent.pk if parent else None):
            role = do_move_role(role, parent, actor=admin)
        roles[name] = role
        for membership in Membership.objects.filter(org=org, user__in=users[name]).exclude(org_role=role):
            do_set_user_role(membership, role, actor=admin)
    return roles


def _ensure_groups(org: Organization, admin: User, roles: dict[str, OrgRole],
                   users: dict[str, list[User]]) -> tuple[Group, Group]:
    """Two groups, through access.sharing_actions. "Key accounts": 4 reps of other teams, as
    users. "Sales managers": every manager role."""
    wanted = {
        "Key accounts": ([users[name][0].pk for name in ("Rep East 2", "Rep East 3", "Rep West 2", "Rep West 3")],
                         []),
        "Sales managers": ([], [role.pk for name, role in roles.items() if name.startswith("Manager ")]),
    }
    groups = []
    for name, (user_ids, role_ids) in wanted.items():
        group = Group.objects.filter(org=org, name=name).first()
        if group is None:
            group = do_create_group(org, name=name, user_ids=user_ids, role_ids=role_ids, actor=admin)
        elif (set(group.users.values_list("pk", flat=True)) != set(user_ids)
              or set(group.roles.values_list("pk", flat=True)) != set(role_ids)):
            group = do_update_group(group, name=name, user_ids=user_ids, role_ids=role_ids, actor=admin)
        groups.append(group)
    return groups[0], groups[1]


def _ensure_rules(org: Organization, admin: User, roles: dict[str, OrgRole], key_accounts: Group,
                  managers: Group) -> list[SharingRule]:
    """Three read-only sharing rules on accounts, each applying to the measured user (recreated
    on every run through access.sharing_actions):

    1. owner-based, role and subordinates: accounts owned by "Manager West 1" and below
       (8 users) shared with "VP East" and below (the measured user's VP, so via an ancestor);
    2. owner-based, group: accounts owned by members of "Key accounts" (4 users) shared with the
       group "Sales managers" (the measured user is in it through their role);
    3. criteria-based: industry = technology, shared with the role "Manager East 1".
    """
    from crm.criteria import validate
    from crm.modules import org_modules

    for rule in SharingRule.objects.filter(org=org, module="accounts"):
        do_delete_sharing_rule(rule, actor=admin)
    bound = get_module("accounts", org).bind(org)
    common = {"access": SharingRule.Access.READ, "actor": admin, "known_modules": [m.key for m in org_modules()],
              "validate_criteria": lambda criteria: validate(criteria, bound)}
    return [
        do_create_sharing_rule(
            org, "accounts", name="West 1 team to East", owner_kind=SharingRule.Subject.ROLE_AND_BELOW,
            owner_role=roles["Manager West 1"], target_kind=SharingRule.Subject.ROLE_AND_BELOW,
            target_role=roles["VP East"], **common),
        do_create_sharing_rule(
            org, "accounts", name="Key accounts to managers", owner_kind=SharingRule.Subject.GROUP,
            owner_group=key_accounts, target_kind=SharingRule.Subject.GROUP, target_group=managers, **common),
        do_create_sharing_rule(
            org, "accounts", name="Technology to East 1", criteria=CRITERIA,
            target_kind=SharingRule.Subject.ROLE, target_role=roles[MEASURED_ROLE], **common),
    ]


def _insert_accounts(org: Organization, owners: list[int], admin_id: int, n: int) -> None:
    """Fixture data for measurement only: rows written in SQL, not through crm.actions (N record
    actions with their timeline entries would take far too long). Owners and industries come
    from a hash of the row number: spread evenly over the 49 standard users and the 7 industries;
    `modified_at` over about ten years; 2% soft-deleted."""
    sql = f"""
        INSERT INTO {Account._meta.db_table}
            (org_id, owner_id, version, custom, created_at, created_by_id, modified_at, modified_by_id,
             deleted_at, deleted_by_id, name, industry, employees, website, phone, city, country, description)
        SELECT %(org)s,
               (%(owners)s::bigint[])[1 + mod(h, cardinality(%(owners)s::bigint[]))],
               1, '{{}}'::jsonb, t - interval '30 days', %(admin)s, t, %(admin)s,
               CASE WHEN mod(i, 50) = 0 THEN t END, CASE WHEN mod(i, 50) = 0 THEN %(admin)s END,
               'Account ' || i,
               (%(industries)s::text[])[1 + mod(h / 7919, cardinality(%(industries)s::text[]))],
               mod(h, 5000), 'https://example.com/' || i, '+86138' || lpad(mod(i::bigint * 7919, 100000000)::text, 8, '0'),
               '', '', ''
        FROM generate_series(1, %(n)s) AS i,
             LATERAL (SELECT hashint4(i)::bigint + 2147483648 AS h,
                             now() - i * interval '5 minutes' - mod(i * 31, 300) * interval '1 second' AS t) AS x
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": org.pk, "owners": owners, "admin": admin_id, "n": n,
                             "industries": INDUSTRIES})


def _insert_shares(org: Organization, user: User, group: Group, admin: User) -> None:
    """1,000 manual shares through access.share_actions.do_share_record (one action per share,
    granted by the admin): 200 with the user's group "Sales managers" and 800 with the user, on
    live accounts the user does not own, picked by a hash of the id (spread over all owners and
    over the table)."""
    with connection.cursor() as cursor:
        cursor.execute(f"""SELECT id FROM {Account._meta.db_table}
                           WHERE org_id = %s AND deleted_at IS NULL AND owner_id <> %s
                           ORDER BY hashint8(id), id LIMIT %s""", [org.pk, user.pk, MANUAL_SHARES])
        ids = [row[0] for row in cursor.fetchall()]
    records = Account.objects.in_bulk(ids)
    for i, record_id in enumerate(ids):
        target = {"group": group} if i < GROUP_SHARES else {"user": user}
        do_share_record(org, "accounts", records[record_id], access=SharingRule.Access.READ, actor=admin, **target)


def as_in_a_request(user_id: int, org: Organization) -> User:
    """A fresh user object bound to the org as access.middleware binds it (membership with its
    org, profile and role), so no cache of an earlier call is on it."""
    membership = Membership.objects.select_related("org", "profile", "org_role").get(org=org, user_id=user_id)
    return bind_org(User.objects.get(pk=user_id), membership.org, membership)


def ensure_fixtures(n: int) -> Bench:
    """Create or reuse the bench org; rebuild the accounts unless it already has N, and the
    manual shares unless it has 1,000 of them."""
    membership = (Membership.objects.select_related("org", "user")
                  .filter(org__name=ORG_NAME, user__username=ADMIN_USERNAME).first())
    if membership is None:
        # Random passwords: bench users are not meant to log in.
        membership = do_sign_up(org_name=ORG_NAME, username=ADMIN_USERNAME, email=f"{ADMIN_USERNAME}@bench.example",
                                password=secrets.token_urlsafe(16), first_name="Bench", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    users = _ensure_users(org, admin)
    do_set_org_default(org, "accounts", OrgWideDefault.Level.PRIVATE, actor=admin)
    roles = _ensure_roles(org, admin, users)
    key_accounts, managers = _ensure_groups(org, admin, roles, users)
    rules = _ensure_rules(org, admin, roles, key_accounts, managers)
    measured = users[MEASURED_ROLE][0]

    table = Account._meta.db_table
    share_tables = [AccountUserShare._meta.db_table, AccountGroupShare._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE org_id = %s", [org.pk])
        have = cursor.fetchone()[0]
        # One share = one permission row per permission it holds (read only: view_account).
        cursor.execute(f"""SELECT (SELECT count(DISTINCT (content_object_id, user_id)) FROM {share_tables[0]}
                                   WHERE org_id = %(org)s),
                                  (SELECT count(DISTINCT (content_object_id, group_id)) FROM {share_tables[1]}
                                   WHERE org_id = %(org)s)""", {"org": org.pk})
        user_shares, group_shares = cursor.fetchone()
    have_shares = user_shares + group_shares if group_shares == GROUP_SHARES else -1
    if have == n:
        print(f"Reusing {ORG_NAME}: {n} accounts.")
    else:
        started = time.perf_counter()
        owners = [u.pk for members in users.values() for u in members]
        with transaction.atomic(), connection.cursor() as cursor:
            # Fixture rows only (no timeline, no contacts or deals point at them).
            for shares_table in share_tables:
                cursor.execute(f"DELETE FROM {shares_table} WHERE org_id = %s", [org.pk])
            cursor.execute(f"DELETE FROM {table} WHERE org_id = %s", [org.pk])
            _insert_accounts(org, owners, admin.pk, n)
        have_shares = 0
        print(f"Built {n} accounts in {ORG_NAME} in {time.perf_counter() - started:.1f} s.")
    if have_shares == MANUAL_SHARES:
        print(f"Reusing {have_shares} manual shares.")
    else:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")  # so that picking the records is quick
            for shares_table in share_tables:
                cursor.execute(f"DELETE FROM {shares_table} WHERE org_id = %s", [org.pk])
        _insert_shares(org, measured, managers, admin)
        print(f"Built {MANUAL_SHARES} manual shares in {time.perf_counter() - started:.1f} s.")
    with connection.cursor() as cursor:
        for model in (Account, AccountUserShare, AccountGroupShare, Permission, ContentType, Membership, OrgRole,
                      SharingRule, Group, Group.users.through, Group.roles.through):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")  # fresh statistics and visibility map
    user = as_in_a_request(measured.pk, org)
    view_permission = Permission.objects.get(content_type__app_label="crm", content_type__model="account",
                                             codename="view_account")
    return Bench(org=org, admin=admin, user=user, roles=roles, users_by_role=users, key_accounts=key_accounts,
                 managers=managers, rules=rules, view_permission_id=view_permission.pk)


# --------------------------------------------------------------------------- timing
@dataclass
class Result:
    label: str
    orm: list[float]
    hand: list[float]
    value: Any = None

    def line(self) -> str:
        o50, o95 = statistics.median(self.orm), percentile(self.orm, 95)
        h50, h95 = statistics.median(self.hand), percentile(self.hand, 95)
        value = f"{len(self.value)} rows" if isinstance(self.value, list) else f"count={self.value}"
        return (f"{self.label:<44} {o50:9.2f} {o95:9.2f} {h50:9.2f} {h95:9.2f} "
                f"{o50 / h50:7.2f}x {o95 / h95:7.2f}x   {value}")


HEADER = (f"{'query':<44} {'ORM p50':>9} {'ORM p95':>9} {'SQL p50':>9} {'SQL p95':>9} "
          f"{'p50 rat':>8} {'p95 rat':>8}   result")


def measure(label: str, orm: Callable[[], Any], hand: Callable[[], Any], runs: int, warmup: int) -> Result:
    """Check both give the same rows/count, warm up, then R timed runs each, alternating which
    side goes first (milliseconds)."""
    orm_value, hand_value = orm(), hand()
    if orm_value != hand_value:
        raise SystemExit(f"{label}: ORM and hand-written SQL disagree: {orm_value!r} != {hand_value!r}")
    for _ in range(warmup):
        orm()
        hand()
    orm_times: list[float] = []
    hand_times: list[float] = []
    gc.collect()
    for i in range(runs):
        pair = ((orm, orm_times), (hand, hand_times))
        for fn, times in (pair if i % 2 == 0 else pair[::-1]):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
    print(f"  measured {label.strip()}", flush=True)
    return Result(label, orm_times, hand_times, orm_value)


# --------------------------------------------------------------------------- the ORM side
def orm_queryset(user: User, schema: BoundSchema) -> QuerySet:
    """The accounts list's queryset for page 1 (built anew each time, as the view does per request)."""
    return visible(user, schema, "view").select_related("owner").order_by("-modified_at", "-pk")


def orm_page(user: User, schema: BoundSchema) -> Callable[[], Any]:
    def run() -> list[int]:
        return [a.pk for a in list(orm_queryset(user, schema)[:PER_PAGE])]
    return run


def orm_count(user: User, schema: BoundSchema) -> Callable[[], Any]:
    def run() -> int:
        return visible(user, schema, "view").count()
    return run


# --------------------------------------------------------------------------- the hand-written side
def hand_where(bench: Bench) -> tuple[str, dict[str, Any]]:
    """The visibility predicate written by hand for this user and these three rules, with the
    same semantics as access.visibility: own records; records owned by members of roles below
    the user's (any membership state); rule 1: owners in "Manager West 1" and below (active
    members); rule 2: owners in the group "Key accounts" as users or through a role (active
    members); rule 3: industry = technology; manual shares: records with a view_account
    permission row for the user, or for the auth group twin of one of the user's groups (as a
    user or through their role), each as an uncorrelated `a.id IN (SELECT content_object_id ...)`,
    as access.visibility writes them (the permission id written as a literal, looked up once)."""
    me, role = bench.user, bench.user.membership.org_role
    params = {"org": bench.org.pk, "me": me.pk, "my_role": role.pk, "below": role.path + "%",
              "rule1": bench.roles["Manager West 1"].path + "%", "group": bench.key_accounts.pk,
              "view_perm": bench.view_permission_id}
    my_auth_groups = """SELECT g.auth_group_id FROM access_group g WHERE g.org_id = %(org)s
                          AND g.id IN (SELECT gu.group_id FROM access_group_users gu WHERE gu.user_id = %(me)s
                                       UNION ALL
                                       SELECT gr.group_id FROM access_group_roles gr
                                       WHERE gr.orgrole_id = %(my_role)s)"""
    shared = f"""a.id IN (SELECT s.content_object_id FROM crm_accountusershare s
                          WHERE s.org_id = %(org)s AND s.user_id = %(me)s AND s.permission_id = %(view_perm)s)
        OR a.id IN (SELECT s.content_object_id FROM crm_accountgroupshare s
                    WHERE s.org_id = %(org)s AND s.permission_id = %(view_perm)s
                      AND s.group_id IN ({my_auth_groups}))"""
    where = f"""a.org_id = %(org)s AND a.deleted_at IS NULL AND (
           a.owner_id = %(me)s
        OR a.owner_id IN (SELECT m.user_id FROM access_membership m JOIN access_orgrole r ON r.id = m.org_role_id
                          WHERE m.org_id = %(org)s AND r.path LIKE %(below)s AND r.id <> %(my_role)s)
        OR a.owner_id IN (SELECT m.user_id FROM access_membership m JOIN access_orgrole r ON r.id = m.org_role_id
                          WHERE m.org_id = %(org)s AND m.is_active AND r.path LIKE %(rule1)s)
        OR a.owner_id IN (SELECT m.user_id FROM access_membership m
                          WHERE m.org_id = %(org)s AND m.is_active
                            AND (m.user_id IN (SELECT gu.user_id FROM access_group_users gu WHERE gu.group_id = %(group)s)
                                 OR m.org_role_id IN (SELECT gr.orgrole_id FROM access_group_roles gr
                                                      WHERE gr.group_id = %(group)s)))
        OR a.industry = 'technology'
        OR {shared})"""
    return where, params


def hand_page_sql(bench: Bench) -> tuple[str, dict[str, Any]]:
    where, params = hand_where(bench)
    return (f"SELECT a.*, u.* FROM crm_account a JOIN access_user u ON u.id = a.owner_id WHERE {where} "
            f"ORDER BY a.modified_at DESC, a.id DESC LIMIT {PER_PAGE}"), params


def hand_count_sql(bench: Bench) -> tuple[str, dict[str, Any]]:
    where, params = hand_where(bench)
    return f"SELECT count(*) FROM crm_account a WHERE {where}", params


def raw(sql_params: tuple[str, Any], *, first_column: bool) -> Callable[[], Any]:
    sql, params = sql_params

    def run() -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if first_column:
                return [row[0] for row in cursor.fetchall()]
            return cursor.fetchone()[0]
    return run


def with_setting(setting: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    """`fn` with a session setting (e.g. "jit = off"), reset afterwards (the SETs are timed too)."""
    def run() -> Any:
        with connection.cursor() as cursor:
            cursor.execute(f"SET {setting}")
        try:
            return fn()
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"RESET {setting.split('=')[0].strip()}")
    return run


# --------------------------------------------------------------------------- plans
def _walk(node: dict, out: list[dict]) -> None:
    out.append(node)
    for child in node.get("Plans", []):
        _walk(child, out)


def captured_sql(fn: Callable[[], Any]) -> tuple[str, None]:
    """The last SQL statement `fn` runs, with values inlined (as the ORM sends it)."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    return captured.captured_queries[-1]["sql"], None


def explain(query: QuerySet | tuple[str, Any], setting: str | None = None) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) summarised: top node, main scan and its filter, subplans, JIT, times."""
    sql, params = query.query.sql_with_params() if isinstance(query, QuerySet) else query
    with connection.cursor() as cursor:
        if setting:
            cursor.execute(f"SET {setting}")
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
        if setting:
            cursor.execute(f"RESET {setting.split('=')[0].strip()}")
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    nodes: list[dict] = []
    _walk(top, nodes)
    main = next((n for n in nodes if n.get("Relation Name") == "crm_account"), None)
    lines = [f"  top: {top['Node Type']} (est. cost {top['Total Cost']:.0f}, rows={top['Actual Rows']:g}); "
             f"execution {plan[0]['Execution Time']:.2f} ms, planning {plan[0]['Planning Time']:.2f} ms; "
             f"shared hit={top.get('Shared Hit Blocks', 0)} read={top.get('Shared Read Blocks', 0)}"]
    if main is not None:
        target = main.get("Index Name") or main["Relation Name"]
        removed = main.get("Rows Removed by Filter", 0)
        workers = next((n.get("Workers Launched") for n in nodes if n["Node Type"] == "Gather"), None)
        lines.append(f"  crm_account: {main['Node Type']} {target} (est. rows {main['Plan Rows']:g}, actual "
                     f"{main['Actual Rows']:g}, filter removed {removed:g}"
                     f"{f', {workers} parallel workers' if workers is not None else ''})")
        flt = main.get("Filter", "")
        lines.append(f"  its filter: {flt.count('hashed SubPlan')} hashed subplan(s), "
                     f"{flt.count('SubPlan') - flt.count('hashed SubPlan')} per-row subplan(s), "
                     f"{flt.count('alternatives: ')} alternative subplan(s)")
    seq = sorted({n.get("Relation Name") for n in nodes if n["Node Type"] == "Seq Scan"} - {None})
    if seq:
        lines.append(f"  seq scans: {', '.join(seq)}")
    jit = plan[0].get("JIT")
    if jit:
        timing = jit.get("Timing", {})
        total = timing.get("Total")
        total = total if isinstance(total, (int, float)) else (total or {}).get("Total", 0)
        options = ", ".join(k.lower() for k, v in jit.get("Options", {}).items() if v)
        lines.append(f"  JIT: {jit.get('Functions')} functions, {total:.1f} ms compiling ({options})")
    else:
        lines.append("  JIT: not used")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def describe(bench: Bench) -> None:
    """What the measured user sees, by grant (the arms overlap), from the hand-written predicate."""
    me, role = bench.user, bench.user.membership.org_role
    where, params = hand_where(bench)
    arms = {
        "own": "a.owner_id = %(me)s",
        "roles below": "a.owner_id IN (SELECT m.user_id FROM access_membership m JOIN access_orgrole r "
                       "ON r.id = m.org_role_id WHERE m.org_id = %(org)s AND r.path LIKE %(below)s "
                       "AND r.id <> %(my_role)s)",
        "rule 1 (role West 1 and below)": "a.owner_id IN (SELECT m.user_id FROM access_membership m JOIN "
                                          "access_orgrole r ON r.id = m.org_role_id WHERE m.org_id = %(org)s "
                                          "AND r.path LIKE %(rule1)s)",
        "rule 2 (group Key accounts)": "a.owner_id IN (SELECT user_id FROM access_group_users WHERE group_id = %(group)s)",
        "rule 3 (industry = technology)": "a.industry = 'technology'",
        "manual shares with the user": "a.id IN (SELECT content_object_id FROM crm_accountusershare "
                                       "WHERE org_id = %(org)s AND user_id = %(me)s)",
        "manual shares with a group": "a.id IN (SELECT content_object_id FROM crm_accountgroupshare "
                                      "WHERE org_id = %(org)s)",
    }
    select = ", ".join(f"count(*) FILTER (WHERE {cond})" for cond in arms.values())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), {select} FROM crm_account a WHERE a.org_id = %(org)s AND a.deleted_at IS NULL",
                       params)
        live, *counts = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM crm_account a WHERE {where}", params)
        total = cursor.fetchone()[0]
        cursor.execute(f"""SELECT count(*) FROM crm_account a
                           WHERE a.deleted_at IS NULL
                             AND a.id IN (SELECT content_object_id FROM crm_accountusershare WHERE org_id = %(org)s
                                          UNION ALL
                                          SELECT content_object_id FROM crm_accountgroupshare WHERE org_id = %(org)s)
                             AND NOT (a.owner_id = %(me)s OR a.industry = 'technology'
                            OR a.owner_id IN (SELECT m.user_id FROM access_membership m JOIN access_orgrole r
                              ON r.id = m.org_role_id WHERE r.path LIKE %(below)s AND r.id <> %(my_role)s
                              OR r.path LIKE %(rule1)s)
                            OR a.owner_id IN (SELECT user_id FROM access_group_users WHERE group_id = %(group)s))""",
                       params)
        only_shared = cursor.fetchone()[0]
    print(f"Measured user {me.username} (role {role.name}, path {role.path}); {live} live accounts in {ORG_NAME}:")
    for (name, _cond), count in zip(arms.items(), counts):
        print(f"  {name:<32} {count:>8} ({count / live:.1%})")
    print(f"  {'visible in all (the union)':<32} {total:>8} ({total / live:.1%}); "
          f"{only_shared} visible only through a manual share")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="accounts in the bench org (default 1000000)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per query (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    args = parser.parse_args()
    if settings.DEBUG:
        print("warning: DEBUG is on; every query is also logged in memory, which adds overhead.")

    require_migrated()
    bench = ensure_fixtures(args.records)
    user = bench.user
    schema = get_module("accounts", bench.org).bind(bench.org)  # the view binds once per request
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
        cursor.execute("SELECT current_setting('jit'), current_setting('jit_above_cost'), "
                       "current_setting('shared_buffers'), current_setting('work_mem'), "
                       "pg_size_pretty(pg_relation_size('crm_account')), (SELECT count(*) FROM crm_account)")
        jit, jit_cost, shared_buffers, work_mem, size, total = cursor.fetchone()
    print(version)
    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"jit={jit} (above cost {jit_cost}), shared_buffers={shared_buffers}, work_mem={work_mem}")
    print(f"crm_account: {total} rows, heap {size}; runs={args.runs} warmup={args.warmup} per_page={PER_PAGE}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    describe(bench)

    # What building the queryset costs besides the SQL it returns. The user's sharing rules are
    # cached on the user object after the first visible() call of a request (a fresh user
    # object is a new request).
    from django.test.utils import CaptureQueriesContext

    import access.visibility as access_visibility

    fresh = as_in_a_request(user.pk, bench.org)
    with CaptureQueriesContext(connection) as cold:
        orm_queryset(fresh, schema)
    with CaptureQueriesContext(connection) as warm:
        orm_queryset(fresh, schema)
    print(f"\nvisible() runs {len(cold)} SQL queries on the first call of a request, {len(warm)} on later calls "
          f"(the page query itself not counted); first call:")
    for query in cold.captured_queries:
        print(f"  {query['sql'][:140]}")
    if warm.captured_queries:
        print("later calls:")
    for query in warm.captured_queries:
        print(f"  {query['sql'][:140]}")
    compiler = access_visibility._criteria_compiler[0]
    built = orm_queryset(user, schema)[:PER_PAGE]
    parts = {
        "visible() + select_related + order_by (no SQL compiled)": lambda: orm_queryset(user, schema),
        "  of which the criteria rule (crm's compiler)": lambda: compiler(schema, bench.org, CRITERIA),
        "compiling the page SQL (sql_with_params)": lambda: built.query.sql_with_params(),
    }
    print("Python side alone, ms (rules cached):")
    for label, fn in parts.items():
        times = timed_runs(fn, args.runs, args.warmup)
        print(f"  {label:<58} p50 {statistics.median(times):6.2f}  p95 {percentile(times, 95):6.2f}")
    print()

    page_sql, count_sql = hand_page_sql(bench), hand_count_sql(bench)
    orm_page_text = (connection.ops.compose_sql(*built.query.sql_with_params()), None)
    orm_count_sql = captured_sql(lambda: visible(user, schema, "view").count())

    def first_call_page() -> list[int]:
        # As on a request's first visible() call: a fresh request user keeps no predicate or
        # access values yet (the shared cache in Redis stays warm, as between requests).
        user.__dict__.pop("_predicates", None)
        user.__dict__.pop("_access_memo", None)
        return orm_page(user, schema)()

    runs, warmup = args.runs, args.warmup
    results = [
        measure("page 1 (25 rows)", orm_page(user, schema), raw(page_sql, first_column=True), runs, warmup),
        measure("page 1, first visible() of a request", first_call_page, raw(page_sql, first_column=True),
                runs, warmup),
        measure("page 1, the ORM's SQL text via raw cursor", raw(orm_page_text, first_column=True),
                raw(page_sql, first_column=True), runs, warmup),
        measure("count()", orm_count(user, schema), raw(count_sql, first_column=False), runs, warmup),
        measure("count(), the ORM's SQL text via raw cursor", raw(orm_count_sql, first_column=False),
                raw(count_sql, first_column=False), runs, warmup),
        measure("count(), jit = off", with_setting("jit = off", orm_count(user, schema)),
                with_setting("jit = off", raw(count_sql, first_column=False)), runs, warmup),
    ]
    print("\nTimes in ms (ORM = visible(...) queryset built and evaluated; SQL = hand-written, raw cursor)")
    print(HEADER)
    for result in results:
        print(result.line())
    current = {r.label: r for r in results}
    sql_page = current["page 1, the ORM's SQL text via raw cursor"]
    sql_count = current["count(), the ORM's SQL text via raw cursor"]
    whole_page, whole_count = current["page 1 (25 rows)"], current["count()"]
    print("\np95 ratios against the hand-written SQL: the SQL visible() produces, page 1 "
          f"{percentile(sql_page.orm, 95) / percentile(sql_page.hand, 95):.2f}x, count "
          f"{percentile(sql_count.orm, 95) / percentile(sql_count.hand, 95):.2f}x; the whole ORM call, page 1 "
          f"{percentile(whole_page.orm, 95) / percentile(whole_page.hand, 95):.2f}x, count "
          f"{percentile(whole_count.orm, 95) / percentile(whole_count.hand, 95):.2f}x")
    from crm import selectors

    estimate = selectors.planner_estimate(visible(user, schema, "view").order_by())
    print(f"Planner estimate of the visible rows (the list's count step counts at most "
          f"{selectors.count_cap()} + 1 rows): {estimate}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    page_qs = orm_queryset(user, schema)[:PER_PAGE]
    print("\nEXPLAIN (ANALYZE, BUFFERS), page 1, ORM:")
    print(explain(page_qs))
    print("EXPLAIN (ANALYZE, BUFFERS), page 1, hand-written:")
    print(explain(page_sql))
    print("EXPLAIN (ANALYZE, BUFFERS), count, ORM:")
    print(explain(orm_count_sql))
    print("EXPLAIN (ANALYZE, BUFFERS), count, hand-written:")
    print(explain(count_sql))
    print("EXPLAIN (ANALYZE, BUFFERS), count, ORM, jit = off:")
    print(explain(orm_count_sql, "jit = off"))


if __name__ == "__main__":
    main()

"""Fixture organisations of bench/pages.py: users, roles, groups, sharing rules, manual shares,
a custom field and a team space through the actions; the bulk rows in SQL.

The bulk rows (accounts, contacts, deals, team records) are fixture data for measurement only:
written by one `INSERT ... SELECT ... FROM generate_series` per table, not through the record
actions (a million record actions with their timeline entries would take hours), so they carry
no timeline, notes or links. Import after django.setup().
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from django.db import connection, transaction

from access.actions import do_add_user, do_set_org_default, do_sign_up
from access.models import Group, Membership, Organization, OrgRole, OrgWideDefault, SharingRule, User
from access.share_actions import do_share_record
from access.sharing_actions import (
    do_create_group, do_create_role, do_create_sharing_rule, do_delete_sharing_rule, do_set_user_role,
)
from access.visibility import bind_org
from crm.actions import do_create_field
from crm.models import Account, AccountGroupShare, AccountUserShare, Contact, Deal, FieldDefinition
from crm.modules import get_module, org_modules
from teams.actions import (
    do_create_space, do_create_team_module, do_set_requesters, do_set_team_member,
)
from teams.models import TeamMember, TeamModule, TeamRecord, TeamSpace

OTHERS = 19  # standard users besides the measured one
# Name parts: city + brand + suffix, so 上海 (two characters), 星辰科技 (four) and Acme all hit.
CITIES = ["上海", "北京", "深圳", "杭州", "广州", "成都", "Berlin", "London", "Singapore", "New York"]
BRANDS = ["星辰", "蓝天", "华夏", "龙腾", "金山", "长江", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark",
          "Wayne", "Tyrell", "Zenith", "Nimbus", "Vertex", "Quantum", "Pioneer", "Harbor"]
SUFFIXES = ["科技有限公司", "贸易有限公司", "集团", " Ltd", " Inc", " GmbH", " Group", " Labs"]
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "Smith", "Müller", "Garcia", "Tanaka"]
GIVEN = ["伟", "芳", "娜", "敏", "静", "Anna", "James", "Lena", "Kenji", "Maria"]
INDUSTRIES = ["technology", "manufacturing", "finance", "healthcare", "retail", "education", "other"]
STAGES = ["qualification", "proposal", "negotiation", "won", "lost"]
STATUSES = [
    {"value": "new", "label_en": "New", "label_zh": "新建"},
    {"value": "in_progress", "label_en": "In progress", "label_zh": "进行中"},
    {"value": "review", "label_en": "Review", "label_zh": "审核"},
    {"value": "done", "label_en": "Done", "label_zh": "完成"},
    {"value": "cancelled", "label_en": "Cancelled", "label_zh": "取消"},
]
PRIORITIES = [{"value": v, "label_en": v.title(), "label_zh": zh}
              for v, zh in (("low", "低"), ("normal", "中"), ("high", "高"), ("urgent", "紧急"))]
TITLE_WORDS = ["合同审核", "Logo redesign", "报价单", "Landing page", "培训材料", "Onboarding", "客户回访", "Budget review"]


@dataclass
class Sizes:
    accounts: int
    contacts: int
    deals: int
    team_records: int
    shares: int

    @classmethod
    def for_accounts(cls, accounts: int, team_records: int) -> "Sizes":
        return cls(accounts, accounts * 3 // 10, accounts // 5, team_records, min(1000, max(10, accounts // 10)))


@dataclass
class OrgBench:
    org: Organization
    admin: User
    standard: User  # 3 sharing rules include them; the manual shares are theirs
    sizes: Sizes
    score_key: str  # the custom number field of accounts ("f_<id>")
    team_module: TeamModule
    account_id: int  # an account both users see (owned by the standard user), for the detail page


def _user(org: Organization, admin: User, username: str, first: str, last: str) -> User:
    found = User.objects.filter(username=username, memberships__org=org).first()
    if found is not None:
        return found
    # Random passwords: bench users do not log in with a password.
    return do_add_user(org, username=username, email=f"{username}@bench.example", password=secrets.token_urlsafe(16),
                       role=Membership.Role.STANDARD, first_name=first, last_name=last, actor=admin).user


def _role(org: Organization, admin: User, name: str, parent: OrgRole | None) -> OrgRole:
    return OrgRole.objects.filter(org=org, name=name).first() or do_create_role(org, name=name, parent=parent,
                                                                                   actor=admin)


def _group(org: Organization, admin: User, name: str, user_ids: list[int]) -> Group:
    return Group.objects.filter(org=org, name=name).first() or do_create_group(org, name=name, user_ids=user_ids,
                                                                                  actor=admin)


def _people(org: Organization, admin: User, prefix: str) -> tuple[User, list[User], dict[str, Group], dict]:
    standard = _user(org, admin, f"{prefix}_standard", "标准", "用户")
    others = [_user(org, admin, f"{prefix}_u{i:02d}", GIVEN[i % len(GIVEN)], SURNAMES[i % len(SURNAMES)])
              for i in range(1, OTHERS + 1)]
    sales = _role(org, admin, "Sales", None)
    roles = {"East": _role(org, admin, "East", sales), "West": _role(org, admin, "West", sales)}
    wanted = {standard.pk: roles["East"], **{u.pk: roles["East"] for u in others[:4]},
              **{u.pk: roles["West"] for u in others[4:9]}}
    for membership in Membership.objects.filter(org=org, user_id__in=wanted):
        if membership.org_role_id != wanted[membership.user_id].pk:
            do_set_user_role(membership, wanted[membership.user_id], actor=admin)
    groups = {"Key accounts": _group(org, admin, "Key accounts", [others[9].pk, others[10].pk]),
              "Account managers": _group(org, admin, "Account managers", [standard.pk])}
    return standard, others, groups, roles


def _rules(org: Organization, admin: User, roles: dict[str, OrgRole], groups: dict[str, Group]) -> None:
    """Three read-only sharing rules on accounts whose targets include the standard user
    (recreated on every run): an owner-role rule, an owner-group rule and a criteria rule."""
    from crm.criteria import validate

    for rule in SharingRule.objects.filter(org=org, module="accounts"):
        do_delete_sharing_rule(rule, actor=admin)
    bound = get_module("accounts", org).bind(org)
    common = {"access": SharingRule.Access.READ, "actor": admin, "known_modules": [m.key for m in org_modules()],
              "validate_criteria": lambda criteria: validate(criteria, bound)}
    do_create_sharing_rule(org, "accounts", name="West to East", owner_kind=SharingRule.Subject.ROLE_AND_BELOW,
                           owner_role=roles["West"], target_kind=SharingRule.Subject.ROLE, target_role=roles["East"],
                           **common)
    do_create_sharing_rule(org, "accounts", name="Key accounts", owner_kind=SharingRule.Subject.GROUP,
                           owner_group=groups["Key accounts"], target_kind=SharingRule.Subject.GROUP,
                           target_group=groups["Account managers"], **common)
    do_create_sharing_rule(org, "accounts", name="Technology to East",
                           criteria={"all": [{"field": "industry", "op": "eq", "value": "technology"}]},
                           target_kind=SharingRule.Subject.ROLE, target_role=roles["East"], **common)


def _score_field(org: Organization, admin: User) -> FieldDefinition:
    found = FieldDefinition.objects.filter(org=org, module="accounts", api_name="score").first()
    return found or do_create_field(org, "accounts", api_name="score", label_en="Score", label_zh="评分",
                                    field_type="integer", actor=admin, in_list=True)


def _team(org: Organization, admin: User, standard: User, others: list[User], prefix: str) -> TeamModule:
    """A team space (manager: the last other user; the standard user a participant and a
    requester; the rest members) and a team module with statuses and a priority picklist."""
    space = TeamSpace.objects.filter(org=org, name_en="Bench Team").first()
    if space is None:
        space = do_create_space(org, name_en="Bench Team", name_zh="基准团队", manager_ids=[others[-1].pk], actor=admin)
    have = dict(TeamMember.objects.filter(space=space).values_list("user_id", "role"))
    wanted = {standard.pk: TeamMember.Role.PARTICIPANT, **{u.pk: TeamMember.Role.MEMBER for u in others[:-1]}}
    for user_id, role in wanted.items():
        if have.get(user_id) != role:
            do_set_team_member(space, user_id, role, actor=admin)
    module = TeamModule.objects.filter(space=space, name_en="Bench Requests").first()
    if module is None:
        module = do_create_team_module(space, name_en="Bench Requests", name_zh="基准请求", icon="kanban",
                                       statuses=STATUSES, done_statuses=["done", "cancelled"], actor=admin)
    if not FieldDefinition.objects.filter(org=org, module=module.key, api_name="priority").exists():
        do_create_field(org, module.key, api_name="priority", label_en="Priority", label_zh="优先级",
                        field_type="picklist", options=PRIORITIES, actor=admin, in_list=True)
    if set(module.requesters.values_list("user_id", flat=True)) != {standard.pk}:
        do_set_requesters(module, [standard.pk], actor=admin)
    return module


# --------------------------------------------------------------------------- bulk rows (SQL)
HASHED = """FROM generate_series(1, %(n)s) AS i,
             LATERAL (SELECT hashint4(i + %(salt)s)::bigint + 2147483648 AS h,
                             now() - i * (interval '1 year' / %(n)s) - mod(i * 31, 300) * interval '1 second' AS t) x"""
# The first rows (one per brand, see _pick) belong to the standard user, so that in the small org
# too they see a match of every term in every module where the large org has one.
RECORD_VALUES = """%(org)s, CASE WHEN i <= cardinality(%(brands)s::text[]) THEN (%(owners)s::bigint[])[1]
                    ELSE (%(owners)s::bigint[])[1 + mod(h, cardinality(%(owners)s::bigint[]))] END, 1,
               t - interval '30 days', %(admin)s, t, %(admin)s,
               CASE WHEN mod(i, 50) = 0 THEN t END, CASE WHEN mod(i, 50) = 0 THEN %(admin)s END"""
RECORD_COLUMNS = "org_id, owner_id, version, created_at, created_by_id, modified_at, modified_by_id, deleted_at, deleted_by_id"


def _pick(array: str, divisor: int, *, every_first: bool = False) -> str:
    """An element picked by the row's hash; with `every_first`, rows 1, 2, ... take the elements
    in order first, so that even a 40-row table holds every name part (the small org's pages then
    find the same modules as the large org's: the same groups, the same number of queries)."""
    hashed = f"(%({array})s::text[])[1 + mod(h / {divisor}, cardinality(%({array})s::text[]))]"
    if not every_first:
        return hashed
    return f"CASE WHEN i <= cardinality(%({array})s::text[]) THEN (%({array})s::text[])[i] ELSE {hashed} END"


def _insert_rows(bench_org: Organization, admin: User, owners: list[int], sizes: Sizes, score_key: str) -> None:
    """Accounts, then contacts and deals pointing at them (their ids are one contiguous range:
    one INSERT in an otherwise idle table), 2% of each soft-deleted, owners spread evenly."""
    base = {"org": bench_org.pk, "owners": owners, "admin": admin.pk, "cities": CITIES, "brands": BRANDS,
            "suffixes": SUFFIXES, "industries": INDUSTRIES, "surnames": SURNAMES, "given": GIVEN, "stages": STAGES,
            "score": score_key}
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO crm_account ({RECORD_COLUMNS}, custom, name, industry, employees, website, phone, city,
                                     country, description)
            SELECT {RECORD_VALUES},
                   CASE WHEN mod(h / 3, 10) = 0 THEN '{{}}'::jsonb
                        ELSE jsonb_build_object(%(score)s, mod(h / 11, 1000)) END,
                   {_pick('cities', 7, every_first=True)} || {_pick('brands', 97, every_first=True)}
                       || {_pick('suffixes', 9973, every_first=True)} || ' ' || i,
                   {_pick('industries', 5)}, mod(h, 5000), 'https://example.com/' || i,
                   '+86138' || lpad(mod(i::bigint * 7919, 100000000)::text, 8, '0'),
                   {_pick('cities', 7)}, '', ''
            {HASHED}""", {**base, "n": sizes.accounts, "salt": 0})
        cursor.execute("SELECT min(id), max(id), count(*) FROM crm_account WHERE org_id = %s", [bench_org.pk])
        low, high, count = cursor.fetchone()
        if high - low + 1 != count:
            raise SystemExit("account ids are not one contiguous range: rebuild into an idle database")
        accounts = {"low": low, "span": count}
        cursor.execute(f"""
            INSERT INTO crm_contact ({RECORD_COLUMNS}, custom, first_name, last_name, account_id, title, email, phone)
            SELECT {RECORD_VALUES}, '{{}}'::jsonb, {_pick('given', 7)}, {_pick('surnames', 13)},
                   %(low)s + mod(h / 17, %(span)s), '', 'person' || i || '@example.com',
                   '+86139' || lpad(mod(i::bigint * 7919, 100000000)::text, 8, '0')
            {HASHED}""", {**base, **accounts, "n": sizes.contacts, "salt": 1})
        cursor.execute(f"""
            INSERT INTO crm_deal ({RECORD_COLUMNS}, custom, name, account_id, stage, amount, discount, close_date)
            SELECT {RECORD_VALUES}, '{{}}'::jsonb, {_pick('brands', 97, every_first=True)} || ' 订单 ' || i,
                   %(low)s + mod(h / 17, %(span)s), {_pick('stages', 5)}, mod(h / 3, 1000000) / 10.0, NULL,
                   (t + interval '60 days')::date
            {HASHED}""", {**base, **accounts, "n": sizes.deals, "salt": 2})


def _insert_team_records(module: TeamModule, priority_key: str, standard: int, others: list[int], admin: int,
                         n: int) -> None:
    """The standard user owns 1%, is assigned another 1% and requested (and owns) another 2%, at
    least 2 of every 200 rows; 15% unassigned."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {TeamRecord._meta.db_table}
                (org_id, module_id, space_id, owner_id, assignee_id, requested_by_id, title, status, version, data,
                 created_at, created_by_id, modified_at, modified_by_id, deleted_at, deleted_by_id)
            SELECT %(org)s, %(module)s, %(space)s,
                   CASE WHEN b = 0 OR asked THEN %(standard)s
                        ELSE (%(others)s::bigint[])[1 + mod(h / 101, cardinality(%(others)s::bigint[]))] END,
                   CASE WHEN b = 1 THEN %(standard)s WHEN mod(h / 7, 100) < 15 THEN NULL
                        ELSE (%(others)s::bigint[])[1 + mod(h / 1013, cardinality(%(others)s::bigint[]))] END,
                   CASE WHEN asked THEN %(standard)s END,
                   {_pick('words', 97)} || ' #' || i,
                   (%(statuses)s::text[])[1 + mod(h / 1009, 5)], 1,
                   jsonb_build_object(%(priority)s, (%(priorities)s::text[])[1 + mod(h / 10007, 4)]),
                   t - interval '30 days', %(admin)s, t, %(admin)s,
                   CASE WHEN mod(i, 50) = 0 THEN t END, CASE WHEN mod(i, 50) = 0 THEN %(admin)s END
            {HASHED}, LATERAL (SELECT mod(h, 100) AS b, mod(h, 100) = 2 OR mod(i, 100) = 3 AS asked) AS y""",
                       {"org": module.org_id, "module": module.pk, "space": module.space_id, "standard": standard,
                        "others": others, "admin": admin, "n": n, "salt": 3, "words": TITLE_WORDS,
                        "statuses": [s["value"] for s in STATUSES], "priority": priority_key,
                        "priorities": [p["value"] for p in PRIORITIES]})


def _shares(org: Organization, admin: User, standard: User, group: Group, count: int) -> None:
    """Manual shares through access.share_actions (one action per share, by the admin): 80% with
    the standard user, 20% with their group, on live accounts they do not own, spread by a hash."""
    with connection.cursor() as cursor:
        cursor.execute("""SELECT id FROM crm_account WHERE org_id = %s AND deleted_at IS NULL AND owner_id <> %s
                          ORDER BY hashint8(id), id LIMIT %s""", [org.pk, standard.pk, count])
        ids = [row[0] for row in cursor.fetchall()]
    records = Account.objects.in_bulk(ids)
    for i, record_id in enumerate(ids):
        target = {"group": group} if i < count // 5 else {"user": standard}
        do_share_record(org, "accounts", records[record_id], access=SharingRule.Access.READ, actor=admin, **target)


def _counts(org: Organization, module: TeamModule) -> tuple[int, int, int, int, int]:
    with connection.cursor() as cursor:
        cursor.execute("""SELECT (SELECT count(*) FROM crm_account WHERE org_id = %(org)s),
                                 (SELECT count(*) FROM crm_contact WHERE org_id = %(org)s),
                                 (SELECT count(*) FROM crm_deal WHERE org_id = %(org)s),
                                 (SELECT count(*) FROM teams_teamrecord WHERE module_id = %(module)s),
                                 (SELECT count(DISTINCT content_object_id) FROM crm_accountusershare
                                  WHERE org_id = %(org)s)
                                 + (SELECT count(DISTINCT content_object_id) FROM crm_accountgroupshare
                                    WHERE org_id = %(org)s)""", {"org": org.pk, "module": module.pk})
        return cursor.fetchone()


def ensure_org(name: str, prefix: str, sizes: Sizes) -> OrgBench:
    """Create or reuse one bench organisation; rebuild its rows unless they have the wanted sizes."""
    membership = (Membership.objects.select_related("org", "user")
                  .filter(org__name=name, user__username=f"{prefix}_admin").first())
    if membership is None:
        membership = do_sign_up(org_name=name, username=f"{prefix}_admin", email=f"{prefix}_admin@bench.example",
                                password=secrets.token_urlsafe(16), first_name="管理员", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    standard, others, groups, roles = _people(org, admin, prefix)
    for module_key in ("accounts", "contacts", "deals"):
        do_set_org_default(org, module_key, OrgWideDefault.Level.PRIVATE, actor=admin)
    _rules(org, admin, roles, groups)
    score = _score_field(org, admin)
    module = _team(org, admin, standard, others, prefix)
    priority_key = FieldDefinition.objects.get(org=org, module=module.key, api_name="priority").key
    wanted = (sizes.accounts, sizes.contacts, sizes.deals, sizes.team_records, sizes.shares)
    have = _counts(org, module)
    if have == wanted:
        print(f"Reusing {name}: {sizes}.", flush=True)
    else:
        started = time.perf_counter()
        owners = [standard.pk] + [u.pk for u in others]
        with transaction.atomic(), connection.cursor() as cursor:
            # Fixture rows only: nothing but the shares points at them.
            for table in ("crm_accountusershare", "crm_accountgroupshare", "crm_contact", "crm_deal", "crm_account"):
                cursor.execute(f"DELETE FROM {table} WHERE org_id = %s", [org.pk])
            cursor.execute("DELETE FROM teams_teamrecord WHERE module_id = %s", [module.pk])
            _insert_rows(org, admin, owners, sizes, score.key)
            _insert_team_records(module, priority_key, standard.pk, [u.pk for u in others], admin.pk,
                                 sizes.team_records)
        print(f"Built the rows of {name} in {time.perf_counter() - started:.1f} s.", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE crm_account")  # so that picking the shared records is quick
        started = time.perf_counter()
        _shares(org, admin, standard, groups["Account managers"], sizes.shares)
        print(f"Made {sizes.shares} manual shares in {time.perf_counter() - started:.1f} s.", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_account WHERE org_id = %s AND owner_id = %s AND deleted_at IS NULL "
                       "ORDER BY id LIMIT 1", [org.pk, standard.pk])
        account_id = cursor.fetchone()[0]
    return OrgBench(org=org, admin=admin, standard=standard, sizes=sizes, score_key=score.key, team_module=module,
                    account_id=account_id)


def build_field_indexes(bench: OrgBench) -> None:
    """The expression indexes of the custom and team fields, built now in this process by the
    same code the Celery job runs (crm.field_indexes.sync; no worker runs during a bench), where
    that code exists."""
    try:
        from crm import field_indexes
    except ImportError:
        return
    for definition in FieldDefinition.objects.filter(org=bench.org, module__in=["accounts", bench.team_module.key]):
        started = time.perf_counter()
        state = field_indexes.sync(definition.pk)
        print(f"Index of {definition.module}.{definition.api_name}: {state} "
              f"({time.perf_counter() - started:.1f} s).", flush=True)


def vacuum_analyze() -> None:
    """Fresh statistics and visibility maps, as in steady state."""
    with connection.cursor() as cursor:
        for model in (Account, Contact, Deal, TeamRecord, AccountUserShare, AccountGroupShare, Membership, OrgRole,
                      Group, Group.users.through, Group.roles.through, SharingRule):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")

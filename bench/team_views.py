"""Benchmark of a team module's pages: ORM through `access.visible` vs hand-written SQL, and query counts.

Usage (env as for the app: DATABASE_URL, REDIS_URL, DJANGO_SETTINGS_MODULE=config.settings)::

    python bench/team_views.py [--records N] [--runs R] [--warmup W] [--page-runs P]

It builds (or reuses) an organisation "Team Bench Org" with a team space of 20 members
(one manager, 18 members, one participant), two requesters from outside the team, and a team
module "Bench Requests" with six statuses and two JSON fields (a "priority" picklist and a
"due date"), holding N records (plus a second module with N/2 records, so the module filter
has rows to exclude, and a small module of 200 records to compare query counts with). Then,
for the participant (a team grant: only records they own or are assigned), the manager (every
record) and a requester (their own requests), it

- times each query of the pages against the same query written by hand and run through a raw
  cursor: the list page (`crm.views.RecordListView`: page 1 and the count step), the kanban
  page (`crm.board_views.KanbanView`, grouped by status and by the JSON priority field:
  column counts, first cards of every column, edit rights of those cards), the chart
  (`ChartView`: the person x column GROUP BY and the unassigned panel) and the Requests tab
  (`teams.views.RequestsView`: one module's newest requests);
- times the whole pages through Django's test client (rendering included);
- counts the queries of every page on the N-record module and on the 200-record one: they
  must be the same (no query per row or per card); the script exits with status 1 otherwise;
- checks that the queries it times are the ones the real pages run, and prints
  EXPLAIN (ANALYZE, BUFFERS) summaries.

p50/p95 in milliseconds. See docs/benchmarks.md, "Team modules". This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import secrets
import statistics
import sys
import time
import warnings
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
from django.db import connection, transaction  # noqa: E402
from django.db.models import BooleanField, ExpressionWrapper, F, QuerySet, Value  # noqa: E402
from django.db.models import CharField  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from access.actions import do_add_user, do_sign_up  # noqa: E402
from access.models import Membership, Organization, User  # noqa: E402
from access.visibility import bind_org, visible  # noqa: E402
from crm import selectors  # noqa: E402
from crm.actions import do_create_field  # noqa: E402
from crm.models import FieldDefinition  # noqa: E402
from crm.modules import get_module  # noqa: E402
from crm.schema import BoundSchema  # noqa: E402
from teams import roles  # noqa: E402
from teams.actions import (  # noqa: E402
    do_create_space, do_create_team_module, do_set_requesters, do_set_team_member, do_update_team_module,
)
from crm.board_views import (  # noqa: E402
    CARDS_PER_PAGE, EMPTY, UNASSIGNED_SHOWN, ChartView, KanbanView, _columns, column_counts, column_filter, column_q,
    done_statuses, group_expression, option_values, person_field,
)
from teams.schema import schema_for  # noqa: E402
from teams.models import TeamMember, TeamModule, TeamRecord, TeamSpace  # noqa: E402
from bench.timing import percentile, require_migrated, timed_runs  # noqa: E402

ORG_NAME = "Team Bench Org"
ADMIN_USERNAME = "tbench_admin"
MANAGER_USERNAME = "tbench_manager"
PARTICIPANT_USERNAME = "tbench_participant"
REQUESTER_USERNAME = "tbench_requester"  # requests 1% of every module's records
FEW_REQUESTER_USERNAME = "tbench_requester_few"  # a few requests, in the small module only
MEMBERS = 18  # plus the manager and the participant: 20 in the space
SPACE_NAME = "Bench Team"
MODULE_NAME = "Bench Requests"
OTHER_MODULE_NAME = "Bench Other Requests"
OTHER_MODULE_SHARE = 2  # the second module gets N // OTHER_MODULE_SHARE records
SMALL_MODULE_NAME = "Bench Small Requests"
SMALL_RECORDS = 200  # the small module, to compare query counts with
# Module names are unique per space in both languages.
MODULE_NAMES_ZH = {MODULE_NAME: "基准请求", OTHER_MODULE_NAME: "其他基准请求", SMALL_MODULE_NAME: "小型基准请求"}
REQUESTS_SHOWN = 50  # RequestsView: the newest 50 requests per module
PER_PAGE = 25  # the list view's default page size
TABLE = TeamRecord._meta.db_table
STATUSES = [
    {"value": "new", "label_en": "New", "label_zh": "新建"},
    {"value": "in_progress", "label_en": "In progress", "label_zh": "进行中"},
    {"value": "review", "label_en": "Review", "label_zh": "审核"},
    {"value": "blocked", "label_en": "Blocked", "label_zh": "受阻"},
    {"value": "done", "label_en": "Done", "label_zh": "完成"},
    {"value": "cancelled", "label_en": "Cancelled", "label_zh": "取消"},
]
DONE = ["done", "cancelled"]
PRIORITIES = [
    {"value": "low", "label_en": "Low", "label_zh": "低"},
    {"value": "normal", "label_en": "Normal", "label_zh": "中"},
    {"value": "high", "label_en": "High", "label_zh": "高"},
    {"value": "urgent", "label_en": "Urgent", "label_zh": "紧急"},
]
TITLE_WORDS = ["合同审核", "Logo redesign", "Press release", "报价单", "Landing page", "培训材料", "Onboarding",
               "Budget review", "活动海报", "Data export", "Translation", "客户回访"]


# --------------------------------------------------------------------------- fixtures
@dataclass
class Bench:
    org: Organization
    admin: User
    manager: User
    participant: User
    requester: User
    few_requester: User
    module: TeamModule
    other_module: TeamModule
    small_module: TeamModule
    priority: FieldDefinition
    due: FieldDefinition


def _user(org: Organization, admin: User, username: str, last_name: str) -> User:
    existing = User.objects.filter(username=username, memberships__org=org).first()
    if existing is not None:
        return existing
    # Random passwords: bench users are not meant to log in.
    return do_add_user(org, username=username, email=f"{username}@bench.example", password=secrets.token_urlsafe(16),
                       role=Membership.Role.STANDARD, first_name="Bench", last_name=last_name, actor=admin).user


def _module(space: TeamSpace, manager: User, name: str) -> tuple[TeamModule, FieldDefinition, FieldDefinition]:
    """The team module with its statuses and two JSON fields, created through the actions."""
    module = TeamModule.objects.filter(space=space, name_en=name).first()
    if module is None:
        module = do_create_team_module(space, name_en=name, name_zh=MODULE_NAMES_ZH[name], icon="kanban", statuses=STATUSES,
                                       done_statuses=DONE, actor=manager)
    fields = {d.api_name: d for d in FieldDefinition.objects.filter(org=space.org_id, module=module.key)}
    if "priority" not in fields:
        fields["priority"] = do_create_field(space.org, module.key, api_name="priority", label_en="Priority",
                                             label_zh="优先级", field_type="picklist", options=PRIORITIES,
                                             actor=manager, in_list=True)
    if "due_date" not in fields:
        fields["due_date"] = do_create_field(space.org, module.key, api_name="due_date", label_en="Due date",
                                             label_zh="截止日期", field_type="date", actor=manager, in_list=True)
    if module.due_field_id != fields["due_date"].pk:
        module = do_update_team_module(module, name_en=module.name_en, name_zh=module.name_zh, icon=module.icon,
                                       statuses=module.statuses, done_statuses=module.done_statuses,
                                       due_field_id=fields["due_date"].pk, actor=manager)
    return module, fields["priority"], fields["due_date"]


def _insert_records(module: TeamModule, priority: FieldDefinition, due: FieldDefinition, participant: int,
                    requester: int, others: list[int], admin: int, n: int, few_requester: int | None = None) -> None:
    """Fixture data for measurement only, not an app write path: rows written in one
    INSERT ... SELECT generate_series, not through crm.actions (N record actions with their
    timeline entries would take far too long), so they carry no timeline, notes or links.

    Everything comes from a hash of the row number, so it is deterministic and spread evenly:
    the participant owns 1% and is the assignee of another 1% (2% visible to them); the
    requester owns and requested 1% (as a submitted request is); `few_requester`, when given,
    owns and requested every 50th row from the second on; the other owners and assignees are
    the space's 19 other people; 15% are unassigned. Status: new 8%, in progress 12%, review 5%,
    blocked 2%, done 65%, cancelled 8%. Priority (JSON picklist): absent 30%, low 10%, normal
    45%, high 14.95%, urgent 0.05% (a rare value, as real picklists have). Due date (JSON date)
    on 70%. modified_at over about a year (N = 100,000); 2% soft-deleted.
    """
    sql = f"""
        INSERT INTO {TABLE}
            (org_id, module_id, space_id, owner_id, assignee_id, requested_by_id, title, status, version, data,
             created_at, created_by_id, modified_at, modified_by_id, deleted_at, deleted_by_id)
        SELECT %(org)s, %(module)s, %(space)s,
               CASE WHEN few THEN %(few)s WHEN b = 0 THEN %(participant)s WHEN b = 2 THEN %(requester)s
                    ELSE (%(others)s::bigint[])[1 + mod(h / 101, cardinality(%(others)s::bigint[]))] END,
               CASE WHEN b = 1 THEN %(participant)s
                    WHEN mod(h / 7, 100) < 15 THEN NULL
                    ELSE (%(others)s::bigint[])[1 + mod(h / 1013, cardinality(%(others)s::bigint[]))] END,
               CASE WHEN few THEN %(few)s WHEN b = 2 THEN %(requester)s END,
               (%(words)s::text[])[1 + mod(h / 97, cardinality(%(words)s::text[]))] || ' #' || i,
               CASE WHEN s < 8 THEN 'new' WHEN s < 20 THEN 'in_progress' WHEN s < 25 THEN 'review'
                    WHEN s < 27 THEN 'blocked' WHEN s < 92 THEN 'done' ELSE 'cancelled' END,
               1,
               jsonb_strip_nulls(jsonb_build_object(
                   %(priority)s, CASE WHEN p < 3000 THEN NULL WHEN p < 4000 THEN 'low' WHEN p < 8500 THEN 'normal'
                                      WHEN p < 9995 THEN 'high' ELSE 'urgent' END,
                   %(due)s, CASE WHEN mod(h / 13, 10) < 7
                                 THEN to_char(t + (mod(h / 17, 60) - 10) * interval '1 day', 'YYYY-MM-DD') END)),
               t - interval '30 days', %(admin)s, t, %(admin)s,
               CASE WHEN mod(i, 50) = 0 THEN t END, CASE WHEN mod(i, 50) = 0 THEN %(admin)s END
        FROM generate_series(1, %(n)s) AS i,
             LATERAL (SELECT hashint4(i)::bigint + 2147483648 AS h,
                             now() - i * interval '5 minutes' - mod(i * 31, 300) * interval '1 second' AS t) AS x,
             LATERAL (SELECT mod(h, 100) AS b, mod(h / 1009, 100) AS s, mod(h / 10007, 10000) AS p,
                             %(few)s::bigint IS NOT NULL AND mod(i, 50) = 2 AS few) AS y
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": module.org_id, "module": module.pk, "space": module.space_id,
                             "participant": participant, "requester": requester, "few": few_requester,
                             "others": others, "admin": admin, "n": n, "words": TITLE_WORDS,
                             "priority": priority.key, "due": due.key})


def ensure_fixtures(n: int) -> Bench:
    """Create or reuse the bench org, space, members, requesters and modules; rebuild the
    records unless they match (N, N/2 and 200 records, with the requests where expected)."""
    membership = (Membership.objects.select_related("org", "user")
                  .filter(org__name=ORG_NAME, user__username=ADMIN_USERNAME).first())
    if membership is None:
        membership = do_sign_up(org_name=ORG_NAME, username=ADMIN_USERNAME, email=f"{ADMIN_USERNAME}@bench.example",
                                password=secrets.token_urlsafe(16), first_name="Bench", last_name="Admin")
    org = membership.org
    admin = bind_org(membership.user, org, membership)
    manager = _user(org, admin, MANAGER_USERNAME, "Manager")
    participant = _user(org, admin, PARTICIPANT_USERNAME, "Participant")
    requester = _user(org, admin, REQUESTER_USERNAME, "Requester")
    few_requester = _user(org, admin, FEW_REQUESTER_USERNAME, "Occasional Requester")
    members = [_user(org, admin, f"tbench_member{i:02d}", f"Member {i:02d}") for i in range(1, MEMBERS + 1)]

    space = TeamSpace.objects.filter(org=org, name_en=SPACE_NAME).first()
    if space is None:
        space = do_create_space(org, name_en=SPACE_NAME, name_zh="基准团队", manager_ids=[manager.pk], actor=admin)
    have = dict(TeamMember.objects.filter(space=space).values_list("user_id", "role"))
    wanted = {participant.pk: TeamMember.Role.PARTICIPANT, **{m.pk: TeamMember.Role.MEMBER for m in members}}
    for user_id, role in wanted.items():
        if have.get(user_id) != role:
            do_set_team_member(space, user_id, role, actor=admin)
    manager = bind_org(User.objects.get(pk=manager.pk), org)
    module, priority, due = _module(space, manager, MODULE_NAME)
    other_module, other_priority, other_due = _module(space, manager, OTHER_MODULE_NAME)
    small_module, small_priority, small_due = _module(space, manager, SMALL_MODULE_NAME)
    for team_module in (module, other_module, small_module):
        if set(team_module.requesters.values_list("user_id", flat=True)) != {requester.pk, few_requester.pk}:
            do_set_requesters(team_module, [requester.pk, few_requester.pk], actor=manager)

    sizes = {module.pk: n, other_module.pk: n // OTHER_MODULE_SHARE, small_module.pk: SMALL_RECORDS}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT module_id, count(*), count(*) FILTER (WHERE requested_by_id = %s) FROM {TABLE} "
                       f"WHERE org_id = %s GROUP BY module_id", [few_requester.pk, org.pk])
        counts = {module_id: (total, few) for module_id, total, few in cursor.fetchall()}
    if ({k: total for k, (total, _few) in counts.items()} == sizes and counts[small_module.pk][1]
            and not counts[module.pk][1]):
        print(f"Reusing {ORG_NAME}: {n} records in {MODULE_NAME} (+{n // OTHER_MODULE_SHARE} in {OTHER_MODULE_NAME}, "
              f"{SMALL_RECORDS} in {SMALL_MODULE_NAME}).")
    else:
        started = time.perf_counter()
        others = [manager.pk] + [m.pk for m in members]
        with transaction.atomic(), connection.cursor() as cursor:
            # Fixture rows only (no timeline, notes, attachments or links point at them).
            cursor.execute(f"DELETE FROM {TABLE} WHERE org_id = %s", [org.pk])
            for team_module, (prio, due_) in ((module, (priority, due)), (other_module, (other_priority, other_due)),
                                              (small_module, (small_priority, small_due))):
                _insert_records(team_module, prio, due_, participant.pk, requester.pk, others, admin.pk,
                                sizes[team_module.pk], few_requester.pk if team_module == small_module else None)
        print(f"Built {n} records in {MODULE_NAME}, {n // OTHER_MODULE_SHARE} in {OTHER_MODULE_NAME} and "
              f"{SMALL_RECORDS} in {SMALL_MODULE_NAME} in {time.perf_counter() - started:.1f} s.")
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")  # fresh statistics and visibility map, as in steady state
    return Bench(org=org, admin=admin, manager=bind_org(manager, org), participant=bind_org(participant, org),
                 requester=bind_org(requester, org), few_requester=bind_org(few_requester, org), module=module,
                 other_module=other_module, small_module=small_module, priority=priority, due=due)


# --------------------------------------------------------------------------- timing
@dataclass
class Result:
    label: str
    orm: list[float]
    hand: list[float]
    rows: Any = None

    def line(self) -> str:
        o50, o95 = statistics.median(self.orm), percentile(self.orm, 95)
        h50, h95 = statistics.median(self.hand), percentile(self.hand, 95)
        if isinstance(self.rows, dict):
            rows = f"{len(self.rows)} columns, {sum(self.rows.values())} records"
        elif isinstance(self.rows, (list, set)):
            rows = f"{len(self.rows)} rows"
        else:
            rows = f"count={self.rows}"
        return (f"{self.label:<38} {o50:8.2f} {o95:8.2f} {h50:8.2f} {h95:8.2f} "
                f"{o50 / h50:8.2f}x {o95 / h95:8.2f}x   {rows}")


HEADER = (f"{'query':<38} {'ORM p50':>8} {'ORM p95':>8} {'SQL p50':>8} {'SQL p95':>8} "
          f"{'p50 ratio':>9} {'p95 ratio':>9}   result")


def measure(label: str, orm: Callable[[], Any], hand: Callable[[], Any], runs: int, warmup: int,
            *, check: bool = True) -> Result:
    """Warm up both, then R timed runs each, alternating which goes first (milliseconds).
    `check`: the two must return the same rows, counts or columns (not when the ORM shows an estimate)."""
    orm_value, hand_value = orm(), hand()
    if check and orm_value != hand_value:
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
    return Result(label, orm_times, hand_times, orm_value)


def p50_p95(times: list[float]) -> str:
    return f"p50 {statistics.median(times):.2f} ms, p95 {percentile(times, 95):.2f} ms"


# --------------------------------------------------------------------------- the list page
def list_queryset(user: User, schema: BoundSchema) -> QuerySet:
    """What RecordListView.get builds for page 1 without search or filters (an unbound
    filterset leaves the queryset as it is), with its default order."""
    base = visible(user, schema, "view").select_related(*schema.select_related)
    base = selectors.search(base, schema, "")
    return base.order_by("-modified_at", "-pk")


def orm_page(user: User, schema: BoundSchema) -> Callable[[], Any]:
    def run() -> list[int]:
        return [r.pk for r in list(list_queryset(user, schema)[:PER_PAGE])]
    return run


def orm_count(user: User, schema: BoundSchema) -> Callable[[], Any]:
    def run() -> int:
        return selectors.BoundedCountPaginator(list_queryset(user, schema), PER_PAGE).count
    return run


# The hand-written side: the same queries, written as one would in SQL.
USERS_JOIN = ("JOIN access_user o ON o.id = r.owner_id LEFT JOIN access_user a ON a.id = r.assignee_id "
              "LEFT JOIN access_user q ON q.id = r.requested_by_id")


def hand_where(module: TeamModule, person: User | None) -> tuple[str, list[Any]]:
    """The visibility WHERE: the module's live rows, and for a participant only own or assigned."""
    where = ["r.org_id = %s", "r.module_id = %s", "r.deleted_at IS NULL"]
    params: list[Any] = [module.org_id, module.pk]
    if person is not None:
        where.append("(r.owner_id = %s OR r.assignee_id = %s)")
        params += [person.pk, person.pk]
    return " AND ".join(where), params


def hand_page(module: TeamModule, person: User | None) -> Callable[[], Any]:
    where, params = hand_where(module, person)
    sql = (f"SELECT r.*, o.*, a.*, q.* FROM {TABLE} r {USERS_JOIN} "
           f"WHERE {where} ORDER BY r.modified_at DESC, r.id DESC LIMIT {PER_PAGE}")

    def run() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]
    return run


def bounded(where: str) -> str:
    """A count exact up to the cap, as selectors.bounded_count reads it: at most cap+1 rows."""
    return f"(SELECT count(*) FROM (SELECT 1 FROM {TABLE} r WHERE {where} LIMIT {selectors.count_cap() + 1}) AS s)"


def hand_count(module: TeamModule, person: User | None) -> Callable[[], Any]:
    where, params = hand_where(module, person)
    sql = f"SELECT {bounded(where)}"

    def run() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
    return run


# --------------------------------------------------------------------------- the kanban page
def kanban_view(user: User, module: TeamModule, field: str | None = None) -> KanbanView:
    """A KanbanView set up as for GET /m/team-<id>/kanban/[?field=...] (dispatch's module
    resolution and schema binding done once here, as the list benchmark binds once)."""
    request = RequestFactory().get(f"/m/{module.key}/kanban/", {"field": field} if field else {})
    request.user = user
    request.org = user.org
    view = KanbanView()
    view.setup(request, module=module.key)
    view.module = get_module(module.key, user.org)
    view.schema = view.module.bind(user.org)
    view.record = None
    return view


def _full_counts(spec, counts: dict[str, int]) -> dict[str, int]:
    full = {value: 0 for value in option_values(spec)}
    full[EMPTY] = 0
    for value, n in counts.items():
        full[value] = full.get(value, 0) + n
    return full


def orm_column_counts(view: KanbanView) -> Callable[[], Any]:
    """KanbanView.get up to the counts: the visible records (view.records(): visible, search,
    filterset) and `column_counts`, one query of a `LIMIT cap+1` count per column."""
    def run() -> dict[str, int]:
        return column_counts(view.records(), view.group_spec())
    return run


def last_sql(fn: Callable[[], Any]) -> tuple[str, None]:
    """The last SQL statement `fn` runs, with values inlined (for EXPLAIN and the view check)."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    return captured.captured_queries[-1]["sql"], None


def counts_sql(view: KanbanView) -> tuple[str, None]:
    """The one query `column_counts` runs."""
    return last_sql(orm_column_counts(view))


def card_parts(view: KanbanView, queryset: QuerySet, counts: dict[str, int]) -> list[QuerySet]:
    """KanbanView.get's first-cards query parts: one LIMITed, ordered queryset per non-empty column."""
    spec = view.group_spec()
    return [view.card_queryset(queryset.filter(column_q(spec, column.value)))[:CARDS_PER_PAGE]
            for column in _columns(spec) if counts.get(column.value, 0)]


def cards_queryset(view: KanbanView, counts: dict[str, int]) -> QuerySet:
    parts = card_parts(view, view.records(), counts)
    return parts[0].union(*parts[1:], all=True)


def orm_first_cards(view: KanbanView, counts: dict[str, int]) -> Callable[[], Any]:
    """The first cards of every column as KanbanView.get fetches them (the column counts are
    known by then): view.records(), the per-column parts, one UNION ALL, sorted newest first."""
    def run() -> list[int]:
        parts = card_parts(view, view.records(), counts)
        records = list(parts[0].union(*parts[1:], all=True)) if parts else []
        records.sort(key=lambda r: (r.modified_at, r.pk), reverse=True)
        return [r.pk for r in records]
    return run


def orm_edit_rights(view: KanbanView, ids: list[int]) -> Callable[[], Any]:
    """BoardView.cards' one query for which of the shown cards the user may edit."""
    def run() -> set[int]:
        return set(visible(view.request.user, view.schema, "edit").filter(pk__in=ids).values_list("pk", flat=True))
    return run


def _column_sql(view: KanbanView) -> tuple[str, list[str]]:
    """The column expression by hand: the value when it is one of the options, else ''."""
    spec = view.group_spec()
    column = "r.status" if not spec.is_custom else f"(r.data ->> '{spec.key}')"
    return column, option_values(spec)


def hand_column_counts(view: KanbanView, person: User | None) -> Callable[[], Any]:
    """One bounded count per column (each option, then the empty column), in one query."""
    where, params = hand_where(view.schema.team_module, person)
    column, values = _column_sql(view)
    marks = ", ".join(["%s"] * len(values))
    parts = [bounded(f"{where} AND {column} = %s") for _value in values]
    parts.append(bounded(f"{where} AND ({column} IS NULL OR {column} NOT IN ({marks}))"))
    sql = f"SELECT {', '.join(parts)}"
    all_params = [p for value in values for p in (*params, value)] + params + values
    spec = view.group_spec()

    def run() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, all_params)
            return _full_counts(spec, dict(zip([*values, EMPTY], cursor.fetchone())))
    return run


def hand_first_cards(view: KanbanView, person: User | None, counts: dict[str, int]) -> Callable[[], Any]:
    where, params = hand_where(view.schema.team_module, person)
    column, values = _column_sql(view)
    parts, all_params = [], []
    for value in [*values, EMPTY]:
        if not counts.get(value, 0):
            continue
        if value != EMPTY:
            condition, extra = f"{column} = %s", [value]
        else:
            condition, extra = f"({column} IS NULL OR NOT {column} IN ({', '.join(['%s'] * len(values))}))", values
        parts.append(f"(SELECT r.*, o.*, a.*, q.* FROM {TABLE} r {USERS_JOIN} WHERE {where} AND {condition} "
                     f"ORDER BY r.modified_at DESC, r.id DESC LIMIT {CARDS_PER_PAGE})")
        all_params += params + extra
    sql = " UNION ALL ".join(parts)

    def run() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, all_params)
            names = [c.name for c in cursor.description]
            modified = names.index("modified_at")
            rows = cursor.fetchall()
        rows.sort(key=lambda row: (row[modified], row[0]), reverse=True)
        return [row[0] for row in rows]
    return run


def hand_edit_rights(module: TeamModule, person: User | None, ids: list[int]) -> Callable[[], Any]:
    where, params = hand_where(module, person)
    sql = f"SELECT r.id FROM {TABLE} r WHERE {where} AND r.id = ANY(%s)"

    def run() -> set[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params + [ids])
            return {row[0] for row in cursor.fetchall()}
    return run


# --------------------------------------------------------------------------- the chart page
def chart_view(user: User, module: TeamModule, field: str | None = None) -> ChartView:
    """A ChartView set up as for GET /m/team-<id>/chart/[?field=...] (see kanban_view)."""
    request = RequestFactory().get(f"/m/{module.key}/chart/", {"field": field} if field else {})
    request.user = user
    request.org = user.org
    view = ChartView()
    view.setup(request, module=module.key)
    view.module = get_module(module.key, user.org)
    view.schema = view.module.bind(user.org)
    view.record = None
    return view


def chart_groups(view: ChartView) -> list[dict]:
    """ChartView.get's one query: records per person (assignee) and column, with the done count,
    over at most cap+1 of the visible records (selectors.bounded_groups)."""
    spec = view.group_spec()
    person = person_field(view.schema)
    group = group_expression(spec) if spec is not None else Value(EMPTY, output_field=CharField())
    annotations: dict[str, Any] = {"chart_person": F(person.orm_path), "chart_column": group}
    done = done_statuses(view.schema)
    flags: tuple[str, ...] = ()
    if done:
        annotations["chart_done"] = ExpressionWrapper(column_filter(view.schema.field("status"), done),
                                                      output_field=BooleanField())
        flags = ("chart_done",)
    rows, _capped = selectors.bounded_groups(view.records().annotate(**annotations), ["chart_person", "chart_column"],
                                             flags)
    return rows


def chart_sql(view: ChartView) -> tuple[str, None]:
    return last_sql(lambda: chart_groups(view))


def _chart_rows(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda row: (row[0] is None, row[0] or 0, row[1]))


def orm_chart(view: ChartView) -> Callable[[], Any]:
    def run() -> list[tuple]:
        return _chart_rows([(r["chart_person"], r["chart_column"] or EMPTY, r["n"], r.get("chart_done", 0))
                            for r in chart_groups(view)])
    return run


def hand_chart(view: ChartView, person: User | None) -> Callable[[], Any]:
    where, params = hand_where(view.schema.team_module, person)
    column, values = _column_sql(view)
    marks = ", ".join(["%s"] * len(values))
    done = done_statuses(view.schema)
    sql = (f"SELECT person, col, count(*), count(*) FILTER (WHERE done) FROM ("
           f"SELECT r.assignee_id AS person, CASE WHEN {column} IN ({marks}) THEN {column} ELSE '' END AS col, "
           f"r.status IN ({', '.join(['%s'] * len(done))}) AS done "
           f"FROM {TABLE} r WHERE {where} LIMIT {selectors.count_cap() + 1}) AS b GROUP BY 1, 2")

    def run() -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, values + done + params)
            return _chart_rows(list(cursor.fetchall()))
    return run


def unassigned_queryset(view: ChartView) -> QuerySet:
    """ChartView.unassigned_panel's query: the newest unassigned records, with their users."""
    return view.card_queryset(view.records().filter(assignee__isnull=True))[:UNASSIGNED_SHOWN]


def orm_unassigned(view: ChartView) -> Callable[[], Any]:
    def run() -> list[int]:
        return [r.pk for r in list(unassigned_queryset(view))]
    return run


def hand_unassigned(module: TeamModule, person: User | None) -> Callable[[], Any]:
    where, params = hand_where(module, person)
    sql = (f"SELECT r.*, o.*, a.*, q.* FROM {TABLE} r {USERS_JOIN} WHERE {where} AND r.assignee_id IS NULL "
           f"ORDER BY r.modified_at DESC, r.id DESC LIMIT {UNASSIGNED_SHOWN}")

    def run() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]
    return run


# --------------------------------------------------------------------------- the Requests tab
def requests_queryset(user: User, module: TeamModule) -> QuerySet:
    """RequestsView.get's query for one module: the user's newest requests, with the assignee."""
    return (visible(user, schema_for(module), "view").filter(requested_by=user).select_related("assignee")
            .order_by("-modified_at")[:REQUESTS_SHOWN])


def orm_requests(user: User, module: TeamModule) -> Callable[[], Any]:
    def run() -> list[int]:
        return [r.pk for r in list(requests_queryset(user, module))]
    return run


def hand_requests(user: User, module: TeamModule) -> Callable[[], Any]:
    sql = (f"SELECT r.*, a.* FROM {TABLE} r LEFT JOIN access_user a ON a.id = r.assignee_id "
           f"WHERE r.org_id = %s AND r.module_id = %s AND r.deleted_at IS NULL AND r.requested_by_id = %s "
           f"ORDER BY r.modified_at DESC LIMIT {REQUESTS_SHOWN}")
    params = [module.org_id, module.pk, user.pk]

    def run() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]
    return run


# --------------------------------------------------------------------------- plans
def _walk(node: dict, out: list[dict]) -> None:
    out.append(node)
    for child in node.get("Plans", []):
        _walk(child, out)


def count_sql(queryset: QuerySet) -> tuple[str, None]:
    """The SQL of the list's bounded count (as the paginator runs it), with values inlined."""
    return last_sql(lambda: selectors.bounded_count(queryset))


def explain(query: QuerySet | tuple[str, Any]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a queryset or SQL, summarised: top node, scans, sorts, time."""
    sql, params = query.query.sql_with_params() if isinstance(query, QuerySet) else query
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    nodes: list[dict] = []
    _walk(top, nodes)
    scans: dict[str, int] = {}  # the same scan in several UNION ALL parts is shown once, with a count
    others: list[str] = []
    for node in nodes:
        kind = node["Node Type"]
        loops = node.get("Actual Loops", 1)
        if "Scan" in kind:
            target = node.get("Index Name") or node.get("Relation Name", "")
            removed = node.get("Rows Removed by Filter", 0) * loops
            rechecked = node.get("Rows Removed by Index Recheck", 0) * loops
            extra = f"{node['Actual Rows'] * loops:g} rows" + (f", filter removed {removed:g}" if removed else "") \
                + (f", recheck removed {rechecked:g}" if rechecked else "")
            if node.get("Heap Fetches"):
                extra += f", heap fetches {node['Heap Fetches']:g}"
            if kind == "Bitmap Heap Scan":
                extra += f", {node.get('Exact Heap Blocks', 0) + node.get('Lossy Heap Blocks', 0):g} heap blocks"
            text = f"{kind} {target}".strip() + (f" x{loops:g}" if loops > 1 else "") + f" ({extra})"
            scans[text] = scans.get(text, 0) + 1
        elif kind in ("Sort", "Incremental Sort"):
            method = node.get("Sort Method") or ", ".join(
                g.get("Sort Methods Used", [""])[0] for g in (node.get("Full-sort Groups"),
                                                              node.get("Pre-sorted Groups")) if g)
            text = f"{kind} ({method}, {node['Actual Rows'] * loops:g} rows out)"
            if text not in others:
                others.append(text)
        elif kind in ("BitmapOr", "BitmapAnd", "Aggregate", "Append", "Merge Append", "Hash Join", "Nested Loop",
                      "Gather", "Gather Merge"):
            label = kind + (f" ({node.get('Strategy')})" if kind == "Aggregate" else "")
            if label not in others:
                others.append(label)
    seq = sorted({n.get("Relation Name") for n in nodes if n["Node Type"] == "Seq Scan"})
    if TABLE in seq:
        used = f"NO: sequential scan on {TABLE}"
    else:
        used = f"yes on {TABLE}" + (f" (sequential scans only on {', '.join(seq)}, a small table here)" if seq else "")
    scan_text = "; ".join(text + (f" in {count} parts" if count > 1 else "") for text, count in scans.items())
    return (f"  top: {top['Node Type']} (rows={top['Actual Rows']:g}, "
            f"actual {top['Actual Total Time']:.2f} ms; execution {plan[0]['Execution Time']:.2f} ms, "
            f"planning {plan[0]['Planning Time']:.2f} ms; shared hit={top.get('Shared Hit Blocks', 0)} "
            f"read={top.get('Shared Read Blocks', 0)})\n"
            f"  scans: {scan_text}\n"
            f"  other nodes: {'; '.join(others) or '-'}\n"
            f"  indexes used: {used}")


# --------------------------------------------------------------------------- the real views
def client_for(user: User):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def get_page(client, path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. whitenoise's "no STATIC_ROOT" on a bench checkout
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} -> {response.status_code}")
    return response


def page_queries(user: User, path: str) -> list[str]:
    """Every SQL statement the real page runs (test client: a fresh user object and session, as
    for any request), after one untimed request so that process-wide caches are warm."""
    from django.test.utils import CaptureQueriesContext

    client = client_for(user)
    get_page(client, path)
    with CaptureQueriesContext(connection) as captured:
        get_page(client, path)
    return [q["sql"] for q in captured.captured_queries]


def view_sql(user: User, path: str) -> list[str]:
    """The team-record SQL the real view runs (verifies what we time)."""
    return [sql for sql in page_queries(user, path) if f'FROM "{TABLE}"' in sql]


def _sql(queryset: QuerySet) -> str:
    return connection.ops.compose_sql(*queryset.query.sql_with_params())


def _kind(sql: str) -> str:
    if sql.startswith("EXPLAIN"):
        return "estimate (EXPLAIN)"
    if "chart_person" in sql:
        return "chart groups"
    if "bounded_1" in sql:  # one bounded count per column
        return "column counts"
    if "COUNT(" in sql.upper():
        return "count"
    if "UNION ALL" in sql:
        return "first cards (UNION ALL)"
    if " IN (" in sql and '"id" IN' in sql:
        return "edit rights"
    if '"assignee_id" IS NULL' in sql:
        return "unassigned"
    if re.search(r'"requested_by_id" = \d+', sql):  # in the WHERE, not a join's ON
        return "requests"
    return "page" if " LIMIT " in sql else "other"


def board_path(name: str, module: TeamModule, **params: str) -> str:
    from urllib.parse import urlencode

    from django.urls import reverse

    url = reverse(name, args=[module.key])
    return f"{url}?{urlencode(params)}" if params else url


def check_views(bench: Bench, schema: BoundSchema) -> None:
    """Compares the team-record queries the real pages run with the ones timed here."""
    from django.urls import reverse

    print("View check: the team-record queries of the real pages vs the timed querysets")
    module = bench.module
    for label, user in (("participant", bench.participant), ("manager", bench.manager)):
        roles.forget(user)
        timed = {"page": _sql(list_queryset(user, schema)[:PER_PAGE]),
                 "count": count_sql(list_queryset(user, schema))[0]}
        _compare(f"{label} list", user, board_path("crm:list", module), timed)
        for field in (None, bench.priority.key):
            view = kanban_view(user, module, field)
            counts = column_counts(view.records(), view.group_spec())
            ids = orm_first_cards(view, counts)()  # the view asks for edit rights on them newest first
            timed = {"column counts": counts_sql(view)[0],
                     "first cards (UNION ALL)": _sql(cards_queryset(view, counts)),
                     "edit rights": _sql(visible(user, view.schema, "edit").filter(pk__in=ids).values_list(
                         "pk", flat=True))}
            path = board_path("crm:kanban", module, **({"field": field} if field else {}))
            _compare(f"{label} kanban{' by priority' if field else ''}", user, path, timed)
        view = chart_view(user, module)
        timed = {"chart groups": chart_sql(view)[0], "unassigned": _sql(unassigned_queryset(view))}
        _compare(f"{label} chart", user, board_path("crm:chart", module), timed)
    requester = bench.requester
    timed = {"requests": _sql(requests_queryset(requester, module))}
    _compare("requester Requests tab", requester, reverse("teams:requests"), timed)
    print()


def _compare(label: str, user: User, path: str, timed: dict[str, str]) -> None:
    try:
        seen = view_sql(user, path)
    except Exception as exc:  # the page may need things a bench checkout lacks
        print(f"  {label}: could not render {path} ({exc!r}); skipped")
        return
    kinds = [_kind(sql) for sql in seen]
    notes = []
    for kind, sql in timed.items():
        matches = [s for s in seen if _kind(s) == kind]
        if sql in seen:
            notes.append(f"{kind}: the same as timed")
        elif not matches:
            notes.append(f"{kind}: NOT RUN by the view")
        else:
            notes.append(f"{kind}: DIFFERS\n    view:  {matches[0]}\n    timed: {sql}")
    print(f"  {label}: {len(seen)} queries on {TABLE} ({', '.join(kinds)}); " + "; ".join(notes))


def page_cases(bench: Bench, module: TeamModule) -> list[tuple[str, User, str]]:
    """The team pages, as (label, user, path), on `module`."""
    from django.urls import reverse

    prio = bench.priority.key if module == bench.module else None
    if prio is None:  # the same field of another module: by API name, as the "group by" links allow
        prio = "priority"
    cases = []
    for label, user in (("participant", bench.participant), ("manager", bench.manager)):
        cases += [
            (f"{label}: list", user, board_path("crm:list", module)),
            (f"{label}: kanban by status", user, board_path("crm:kanban", module)),
            (f"{label}: kanban by priority", user, board_path("crm:kanban", module, field=prio)),
            (f"{label}: chart by status", user, board_path("crm:chart", module)),
            (f"{label}: chart by priority", user, board_path("crm:chart", module, field=prio)),
            (f"{label}: chart records (unassigned)", user,
             board_path("crm:chart_records", module, person="none")),
        ]
    # Second pages exist in the small module for the manager only (the participant sees ~4 records).
    manager = bench.manager
    cases += [
        ("manager: list, page 2", manager, board_path("crm:list", module, page="2")),
        ("manager: kanban column done, page 2", manager,
         board_path("crm:kanban_column", module, field="status", value="done", page="2")),
    ]
    return cases


def query_counts(bench: Bench) -> bool:
    """The number of queries of every page on the N-record module and on the 200-record one.
    Returns whether they are the same everywhere."""
    from django.urls import reverse

    print(f"Queries per page (all SQL statements of one request, session and user lookups included): "
          f"{MODULE_NAME} vs {SMALL_MODULE_NAME}")
    rows = []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT module_id, count(*) FILTER (WHERE deleted_at IS NULL) FROM {TABLE} WHERE org_id = %s "
                       f"GROUP BY module_id", [bench.org.pk])
        live = dict(cursor.fetchall())
    big, small = page_cases(bench, bench.module), page_cases(bench, bench.small_module)
    for (label, user, big_path), (_label, _user, small_path) in zip(big, small):
        rows.append((label, len(page_queries(user, big_path)), len(page_queries(user, small_path))))
    # The Requests tab lists every module the user may request from (here all three): the
    # requester with 1% of every module's records vs the one with a few requests in the small one.
    requests_url = reverse("teams:requests")
    shown = {}
    for person in (bench.requester, bench.few_requester):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT module_id, count(*) FROM {TABLE} WHERE org_id = %s AND requested_by_id = %s "
                           f"AND deleted_at IS NULL GROUP BY module_id", [bench.org.pk, person.pk])
            mine = dict(cursor.fetchall())
        shown[person.pk] = " + ".join(str(min(mine.get(m.pk, 0), REQUESTS_SHOWN))
                                      for m in (bench.module, bench.other_module, bench.small_module))
    rows.append((f"Requests tab (3 modules; {shown[bench.requester.pk]} vs {shown[bench.few_requester.pk]} "
                 f"requests shown)",
                 len(page_queries(bench.requester, requests_url)),
                 len(page_queries(bench.few_requester, requests_url))))
    print(f"  {'page':<70} {live[bench.module.pk]:>9} {live[bench.small_module.pk]:>9}   (live records)")
    same = True
    for label, n_big, n_small in rows:
        verdict = "same" if n_big == n_small else "GROWS WITH ROWS"
        same &= n_big == n_small
        print(f"  {label:<70} {n_big:>9} {n_small:>9}   {verdict}")
    print()
    return same


def page_times(bench: Bench, runs: int, warmup: int) -> None:
    """Whole pages through the test client (middleware, queries, rendering), on the N-record module."""
    from django.urls import reverse

    print(f"Whole pages through Django's test client, {MODULE_NAME} ({runs} runs after {warmup} warm-up; ms; "
          f"'in SQL': the median time spent executing the page's queries):")
    cases = page_cases(bench, bench.module) + [("requester: Requests tab (3 modules)", bench.requester,
                                                reverse("teams:requests"))]
    for label, user, path in cases:
        client = client_for(user)
        in_sql: list[float] = []

        def run() -> None:
            spent = [0.0]

            def wrapper(execute, sql, params, many, context):
                started = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    spent[0] += time.perf_counter() - started

            with connection.execute_wrapper(wrapper):
                get_page(client, path)
            in_sql.append(spent[0] * 1000)

        times = timed_runs(run, runs, warmup)
        print(f"  {label:<42} {p50_p95(times)}; in SQL p50 {statistics.median(in_sql[warmup:]):.2f} ms")
    print()


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records in the team module (default 100000)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--page-runs", type=int, default=20, help="timed runs per whole page (default 20)")
    parser.add_argument("--no-view-check", action="store_true",
                        help="skip rendering the real pages (view check, query counts, whole-page times)")
    parser.add_argument("--with-json-index", action="store_true",
                        help="also time the priority kanban with the proposed expression index on the JSON field "
                             "(created in this database for the run, then dropped)")
    args = parser.parse_args()
    if settings.DEBUG:
        print("warning: DEBUG is on; every query is also logged in memory, which adds overhead.")

    require_migrated()
    bench = ensure_fixtures(args.records)
    module = get_module(bench.module.key, bench.org)
    schema = module.bind(bench.org)  # the view binds once per request, in dispatch
    part, mgr = bench.participant, bench.manager
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FILTER (WHERE module_id = %s AND deleted_at IS NULL "
                       f"AND (owner_id = %s OR assignee_id = %s)), "
                       f"count(*) FILTER (WHERE module_id = %s AND deleted_at IS NULL), count(*) FROM {TABLE}",
                       [bench.module.pk, part.pk, part.pk, bench.module.pk])
        mine, live, total = cursor.fetchone()
    print(version)
    print(f"Django {django.get_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{TABLE}: {total} rows; {MODULE_NAME} ({bench.module.key}): {live} live; participant "
          f"{part.username} owns or is assigned {mine} live ({mine / max(live, 1):.1%})")
    print(f"runs={args.runs} warmup={args.warmup} page_runs={args.page_runs} per_page={PER_PAGE} "
          f"cards_per_column={CARDS_PER_PAGE}\n")

    counts_same = True
    if not args.no_view_check:
        check_views(bench, schema)
        counts_same = query_counts(bench)

    results = []
    cases = [("participant", part, part), ("manager", mgr, None)]
    estimate = {}
    for label, user, person in cases:
        estimate[label] = selectors.planner_estimate(list_queryset(user, schema).order_by())
        results.append(measure(f"{label}: list page 1", orm_page(user, schema), hand_page(bench.module, person),
                               args.runs, args.warmup))
        results.append(measure(f"{label}: list count step", orm_count(user, schema),
                               hand_count(bench.module, person), args.runs, args.warmup))
    kanbans = {}
    for field, field_label in ((None, "status"), (bench.priority.key, "priority (JSON)")):
        for label, user, person in cases:
            view = kanban_view(user, bench.module, field)
            counts = column_counts(view.records(), view.group_spec())
            ids = orm_first_cards(view, counts)()
            kanbans[label, field] = (view, counts, ids)
            results.append(measure(f"{label}: kanban by {field_label}: counts", orm_column_counts(view),
                                   hand_column_counts(view, person), args.runs, args.warmup))
            results.append(measure("  first cards (UNION ALL)", orm_first_cards(view, counts),
                                   hand_first_cards(view, person, counts), args.runs, args.warmup))
            results.append(measure("  edit rights of the cards", orm_edit_rights(view, ids),
                                   hand_edit_rights(bench.module, person, ids), args.runs, args.warmup))
    charts = {}
    for label, user, person in cases:
        view = chart_view(user, bench.module)
        charts[label] = view
        results.append(measure(f"{label}: chart by status: groups", orm_chart(view), hand_chart(view, person),
                               args.runs, args.warmup))
        results.append(measure("  unassigned panel", orm_unassigned(view), hand_unassigned(bench.module, person),
                               args.runs, args.warmup))
    req = bench.requester
    results.append(measure("requester: Requests tab, one module", orm_requests(req, bench.module),
                           hand_requests(req, bench.module), args.runs, args.warmup))

    build_list = timed_runs(lambda: list_queryset(part, schema)[:PER_PAGE].query.sql_with_params(), args.runs,
                            args.warmup)
    view = kanbans["participant", None][0]
    build_records = timed_runs(lambda: view.records().query.sql_with_params(), args.runs, args.warmup)

    def lookups() -> None:  # what each request looks up before its first record query
        roles.forget(part)  # roles are cached on the request's user object, so once per request
        module_ = get_module(bench.module.key, bench.org)  # the team module (one query)
        schema_ = module_.bind(bench.org)  # its field definitions (one query)
        visible(part, schema_, "view")  # team roles and requester modules (one query each)
    setup = timed_runs(lookups, args.runs, args.warmup)

    print("Times in ms (ORM = the views' querysets through visible(); SQL = hand-written, raw cursor)")
    print(HEADER)
    for result in results:
        print(result.line())
    print(f"\nORM query building and SQL compilation alone (no database): list page 1 {p50_p95(build_list)}; "
          f"kanban view.records() (visible, search, filterset) {p50_p95(build_records)}")
    print(f"Per-request lookups before the first record query (team module, field definitions, team roles, "
          f"requester modules; 4 queries, not in the rows above): {p50_p95(setup)}")
    print(f"Planner estimates of the visible rows: participant {estimate['participant']}, manager "
          f"{estimate['manager']} (the count step counts at most {selectors.count_cap()} + 1 rows)")
    for (label, field), (view, counts, ids) in kanbans.items():
        print(f"Kanban {label} by {'status' if field is None else 'priority'}: "
              f"{', '.join(f'{k or chr(8709)}={v}' for k, v in counts.items())}; {len(ids)} cards")
    for result in results:
        if "chart" in result.label:
            print(f"Chart {result.label.split(':')[0]} by status: {len(result.rows)} (person, column) groups")
    print()
    if not args.no_view_check:
        page_times(bench, args.page_runs, max(1, args.warmup // 2))

    print("\nEXPLAIN (ANALYZE, BUFFERS) summaries")
    for label, user, _person in cases:
        print(f"{label}, list page 1:")
        print(explain(list_queryset(user, schema)[:PER_PAGE]))
        print(f"{label}, list count:")
        print(explain(count_sql(list_queryset(user, schema))))
    for (label, field), (view, counts, ids) in kanbans.items():
        by = "status" if field is None else "priority (JSON)"
        print(f"{label}, kanban by {by}, column counts:")
        print(explain(counts_sql(view)))
        print(f"{label}, kanban by {by}, first cards:")
        print(explain(cards_queryset(view, counts)))
    for label, view in charts.items():
        print(f"{label}, chart by status, groups:")
        print(explain(chart_sql(view)))
        print(f"{label}, chart, unassigned panel:")
        print(explain(unassigned_queryset(view)))
    print("requester, Requests tab, one module:")
    print(explain(requests_queryset(req, bench.module)))
    if args.with_json_index:
        with_json_index(bench, kanbans, args.runs, args.warmup)
    print("EXPLAIN (ANALYZE, BUFFERS) of a hand-written alternative for the participant's list page 1 (not timed):")
    where_owner, params = hand_where(bench.module, None)
    union_sql = (f"SELECT r.* FROM (SELECT * FROM (SELECT * FROM {TABLE} r WHERE {where_owner} AND r.owner_id = %s "
                 f"ORDER BY r.modified_at DESC, r.id DESC LIMIT {PER_PAGE}) a UNION "
                 f"SELECT * FROM (SELECT * FROM {TABLE} r WHERE {where_owner} AND r.assignee_id = %s "
                 f"ORDER BY r.modified_at DESC, r.id DESC LIMIT {PER_PAGE}) b) r "
                 f"ORDER BY r.modified_at DESC, r.id DESC LIMIT {PER_PAGE}")
    print("owner branch UNION assignee branch, each LIMITed:")
    print(explain((union_sql, params + [part.pk] + params + [part.pk])))
    if not counts_same:
        raise SystemExit("Some page runs more queries on the larger module (see \"Queries per page\").")


def json_index_sql(module: TeamModule, definition: FieldDefinition, name: str) -> str:
    """The proposed index for grouping and filtering on a team module's JSON picklist: its
    extracted text (the expression crm.criteria.field_expression compiles to), after the org and
    before the cards' order, on the module's live rows only."""
    assert definition.key.startswith("f_") and definition.key[2:].isdigit()
    return (f"CREATE INDEX {name} ON {TABLE} (org_id, (data ->> '{definition.key}'), modified_at DESC) "
            f"WHERE module_id = {int(module.pk)} AND deleted_at IS NULL")


def with_json_index(bench: Bench, kanbans: dict, runs: int, warmup: int) -> None:
    """Creates the proposed expression index, times the priority kanban again, drops the index."""
    name = "bench_tmp_teamrecord_json"
    sql = json_index_sql(bench.module, bench.priority, name)
    print(f"\nWith the proposed expression index (created for this run, then dropped):\n  {sql}")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute(sql)
        cursor.execute(f"ANALYZE {TABLE}")  # statistics on the indexed expression, too
        cursor.execute("SELECT pg_size_pretty(pg_relation_size(%s::regclass))", [name])
        print(f"  index size: {cursor.fetchone()[0]}")
    try:
        results = []
        for label, person in (("participant", bench.participant), ("manager", None)):
            view, counts, ids = kanbans[label, bench.priority.key]
            results.append(measure(f"{label}: kanban by priority (JSON): counts", orm_column_counts(view),
                                   hand_column_counts(view, person), runs, warmup))
            results.append(measure("  first cards (UNION ALL)", orm_first_cards(view, counts),
                                   hand_first_cards(view, person, counts), runs, warmup))
        print(HEADER)
        for result in results:
            print(result.line())
        for label in ("participant", "manager"):
            view, counts, ids = kanbans[label, bench.priority.key]
            print(f"{label}, kanban by priority (JSON), first cards, with the index:")
            print(explain(cards_queryset(view, counts)))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
            cursor.execute(f"ANALYZE {TABLE}")
    print()


if __name__ == "__main__":
    main()

"""Every sort a record list offers is served by an index.

For each module and each column the list makes orderable (standard fields, the owner, custom
fields of org modules and fields of team modules), the test opens the list sorted by it (both
directions, as an administrator), takes the page query the view ran, and asks PostgreSQL's
EXPLAIN for its plan with sequential scans and sorts switched off in the test's transaction. The
planner then avoids a sort whenever an index delivers the order, so a Sort node left in the plan
means no index serves that ORDER BY (a million-row list would read and sort every visible row on
each page). A person column (the owner) sorts by name: users in name order drive the record
table's (org, owner, id) index, and only one person's records are sorted by id, an incremental
sort whose presorted keys are all but the pk. A lead's or account's owner may be empty (a record
waiting in a customer pool): its sort reads the owned rows that way and the ownerless ones from the
same index's NULL range, in two queries (crm.tables.OwnerSortedRows; tests/crm/test_owner_sort.py),
each checked here. Custom fields' indexes are built by the field actions' background job
(crm.field_indexes) after commit, so those tests commit.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import actions
from crm.modules import get_module
from crm.tables import build_table
from teams import actions as team_actions

ORG_MODULES = ("accounts", "contacts", "leads", "deals", "tasks")
SORT_NODES = {"Sort", "Incremental Sort"}
# One custom field of every type; those marked False are not offered for sorting.
CUSTOM_TYPES = {"text": True, "email": True, "integer": True, "decimal": True, "currency": True, "date": True,
                "datetime": True, "boolean": True, "picklist": True, "long_text": False, "multi_select": False,
                "user": False}
OPTIONS = [{"value": "a", "label_en": "A"}, {"value": "b", "label_en": "B"}]


def add_custom_fields(actor: Any, module_key: str) -> None:
    for field_type in CUSTOM_TYPES:
        actions.do_create_field(actor.org, module_key, api_name=f"c_{field_type}", label_en=f"C {field_type}",
                                field_type=field_type, actor=actor,
                                options=OPTIONS if field_type in ("picklist", "multi_select") else None)


def offered_sorts(schema: Any, user: Any) -> list[str]:
    """The columns build_table makes orderable when every field is shown."""
    fields = schema.fields_for(user)
    table = build_table(schema, fields, {}, schema.model.objects.none())
    keys = {f.key for f in fields}
    return [column.name for column in table.columns if column.name in keys and column.orderable]


def plan_of(sql: str, incremental: bool = False) -> dict[str, Any]:
    """The plan of `sql` with every path but an ordered index scan made prohibitively dear
    (an incremental sort allowed when asked)."""
    with transaction.atomic(), connection.cursor() as cursor:  # SET LOCAL lasts to the end of it
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"SET LOCAL enable_incremental_sort = {'on' if incremental else 'off'}")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        raw = cursor.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def sort_nodes(plan: dict[str, Any], incremental_ok: bool = False) -> list[str]:
    """The sorts anywhere in the plan, with their keys; with `incremental_ok`, an incremental sort
    presorted on every key but the last (the pk) is not counted."""
    found = []
    if plan["Node Type"] in SORT_NODES:
        keys, presorted = plan.get("Sort Key", []), plan.get("Presorted Key", [])
        if not (incremental_ok and plan["Node Type"] == "Incremental Sort" and len(presorted) == len(keys) - 1):
            found.append(f"{plan['Node Type']} by {keys} (presorted: {presorted})")
    for child in plan.get("Plans", []):
        found += sort_nodes(child, incremental_ok)
    return found


def index_definitions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [row[0] for row in cursor.fetchall()]


def page_queries(client: Any, url: str, table: str) -> list[str]:
    """The SQL of the pages of rows the list view fetched (ordered and limited)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"]
            and " LIMIT " in q["sql"]]


def page_query(client: Any, url: str, table: str) -> str:
    """The SQL of the page of rows the list view fetched: one query."""
    pages = page_queries(client, url, table)
    assert len(pages) == 1, (url, pages)
    return pages[0]


def order_clause(sql: str) -> str:
    return re.search(r"ORDER BY (.*?) LIMIT", sql).group(1)


def check_module(client: Any, schema: Any, user: Any) -> list[str]:
    """Sorts of the module whose page query needs a sort, or does not end with the pk tie-break."""
    table = schema.model._meta.db_table
    sorts = offered_sorts(schema, user)
    assert schema.title_field in sorts and "owner" in sorts
    fields = {f.key: f for f in schema.fields_for(user)}
    columns = "&".join(f"columns={key}" for key in fields)
    problems = []
    for key in [""] + sorts + [f"-{key}" for key in sorts]:
        url = f"{reverse('crm:list', args=[schema.key])}?{columns}&sort={key}"
        # The owner of a lead, account or contact: the owned rows, then the ownerless ones when the
        # page reaches past the owned ones (here all are owned: the paginator's slice ends at the count).
        parts = 2 if key.lstrip("-") == "owner" and schema.key in ("leads", "accounts", "contacts") else 1
        sqls = page_queries(client, url, table)
        assert 1 <= len(sqls) <= parts, (url, sqls)
        for sql in sqls:
            direction = "DESC" if key.startswith("-") or not key else "ASC"
            if not order_clause(sql).endswith(f'"{table}"."id" {direction}'):
                problems.append(f"{schema.key} sort={key!r}: no pk tie-break ({order_clause(sql)})")
            person = key and fields[key.lstrip("-")].type == "user"
            sorted_by = sort_nodes(plan_of(sql, incremental=person), incremental_ok=person)
            if sorted_by:
                problems.append(f"{schema.key} sort={key!r}: {sorted_by}")
    return problems


def not_offered(schema: Any, user: Any) -> set[str]:
    return {f.key for f in schema.fields_for(user)} - set(offered_sorts(schema, user))


@pytest.mark.django_db(transaction=True)
def test_every_offered_sort_of_an_org_module_is_served_by_an_index(admin_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Acme", "industry": "technology"}, actor=admin_user)
    actions.do_create_record("contacts", {"last_name": "Li", "account": account.pk}, actor=admin_user)
    actions.do_create_record("leads", {"last_name": "Wang", "company": "Acme"}, actor=admin_user)
    actions.do_create_record("deals", {"name": "Big", "account": account.pk, "amount": "10"}, actor=admin_user)
    actions.do_create_record("tasks", {"subject": "Call", "assignee": admin_user.pk}, actor=admin_user)
    client = client_for(admin_user)
    problems = []
    for key in ORG_MODULES:
        add_custom_fields(admin_user, key)
        schema = get_module(key, admin_user.org).bind(admin_user.org)
        problems += check_module(client, schema, admin_user)
        # Optional people (but the owner) and linked records, long text and multi-select are not offered.
        expected = {f.key for f in schema.fields_for(admin_user)
                    if f.type in ("long_text", "multi_select", "lookup") or (f.type == "user" and f.key != "owner")}
        assert not_offered(schema, admin_user) == expected, key
    assert not problems, "\n".join(problems)


@pytest.mark.django_db(transaction=True)
def test_every_offered_sort_of_a_team_module_is_served_by_an_index(admin_user, client_for):
    space = team_actions.do_create_space(admin_user.org, name_en="Ops", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    module = team_actions.do_create_team_module(space, name_en="Requests",
                                                statuses=[{"value": "open", "label_en": "Open"}], actor=admin_user)
    add_custom_fields(admin_user, module.key)
    actions.do_create_record(module.key, {"title": "First", "status": "open"}, actor=admin_user)
    schema = get_module(module.key, admin_user.org).bind(admin_user.org)
    problems = check_module(client_for(admin_user), schema, admin_user)
    assert not problems, "\n".join(problems)
    assert not_offered(schema, admin_user) == {"assignee", "requested_by"} | {
        f.key for f in schema.fields_for(admin_user) if f.is_custom and not CUSTOM_TYPES[f.type]}


@pytest.mark.django_db
def test_a_list_sorted_by_owner_walks_the_users_in_name_order(admin_user, client_for):
    """At 50,000 deals of 50 owners (statistics gathered, no planner settings changed), the
    owner sort is a nested loop over the users' name index driving the (org, owner, id) index,
    with at most an incremental sort of one owner's deals: no sequential scan, no full sort.
    (Leads, accounts and contacts, whose owner may be empty: tests/crm/test_owner_sort.py.)"""
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO access_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                     is_active, date_joined, language)
            SELECT '', false, 'owner' || g, 'Owner', md5(g::text), '', false, true, now(), 'en'
            FROM generate_series(1, 50) AS g""")
        cursor.execute("""
            INSERT INTO crm_deal (version, custom, created_at, modified_at, name, stage, org_id, owner_id)
            SELECT 1, '{}', now(), now(), 'Deal ' || g, 'qualification', %s,
                   (SELECT id FROM access_user WHERE username = 'owner' || (1 + g %% 50))
            FROM generate_series(1, 50000) AS g""", [admin_user.org.pk])
        cursor.execute("ANALYZE crm_deal; ANALYZE access_user")
    client = client_for(admin_user)
    for sort in ("owner", "-owner"):
        sql = page_query(client, f"{reverse('crm:list', args=['deals'])}?columns=name&columns=owner&sort={sort}",
                         "crm_deal")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            raw = cursor.fetchone()[0]
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        nodes = all_nodes(plan)
        assert not sort_nodes(plan, incremental_ok=True), (sort, sort_nodes(plan))
        assert "Seq Scan" not in [n["Node Type"] for n in nodes], sort
        assert any(n["Node Type"] == "Nested Loop" for n in nodes), sort
        assert "user_name_sort" in {n.get("Index Name") for n in nodes}, sort
        assert any(n.get("Relation Name") == "crm_deal" and "owner_id = " in n.get("Index Cond", "")
                   and "org_id = " in n.get("Index Cond", "") for n in nodes), (sort, nodes)


def all_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan] + [node for child in plan.get("Plans", []) for node in all_nodes(child)]


@pytest.mark.django_db
def test_the_check_finds_a_sort_no_index_serves(admin_user):
    """The detector itself: ordering by a column without an index leaves a Sort in the plan."""
    actions.do_create_record("accounts", {"name": "Acme", "description": "long"}, actor=admin_user)
    queryset = get_module("accounts", admin_user.org).model.objects.filter(
        org=admin_user.org, deleted_at__isnull=True).order_by("description", "pk")[:25]
    assert sort_nodes(plan_of(str(queryset.query)))


@pytest.mark.django_db
def test_every_kanban_column_of_a_standard_picklist_is_served_by_an_index(admin_user, client_for):
    """A board's column (field = value, newest first) reads its cards from an index, for every
    standard picklist an org module's board may group by, and for the "not set" column."""
    actions.do_create_record("accounts", {"name": "Acme", "industry": "technology"}, actor=admin_user)
    actions.do_create_record("leads", {"last_name": "Wang", "source": "web"}, actor=admin_user)
    actions.do_create_record("deals", {"name": "Big"}, actor=admin_user)
    actions.do_create_record("tasks", {"subject": "Call"}, actor=admin_user)
    client = client_for(admin_user)
    problems, boards = [], 0
    for key in ORG_MODULES:
        schema = get_module(key, admin_user.org).bind(admin_user.org)
        table = schema.model._meta.db_table
        for spec in schema.fields_for(admin_user):
            if spec.type != "picklist" or spec.is_custom:
                continue
            boards += 1
            for value in [choice.value for choice in spec.options] + [""]:
                url = f"{reverse('crm:kanban_column', args=[key])}?field={spec.key}&value={value}"
                sql = page_query(client, url, table)
                sorted_by = sort_nodes(plan_of(sql))
                if sorted_by:
                    problems.append(f"{key} board by {spec.key}={value!r}: {sorted_by}")
            # Without sorts the newest-first index filtered by value would do too, but it reads
            # every newer row of other columns: a real option needs the field's own index. (Read
            # from the catalogue: at a few rows the planner may fairly choose either.)
            shape = f"(org_id, {spec.key}, modified_at DESC, id DESC) WHERE (deleted_at IS NULL)"
            if not any(definition.endswith(shape) for definition in index_definitions(table)):
                problems.append(f"{key} board by {spec.key}: no index {shape}")
    assert boards == 5  # industry, lead status and source, deal stage, task status
    assert not problems, "\n".join(problems)


@pytest.mark.django_db(transaction=True)
def test_every_kanban_column_of_a_custom_picklist_is_served_by_an_index(admin_user, client_for):
    """A board grouped by a custom picklist (org module) or a team module's picklist field reads
    each column's cards, newest first, from the field's board index."""
    space = team_actions.do_create_space(admin_user.org, name_en="Ops", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    module = team_actions.do_create_team_module(space, name_en="Requests",
                                                statuses=[{"value": "open", "label_en": "Open"}], actor=admin_user)
    client = client_for(admin_user)
    problems = []
    for key in ("accounts", module.key):
        actions.do_create_field(admin_user.org, key, api_name="size", label_en="Size", field_type="picklist",
                                options=OPTIONS, actor=admin_user)
        schema = get_module(key, admin_user.org).bind(admin_user.org)
        spec = next(f for f in schema.fields_for(admin_user) if f.api_name == "size")
        record = {"name": "Acme"} if key == "accounts" else {"title": "First", "status": "open"}
        actions.do_create_record(key, {**record, spec.key: "a"}, actor=admin_user)
        for value in ["a", "b", ""]:
            url = f"{reverse('crm:kanban_column', args=[key])}?field={spec.key}&value={value}"
            sorted_by = sort_nodes(plan_of(page_query(client, url, schema.model._meta.db_table)))
            if sorted_by:
                problems.append(f"{key} board by {spec.key}={value!r}: {sorted_by}")
    assert not problems, "\n".join(problems)

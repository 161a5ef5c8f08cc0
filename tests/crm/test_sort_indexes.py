"""Every sort a record list offers on a standard field is served by an index.

For each module and each column the list makes orderable for a standard (real-column) field,
the test opens the list sorted by it (both directions, as an administrator), takes the page
query the view ran, and asks PostgreSQL's EXPLAIN for its plan with sequential scans, sorts
and incremental sorts switched off in the test's transaction. The planner then avoids a sort
whenever an index delivers the order, so a Sort node left in the plan means no index serves
that ORDER BY (a million-row list would read and sort every visible row on each page)."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import actions
from crm.modules import get_module
from crm.tables import build_table
from teams import actions as team_actions

pytestmark = pytest.mark.django_db

ORG_MODULES = ("accounts", "contacts", "leads", "deals", "tasks")
SORT_NODES = {"Sort", "Incremental Sort"}


def offered_sorts(schema: Any, user: Any) -> list[str]:
    """The standard fields' columns build_table makes orderable when every field is shown, but
    those sorted by a person's or linked record's name (a join, which no index of this table
    serves: left for later)."""
    fields = schema.fields_for(user)
    table = build_table(schema, fields, {}, schema.model.objects.none())
    standard = {f.key for f in fields if not f.is_custom and not (f.key == "owner" or f.is_reference)}
    return [column.name for column in table.columns if column.name in standard and column.orderable]


def plan_of(sql: str) -> dict[str, Any]:
    """The plan of `sql` with every path but an ordered index scan made prohibitively dear."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        raw = cursor.fetchone()[0]
        cursor.execute("RESET enable_seqscan; RESET enable_sort; RESET enable_incremental_sort")
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def sort_nodes(plan: dict[str, Any]) -> list[str]:
    """The sorts anywhere in the plan, with their keys."""
    found = [f"{plan['Node Type']} by {plan.get('Sort Key')}"] if plan["Node Type"] in SORT_NODES else []
    for child in plan.get("Plans", []):
        found += sort_nodes(child)
    return found


def index_definitions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [row[0] for row in cursor.fetchall()]


def page_query(client: Any, url: str, table: str) -> str:
    """The SQL of the page of rows the list view fetched (ordered and limited)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    pages = [q["sql"] for q in queries.captured_queries
             if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"]
             and " LIMIT " in q["sql"]]
    assert len(pages) == 1, (url, pages)
    return pages[0]


def order_clause(sql: str) -> str:
    return re.search(r"ORDER BY (.*?) LIMIT", sql).group(1)


def check_module(client: Any, schema: Any, user: Any) -> list[str]:
    """Sorts of the module whose page query needs a sort, or does not end with the pk tie-break."""
    table = schema.model._meta.db_table
    sorts = offered_sorts(schema, user)
    assert schema.title_field in sorts
    columns = "&".join(f"columns={f.key}" for f in schema.fields_for(user))
    problems = []
    for key in [""] + sorts + [f"-{key}" for key in sorts]:
        url = f"{reverse('crm:list', args=[schema.key])}?{columns}&sort={key}"
        sql = page_query(client, url, table)
        direction = "DESC" if key.startswith("-") or not key else "ASC"
        if not order_clause(sql).endswith(f'"{table}"."id" {direction}'):
            problems.append(f"{schema.key} sort={key!r}: no pk tie-break ({order_clause(sql)})")
        sorted_by = sort_nodes(plan_of(sql))
        if sorted_by:
            problems.append(f"{schema.key} sort={key!r}: {sorted_by}")
    return problems


def test_every_offered_sort_of_an_org_module_is_served_by_an_index(admin_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Acme", "industry": "technology"}, actor=admin_user)
    actions.do_create_record("contacts", {"last_name": "Li", "account": account.pk}, actor=admin_user)
    actions.do_create_record("leads", {"last_name": "Wang", "company": "Acme"}, actor=admin_user)
    actions.do_create_record("deals", {"name": "Big", "account": account.pk, "amount": "10"}, actor=admin_user)
    actions.do_create_record("tasks", {"subject": "Call", "assignee": admin_user.pk}, actor=admin_user)
    client = client_for(admin_user)
    problems = []
    for key in ORG_MODULES:
        problems += check_module(client, get_module(key, admin_user.org).bind(admin_user.org), admin_user)
    assert not problems, "\n".join(problems)


def test_every_offered_sort_of_a_team_module_is_served_by_an_index(admin_user, client_for):
    space = team_actions.do_create_space(admin_user.org, name_en="Ops", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    module = team_actions.do_create_team_module(space, name_en="Requests",
                                                statuses=[{"value": "open", "label_en": "Open"}], actor=admin_user)
    actions.do_create_record(module.key, {"title": "First", "status": "open"}, actor=admin_user)
    problems = check_module(client_for(admin_user), get_module(module.key, admin_user.org).bind(admin_user.org), admin_user)
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_sort_no_index_serves(admin_user):
    """The detector itself: ordering by a column without an index leaves a Sort in the plan."""
    actions.do_create_record("accounts", {"name": "Acme", "description": "long"}, actor=admin_user)
    queryset = get_module("accounts", admin_user.org).model.objects.filter(
        org=admin_user.org, deleted_at__isnull=True).order_by("description", "pk")[:25]
    assert sort_nodes(plan_of(str(queryset.query)))


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

"""Leads and accounts sort by owner again, although a record waiting in a customer pool has none.

The owned rows come by the owner's name (then the owner, then pk), the ownerless ones by pk:
after the owned rows ascending, before them descending (where PostgreSQL puts NULLs). Each part
is read from an index (`crm.tables.OwnerSortedRows`): a page costs the same few queries however
many rows the list has, and its queries sort no more than one owner's rows.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import actions
from crm.modules import get_module
from crm.tables import build_table, sorts_in_parts
from pool import actions as pool_actions
from tests.crm.test_sort_indexes import all_nodes, plan_of, sort_nodes

pytestmark = pytest.mark.django_db


def make_pool(admin: Any, module: str) -> Any:
    from pool.models import Pool

    existing = Pool.objects.filter(org=admin.org, module=module).first()
    return existing or pool_actions.do_save_pool(admin.org, actor=admin, name=f"Pool {module}", module=module,
                                     members={"users": []}, admins=[])


def records(admin: Any, module: str, owners: list[Any], pooled: int) -> tuple[list[Any], list[Any]]:
    """Records owned by `owners` (one each, in that order) and `pooled` ones released into a pool."""
    title = "last_name" if module == "leads" else "name"
    owned = [actions.do_create_record(module, {title: f"Owned {i}"}, actor=admin, owner=owner)
             for i, owner in enumerate(owners)]
    waiting = [actions.do_create_record(module, {title: f"Waiting {i}"}, actor=admin) for i in range(pooled)]
    if waiting:
        pool_actions.do_release_records(module, [r.pk for r in waiting], make_pool(admin, module).pk,
                                        actor=admin, reason="Not mine")
    return owned, waiting


def page_ids(client: Any, module: str, sort: str, page: int = 1, per_page: int = 25) -> list[int]:
    url = f"{reverse('crm:list', args=[module])}?columns=owner&sort={sort}&page={page}&per_page={per_page}"
    response = client.get(url)
    assert response.status_code == 200
    return [row.record.pk for row in response.context["table"].paginated_rows]


@pytest.fixture
def people(admin_user, make_user):
    """Owners whose names sort Alice (the admin), Bob, Cara; given out of name order."""
    bob, cara = make_user(admin_user.org, username="bob"), make_user(admin_user.org, username="cara")
    return [cara, admin_user, bob, cara, admin_user]


@pytest.mark.parametrize("module", ["leads", "accounts", "contacts"])
def test_the_owner_sort_is_offered_for_pooled_modules(admin_user, module):
    schema = get_module(module, admin_user.org).bind(admin_user.org)
    owner = schema.field("owner")
    assert sorts_in_parts(schema, owner)
    table = build_table(schema, [owner], {}, schema.model.objects.none())
    assert table.columns["owner"].orderable
    # A module whose owner is always set sorts with one ORDER BY, as before.
    deals = get_module("deals", admin_user.org).bind(admin_user.org)
    assert not sorts_in_parts(deals, deals.field("owner"))


@pytest.mark.parametrize("module", ["leads", "accounts"])
def test_owned_rows_by_owner_name_then_pooled_rows_last_ascending_first_descending(
        admin_user, client_for, people, module):
    owned, waiting = records(admin_user, module, people, pooled=3)
    name = {p.pk: p.first_name for p in people}
    expected = [r.pk for r in sorted(owned, key=lambda r: (name[r.owner_id], r.owner_id, r.pk))]
    expected += sorted(r.pk for r in waiting)
    client = client_for(admin_user)
    assert page_ids(client, module, "owner") == expected
    assert page_ids(client, module, "-owner") == expected[::-1]
    # Walked two rows a page: pages inside the owned part, across the boundary, and wholly past
    # it give the same order, each row once.
    for sort, order in (("owner", expected), ("-owner", expected[::-1])):
        walked = [pk for page in range(1, 5) for pk in page_ids(client, module, sort, page=page, per_page=2)]
        assert walked == order, sort


def test_a_page_wholly_past_the_owned_rows_starts_the_pooled_rows_at_the_right_one(admin_user, client_for, people):
    owned, waiting = records(admin_user, "leads", people[:2], pooled=5)
    client = client_for(admin_user)
    # Page 2 of 3-row pages: 2 owned rows, so it holds pooled rows 2..4 (0-based 1..3).
    assert page_ids(client, "leads", "owner", page=2, per_page=3) == sorted(r.pk for r in waiting)[1:4]
    # Page 3 of 2-row pages descending: 5 pooled rows first, so pooled row 0 (descending 4) and owned.
    ids = page_ids(client, "leads", "-owner", page=3, per_page=2)
    assert ids[0] == min(r.pk for r in waiting) and ids[1] in {r.pk for r in owned}


def list_queries(client: Any, module: str, sort: str) -> list[str]:
    url = f"{reverse('crm:list', args=[module])}?columns=owner&columns=status&sort={sort}&per_page=25"
    client.get(url)  # per-process caches filled
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_the_number_of_queries_does_not_grow_with_the_rows(admin_user, client_for):
    """Both pages hold owned and pooled rows, the viewer's own among them (their rows get the
    recycling countdown marks, one query), whether the list has 3 rows or 35."""
    client = client_for(admin_user)
    records(admin_user, "leads", [admin_user] * 2, pooled=1)
    few = {sort: len(list_queries(client, "leads", sort)) for sort in ("owner", "-owner")}
    records(admin_user, "leads", [admin_user] * 20, pooled=12)
    many = {sort: len(list_queries(client, "leads", sort)) for sort in ("owner", "-owner")}
    assert many == few


def test_a_standard_user_sees_only_their_rows_in_owner_order(admin_user, standard_user, client_for, people):
    """The sort reads through `visible`: a standard user under a private default sees their own
    rows and a pool's waiting rows once they are a member, still owned first."""
    from access.actions import do_set_org_default

    do_set_org_default(admin_user.org, "leads", "private", actor=admin_user)
    mine = [actions.do_create_record("leads", {"last_name": f"Mine {i}"}, actor=standard_user) for i in range(2)]
    records(admin_user, "leads", people, pooled=0)
    waiting = [actions.do_create_record("leads", {"last_name": f"Waiting {i}"}, actor=admin_user) for i in range(2)]
    pool = pool_actions.do_save_pool(admin_user.org, actor=admin_user, name="East", module="leads",
                                     members={"users": [standard_user]})
    pool_actions.do_release_records("leads", [r.pk for r in waiting], pool.pk, actor=admin_user, reason="Not mine")
    client = client_for(standard_user)
    assert page_ids(client, "leads", "owner") == [r.pk for r in mine] + [r.pk for r in waiting]
    assert page_ids(client, "leads", "-owner") == [r.pk for r in waiting][::-1] + [r.pk for r in mine][::-1]


def test_an_export_sorted_by_owner_has_the_list_order(admin_user, client_for, people):
    owned, waiting = records(admin_user, "leads", people, pooled=2)
    client = client_for(admin_user)
    for sort in ("owner", "-owner"):
        listed = page_ids(client, "leads", sort)
        response = client.post(f"{reverse('exports:export', args=['leads'])}?columns=last_name&columns=owner&sort={sort}",
                               {"format": "csv"})
        assert response.status_code == 200
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        names = [row[0] for row in csv.reader(io.StringIO(text))][1:]
        by_pk = {r.pk: r.last_name for r in owned + waiting}
        assert names == [by_pk[pk] for pk in listed], sort


@pytest.mark.parametrize("module, table", [("leads", "crm_lead"), ("accounts", "crm_account")])
def test_each_part_of_the_owner_sort_is_read_from_an_index(admin_user, client_for, module, table):
    """At 60,000 rows of 50 owners and 6,000 waiting in a pool (statistics gathered, no planner
    settings changed), no query of the page reads the table sequentially or sorts more than one
    owner's rows: the owned part walks the users' name index into the (org, owner, id) index, the
    pooled part reads that index's NULL range in pk order. Checked again with sorts disabled."""
    org = admin_user.org.pk
    title = "last_name" if module == "leads" else "name"
    # The record's own text columns (all NOT NULL), empty.
    texts = (("first_name", "company", "email", "phone", "status", "source") if module == "leads"
             else ("industry", "website", "phone", "city", "country", "description"))
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO access_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                     is_active, date_joined, language)
            SELECT '', false, 'owner' || g, 'Owner', md5(g::text), '', false, true, now(), 'en'
            FROM generate_series(1, 50) AS g""")
        cursor.execute(f"""
            INSERT INTO {table} (version, custom, created_at, modified_at, org_id, {title}, owner_id, pool_id,
                                 {", ".join(texts)})
            SELECT 1, '{{}}', now(), now(), %s, 'Row ' || g,
                   CASE WHEN g %% 10 = 0 THEN NULL
                        ELSE (SELECT id FROM access_user WHERE username = 'owner' || (1 + g %% 50)) END,
                   CASE WHEN g %% 10 = 0 THEN 1 END, {", ".join("''" for _ in texts)}
            FROM generate_series(1, 60000) AS g""", [org])
        cursor.execute(f"ANALYZE {table}; ANALYZE access_user")
    client = client_for(admin_user)
    for sort, page in (("owner", 1), ("-owner", 1), ("owner", 2), ("-owner", 300)):
        url = f"{reverse('crm:list', args=[module])}?columns={title}&columns=owner&sort={sort}&page={page}"
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        pages = [q["sql"] for q in captured.captured_queries
                 if f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"] and " LIMIT " in q["sql"]]
        assert pages, (sort, page)
        for sql in pages:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
                raw = cursor.fetchone()[0]
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            nodes = all_nodes(plan)
            assert not sort_nodes(plan, incremental_ok=True), (sort, page, sort_nodes(plan))
            assert "Seq Scan" not in [n["Node Type"] for n in nodes], (sort, page, sql)
            assert not sort_nodes(plan_of(sql, incremental=True), incremental_ok=True), (sort, page)
        rows = response.context["table"].paginated_rows
        owners = [row.record.owner_id for row in rows]
        if (sort, page) in (("owner", 1), ("owner", 2)):
            assert None not in owners
        if (sort, page) == ("-owner", 1):
            assert owners == [None] * 25
        if (sort, page) == ("-owner", 300):  # 6,000 pooled rows descending: page 241 on are owned
            assert None not in owners

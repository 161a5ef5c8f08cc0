"""What bench/pool.py found at a million waiting records, pinned: the pool list's later keyset
pages start at the cursor in the index (they read every entry before it), a list page's masked
rows are masked from one query (it was one query per masked row), and the dashboard's figures
read index ranges of the pool (they read every state or move of the organisation)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import actions as crm_actions
from crm.modules import get_module
from pool import actions, dashboard
from pool.models import PoolState
from pool.selectors import pool_page
from tests.pool.conftest import make_pool

pytestmark = pytest.mark.django_db


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    return _explain(sql, params)


def _explain(sql: str, params=None) -> str:
    """The plan PostgreSQL picks when it may not read the whole table (tiny test tables would
    otherwise be scanned whatever the indexes)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _index_condition(plan: str) -> str:
    return " ".join(line for line in plan.splitlines() if "Index Cond" in line)


def _leads(admin, pool, start: int, count: int) -> list:
    """Leads the admin makes and releases into the pool, phones and e-mails distinct from start."""
    schema = get_module("leads", admin.org)
    made = [crm_actions.do_create_record(schema, {
        "last_name": f"Lead{i}", "company": f"Company {i}", "phone": f"1390013{i:04d}",
        "email": f"li{i}@example.com"}, actor=admin) for i in range(start, start + count)]
    actions.do_release_records(schema, [r.pk for r in made], pool.pk, actor=admin, reason="Not my region")
    return made


def test_keyset_pages_start_at_the_cursor_and_keep_ties(admin_user, sally):
    pool = make_pool(admin_user, members=[sally])
    made = _leads(admin_user, pool, 0, 7)
    # Three records entered at the same moment: the tie-break (record id) orders them.
    same = timezone.now() - dt.timedelta(hours=1)
    PoolState.objects.filter(record_id__in=[r.pk for r in made[2:5]]).update(entered_at=same)
    expected = list(PoolState.objects.filter(pool=pool, in_pool=True).order_by("-entered_at", "-record_id")
                    .values_list("record_id", flat=True))
    seen, after = [], None
    while True:
        page = pool_page(pool, after, 2)
        seen += [s.record_id for s in page[:2]]
        if len(page) <= 2:
            break
        after = (page[1].entered_at, page[1].record_id)
    assert seen == expected and len(seen) == 7

    # A later page's scan starts at the cursor in the index: entered_at is an index condition.
    start = PoolState.objects.filter(pool=pool, in_pool=True).order_by("-entered_at", "-record_id")[3]
    with CaptureQueriesContext(connection) as queries:
        pool_page(pool, (start.entered_at, start.record_id), 2)
    plan = _explain(queries.captured_queries[-1]["sql"])
    assert "poolstate_list" in plan and "entered_at" in _index_condition(plan)


def test_masked_rows_of_a_list_page_cost_one_query_however_many(admin_user, sally, client_for):
    """Phone is masked by the pool and is not a column of the leads list: the masked rows' values
    come with the masking's one query, whatever the number of rows, and the page shows them masked."""
    pool = make_pool(admin_user, members=[sally])
    _leads(admin_user, pool, 0, 2)
    client = client_for(sally)
    with_phone = reverse("crm:list", args=["leads"]) + "?columns=last_name&columns=phone"
    html = client.get(with_phone).content.decode()
    assert "139****0000" in html and "13900130000" not in html
    without_phone = reverse("crm:list", args=["leads"]) + "?columns=last_name&columns=company"
    client.get(without_phone)
    with CaptureQueriesContext(connection) as two:
        assert client.get(without_phone).status_code == 200
    _leads(admin_user, pool, 2, 9)
    with CaptureQueriesContext(connection) as eleven:
        assert client.get(without_phone).status_code == 200
    assert len(eleven.captured_queries) == len(two.captured_queries), [q["sql"] for q in eleven.captured_queries]


def test_the_dashboard_reads_index_ranges_of_the_pool(admin_user, sally):
    pool = make_pool(admin_user, members=[sally])
    made = _leads(admin_user, pool, 0, 2)
    actions.do_claim_records("leads", [made[0].pk], actor=sally)
    now = timezone.now()
    plans = {}
    for name, figure in (("per_day", dashboard.per_day), ("holdings", dashboard.holdings),
                         ("conversion", dashboard.conversion)):
        with CaptureQueriesContext(connection) as queries:
            figure(pool, now)
        plans[name] = _explain(queries.captured_queries[0]["sql"])
    assert "poolmove_pool_kind_at" in plans["per_day"]
    assert "poolstate_pool_holder" in plans["holdings"]
    assert "poolstate_pool_claimed" in plans["conversion"]

"""The kanban's "Not set" column: records with no value, or a value no longer among the
options, counted and listed through index range scans (never a read of the whole module)."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.urls import reverse

from access.visibility import visible
from crm import actions
from crm.board_views import EMPTY, column_q
from crm.modules import get_module
from crm.models import Account

pytestmark = pytest.mark.django_db


def badges(content: bytes) -> dict[str, str]:
    return dict(re.findall(r'data-count-for="([^"]*)"[^>]*>([^<]*)<', content.decode()))


def test_not_set_holds_empty_and_stale_values_only(admin_user, client_for):
    for name, industry in [("A", "technology"), ("B", "finance"), ("C", ""), ("D", ""), ("E", "finance")]:
        actions.do_create_record("accounts", {"name": name, "industry": industry}, actor=admin_user)
    # A value no longer among the options (e.g. from an older release's option list).
    Account.objects.filter(name="E").update(industry="aerospace")
    Account.objects.filter(name="D").update(industry="zzz-retired")
    response = client_for(admin_user).get(reverse("crm:kanban", args=["accounts"]), {"field": "industry"})
    assert response.status_code == 200
    counts = badges(response.content)
    assert counts[""] == "3"  # C (empty), D and E (stale), one at each end of the option range
    assert counts["technology"] == "1" and counts["finance"] == "1"
    body = response.content.decode()
    assert all(name in body for name in ("A", "B", "C", "D", "E"))


def test_not_set_count_uses_the_board_index(admin_user, client_for):
    """On 20,000 accounts the "Not set" count is a bitmap of index range scans, no Seq Scan."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_account (org_id, owner_id, version, custom, created_at, modified_at, name, industry,"
            " website, phone, city, country, description)"
            " SELECT %s, %s, 1, '{}', now(), now() - (n || ' minutes')::interval, 'Acct ' || n,"
            " (ARRAY['technology','finance','retail','education'])[1 + n %% 4], '', '', '', '', ''"
            " FROM generate_series(1, 20000) AS n", [admin_user.org.pk, admin_user.pk])
        cursor.execute("ANALYZE crm_account")
    response = client_for(admin_user).get(reverse("crm:kanban", args=["accounts"]), {"field": "industry"})
    assert badges(response.content)[""] == "0"
    # The empty column's bounded count, as column_counts writes it.
    schema = get_module("accounts").bind(admin_user.org)
    empty = visible(admin_user, schema, "view").filter(column_q(schema.field("industry"), EMPTY))
    sql, params = empty.order_by().values("pk")[:10_001].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN SELECT count(*) FROM ({sql}) AS bounded", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan" not in plan, plan
    assert "account_board_industry" in plan or "account_sort_industry" in plan, plan

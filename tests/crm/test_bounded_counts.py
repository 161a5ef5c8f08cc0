"""Bounded counts: list totals, kanban columns and chart groups are exact up to the count cap
(settings.CRM_COUNT_CAP) and read "5+" above it; counting reads at most cap+1 rows, so the
number of queries and the rows read do not grow with the module."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from access.actions import do_set_org_default
from crm import actions, selectors
from crm.models import Deal

pytestmark = pytest.mark.django_db

CAP = 5


@pytest.fixture(autouse=True)
def low_cap(settings):
    settings.CRM_COUNT_CAP = CAP


def deals(actor, stage: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        actions.do_create_record("deals", {"name": f"{stage} {i}", "stage": stage}, actor=actor)


def badges(content: bytes) -> dict[str, str]:
    return dict(re.findall(r'data-count-for="([^"]*)"[^>]*>([^<]*)<', content.decode()))


def row_count(content: bytes) -> str:
    found = re.search(r'data-testid="row-count">(.*?)</span>', content.decode(), re.S)
    return " ".join(found.group(1).split())


def by_testid(content: bytes, name: str) -> str:
    found = re.search(rf'data-testid="{name}">([^<]*)<', content.decode())
    return found.group(1).strip()


def page(client, name: str, **query):
    return client.get(reverse(name, args=["deals"]), query)


# --- the counting helpers --------------------------------------------------------------------

def test_bounded_count_is_exact_up_to_the_cap_and_cap_plus_one_above(admin_user):
    deals(admin_user, "won", CAP)
    visible_deals = Deal.objects.filter(org=admin_user.org, deleted_at__isnull=True)
    assert selectors.bounded_count(visible_deals) == CAP
    deals(admin_user, "won", 2, start=CAP)
    assert selectors.bounded_count(visible_deals) == CAP + 1
    assert selectors.bounded_count(visible_deals, cap=100) == CAP + 2
    assert selectors.bounded_count(visible_deals.none()) == 0
    with CaptureQueriesContext(connection) as captured:
        selectors.bounded_counts({"won": visible_deals.filter(stage="won"), "lost": visible_deals.filter(stage="lost")})
    assert len(captured) == 1
    assert captured[0]["sql"].count(f"LIMIT {CAP + 1}") == 2


def test_count_labels_in_english_and_chinese(settings):
    settings.CRM_COUNT_CAP = 10_000
    assert selectors.count_label(10_000) == "10,000"
    assert selectors.count_label(10_001) == "10,000+"
    assert selectors.count_label(12, capped=True) == "12+"
    assert selectors.count_label(12) == "12"
    with translation.override("zh-hans"):
        assert selectors.count_label(10_001).endswith("+")


# --- kanban ----------------------------------------------------------------------------------

def test_kanban_column_over_the_cap_shows_cap_plus(admin_user, client_for):
    deals(admin_user, "won", CAP + 2)
    deals(admin_user, "lost", 2)
    response = page(client_for(admin_user), "crm:kanban")
    counts = badges(response.content)
    assert counts["won"] == f"{CAP}+"
    assert counts["lost"] == "2"
    assert counts["proposal"] == "0"


def test_kanban_move_returns_bounded_counts_and_labels(admin_user, client_for):
    deals(admin_user, "won", CAP + 2)
    lost = actions.do_create_record("deals", {"name": "Lost one", "stage": "lost"}, actor=admin_user)
    response = client_for(admin_user).post(reverse("crm:kanban_move", args=["deals", lost.pk]),
                                           {"field": "stage", "value": "won", "version": lost.version})
    body = response.json()
    assert body["counts"]["won"] == CAP + 1 and body["counts"]["lost"] == 0
    assert body["count_labels"]["won"] == f"{CAP}+" and body["count_labels"]["lost"] == "0"


def test_kanban_counts_only_what_the_user_sees(org, admin_user, standard_user, client_for):
    """Above the cap for the admin; a standard user under a private default counts their own."""
    do_set_org_default(org, "deals", "private", actor=admin_user)
    deals(admin_user, "won", CAP + 2)
    deals(standard_user, "won", 2, start=100)
    assert badges(page(client_for(admin_user), "crm:kanban").content)["won"] == f"{CAP}+"
    assert badges(page(client_for(standard_user), "crm:kanban").content)["won"] == "2"


# --- list ------------------------------------------------------------------------------------

def test_list_total_over_the_cap_shows_cap_plus(admin_user, client_for):
    deals(admin_user, "won", CAP + 2)
    response = page(client_for(admin_user), "crm:list")
    assert row_count(response.content) == f"{CAP}+ records"
    assert response.context["table"].paginator.count == CAP + 1


def test_list_total_under_the_cap_is_exact(admin_user, standard_user, org, client_for):
    do_set_org_default(org, "deals", "private", actor=admin_user)
    deals(admin_user, "won", CAP + 2)
    deals(standard_user, "won", 3, start=100)
    assert row_count(page(client_for(standard_user), "crm:list").content) == "3 records"
    assert row_count(page(client_for(admin_user), "crm:list").content) == f"{CAP}+ records"


def test_list_total_in_chinese(admin_user, client_for):
    deals(admin_user, "won", CAP + 2)
    client = client_for(admin_user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert row_count(page(client, "crm:list").content) == f"{CAP}+ 条记录"
    chart = page(client, "crm:chart").content.decode()
    assert f"超过 {CAP} 条记录" in chart


# --- chart -----------------------------------------------------------------------------------

def test_chart_over_the_cap_says_at_least(admin_user, client_for):
    deals(admin_user, "won", CAP + 2)
    response = page(client_for(admin_user), "crm:chart")
    content = response.content
    assert by_testid(content, "total") == f"{CAP}+"
    assert 'data-testid="count-capped"' in content.decode()
    assert response.context["capped"] is True
    # Every figure is a lower bound over the cap+1 rows read.
    assert sum(sum(d["data"]) for d in response.context["chart"]["datasets"]) == CAP + 1
    cells = [label for row in response.context["chart"]["table"] for count, _url, label in row["cells"] if count]
    assert cells and all(label.endswith("+") for label in cells)


def test_chart_under_the_cap_is_exact(admin_user, client_for):
    deals(admin_user, "won", 3)
    deals(admin_user, "lost", 1)
    response = page(client_for(admin_user), "crm:chart")
    assert by_testid(response.content, "total") == "4"
    assert 'data-testid="count-capped"' not in response.content.decode()
    assert response.context["totals"]["total"] == 4


# --- cost does not grow with rows ------------------------------------------------------------

def queries(client, name: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert page(client, name).status_code == 200
    return [q["sql"] for q in captured]


@pytest.mark.parametrize("name", ["crm:kanban", "crm:list", "crm:chart"])
def test_query_count_does_not_grow_with_rows(name, admin_user, client_for):
    client = client_for(admin_user)
    deals(admin_user, "won", CAP + 1)
    deals(admin_user, "lost", 1)
    page(client, name)  # warm per-session caches
    few = queries(client, name)
    deals(admin_user, "won", 3 * CAP, start=100)
    deals(admin_user, "lost", 2 * CAP, start=100)
    many = queries(client, name)
    assert len(many) == len(few)
    # The counting query reads at most cap+1 rows.
    assert any(f"LIMIT {CAP + 1}" in sql for sql in many)

"""Custom and team fields get an expression index built in the background (crm.field_indexes).

CREATE INDEX CONCURRENTLY cannot run inside a transaction, so these tests commit
(`transaction=True`) and the actions' on-commit hook runs the task (eagerly here; one test runs
a real worker on the real Redis broker). Rows for the plans are made with one INSERT ... SELECT.
"""
from __future__ import annotations

import json
import time

import pytest
from celery import signals
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.workers import thread_worker
from crm import actions, field_indexes
from crm.models import FieldDefinition
from crm.tasks import sync_field_index
from teams import actions as team_actions

pytestmark = pytest.mark.django_db(transaction=True)


def indexes_of(definition: FieldDefinition) -> dict[str, tuple[str, bool]]:
    """{name: (definition, valid)} of the field's indexes in the catalogue."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i "
                       "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ANY(%s)",
                       [field_indexes.index_names(definition.pk)])
        return {name: (sql, valid) for name, sql, valid in cursor.fetchall()}


def make_field(actor, module: str, field_type: str, api_name: str = "score", **extra) -> FieldDefinition:
    actions.do_create_field(actor.org, module, api_name=api_name, label_en=api_name.title(), field_type=field_type,
                            actor=actor, **extra)
    return FieldDefinition.objects.get(org=actor.org, module=module, api_name=api_name)


def run_sql(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_new_field_gets_the_index_its_queries_use(admin_user):
    score = make_field(admin_user, "accounts", "integer")
    assert score.index_state == "ready" and score.index_error == ""
    (sql, valid), = indexes_of(score).values()
    assert valid
    assert sql.endswith(f"(org_id, (((custom ->> '{score.key}'::text))::bigint), id) WHERE (deleted_at IS NULL)")
    due = make_field(admin_user, "accounts", "date", api_name="due")
    assert f"crm_json_date((custom ->> '{due.key}'::text))" in indexes_of(due)[f"cf_idx_{due.pk}"][0]
    notes = make_field(admin_user, "accounts", "long_text", api_name="notes")
    assert notes.index_state == "none" and indexes_of(notes) == {}


def test_a_team_field_index_holds_its_module_and_a_picklist_gets_a_board_index(admin_user):
    space = team_actions.do_create_space(admin_user.org, name_en="Ops", manager_ids=[admin_user.pk], actor=admin_user)
    module = team_actions.do_create_team_module(space, name_en="Requests",
                                                statuses=[{"value": "open", "label_en": "Open"}], actor=admin_user)
    size = make_field(admin_user, module.key, "picklist", api_name="size",
                      options=[{"value": "s", "label_en": "S"}, {"value": "l", "label_en": "L"}])
    found = indexes_of(size)
    condition = f"WHERE ((deleted_at IS NULL) AND (module_id = {module.pk}))"
    assert found[f"cf_idx_{size.pk}"][0].endswith(f"(org_id, ((data ->> '{size.key}'::text)), id) {condition}")
    assert found[f"cf_board_{size.pk}"][0].endswith(
        f"(org_id, ((data ->> '{size.key}'::text)), modified_at DESC, id DESC) {condition}")
    assert FieldDefinition.objects.get(pk=size.pk).index_state == "ready"


def test_the_build_is_idempotent(admin_user):
    score = make_field(admin_user, "accounts", "integer")
    before = indexes_of(score)
    assert sync_field_index.delay(score.pk).get() == "ready"
    assert sync_field_index.delay(score.pk).get() == "ready"
    assert indexes_of(score) == before and len(before) == 1
    assert FieldDefinition.objects.get(pk=score.pk).index_state == "ready"


def test_retiring_drops_the_index_and_restoring_builds_it_again(admin_user):
    score = make_field(admin_user, "accounts", "integer")
    actions.do_set_field_retired(score, True, actor=admin_user)
    assert indexes_of(score) == {} and FieldDefinition.objects.get(pk=score.pk).index_state == "none"
    actions.do_set_field_retired(score, False, actor=admin_user)
    assert len(indexes_of(score)) == 1 and FieldDefinition.objects.get(pk=score.pk).index_state == "ready"


def test_a_type_change_swaps_the_index_before_a_new_value_is_written(admin_user):
    score = make_field(admin_user, "accounts", "integer")
    actions.do_update_field(score, label_en="Score", field_type="decimal", actor=admin_user)
    (sql, valid), = indexes_of(score).values()
    assert "::numeric" in sql and valid
    account = actions.do_create_record("accounts", {"name": "Acme", score.key: "12.5"}, actor=admin_user)
    assert account.custom[score.key] == "12.5"


def test_a_failing_build_is_retried_then_shown_as_failed_and_can_be_rebuilt(admin_user, client_for, settings):
    # Eager tasks that propagate errors raise at the first retry; a worker retries instead.
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    account = actions.do_create_record("accounts", {"name": "Acme"}, actor=admin_user)
    score = make_field(admin_user, "accounts", "integer")
    actions.do_set_field_retired(score, True, actor=admin_user)
    # A value the index's cast cannot read (written past the actions, as a broken import might).
    run_sql("UPDATE crm_account SET custom = jsonb_build_object(%s, 'n/a') WHERE id = %s", [score.key, account.pk])
    retries = []

    def count_retry(sender=None, reason=None, **kwargs):
        retries.append(str(reason))

    signals.task_retry.connect(count_retry, sender=sync_field_index, weak=False)
    try:
        actions.do_set_field_retired(score, False, actor=admin_user)
    finally:
        signals.task_retry.disconnect(count_retry, sender=sync_field_index)
    assert len(retries) == sync_field_index.max_retries
    score.refresh_from_db()
    assert score.index_state == "failed" and 'invalid input syntax for type bigint: "n/a"' in score.index_error
    # The concurrent build left an INVALID index behind.
    assert [valid for _sql, valid in indexes_of(score).values()] == [False]

    client = client_for(admin_user)
    page = client.get(reverse("crm:settings_fields", args=["accounts"])).content.decode()
    assert "Index: failed" in page and "invalid input syntax for type bigint" in page
    assert 'value="reindex"' in page
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "索引：失败" in client.get(reverse("crm:settings_fields", args=["accounts"])).content.decode()

    run_sql("UPDATE crm_account SET custom = jsonb_build_object(%s, 7) WHERE id = %s", [score.key, account.pk])
    response = client.post(reverse("crm:settings_fields", args=["accounts"]), {"field": score.pk, "op": "reindex"})
    assert response.status_code == 302
    score.refresh_from_db()
    assert score.index_state == "ready" and score.index_error == ""
    assert [valid for _sql, valid in indexes_of(score).values()] == [True]  # the INVALID one was dropped first
    page = client.get(reverse("crm:settings_fields", args=["accounts"])).content.decode()
    assert "索引：就绪" in page and 'value="reindex"' not in page


def test_the_team_fields_page_shows_the_index_state_in_english_and_chinese(admin_user, client_for):
    space = team_actions.do_create_space(admin_user.org, name_en="Ops", manager_ids=[admin_user.pk], actor=admin_user)
    module = team_actions.do_create_team_module(space, name_en="Requests",
                                                statuses=[{"value": "open", "label_en": "Open"}], actor=admin_user)
    make_field(admin_user, module.key, "date", api_name="due")
    client = client_for(admin_user)
    url = reverse("teams:fields", args=[module.pk])
    assert "Index: ready" in client.get(url).content.decode()
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "索引：就绪" in client.get(url).content.decode()


def test_only_a_field_admin_may_rebuild_an_index(admin_user, standard_user):
    score = make_field(admin_user, "accounts", "integer")
    with pytest.raises(PermissionDenied):
        actions.do_rebuild_field_index(score, actor=standard_user)


# --- the plans -----------------------------------------------------------------------------

ROWS = 20_000


def plan_nodes(plan: dict) -> list[dict]:
    return [plan] + [node for child in plan.get("Plans", []) for node in plan_nodes(child)]


def explain(sql: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        raw = cursor.fetchone()[0]
    return plan_nodes((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])


def list_page_query(client, url: str, table: str) -> str:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    pages = [q["sql"] for q in queries.captured_queries
             if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"] and " LIMIT " in q["sql"]
             and "ORDER BY" in q["sql"]]
    assert len(pages) == 1, pages
    return pages[0]


def test_a_list_sorted_by_a_custom_field_reads_its_index(admin_user, client_for):
    """At 20,000 accounts (statistics gathered), sorting by a custom number or date reads one page
    of the field's index: no sequential scan, no sort."""
    score = make_field(admin_user, "accounts", "integer")
    due = make_field(admin_user, "accounts", "date", api_name="due")
    run_sql(f"""
        INSERT INTO crm_account (version, custom, created_at, modified_at, name, industry, website, phone, city,
                                 country, description, org_id, owner_id)
        SELECT 1, jsonb_build_object(%s, g %% 997, %s, (DATE '2026-01-01' + g %% 365)::text), now(), now(),
               'Account ' || g, '', '', '', '', '', '', %s, %s
        FROM generate_series(1, {ROWS}) AS g""", [score.key, due.key, admin_user.org.pk, admin_user.pk])
    run_sql("ANALYZE crm_account")
    client = client_for(admin_user)
    for field in (score, due):
        for sort in (field.key, f"-{field.key}"):
            url = f"{reverse('crm:list', args=['accounts'])}?columns=name&columns={field.key}&sort={sort}"
            nodes = explain(list_page_query(client, url, "crm_account"))
            types = [node["Node Type"] for node in nodes]
            assert "Seq Scan" not in types and "Sort" not in types and "Incremental Sort" not in types, (sort, types)
            assert any(node.get("Index Name") == f"cf_idx_{field.pk}" for node in nodes), (sort, types)


# --- a real worker on the real broker -----------------------------------------------------------

def test_a_real_worker_builds_the_index_after_the_field_is_committed(admin_user, settings):
    with thread_worker("index-test", settings.CELERY_BROKER_URL, routes=("crm.tasks.sync_field_index",)) as queue:
        score = make_field(admin_user, "accounts", "integer")
        # CREATE INDEX CONCURRENTLY waits for older transactions: generous on a busy machine.
        deadline = time.monotonic() + 120
        while score.index_state != "ready" and time.monotonic() < deadline:
            time.sleep(0.2)
            score.refresh_from_db()
    assert score.index_state == "ready"
    assert [valid for _sql, valid in indexes_of(score).values()] == [True]

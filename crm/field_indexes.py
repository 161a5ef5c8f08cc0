"""Expression indexes for JSON-stored fields: custom fields of org modules (`custom`) and the
fields of team modules (`data`).

A field a list sorts by, a filter compares or a board groups by gets a partial index on exactly
the expression the queries use (`crm.criteria.field_expression`), so PostgreSQL matches it:
(org, value, id) for sorts and ranges and, for a picklist, also (org, value, newest first) for a
board's columns. Team records of every module share one table, so their indexes also hold the
module's id in the condition. Indexes are named by the field's id and built with
`CREATE INDEX CONCURRENTLY` (records stay writable meanwhile) by the Celery task
`crm.tasks.sync_field_index` (enqueued by `crm.tasks.schedule_field_index` after the field's
change commits), which makes the database match the field: built while it is live and of an
indexable type, dropped once it is retired. The field keeps the state to show it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import F, Q

from .criteria import field_expression
from .models import FieldDefinition

State = FieldDefinition.IndexState

# Long text and multi-select are neither sorted nor grouped by (and long text may not fit a
# B-tree entry); files are attachments.
INDEXED_TYPES = {"text", "email", "phone", "url", "picklist", "integer", "decimal", "currency", "percent", "date",
                 "datetime", "boolean", "user", "lookup"}


def wants_index(definition: FieldDefinition) -> bool:
    return definition.field_type in INDEXED_TYPES and not definition.retired


def index_names(field_id: int) -> list[str]:
    """Every index a field may have: its sort index and its board index."""
    return [f"cf_idx_{int(field_id)}", f"cf_board_{int(field_id)}"]


def field_indexes(definition: FieldDefinition) -> list[models.Index]:
    """The indexes the field should have now (none when it is retired or not indexable)."""
    if not wants_index(definition):
        return []
    condition = Q(deleted_at__isnull=True)
    if definition.json_column == "data":
        condition &= Q(module_id=int(definition.module.removeprefix("team-")))
    value = field_expression(definition.spec())
    sort_name, board_name = index_names(definition.pk)
    indexes = [models.Index(F("org"), value, F("id"), name=sort_name, condition=condition)]
    if definition.field_type == "picklist":
        indexes.append(models.Index(F("org"), value, F("modified_at").desc(), F("id").desc(), name=board_name,
                                    condition=condition))
    return indexes


def create_statements(definition: FieldDefinition) -> dict[str, str]:
    """{index name: CREATE INDEX CONCURRENTLY IF NOT EXISTS ...}, compiled by Django from the
    same expression the queries use."""
    indexes = field_indexes(definition)
    if not indexes:
        return {}
    model = _record_model(definition)
    statements = {}
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        for index in indexes:
            sql = str(index.create_sql(model, editor, concurrently=True))
            statements[index.name] = sql.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY IF NOT EXISTS",
                                                 1)
    return statements


def _record_model(definition: FieldDefinition) -> type[models.Model]:
    from .modules import get_module

    return get_module(definition.module, definition.org).model


def index_valid(name: str) -> bool | None:
    """True for a usable index, False for one a failed concurrent build left INVALID, None if absent."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    return None if row is None else row[0]


@contextmanager
def _owner_cursor() -> Iterator[Any]:
    """A cursor of the tables' owner, for building and dropping indexes (the application's role
    owns no table): a connection of its own when DATABASE_OWNER_URL names another role."""
    owner = settings.DATABASE_OWNER
    default = connections[DEFAULT_DB_ALIAS]
    mine = default.settings_dict
    if not owner.get("USER") or all(str(owner[k] or "") == str(mine.get(k) or "") for k in owner):
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    with psycopg.connect(dbname=mine["NAME"], user=owner["USER"], password=owner["PASSWORD"] or None,
                         host=owner["HOST"] or None, port=owner["PORT"] or None, autocommit=True) as raw:
        with raw.cursor() as cursor:
            yield cursor


def _drop(name: str, concurrently: bool = True) -> None:
    if not concurrently:  # inside the field action's transaction: through the owner's function
        with connection.cursor() as cursor:
            cursor.execute("SELECT seal_drop_field_index(%s)", [name])
        return
    with _owner_cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {connection.ops.quote_name(name)}")


def sync(field_id: int) -> str:
    """Make the database match the field: build what it should have, drop the rest. Safe to run
    again: a valid index is kept, an INVALID leftover of a failed build is dropped and rebuilt.
    Runs outside a transaction (CREATE INDEX CONCURRENTLY cannot run inside one)."""
    definition = FieldDefinition.objects.select_related("org").filter(pk=field_id).first()
    statements = create_statements(definition) if definition is not None else {}
    for name in index_names(field_id):
        if name not in statements:
            _drop(name)
    for name, sql in statements.items():
        if index_valid(name) is False:
            _drop(name)
        with _owner_cursor() as cursor:
            cursor.execute(sql)
    state = State.READY if statements else State.NONE
    _set_state(field_id, state, "")
    return state


def mark_failed(field_id: int, error: BaseException) -> None:
    """The build gave up (its retries spent): the settings page shows why."""
    _set_state(field_id, State.FAILED, str(error).strip()[:2000] or type(error).__name__)


def _set_state(field_id: int, state: str, error: str) -> None:
    FieldDefinition.objects.filter(pk=field_id).update(index_state=state, index_error=error)


# --- for the field actions, inside their transaction ------------------------------------------

def mark_scheduled(definition: FieldDefinition) -> None:
    """Show the field's index as building (or none) until its job has run (crm.tasks.schedule_field_index)."""
    state = State.BUILDING if wants_index(definition) else State.NONE
    definition.index_state, definition.index_error = state, ""
    _set_state(definition.pk, state, "")


def drop_changed(definition: FieldDefinition, before: dict[str, str]) -> bool:
    """After a field's type changed: drop at once (inside the action's transaction) the indexes
    whose expression no longer fits, before a value of the new type is written that the old
    expression cannot read (e.g. 12.5 into a bigint cast). True when something changed."""
    after = create_statements(definition)
    if after == before:
        return False
    for name in before:
        _drop(name, concurrently=False)
    return True


def indexable_fields(**filters: Any):
    return FieldDefinition.objects.filter(field_type__in=INDEXED_TYPES, retired=False, **filters)

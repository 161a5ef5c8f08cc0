"""Writing many rows of one model at once with PostgreSQL COPY, for the batch actions (an import's
records, their timeline entries and events).

Why not `bulk_create`: on PostgreSQL Django 5.2 sends a bulk insert as `UNNEST` of one array per
column, and with client-side binding (Django's default for psycopg 3) psycopg quotes every array
element in Python, which costs more than the rest of an import's row. COPY streams the values
through psycopg's C dumpers instead. The ids are taken from the table's sequence first (one
query), so the rows come back with their ids, as from `bulk_create`.

Only plain fields are handled (no pre-save signals, no multi-table inheritance). `copy_insert`
takes unsaved instances and runs each field's `pre_save` (so `auto_now` is set as on save);
`copy_values` takes plain {attname: value} rows, which spares building a model instance per row
for side rows nobody reads back (timeline entries, outbox events): missing values take the
field's default, `auto_now`/`auto_now_add` fields the time of the call.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from django.db import connection, models
from django.utils import timezone

FEW = 100  # fewer rows than this (a page's bulk action) go in one INSERT; an import's batch by COPY
# Fields whose Python values psycopg dumps as they are; every other field's value (JSON with its
# encoder, decimals rounded to their places, dates ...) is prepared by Django as on save.
PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.ForeignKey,
         models.DateTimeField)


def _fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _stamped(field: models.Field) -> bool:
    """A time set on insert (`auto_now`, `auto_now_add`)."""
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _preparer(field: models.Field) -> Callable[[Any], Any]:
    """How a value of `field` goes into COPY. JSON is encoded here, as Django's encoder would,
    straight to text: through Django's prep and psycopg's Jsonb it would be wrapped and encoded
    in two steps, which costs more than the rest of a timeline entry."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: None if value is None else json.dumps(value, cls=encoder)
    return lambda value: field.get_db_prep_save(value, connection)


@contextmanager
def _copying(model: type[models.Model], fields: list[models.Field], rows: Sequence[list[Any]]) -> Iterator[list[int]]:
    """COPY `rows` (values in the order of `fields`) with ids from the table's sequence; yields
    the ids once the rows are sent, and waits for the server to have written them on exit."""
    meta = model._meta
    prepared = [(i, _preparer(f)) for i, f in enumerate(fields) if not isinstance(f, PLAIN)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in [meta.pk.column, *(f.column for f in fields)])
    # PostgreSQL refuses COPY FROM into a table with row-level security (the tenant seal): the rows
    # go into a temporary table, then one INSERT ... SELECT, which the seal's policy checks.
    table, staging = quote(meta.db_table), quote(f"staging_insert_{meta.db_table}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [meta.db_table, meta.pk.column, len(rows)])
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS SELECT {columns} FROM {table} WITH NO DATA")
        with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for pk, row in zip(ids, rows):
                for i, prepare in prepared:
                    row[i] = prepare(row[i])
                copy.write_row([pk, *row])
            yield ids
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}")
        cursor.execute(f"DROP TABLE {staging}")


def _copy(model: type[models.Model], fields: list[models.Field], rows: Sequence[list[Any]]) -> list[int]:
    with _copying(model, fields, rows) as ids:
        return ids


def copy_insert(model: type[models.Model], objs: Sequence[Any]) -> None:
    """Insert `objs` (unsaved instances of `model`); sets each one's pk."""
    with inserting(model, objs):
        pass


@contextmanager
def inserting(model: type[models.Model], objs: Sequence[Any]) -> Iterator[None]:
    """Insert `objs` (unsaved instances of `model`), setting each one's pk; the body runs while
    PostgreSQL is still writing them (it must not use the database connection), so a batch
    builds its next rows meanwhile instead of waiting."""
    if len(objs) < FEW:
        model._default_manager.bulk_create(objs)
        yield
        return
    fields = _fields(model)
    now = timezone.now()  # one time for the whole batch, as `copy_values` does
    stamped = {field.attname for field in fields if _stamped(field)}
    rows = []
    for obj in objs:
        for attname in stamped:
            setattr(obj, attname, now)
        rows.append([getattr(obj, field.attname) if field.attname in stamped else field.pre_save(obj, True)
                     for field in fields])
    with _copying(model, fields, rows) as ids:
        for obj, pk in zip(objs, ids):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = connection.alias
        yield


def copy_values(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert plain rows ({attname: value}) of `model`: their new ids, in order."""
    if not rows:
        return []
    fields = _fields(model)
    now = timezone.now()
    fill = []  # per field: (attname, value when missing, whether it is a time set on insert)
    for field in fields:
        fill.append((field.attname, None if _stamped(field) else field.get_default, _stamped(field)))
    values = []
    for row in rows:
        line = []
        for attname, default, stamped in fill:
            if stamped:
                line.append(now)
            elif attname in row:
                line.append(row[attname])
            else:
                line.append(default() if default is not None else None)
        values.append(line)
    if len(rows) < FEW:
        objs = [model(**{attname: value for (attname, _d, _s), value in zip(fill, line)}) for line in values]
        model._default_manager.bulk_create(objs)
        return [obj.pk for obj in objs]
    return _copy(model, fields, values)


def copy_update(model: type[models.Model], objs: Sequence[Any], attnames: Sequence[str]) -> None:
    """Save the fields `attnames` of `objs` (stored instances of `model`): a batch's rows go by
    COPY into a temporary table and one UPDATE ... FROM it (Django's `bulk_update` builds a CASE
    per row and field in Python, which costs more than the rest of an updated row)."""
    if len(objs) < FEW:
        model._base_manager.bulk_update(objs, [model._meta.get_field(a).name for a in attnames])
        return
    meta = model._meta
    fields = [next(f for f in meta.concrete_fields if f.attname == attname) for attname in attnames]
    prepared = [(i, _preparer(f)) for i, f in enumerate(fields) if not isinstance(f, PLAIN)]
    quote = connection.ops.quote_name
    table, staging = quote(meta.db_table), quote(f"staging_{meta.db_table}")
    columns = [quote(meta.pk.column), *(quote(f.column) for f in fields)]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS SELECT {', '.join(columns)} FROM {table} WITH NO DATA")
        with cursor.copy(f"COPY {staging} ({', '.join(columns)}) FROM STDIN") as copy:
            for obj in objs:
                row = [getattr(obj, attname) for attname in attnames]
                for i, prepare in prepared:
                    row[i] = prepare(row[i])
                copy.write_row([obj.pk, *row])
        assignments = ", ".join(f"{column} = staged.{column}" for column in columns[1:])
        cursor.execute(f"UPDATE {table} SET {assignments} FROM {staging} AS staged "
                       f"WHERE {table}.{columns[0]} = staged.{columns[0]}")
        cursor.execute(f"DROP TABLE {staging}")


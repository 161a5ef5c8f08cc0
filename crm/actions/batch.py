"""Creating many records at once (an import's batch): for every row the same checks and the same
effects as `do_create_record` (permission, field values, uniqueness, owner, guards, the record,
its links, its "created" timeline entry, the after-write hooks, the "created" event), at a number
of queries that does not grow with the rows.

How the per-row work is kept off the database:
- the permission is checked once; values are cleaned in memory, and the users and lookup
  targets the rows name are checked with one query per such field (`References`);
- unique fields are checked with one query per field, and against the earlier rows of the batch;
- the guards run per row in memory inside `batch_scope()`, where the configuration they read
  (lock rules, blueprints, validation rules, approval processes) is loaded once for the batch;
- records, links and timeline entries are written with COPY (`crm.actions.bulk`), the entries and
  events built while PostgreSQL still writes the records; after-write hooks run in their batch
  form where they have one (`run_after_write_many`); the events go out in one `emit_many`, which
  the outbox writes by COPY and queues as one task.
A refused row writes nothing and is returned as its error; the others go in. Rows with uploads
take the single-record action (their files are stored once the record has an id).
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from access.generations import batch_scope
from access.models import Membership, User

from .. import timeline
from .bulk import copy_insert, inserting
from ..events import RecordEvent, emit_many, event_ids
from ..file_values import NewFile
from ..guards import WriteContext, run_after_write_many, run_guards
from ..schema import BoundSchema
from .base import (RecordValidationError, References, _owner_json, _require_member, bound_schema, clean_values,
                   json_value)
from .records import do_create_record


@transaction.atomic
def do_create_records(module: Any, rows: list[dict[str, Any]], *, actor: User, path: str = "import",
                      owners: list[User | None] | None = None) -> list[Any]:
    """Create a record for each of `rows` (field key -> raw value), owned by the matching entry
    of `owners` (None: the actor). Returns, per row, the new record or the error that refused it
    (RecordValidationError, or PermissionDenied such as a guard's refusal); a refused row writes
    nothing. No permission to create at all raises PermissionDenied for the whole batch."""
    schema = bound_schema(module, actor.org)
    _require_member(actor, schema)
    if not schema.can_create(actor):
        raise PermissionDenied(_("You may not create records in this module."))
    owners = list(owners) if owners is not None else [None] * len(rows)
    if len(owners) != len(rows):
        raise ValueError("one owner (or None) per row")
    results: list[Any] = [None] * len(rows)
    with batch_scope():
        refs = References(schema, actor, rows)
        checked = _check(schema, rows, owners, actor, path, refs, results)
        if checked:
            _write(schema, checked, actor, path, refs, results)
    return results


def _check(schema: BoundSchema, rows: list[dict[str, Any]], owners: list[User | None], actor: User, path: str,
           refs: References, results: list[Any]) -> list[tuple[int, Any, dict[str, Any], User | None]]:
    """Every row through the checks of do_create_record, in its order, in memory: the rows that
    pass, as (index, unsaved record, cleaned values, owner); the others' errors in `results`."""
    cleaned: dict[int, dict[str, Any]] = {}
    for i, data in enumerate(rows):
        if any(isinstance(value, NewFile) for value in data.values()):
            continue  # an upload: the single action below, which stores the file
        try:
            cleaned[i] = clean_values(schema, data, actor=actor, creating=True, refs=refs)
        except RecordValidationError as exc:
            results[i] = exc
    taken = _taken_unique(schema, cleaned.values())
    owner_ids = {owner.pk for owner in owners if owner is not None}
    members = set(Membership.objects.filter(org=schema.org, user_id__in=owner_ids, is_active=True)
                  .values_list("user_id", flat=True)) if owner_ids else set()
    passed = []
    owned_by_actor = schema.record_maker(schema.org, owner_id=actor.pk, created_by=actor, modified_by=actor)
    for i, data in enumerate(rows):
        if i not in cleaned:
            if results[i] is None:  # an upload
                try:
                    results[i] = do_create_record(schema, data, actor=actor, path=path, owner=owners[i])
                except (RecordValidationError, PermissionDenied) as exc:
                    results[i] = exc
            continue
        values, owner = cleaned[i], owners[i]
        unique = {key: [_("Another record already has this value.")]
                  for key, value in _unique_values(schema, values).items() if value in taken[key]}
        if unique:
            results[i] = RecordValidationError(unique)
            continue
        if owner is not None and owner.pk not in members:
            results[i] = RecordValidationError({"owner": [_("Choose an active user of this organisation.")]})
            continue
        record = owned_by_actor()
        if owner is not None:
            record.owner_id = owner.pk
        for key, value in values.items():
            schema.field(key).set_value(record, value)
        try:
            run_guards(WriteContext("create", schema, record, actor, path, values))
        except PermissionDenied as exc:
            results[i] = exc
            continue
        for key, value in _unique_values(schema, values).items():
            taken[key].add(value)  # a later row of the batch with this value is refused, as one by one
        passed.append((i, record, values, owner))
    return passed


def _unique_values(schema: BoundSchema, values: dict[str, Any]) -> dict[str, Any]:
    unique = schema.__dict__.get("_unique_keys")
    if unique is None:  # once per bound schema
        unique = schema.__dict__["_unique_keys"] = frozenset(spec.key for spec in schema.fields if spec.unique)
    return {key: json_value(schema.field(key), values[key]) for key in unique
            if values.get(key) not in (None, "", [])}


def _taken_unique(schema: BoundSchema, rows: Any) -> dict[str, set]:
    """For each unique field, which of the rows' values live records already have: one query per
    unique field that the rows fill (as `check_unique` asks per row)."""
    wanted: dict[str, set] = {spec.key: set() for spec in schema.fields if spec.unique}
    for values in rows:
        for key, value in _unique_values(schema, values).items():
            wanted[key].add(value)
    taken: dict[str, set] = {key: set() for key in wanted}
    for key, candidates in wanted.items():
        if not candidates:
            continue
        spec = schema.field(key)
        path = spec.value_path
        found = (schema.base_queryset(schema.org).filter(deleted_at__isnull=True, **{f"{path}__in": sorted(candidates,
                 key=str)}).values_list(path, flat=True))
        # A custom field's value comes back in its JSON form already; a column's is made so.
        taken[key] = {value if spec.is_custom else json_value(spec, value) for value in found}
    return taken


def _write(schema: BoundSchema, checked: list[tuple[int, Any, dict[str, Any], User | None]], actor: User,
           path: str, refs: References, results: list[Any]) -> None:
    """Write the rows that passed: records, links, timeline entries, hooks, events."""
    from django.contrib.contenttypes.models import ContentType

    records = [record for _i, record, _values, _owner in checked]
    record_type_id = ContentType.objects.get_for_model(schema.model).pk
    with inserting(schema.model, records):
        # PostgreSQL writes the records meanwhile: no query in here.
        entries, events, contexts = _side_rows(schema, checked, actor, path, refs, record_type_id)
    _write_links(schema, checked)
    for i, record, _values, _owner in checked:
        results[i] = record
    timeline.write_values(entries)
    run_after_write_many(contexts, records)
    emit_many(events)


def _side_rows(schema: BoundSchema, checked: list[tuple[int, Any, dict[str, Any], User | None]], actor: User,
               path: str, refs: References, record_type_id: int) -> tuple[list, list, list]:
    """Per new record: its "created" timeline entry (values), its event, its after-write context."""
    entries, events, contexts = [], [], []
    specs: dict[str, Any] = {}
    ids = iter(event_ids(len(checked)))
    for _i, record, values, owner in checked:
        changes, event = {}, {}
        for key, value in values.items():
            if value in (None, "", []):
                continue
            spec = specs.get(key) or specs.setdefault(key, schema.field(key))
            stored = spec.field_type.to_json(value)
            event[key] = [None, stored]
            changes[key] = [None, refs.timeline_value(spec, value) if spec.is_reference else stored]
        changes["owner"] = [None, _owner_json(owner or actor)]
        event["owner"] = [None, record.owner_id]
        entries.append(timeline.entry_values(record, kind="created", actor=actor, path=path, changes=changes,
                                             record_type_id=record_type_id))
        events.append(RecordEvent(kind="created", module=schema.key, org_id=record.org_id, record_id=record.pk,
                                  actor_id=actor.pk, path=path, changes=event, id=next(ids)))
        contexts.append(WriteContext("create", schema, record, actor, path, values))
    return entries, events, contexts


def _write_links(schema: BoundSchema, checked: list[tuple[int, Any, dict[str, Any], User | None]]) -> None:
    """The custom lookups' link rows: new records have none yet, so only rows to add (as
    `sync_links` would)."""
    from django.contrib.contenttypes.models import ContentType

    from ..models import RecordLink
    from ..modules import get_module

    lookups = [spec for spec in schema.fields if spec.is_custom and spec.type == "lookup"]
    if not lookups:
        return
    source_type = ContentType.objects.get_for_model(schema.model)
    target_types = {spec.key: ContentType.objects.get_for_model(get_module(spec.target, schema.org).model)
                    for spec in lookups}
    links = []
    for _i, record, values, _owner in checked:
        for spec in lookups:
            if values.get(spec.key) is not None:
                links.append(RecordLink(org_id=record.org_id, field_id=spec.definition_id, source_type=source_type,
                                        source_id=record.pk, target_type=target_types[spec.key],
                                        target_id=values[spec.key]))
    copy_insert(RecordLink, links)

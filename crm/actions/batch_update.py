"""Updating many records at once (an import's matched rows): for every item the same checks and
effects as `do_update_record` (membership, row lock and edit right, field values, uniqueness,
guards, version, the saved values, links, the reach check, the "updated" timeline entry, the
after-write hooks, the "updated" event), at a number of queries that does not grow with the rows.

As in the batch create action (`crm.actions.batch`): the rows are locked in one query, values
are cleaned in memory against references loaded once (`References`), unique values are checked
with one query per field, guards run in memory inside `batch_scope()`, the rows are saved with one
UPDATE from a COPY, timeline entries by COPY and the events in one `emit_many`. A refused item
writes nothing and is returned as its error, and a guard's refusal leaves its "refused" timeline
entry as the single action's does. Items changing a file field take the single action (it stores
and drops files).
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.decisions import GuardRefusal
from access.generations import batch_scope
from access.models import User
from access.visibility import visible

from .. import timeline
from ..events import RecordEvent, emit_many, event_ids
from ..guards import WriteContext, run_after_write_many, run_guards
from ..modules import get_module
from ..schema import BoundSchema
from .attachments import has_uploads
from .bulk import copy_update
from .base import (ConflictError, RecordValidationError, References, _require_member, bound_schema, check_version,
                   clean_values, json_value)
from .records import do_update_record

Item = tuple[int, dict[str, Any], Any]  # (record id, raw changes, the version the person saw)


class _OutOfReach(Exception):
    """Saved rows that the actor could no longer see: the batch is written again without them."""

    def __init__(self, ids: set[int]) -> None:
        self.ids = ids


@transaction.atomic
def do_update_records(module: Any, items: list[Item], *, actor: User, path: str = "import") -> list[Any]:
    """Apply each item's changes to its record (one item per record). Returns, per item, the
    record as saved (unchanged when nothing differed) or the error that refused it
    (RecordValidationError, ConflictError, PermissionDenied such as a guard's refusal)."""
    schema = bound_schema(module, actor.org)
    _require_member(actor, schema)
    if len({pk for pk, _changes, _version in items}) != len(items):
        raise ValueError("one item per record")
    results: list[Any] = [None] * len(items)
    refused: list[GuardRefusal] = []
    lost: set[int] = set()
    while True:
        try:
            with transaction.atomic(), batch_scope():
                _run(schema, items, actor, path, results, refused, lost)
            break
        except _OutOfReach as exc:  # rolled back: again without the rows the change took away
            lost |= exc.ids
            refused.clear()
    for refusal in refused:  # as `record_refusals` does for one record
        if refusal.log and refusal.context is not None:
            refusal.log = False
            context = refusal.context
            timeline.write(context.record, kind="refused", actor=context.actor, path=context.path,
                           changes={"action": [None, context.action], "reason": [None, str(refusal)]})
    return results


def _run(schema: BoundSchema, items: list[Item], actor: User, path: str, results: list[Any],
         refused: list[GuardRefusal], lost: set[int]) -> None:
    rows = {row.pk: row for row in visible(actor, schema, "edit", listing=False).select_for_update(of=("self",))
            .select_related("modified_by").filter(pk__in=[pk for pk, _c, _v in items]).order_by("pk")}
    missing = [pk for pk, _c, _v in items if pk not in rows]
    viewable = (set(visible(actor, schema, "view", listing=False).filter(pk__in=missing).values_list("pk", flat=True))
                if missing else set())
    refs = References(schema, actor, [changes for _pk, changes, _v in items])
    diffs: dict[int, dict[str, tuple[Any, Any]]] = {}
    for i, (pk, changes, version) in enumerate(items):
        current = rows.get(pk)
        if current is None:
            results[i] = PermissionDenied(_("You do not have permission to do this on this record.") if pk in viewable
                                          else _("Record not found."))
            continue
        if pk in lost:
            results[i] = PermissionDenied(_("This change would take the record out of your reach, so it was not "
                                            "saved."))
            continue
        try:
            values = clean_values(schema, changes, actor=actor, creating=False, current=current, refs=refs)
        except RecordValidationError as exc:
            results[i] = exc
            continue
        diffs[i] = _diff(schema, current, values)
    taken = _taken_unique(schema, [(rows[items[i][0]].pk, diff) for i, diff in diffs.items()])
    saved: list[tuple[int, Any, dict[str, tuple[Any, Any]]]] = []
    single: list[int] = []
    for i, diff in diffs.items():
        current = rows[items[i][0]]
        new = {key: new for key, (_old, new) in diff.items()}
        try:
            if diff:
                _check_unique(schema, current.pk, new, taken)
                run_guards(WriteContext("update", schema, current, actor, path, new))
            check_version(current, items[i][2])
        except GuardRefusal as exc:
            refused.append(exc)
            results[i] = exc
            continue
        except (RecordValidationError, ConflictError, PermissionDenied) as exc:
            results[i] = exc
            continue
        if not diff:
            results[i] = current
        elif has_uploads(new) or any(schema.field(key).type == "file" for key in diff):
            single.append(i)
        else:
            saved.append((i, current, diff))
    if saved:
        _save(schema, saved, actor, path, results)
    for i in single:  # a file is stored and its predecessor dropped by the single action
        pk, changes, version = items[i]
        try:
            results[i] = do_update_record(rows[pk], changes, version=version, actor=actor, path=path, schema=schema)
        except (RecordValidationError, ConflictError, PermissionDenied) as exc:
            results[i] = exc


def _diff(schema: BoundSchema, current: Any, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    diff = {}
    for key, new in values.items():
        old = schema.field(key).get_value(current)
        if (old in (None, "") and new in (None, "")) or old == new:
            continue
        diff[key] = (old, new)
    return diff


def _taken_unique(schema: BoundSchema, changes: list[tuple[int, dict[str, tuple[Any, Any]]]]) -> dict[str, dict]:
    """For each unique field the batch sets: value -> ids of live records holding it (one query
    per field)."""
    wanted: dict[str, set] = {}
    for _pk, diff in changes:
        for key, (_old, new) in diff.items():
            spec = schema.field(key)
            if spec.unique and new not in (None, "", []):
                wanted.setdefault(key, set()).add(json_value(spec, new))
    taken: dict[str, dict] = {}
    for key, candidates in wanted.items():
        spec = schema.field(key)
        path = spec.value_path
        holders: dict = {}
        for pk, value in (schema.base_queryset(schema.org).filter(deleted_at__isnull=True,
                          **{f"{path}__in": sorted(candidates, key=str)}).values_list("pk", path)):
            holders.setdefault(value if spec.is_custom else json_value(spec, value), set()).add(pk)
        taken[key] = holders
    return taken


def _check_unique(schema: BoundSchema, pk: int, new: dict[str, Any], taken: dict[str, dict]) -> None:
    """As `check_unique` for one record: also against the values earlier items of the batch took."""
    errors = {}
    for key, value in new.items():
        if key not in taken or value in (None, "", []):
            continue
        holders = taken[key].setdefault(json_value(schema.field(key), value), set())
        if holders - {pk}:
            errors[key] = [_("Another record already has this value.")]
    if errors:
        raise RecordValidationError(errors)
    for key, value in new.items():
        if key in taken and value not in (None, "", []):
            taken[key][json_value(schema.field(key), value)].add(pk)


def _save(schema: BoundSchema, saved: list[tuple[int, Any, dict[str, tuple[Any, Any]]]], actor: User, path: str,
          results: list[Any]) -> None:
    now = timezone.now()
    columns = {"version", "modified_by_id", "modified_at"}
    for _i, current, diff in saved:
        for key, (_old, new) in diff.items():
            spec = schema.field(key)
            spec.set_value(current, new)
            columns.add(spec.json_column if spec.is_custom else schema.model._meta.get_field(spec.key).attname)
        current.version += 1
        current.modified_by = actor
        current.modified_at = now
    records = [current for _i, current, _diff in saved]
    copy_update(schema.model, records, sorted(columns))
    _sync_links(schema, saved)
    within = set(visible(actor, schema, "view", listing=False).filter(pk__in=[r.pk for r in records])
                 .values_list("pk", flat=True))
    if len(within) != len(records):
        raise _OutOfReach({r.pk for r in records} - within)
    from django.contrib.contenttypes.models import ContentType

    names = _old_names(schema, saved)
    entries, events, contexts = [], [], []
    record_type_id = ContentType.objects.get_for_model(schema.model).pk
    ids = iter(event_ids(len(saved)))
    for i, current, diff in saved:
        entry, event = {}, {}
        for key, (old, new) in diff.items():
            spec = schema.field(key)
            event[key] = [json_value(spec, old), json_value(spec, new)]
            if spec.is_reference:
                entry[key] = [None if old is None else {"id": old, "name": names.get((key, old), "")},
                              None if new is None else {"id": new, "name": names.get((key, new), "")}]
            else:
                entry[key] = event[key]
        entries.append(timeline.entry_values(current, kind="updated", actor=actor, path=path, changes=entry,
                                             record_type_id=record_type_id))
        events.append(RecordEvent(kind="updated", module=schema.key, org_id=current.org_id, record_id=current.pk,
                                  actor_id=actor.pk, path=path, changes=event, id=next(ids)))
        contexts.append(WriteContext("update", schema, current, actor, path, {k: v[1] for k, v in diff.items()}))
        results[i] = current
    timeline.write_values(entries)
    run_after_write_many(contexts, records)
    emit_many(events)


def _sync_links(schema: BoundSchema, saved: list[tuple[int, Any, dict[str, tuple[Any, Any]]]]) -> None:
    """The custom lookups' link rows, as `sync_links` keeps them: one delete and one insert."""
    from django.contrib.contenttypes.models import ContentType

    from ..models import RecordLink

    changed = [(current, schema.field(key), new) for _i, current, diff in saved for key, (_old, new) in diff.items()
               if schema.field(key).is_custom and schema.field(key).type == "lookup"]
    if not changed:
        return
    source_type = ContentType.objects.get_for_model(schema.model)
    RecordLink.objects.filter(org_id=schema.org.pk, source_type=source_type,
                              field_id__in={spec.definition_id for _c, spec, _n in changed},
                              source_id__in={current.pk for current, _s, _n in changed}).delete()
    RecordLink.objects.bulk_create([
        RecordLink(org_id=current.org_id, field_id=spec.definition_id, source_type=source_type, source_id=current.pk,
                   target_type=ContentType.objects.get_for_model(get_module(spec.target, schema.org).model),
                   target_id=new)
        for current, spec, new in changed if new is not None])


def _old_names(schema: BoundSchema, saved: list[tuple[int, Any, dict[str, tuple[Any, Any]]]]) -> dict:
    """The names the timeline keeps for the references a batch changes (old and new values):
    one query per reference field, as `timeline_value` reads them (not limited to what the
    actor may see: the entry records what was there)."""
    wanted: dict[str, set[int]] = {}
    for _i, _current, diff in saved:
        for key, (old, new) in diff.items():
            if schema.field(key).is_reference:
                wanted.setdefault(key, set()).update(v for v in (old, new) if v is not None)
    names = {}
    for key, found in wanted.items():
        spec = schema.field(key)
        if spec.type == "user":
            rows = User.objects.filter(pk__in=found)
        else:
            rows = get_module(spec.target, schema.org).base_queryset(schema.org).filter(pk__in=found)
        for row in rows:
            names[(key, row.pk)] = str(row)
    return names

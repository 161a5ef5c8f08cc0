"""Record actions: create, update, bulk edit, delete (to the recycle bin), restore, link a task."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Membership, User
from access.visibility import can, is_org_admin, visible

from .. import timeline
from ..guards import WriteContext, run_after_write, run_guards
from ..schema import BoundSchema
from .attachments import drop_replaced, has_uploads, store_uploads
from .base import (ConflictError, RecordValidationError, _event, _locked, _owner_json, _require_member, bound_schema,
                   check_unique, check_version, clean_values, json_value, record_refusals, sync_links,
                   timeline_value)


@record_refusals
@transaction.atomic
def do_create_record(module: Any, data: dict[str, Any], *, actor: User, path: str = "page",
                     owner: User | None = None, fixed: dict[str, Any] | None = None) -> Any:
    """Create a record owned by `owner` (default: the actor). `fixed` holds core values set by
    a calling action rather than typed by the user (e.g. who requested a team request)."""
    schema = bound_schema(module, actor.org)
    _require_member(actor, schema)
    if not schema.can_create(actor):
        raise PermissionDenied(_("You may not create records in this module."))
    values = clean_values(schema, data, actor=actor, creating=True)
    check_unique(schema, values)
    owner_id = owner.pk if owner is not None else actor.pk
    if owner is not None and not Membership.objects.filter(org=schema.org, user=owner, is_active=True).exists():
        raise RecordValidationError({"owner": [_("Choose an active user of this organisation.")]})
    record = schema.new_record(schema.org, owner_id=owner_id, created_by=actor, modified_by=actor, **(fixed or {}))
    for key, value in values.items():
        schema.field(key).set_value(record, value)
    run_guards(WriteContext("create", schema, record, actor, path, values))
    record.save()
    if has_uploads(values):  # stored once the record has an id, past the guards
        values = store_uploads(schema, record, values, actor=actor)
        for key, value in values.items():
            schema.field(key).set_value(record, value)
        record.save()
    sync_links(schema, record, values)
    filled = {key: v for key, v in values.items() if v not in (None, "", [])}
    entry = {key: [None, timeline_value(schema, schema.field(key), v)] for key, v in filled.items()}
    entry["owner"] = [None, _owner_json(owner or actor)]
    timeline.write(record, kind="created", actor=actor, path=path, changes=entry)
    run_after_write(WriteContext("create", schema, record, actor, path, values), record)
    event = {key: [None, json_value(schema.field(key), v)] for key, v in filled.items()}
    event["owner"] = [None, owner_id]
    _event("created", schema, record, actor, path, event)
    return record


@record_refusals
@transaction.atomic
def do_update_record(record: Any, changes: dict[str, Any], *, version: int, actor: User,
                     path: str = "page", schema: BoundSchema | None = None) -> Any:
    """Apply field changes. `version` is the one the user saw: a stale one raises ConflictError,
    a missing one RecordValidationError; either changes nothing."""
    schema = schema or bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _locked(schema, actor, record.pk, "edit")
    values = clean_values(schema, changes, actor=actor, creating=False, current=current)
    diff = {}
    for key, new in values.items():
        spec = schema.field(key)
        old = spec.get_value(current)
        if (old in (None, "") and new in (None, "")) or old == new:
            continue
        diff[key] = (old, new)
    if diff:
        check_unique(schema, {k: v[1] for k, v in diff.items()}, exclude_pk=current.pk)
        run_guards(WriteContext("update", schema, current, actor, path, {k: v[1] for k, v in diff.items()}))
    # After the guards: a refusal (e.g. a lock) is reported as such even when the copy is stale.
    check_version(current, version)
    if not diff:
        return current
    if has_uploads({k: v[1] for k, v in diff.items()}):  # stored past the guards
        stored = store_uploads(schema, current, {k: v[1] for k, v in diff.items()}, actor=actor)
        diff = {key: (old, stored[key]) for key, (old, _new) in diff.items()}
    for key, (_old, new) in diff.items():
        schema.field(key).set_value(current, new)
    current.version += 1
    current.modified_by = actor
    current.save()
    drop_replaced(current, {k: old for k, (old, _new) in diff.items() if schema.field(k).type == "file"})
    sync_links(schema, current, {k: v[1] for k, v in diff.items()})
    if not can(actor, schema, current, "view"):
        raise PermissionDenied(_("This change would take the record out of your reach, so it was not saved."))
    entry = {key: [timeline_value(schema, schema.field(key), old), timeline_value(schema, schema.field(key), new)]
             for key, (old, new) in diff.items()}
    timeline.write(current, kind="updated", actor=actor, path=path, changes=entry)
    run_after_write(WriteContext("update", schema, current, actor, path, {k: v[1] for k, v in diff.items()}), current)
    event = {key: [json_value(schema.field(key), old), json_value(schema.field(key), new)]
             for key, (old, new) in diff.items()}
    _event("updated", schema, current, actor, path, event)
    return current


@record_refusals
@transaction.atomic
def do_bulk_edit_records(module: Any, versions: dict[int, int], changes: dict[str, Any], *, actor: User,
                         path: str = "bulk") -> list[Any]:
    """Set the same values on many records, given as {pk: the version the user saw}: all or
    nothing, one timeline entry each. Each record goes through do_update_record, so guards
    (locks, field permissions) and the version check see every one."""
    versions = {int(pk): version for pk, version in versions.items()}
    record_ids = list(versions)
    schema = bound_schema(module, actor.org)
    _require_member(actor, schema)
    ids = sorted({int(pk) for pk in record_ids})
    if not ids:
        raise RecordValidationError({"ids": [_("Choose at least one record.")]})
    rows = list(visible(actor, schema, "edit").select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))
    if len(rows) != len(ids):
        raise PermissionDenied(_("%(count)d of the chosen records cannot be changed by you; nothing was changed.")
                               % {"count": len(ids) - len(rows)})
    updated = []
    for row in rows:
        try:
            updated.append(do_update_record(row, changes, version=versions.get(row.pk), actor=actor, path=path,
                                            schema=schema))
        except ConflictError as exc:
            raise ConflictError(exc.record, named=True) from None
    return updated


@record_refusals
@transaction.atomic
def do_delete_record(record: Any, *, version: int, actor: User, path: str = "page") -> Any:
    """Move a record to the recycle bin (restorable for RECYCLE_BIN_DAYS days). `version` as for
    do_update_record."""
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _locked(schema, actor, record.pk, "delete")
    run_guards(WriteContext("delete", schema, current, actor, path))
    check_version(current, version)
    current.deleted_at = timezone.now()
    current.deleted_by = actor
    current.version += 1
    current.save(update_fields=["deleted_at", "deleted_by", "version", "modified_at"])
    timeline.write(current, kind="deleted", actor=actor, path=path)
    _event("deleted", schema, current, actor, path)
    return current


@record_refusals
@transaction.atomic
def do_restore_record(record: Any, *, actor: User, path: str = "page") -> Any:
    """An administrator restores a record from the recycle bin."""
    schema = bound_schema(record, actor.org)
    if not is_org_admin(actor):
        raise PermissionDenied(_("Only an organisation administrator may restore records."))
    current = (visible(actor, schema, "view", deleted=True).select_for_update(of=("self",))
               .filter(pk=record.pk).first())
    if current is None:
        raise PermissionDenied(_("Record not found."))
    if current.deleted_at < timezone.now() - dt.timedelta(days=settings.RECYCLE_BIN_DAYS):
        raise PermissionDenied(_("This record has been in the recycle bin too long to restore."))
    run_guards(WriteContext("restore", schema, current, actor, path))
    current.deleted_at = None
    current.deleted_by = None
    current.version += 1
    current.save(update_fields=["deleted_at", "deleted_by", "version", "modified_at"])
    timeline.write(current, kind="restored", actor=actor, path=path)
    run_after_write(WriteContext("restore", schema, current, actor, path), current)
    _event("restored", schema, current, actor, path)
    return current


@record_refusals
@transaction.atomic
def do_link_task(task: Any, source: Any, *, actor: User, path: str = "page") -> Any:
    """Relate a task to a record of any module (the actor must see both)."""
    from django.contrib.contenttypes.models import ContentType

    schema = bound_schema(task, actor.org)
    source_schema = bound_schema(source, actor.org)
    current = _locked(schema, actor, task.pk, "edit")
    if not can(actor, source_schema, source, "view"):
        raise PermissionDenied(_("Record not found."))
    run_guards(WriteContext("update", schema, current, actor, path, {"related": source.pk}))
    old = {"id": current.related_id, "name": str(current.related)} if current.related_id else None
    current.related_type = ContentType.objects.get_for_model(source)
    current.related_id = source.pk
    current.version += 1
    current.modified_by = actor
    current.save()
    timeline.write(current, kind="updated", actor=actor, path=path,
                   changes={"related": [old, {"id": source.pk, "name": str(source)}]})
    _event("updated", schema, current, actor, path, {"related": [old and old["id"], source.pk]})
    return current

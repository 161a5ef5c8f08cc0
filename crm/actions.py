"""Record actions: the only code that writes records.

Each action, in one transaction: checks permission through `access`, runs the guards,
checks the optimistic version, writes, re-checks visibility, writes the timeline, and
emits a record event delivered after commit.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import functools
import re
from typing import Any, Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Membership, User
from access.visibility import current_membership, is_org_admin, visible

from . import timeline
from .criteria import CriteriaError, to_q
from .events import RecordEvent, emit
from .guards import GuardRefusal, WriteContext, run_after_write, run_guards
from .models import Attachment, Note
from .modules import get_module
from .schema import BoundSchema, FieldSpec


class RecordValidationError(ValidationError):
    """Errors keyed by field key; nothing was saved."""


class ConflictError(Exception):
    """The record changed since the user loaded it; nothing was overwritten."""

    def __init__(self, record: Any) -> None:
        self.record = record
        who = str(record.modified_by) if record.modified_by_id else _("someone")
        when = timezone.localtime(record.modified_at).strftime("%Y-%m-%d %H:%M")
        super().__init__(_("%(who)s changed this record at %(when)s, after you opened it. "
                           "Your changes were not saved; reload to see theirs.") % {"who": who, "when": when})


def bound_schema(record_or_module: Any, org: Any) -> BoundSchema:
    """The schema in the actor's org; a module of another org is refused like a missing one."""
    from django.http import Http404

    if isinstance(record_or_module, BoundSchema):
        return record_or_module
    key = record_or_module if isinstance(record_or_module, str) else (
        getattr(record_or_module, "MODULE_KEY", None) or getattr(record_or_module, "key"))
    try:
        return get_module(key, org).bind(org)
    except Http404:
        raise PermissionDenied(_("Record not found."))


# --- values ---------------------------------------------------------------------

def clean_values(schema: BoundSchema, data: dict[str, Any], *, actor: User, creating: bool,
                 current: Any = None) -> dict[str, Any]:
    """Parse raw input into Python values by field key; every bad value names its field.
    A reference left as it was is not re-checked (a user may keep a link they cannot open)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, raw in data.items():
        try:
            spec = schema.field(name)
        except KeyError:
            errors.setdefault("__all__", []).append(_("Unknown field “%(field)s”.") % {"field": name})
            continue
        if not spec.editable:
            errors.setdefault(spec.key, []).append(_("This field cannot be changed here."))
            continue
        try:
            value = spec.field_type.clean(raw, spec)
            check_length(spec, value, schema)
            if current is None or value != spec.get_value(current):
                check_reference(spec, value, schema, actor)
        except ValidationError as exc:
            errors.setdefault(spec.key, []).extend(exc.messages)
            continue
        cleaned[spec.key] = value
    if creating:
        for spec in schema.editable_fields:
            if spec.key not in cleaned and spec.default not in (None, ""):
                cleaned[spec.key] = spec.field_type.clean(spec.default, spec)
    for spec in schema.editable_fields:
        missing = cleaned.get(spec.key) in (None, "", []) if (creating or spec.key in cleaned) else False
        if spec.required and missing and spec.key not in errors:
            errors.setdefault(spec.key, []).append(_("This field is required."))
    if errors:
        raise RecordValidationError(errors)
    return cleaned


CUSTOM_TEXT_LIMITS = {"long_text": 10000}
CUSTOM_TEXT_DEFAULT_LIMIT = 255


def check_length(spec: FieldSpec, value: Any, schema: BoundSchema) -> None:
    """Text longer than its column (or than a JSON text field's limit), or a number too big for
    its column, is refused by name instead of failing in the database."""
    if isinstance(value, int) and not isinstance(value, bool) and not spec.is_custom:
        column = schema.model._meta.get_field(spec.key)
        if column.get_internal_type() == "IntegerField" and abs(value) >= 2**31:
            raise ValidationError(_("Enter a whole number."))
        return
    if not isinstance(value, str):
        return
    if spec.is_custom:
        limit = CUSTOM_TEXT_LIMITS.get(spec.type, CUSTOM_TEXT_DEFAULT_LIMIT)
    else:
        limit = getattr(schema.model._meta.get_field(spec.key), "max_length", None)
    if limit and len(value) > limit:
        raise ValidationError(_("Use at most %(limit)d characters (this has %(length)d).")
                              % {"limit": limit, "length": len(value)})


def check_reference(spec: FieldSpec, value: Any, schema: BoundSchema, actor: User) -> None:
    """A user field must name an active member; a lookup a record the actor can see."""
    if value is None:
        return
    if spec.type == "user":
        if not Membership.objects.filter(org=schema.org, user_id=value, is_active=True).exists():
            raise ValidationError(_("Choose an active user of this organisation."))
    elif spec.type == "lookup":
        target = get_module(spec.target, schema.org)
        if not visible(actor, target, "view").filter(pk=value).exists():
            raise ValidationError(_("Choose a record you can see."))


def check_unique(schema: BoundSchema, values: dict[str, Any], exclude_pk: int | None = None) -> None:
    """Fields flagged unique may not repeat a value within the module."""
    errors = {}
    for key, value in values.items():
        spec = schema.field(key)
        if not spec.unique or value in (None, "", []):
            continue
        path = f"{spec.json_column}__{spec.key}" if spec.is_custom else spec.orm_path
        taken = schema.base_queryset(schema.org).filter(deleted_at__isnull=True, **{path: json_value(spec, value)})
        if exclude_pk is not None:
            taken = taken.exclude(pk=exclude_pk)
        if taken.exists():
            errors[key] = [_("Another record already has this value.")]
    if errors:
        raise RecordValidationError(errors)


def sync_links(schema: BoundSchema, record: Any, values: dict[str, Any]) -> None:
    """Keep the link table in step with JSON-stored lookup fields."""
    from django.contrib.contenttypes.models import ContentType

    from .models import RecordLink

    source_type = ContentType.objects.get_for_model(record)
    for key, value in values.items():
        spec = schema.field(key)
        if not (spec.is_custom and spec.type == "lookup"):
            continue
        RecordLink.objects.filter(field_id=spec.definition_id, source_type=source_type, source_id=record.pk).delete()
        if value is not None:
            target_model = get_module(spec.target, schema.org).model
            RecordLink.objects.create(org_id=record.org_id, field_id=spec.definition_id, source_type=source_type,
                                      source_id=record.pk, target_type=ContentType.objects.get_for_model(target_model),
                                      target_id=value)


def json_value(spec: FieldSpec, value: Any) -> Any:
    return spec.field_type.to_json(value)


def timeline_value(schema: BoundSchema, spec: FieldSpec, value: Any) -> Any:
    """What the timeline keeps: the JSON value, and for references the name as it was then."""
    if value is None or not spec.is_reference:
        return json_value(spec, value)
    if spec.type == "user":
        target = User.objects.filter(pk=value).first()
    else:
        target = get_module(spec.target, schema.org).base_queryset(schema.org).filter(pk=value).first()
    return {"id": value, "name": str(target) if target is not None else ""}


def _require_member(actor: User, schema: BoundSchema) -> None:
    if current_membership(actor) is None or actor.org.pk != schema.org.pk:
        raise PermissionDenied(_("You are not an active member of this organisation."))


def _locked(schema: BoundSchema, actor: User, pk: int, action: str):
    """The stored row, locked, if the actor may do `action`; else PermissionDenied."""
    row = (visible(actor, schema, action).select_for_update(of=("self",))
           .select_related("modified_by").filter(pk=pk).first())
    if row is None:
        if visible(actor, schema, "view").filter(pk=pk).exists():
            raise PermissionDenied(_("You do not have permission to do this on this record."))
        raise PermissionDenied(_("Record not found."))
    return row


def _event(kind: str, schema: BoundSchema, record: Any, actor: User, path: str, changes: dict | None = None) -> None:
    emit(RecordEvent(kind=kind, module=schema.key, org_id=record.org_id, record_id=record.pk,
                     actor_id=getattr(actor, "pk", None), path=path, changes=changes or {}))


# --- create / update / delete -------------------------------------------------------

def record_refusals(action):
    """A write a guard refused leaves a "refused" entry on the record's timeline. It is written
    after the action's transaction rolled back, so the refused change itself leaves nothing."""

    @functools.wraps(action)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _action_depth.set(_action_depth.get() + 1)
        try:
            return action(*args, **kwargs)
        except GuardRefusal as refusal:
            context = refusal.context
            # Only the outermost action writes it: an inner one is still inside the outer
            # action's transaction, which is about to roll back.
            outermost = _action_depth.get() == 1
            if outermost and refusal.log and context is not None and getattr(context.record, "pk", None):
                refusal.log = False
                timeline.write(context.record, kind="refused", actor=context.actor, path=context.path,
                               changes={"action": [None, context.action], "reason": [None, str(refusal)]})
            raise
        finally:
            _action_depth.reset(token)

    return wrapper


_action_depth: contextvars.ContextVar[int] = contextvars.ContextVar("action_depth", default=0)


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
def do_update_record(record: Any, changes: dict[str, Any], *, version: int | None, actor: User,
                     path: str = "page", schema: BoundSchema | None = None) -> Any:
    """Apply field changes. A stale `version` raises ConflictError and changes nothing."""
    schema = schema or bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _locked(schema, actor, record.pk, "edit")
    if version is not None and int(version) != current.version:
        raise ConflictError(current)
    values = clean_values(schema, changes, actor=actor, creating=False, current=current)
    diff = {}
    for key, new in values.items():
        spec = schema.field(key)
        old = spec.get_value(current)
        if (old in (None, "") and new in (None, "")) or old == new:
            continue
        diff[key] = (old, new)
    if not diff:
        return current
    check_unique(schema, {k: v[1] for k, v in diff.items()}, exclude_pk=current.pk)
    run_guards(WriteContext("update", schema, current, actor, path, {k: v[1] for k, v in diff.items()}))
    for key, (_old, new) in diff.items():
        schema.field(key).set_value(current, new)
    current.version += 1
    current.modified_by = actor
    current.save()
    sync_links(schema, current, {k: v[1] for k, v in diff.items()})
    if not visible(actor, schema, "view").filter(pk=current.pk).exists():
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
def do_bulk_edit_records(module: Any, record_ids: Iterable[int], changes: dict[str, Any], *, actor: User,
                           path: str = "bulk") -> list[Any]:
    """Set the same values on many records: all or nothing, one timeline entry each. Each
    record goes through do_update_record, so guards (locks, field permissions) see every one."""
    schema = bound_schema(module, actor.org)
    _require_member(actor, schema)
    ids = sorted({int(pk) for pk in record_ids})
    if not ids:
        raise RecordValidationError({"ids": [_("Choose at least one record.")]})
    rows = list(visible(actor, schema, "edit").select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))
    if len(rows) != len(ids):
        raise PermissionDenied(_("%(count)d of the chosen records cannot be changed by you; nothing was changed.")
                               % {"count": len(ids) - len(rows)})
    return [do_update_record(row, changes, version=None, actor=actor, path=path, schema=schema) for row in rows]


@record_refusals
@transaction.atomic
def do_delete_record(record: Any, *, actor: User, path: str = "page", version: int | None = None) -> Any:
    """Move a record to the recycle bin (restorable for RECYCLE_BIN_DAYS days)."""
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _locked(schema, actor, record.pk, "delete")
    if version is not None and int(version) != current.version:
        raise ConflictError(current)
    run_guards(WriteContext("delete", schema, current, actor, path))
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
    if not visible(actor, source_schema, "view").filter(pk=source.pk).exists():
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


# --- owners ----------------------------------------------------------------------

def _owner_json(user: User | None) -> dict | None:
    return None if user is None else {"id": user.pk, "name": str(user)}


def _active_member(schema: BoundSchema, user_id: Any) -> User:
    membership = Membership.objects.select_related("user").filter(
        org=schema.org, user_id=user_id, is_active=True).first()
    if membership is None:
        raise RecordValidationError({"owner": [_("Choose an active user of this organisation.")]})
    return membership.user


def do_change_owner(record: Any, new_owner_id: int, *, actor: User, path: str = "page",
                    version: int | None = None) -> Any:
    """Hand a record to another active user (who then owns it)."""
    return do_bulk_change_owner(record, [record.pk], new_owner_id, actor=actor, path=path,
                                versions={record.pk: version} if version is not None else None)[0]


@record_refusals
@transaction.atomic
def do_bulk_change_owner(module: Any, record_ids: Iterable[int], new_owner_id: int, *, actor: User,
                         path: str = "page", versions: dict[int, int] | None = None) -> list[Any]:
    """Change the owner of many records at once: all or nothing, one timeline entry each."""
    schema = bound_schema(module, actor.org)
    _require_member(actor, schema)
    new_owner = _active_member(schema, new_owner_id)
    ids = sorted({int(pk) for pk in record_ids})
    rows = list(visible(actor, schema, "edit").select_for_update(of=("self",))
                .select_related("owner").filter(pk__in=ids).order_by("pk"))
    if len(rows) != len(ids):
        raise PermissionDenied(_("%(count)d of the chosen records cannot be changed by you; nothing was changed.")
                               % {"count": len(ids) - len(rows)})
    changed, entries = [], []
    for row in rows:
        if versions and versions.get(row.pk) is not None and int(versions[row.pk]) != row.version:
            raise ConflictError(row)
        if row.owner_id == new_owner.pk:
            continue
        run_guards(WriteContext("change_owner", schema, row, actor, path, {"owner": new_owner.pk}))
        changes = {"owner": [_owner_json(row.owner), _owner_json(new_owner)]}
        row.owner = new_owner
        row.version += 1
        row.modified_by = actor
        row.modified_at = timezone.now()
        changed.append(row)
        entries.append((row, changes))
    if changed:
        schema.model.objects.bulk_update(changed, ["owner", "version", "modified_by", "modified_at"], batch_size=500)
        timeline.write_many(timeline.entry(row, kind="owner_changed", actor=actor, path=path, changes=changes)
                            for row, changes in entries)
        for row in changed:
            run_after_write(WriteContext("change_owner", schema, row, actor, path, {"owner": new_owner.pk}), row)
        for row, changes in entries:
            _event("owner_changed", schema, row, actor, path, {"owner": [c and c["id"] for c in changes["owner"]]})
    return rows


@record_refusals
@transaction.atomic
def do_reassign_records(from_user: User, new_owner_id: int, *, modules: Iterable[Any], actor: User,
                        criteria: dict | None = None, path: str = "page") -> dict[str, int]:
    """An administrator hands the records a user owns in the given modules (with `criteria`, one
    module's matching records) to another active member. One transaction over every module: if
    any record is refused, none moves. Returns how many records moved, by module key."""
    if not is_org_admin(actor):
        raise PermissionDenied(_("Only an administrator may reassign another user's records."))
    schemas = [bound_schema(module, actor.org) for module in modules]
    if int(new_owner_id) == from_user.pk:
        raise RecordValidationError({"owner": [_("Choose someone other than the current owner.")]})
    if criteria is not None and len(schemas) != 1:
        raise RecordValidationError({"criteria": [_("Choose a module to filter by criteria.")]})
    moved: dict[str, int] = {}
    for schema in schemas:
        rows = visible(actor, schema, "edit").filter(owner=from_user)
        if criteria is not None:
            try:
                rows = rows.filter(to_q(criteria, schema))
            except CriteriaError as exc:
                raise RecordValidationError({"criteria": exc.messages})
        ids = list(rows.values_list("pk", flat=True))
        moved[schema.key] = len(do_bulk_change_owner(schema, ids, new_owner_id, actor=actor, path=path)) if ids else 0
    return moved


# --- notes and attachments ----------------------------------------------------------

MENTION_RE = re.compile(r"@([\w.+-]*[\w+-])")  # a trailing full stop ends the sentence, not the name


def _record_for(schema: BoundSchema, record: Any, actor: User, action: str) -> Any:
    current = visible(actor, schema, action).filter(pk=record.pk).first()
    if current is None:
        raise PermissionDenied(_("You do not have permission to do this on this record."))
    return current


def _note_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise RecordValidationError({"body": [_("A note cannot be empty.")]})
    if len(body) > 10000:
        raise RecordValidationError({"body": [_("A note can be at most 10,000 characters.")]})
    return body


@record_refusals
@transaction.atomic
def do_add_note(record: Any, body: str, *, actor: User, path: str = "page") -> Note:
    """Comment on a record; @username mentions of active members are stored for notification."""
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    body = _note_body(body)
    current = _record_for(schema, record, actor, "view")
    run_guards(WriteContext("add_note", schema, current, actor, path, {"body": body}))
    note = Note.objects.create(org_id=current.org_id, record=current, author=actor, body=body)
    usernames = set(MENTION_RE.findall(body))
    if usernames:
        note.mentions.set(User.objects.filter(username__in=usernames, memberships__org_id=current.org_id,
                                              memberships__is_active=True))
    # The body stays in the note (which has its own readers); the timeline records the event.
    timeline.write(current, kind="note_added", actor=actor, path=path, changes={"note": [None, note.pk]})
    _event("note_added", schema, current, actor, path)
    return note


@record_refusals
@transaction.atomic
def do_update_note(note: Note, body: str, *, actor: User, path: str = "page") -> Note:
    """Change a note's text: its author or an administrator, on a record they can see. Mentions
    follow the new text."""
    record = note.record
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    body = _note_body(body)
    current = _record_for(schema, record, actor, "view")
    stored = Note.objects.select_for_update().filter(org_id=current.org_id, pk=note.pk).first()
    if stored is None:
        raise PermissionDenied(_("Note not found."))
    if stored.author_id != actor.pk and not is_org_admin(actor):
        raise PermissionDenied(_("Only the author or an administrator may edit a note."))
    if stored.body == body:
        return stored
    run_guards(WriteContext("update_note", schema, current, actor, path, {"note": stored.pk}))
    stored.body = body
    stored.save(update_fields=["body"])
    stored.mentions.set(User.objects.filter(username__in=set(MENTION_RE.findall(body)),
                                            memberships__org_id=current.org_id, memberships__is_active=True))
    # As for a new note, the text stays in the note; the timeline records that it was edited.
    timeline.write(current, kind="note_edited", actor=actor, path=path, changes={"note": [stored.pk, stored.pk]})
    _event("note_edited", schema, current, actor, path)
    return stored


@record_refusals
@transaction.atomic
def do_delete_note(note: Note, *, actor: User, path: str = "page") -> None:
    record = note.record
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _record_for(schema, record, actor, "view")
    if note.author_id != actor.pk and not is_org_admin(actor):
        raise PermissionDenied(_("Only the author or an administrator may delete a note."))
    run_guards(WriteContext("delete_note", schema, current, actor, path, {"note": note.pk}))
    timeline.write(current, kind="note_deleted", actor=actor, path=path, changes={"note": [note.pk, None]})
    note.delete()
    _event("note_deleted", schema, current, actor, path)


@record_refusals
@transaction.atomic
def do_add_attachment(record: Any, upload: Any, *, actor: User, path: str = "page",
                      deliverable: bool = False) -> Attachment:
    """Attach a file to a record the actor may edit. A deliverable is also shown to the people
    who requested the record (team requests)."""
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    if upload is None:
        raise RecordValidationError({"file": [_("Choose a file to upload.")]})
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise RecordValidationError({"file": [_("The file is larger than %(mb)d MB.")
                                              % {"mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)}]})
    current = _record_for(schema, record, actor, "edit")
    run_guards(WriteContext("add_attachment", schema, current, actor, path, {"file": upload.name}))
    name = upload.name.rsplit("/", 1)[-1][:255]
    attachment = Attachment.objects.create(org_id=current.org_id, record=current, uploaded_by=actor, file=upload,
                                           name=name, size=upload.size, deliverable=deliverable,
                                           content_type=getattr(upload, "content_type", "") or "")
    timeline.write(current, kind="attachment_added", actor=actor, path=path, changes={"file": [None, name]})
    _event("attachment_added", schema, current, actor, path)
    return attachment


@record_refusals
@transaction.atomic
def do_delete_attachment(attachment: Attachment, *, actor: User, path: str = "page") -> None:
    record = attachment.record
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _record_for(schema, record, actor, "edit")
    run_guards(WriteContext("delete_attachment", schema, current, actor, path, {"file": attachment.pk}))
    timeline.write(current, kind="attachment_deleted", actor=actor, path=path,
                   changes={"file": [attachment.name, None]})
    attachment.file.delete(save=False)
    attachment.delete()
    _event("attachment_deleted", schema, current, actor, path)


# --- custom fields (org administrators; team managers for their team modules) ------------

FIELD_SETTINGS = ("required", "unique", "section", "shown_to_requesters", "in_list", "help_text")


def _require_field_admin(actor: User, org: Any, module_key: str) -> Any:
    module = get_module(module_key, org)
    if actor.org.pk != org.pk or not module.can_configure(actor):
        raise PermissionDenied(_("You may not change the fields of this module."))
    return module


COLOR_RE = re.compile(r"#[0-9a-fA-F]{3,8}")  # colours go into style attributes: nothing else passes


def clean_options(field_type: str, options: Any) -> list[dict]:
    """Picklist options as [{value, label_en, label_zh, color}], values unique and non-empty."""
    if field_type not in ("picklist", "multi_select"):
        return []
    if not isinstance(options, list) or not options:
        raise RecordValidationError({"options": [_("A picklist needs at least one option.")]})
    seen, cleaned = set(), []
    for number, option in enumerate(options, start=1):
        value = str(option.get("value") or option.get("label_en") or "").strip()
        if not value:
            raise RecordValidationError({"options": [_("Option %(n)d has no value.") % {"n": number}]})
        if value in seen:
            raise RecordValidationError({"options": [_("The option “%(value)s” appears twice.") % {"value": value}]})
        seen.add(value)
        color = str(option.get("color") or "").strip()
        if color and not COLOR_RE.fullmatch(color):
            raise RecordValidationError({"options": [
                _("Option %(n)d: a colour is written like #1a7f37.") % {"n": number}]})
        cleaned.append({"value": value, "label_en": str(option.get("label_en") or value).strip(),
                        "label_zh": str(option.get("label_zh") or "").strip(), "color": color})
    return cleaned


def _clean_default(definition: Any) -> Any:
    if definition.default in (None, ""):
        return None
    try:
        value = definition.spec().field_type.clean(definition.default, definition.spec())
    except ValidationError as exc:
        raise RecordValidationError({"default": exc.messages})
    return definition.spec().field_type.to_json(value)


def _check_target(org: Any, field_type: str, target: str) -> str:
    if field_type != "lookup":
        return ""
    try:
        get_module(target or "", org)
    except Exception:
        raise RecordValidationError({"target": [_("Choose the module this lookup points to.")]})
    return target


@transaction.atomic
def do_create_field(org: Any, module_key: str, *, api_name: str, label_en: str, field_type: str,
                    label_zh: str = "", default: Any = None, options: Any = None, target: str = "",
                    actor: User, **settings_: Any) -> Any:
    """Add a custom field to a module (org or team). Stored records are not touched."""
    from .fieldtypes import CUSTOM_FIELD_TYPES
    from .models import FieldDefinition

    module = _require_field_admin(actor, org, module_key)
    errors: dict[str, list[str]] = {}
    api_name = (api_name or "").strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,59}", api_name):
        errors["api_name"] = [_("Use lowercase letters, digits and underscores, starting with a letter.")]
    elif any(f.key == api_name for f in module.core_fields) or FieldDefinition.objects.filter(
            org=org, module=module_key, api_name=api_name).exists():
        errors["api_name"] = [_("A field with this API name already exists.")]
    if not (label_en or "").strip():
        errors["label_en"] = [_("This field is required.")]
    if field_type not in CUSTOM_FIELD_TYPES:
        errors["field_type"] = [_("Choose a valid field type.")]
    if errors:
        raise RecordValidationError(errors)
    last = FieldDefinition.objects.filter(org=org, module=module_key).order_by("-order").first()
    definition = FieldDefinition(org=org, module=module_key, api_name=api_name, label_en=label_en.strip(),
                                 label_zh=(label_zh or "").strip(), field_type=field_type, default=default,
                                 options=clean_options(field_type, options),
                                 target=_check_target(org, field_type, target), order=(last.order + 1) if last else 0,
                                 **{k: v for k, v in settings_.items() if k in FIELD_SETTINGS})
    definition.default = _clean_default(definition)
    definition.save()
    return definition


def _stored_values(definition: Any) -> int:
    module = get_module(definition.module, definition.org)
    column = "data" if definition.module.startswith("team-") else "custom"
    return module.base_queryset(definition.org).filter(**{f"{column}__has_key": definition.key}).count()


@transaction.atomic
def do_update_field(definition: Any, *, label_en: str, label_zh: str = "", default: Any = None,
                    options: Any = None, field_type: str | None = None, actor: User, **settings_: Any) -> Any:
    """Change a field's labels, options, rules and (where no data is lost) its type. The key never
    changes, so no stored record is touched."""
    from .fieldtypes import CUSTOM_FIELD_TYPES, SAFE_TYPE_CHANGES

    _require_field_admin(actor, definition.org, definition.module)
    if not (label_en or "").strip():
        raise RecordValidationError({"label_en": [_("This field is required.")]})
    if field_type and field_type != definition.field_type:
        if field_type not in CUSTOM_FIELD_TYPES or field_type == "lookup":
            raise RecordValidationError({"field_type": [_("Choose a valid field type.")]})
        stored = _stored_values(definition)
        if stored and (definition.field_type, field_type) not in SAFE_TYPE_CHANGES:
            raise RecordValidationError({"field_type": [
                _("Changing %(old)s to %(new)s would lose the values stored on %(count)d records.")
                % {"old": definition.field_type, "new": field_type, "count": stored}]})
        definition.field_type = field_type
    definition.label_en = label_en.strip()
    definition.label_zh = (label_zh or "").strip()
    for key, value in settings_.items():
        if key in FIELD_SETTINGS:
            setattr(definition, key, value)
    if options is not None or definition.field_type in ("picklist", "multi_select"):
        definition.options = clean_options(definition.field_type, options if options is not None else definition.options)
    definition.default = default
    definition.default = _clean_default(definition)
    definition.save()
    return definition


@transaction.atomic
def do_set_field_retired(definition: Any, retired: bool, *, actor: User) -> Any:
    """Retiring hides a field everywhere and keeps its data; un-retiring brings it back."""
    _require_field_admin(actor, definition.org, definition.module)
    definition.retired = retired
    definition.save(update_fields=["retired"])
    return definition


@transaction.atomic
def do_move_field(definition: Any, offset: int, *, actor: User) -> None:
    """Move a field up (-1) or down (+1) among its module's fields."""
    from .models import FieldDefinition

    _require_field_admin(actor, definition.org, definition.module)
    siblings = list(FieldDefinition.objects.select_for_update().filter(
        org=definition.org, module=definition.module).order_by("order", "pk"))
    index = next(i for i, d in enumerate(siblings) if d.pk == definition.pk)
    target = index + offset
    if not 0 <= target < len(siblings):
        return
    siblings[index], siblings[target] = siblings[target], siblings[index]
    for position, item in enumerate(siblings):
        item.order = position
    FieldDefinition.objects.bulk_update(siblings, ["order"])


# --- recycle bin ---------------------------------------------------------------------

@transaction.atomic
def do_purge_recycle_bin(*, path: str = "system") -> int:
    """Remove records deleted more than RECYCLE_BIN_DAYS ago, with their notes and files."""
    from django.contrib.contenttypes.models import ContentType

    from .modules import org_modules

    cutoff = timezone.now() - dt.timedelta(days=settings.RECYCLE_BIN_DAYS)
    purged = 0
    for module in org_modules():
        expired = module.model.objects.filter(deleted_at__lt=cutoff)
        ids = list(expired.values_list("pk", flat=True)[:5000])
        if not ids:
            continue
        record_type = ContentType.objects.get_for_model(module.model)
        for attachment in Attachment.objects.filter(record_type=record_type, record_id__in=ids):
            attachment.file.delete(save=False)
        Attachment.objects.filter(record_type=record_type, record_id__in=ids).delete()
        Note.objects.filter(record_type=record_type, record_id__in=ids).delete()
        purged += module.model.objects.filter(pk__in=ids).delete()[0]
    return purged

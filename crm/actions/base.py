"""The shared pipeline of record actions: errors, the schema in the actor's org, value
cleaning and checks, the membership check, the row lock, the record event and the refusal log.

Every action runs, in one transaction: membership -> row lock -> guards -> version check ->
write -> timeline -> event on commit. Guards run before the optimistic version check, so a
refusal (a lock rule, a team rule) is reported as such even when the user's copy is stale.
"""
from __future__ import annotations

import contextvars
import functools
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Membership, User
from access.visibility import can, current_membership, visible

from .. import timeline
from ..events import RecordEvent, emit
from ..file_values import NewFile
from ..guards import GuardRefusal
from ..modules import get_module
from ..schema import BoundSchema, FieldSpec


class RecordValidationError(ValidationError):
    """Errors keyed by field key; nothing was saved."""


class ConflictError(Exception):
    """The record changed since the user loaded it; nothing was overwritten."""

    def __init__(self, record: Any, *, named: bool = False) -> None:
        self.record = record
        who = str(record.modified_by) if record.modified_by_id else _("someone")
        when = timezone.localtime(record.modified_at).strftime("%Y-%m-%d %H:%M")
        if named:  # one of many chosen records: say which
            message = _("%(who)s changed “%(record)s” at %(when)s, after you chose it. Nothing was changed; "
                        "reload to see their changes.") % {"who": who, "record": record, "when": when}
        else:
            message = _("%(who)s changed this record at %(when)s, after you opened it. "
                        "Your changes were not saved; reload to see theirs.") % {"who": who, "when": when}
        super().__init__(message)


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
                 current: Any = None, refs: "References | None" = None) -> dict[str, Any]:
    """Parse raw input into Python values by field key; every bad value names its field.
    A reference left as it was is not re-checked (a user may keep a link they cannot open).
    `refs`: references loaded for a whole batch, checked in memory instead of a query each."""
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
                if refs is not None:
                    refs.check(spec, value)
                else:
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
        if _column_type(schema.model, spec.key) == "IntegerField" and abs(value) >= 2**31:
            raise ValidationError(_("Enter a whole number."))
        return
    if not isinstance(value, str):
        return
    if spec.is_custom:
        limit = CUSTOM_TEXT_LIMITS.get(spec.type, CUSTOM_TEXT_DEFAULT_LIMIT)
    else:
        limit = _column_limit(schema.model, spec.key)
    if limit and len(value) > limit:
        raise ValidationError(_("Use at most %(limit)d characters (this has %(length)d).")
                              % {"limit": limit, "length": len(value)})


@functools.lru_cache(maxsize=None)
def _column_type(model: type, name: str) -> str:
    return model._meta.get_field(name).get_internal_type()


@functools.lru_cache(maxsize=None)
def _column_limit(model: type, name: str) -> int | None:
    return getattr(model._meta.get_field(name), "max_length", None)


def column_length_errors(model: type, values: dict[str, Any]) -> dict[str, list[str]]:
    """Texts longer than their column (a name, a label), by field name, each message naming the
    field, so the database never refuses them."""
    from django.utils.text import capfirst

    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        column = model._meta.get_field(name)
        limit = getattr(column, "max_length", None)
        if isinstance(value, str) and limit and len(value) > limit:
            errors[name] = [_("%(field)s can be at most %(limit)d characters (this has %(length)d).")
                            % {"field": capfirst(column.verbose_name), "limit": limit, "length": len(value)}]
    return errors


def check_reference(spec: FieldSpec, value: Any, schema: BoundSchema, actor: User) -> None:
    """A user field must name an active member; a lookup a record the actor can see; a file field
    a new upload."""
    if value is None:
        return
    if spec.type == "user":
        if not Membership.objects.filter(org=schema.org, user_id=value, is_active=True).exists():
            raise ValidationError(_("Choose an active user of this organisation."))
    elif spec.type == "lookup":
        target = get_module(spec.target, schema.org)
        if not can(actor, target, value, "view"):
            raise ValidationError(_("Choose a record you can see."))
    elif spec.type == "file" and not isinstance(value, NewFile):
        # A file field keeps only files uploaded to it, never one named by id (another record's).
        raise ValidationError(_("Upload a file: this field keeps only files uploaded to it."))


class References:
    """The users and lookup targets a batch of rows names, loaded at once (one query per user or
    lookup field), so `clean_values` checks them as `check_reference` would, without a query per
    row; their names are kept for the timeline (`timeline_value`)."""

    def __init__(self, schema: BoundSchema, actor: User, rows: list[dict[str, Any]]) -> None:
        self.names: dict[tuple[str, int], str] = {}  # (field key, id) -> name, for the ones that pass
        wanted: dict[str, set[int]] = {}
        for spec in schema.fields:
            if spec.type not in ("user", "lookup"):
                continue
            ids = set()
            for row in rows:
                if spec.key in row:
                    try:
                        value = spec.field_type.clean(row[spec.key], spec)
                    except ValidationError:
                        continue  # clean_values reports it
                    if isinstance(value, int):
                        ids.add(value)
            wanted[spec.key] = ids
        for key, ids in wanted.items():
            spec = schema.field(key)
            if not ids:
                continue
            if spec.type == "user":
                found = User.objects.filter(pk__in=Membership.objects.filter(org=schema.org, user_id__in=ids,
                                                                              is_active=True).values("user_id"))
            else:
                found = visible(actor, get_module(spec.target, schema.org), "view", listing=False).filter(pk__in=ids)
            for item in found:
                self.names[(key, item.pk)] = str(item)

    def check(self, spec: FieldSpec, value: Any) -> None:
        if value is None:
            return
        if spec.type == "user" and (spec.key, value) not in self.names:
            raise ValidationError(_("Choose an active user of this organisation."))
        if spec.type == "lookup" and (spec.key, value) not in self.names:
            raise ValidationError(_("Choose a record you can see."))
        if spec.type == "file" and not isinstance(value, NewFile):
            raise ValidationError(_("Upload a file: this field keeps only files uploaded to it."))

    def timeline_value(self, spec: FieldSpec, value: Any) -> Any:
        if value is None or not spec.is_reference:
            return json_value(spec, value)
        return {"id": value, "name": self.names.get((spec.key, value), "")}


def check_unique(schema: BoundSchema, values: dict[str, Any], exclude_pk: int | None = None) -> None:
    """Fields flagged unique may not repeat a value within the module."""
    errors = {}
    for key, value in values.items():
        spec = schema.field(key)
        if not spec.unique or value in (None, "", []):
            continue
        path = spec.value_path
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

    from ..models import RecordLink

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
    row = (visible(actor, schema, action, listing=False).select_for_update(of=("self",))
           .select_related("modified_by").filter(pk=pk).first())
    if row is None:
        if can(actor, schema, pk, "view"):
            raise PermissionDenied(_("You do not have permission to do this on this record."))
        raise PermissionDenied(_("Record not found."))
    return row


def version_missing() -> str:
    return _("The record's version is missing, so a change made meanwhile could not be detected. "
             "Reload the page and try again.")


def check_version(current: Any, version: int | str | None, *, named: bool = False) -> None:
    """The optimistic check: a stale `version` is refused as a conflict, never overwritten, and a
    missing one is refused too (every write path sends the version its user saw). It runs after
    the guards, so a refusal (a lock rule, a team rule) wins over a stale copy."""
    try:
        seen = int(version)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RecordValidationError({"version": [version_missing()]})
    if seen != current.version:
        raise ConflictError(current, named=named)


def _event(kind: str, schema: BoundSchema, record: Any, actor: User, path: str, changes: dict | None = None) -> None:
    emit(RecordEvent(kind=kind, module=schema.key, org_id=record.org_id, record_id=record.pk,
                     actor_id=getattr(actor, "pk", None), path=path, changes=changes or {}))


def _record_for(schema: BoundSchema, record: Any, actor: User, action: str) -> Any:
    current = visible(actor, schema, action, listing=False).filter(pk=record.pk).first()
    if current is None:
        raise PermissionDenied(_("You do not have permission to do this on this record."))
    return current


def _owner_json(user: User | None) -> dict | None:
    return None if user is None else {"id": user.pk, "name": str(user)}


# --- refusals ------------------------------------------------------------------------

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

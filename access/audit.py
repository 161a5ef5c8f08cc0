"""The org configuration audit log: one helper, `record`, called by the actions that change an
organisation's configuration (fields, modules, profiles, roles, groups, sharing rules, org-wide
defaults, locking, team spaces, modules, members and requesters), inside their transaction.

Shaped like Zulip's RealmAuditLog and NetBox's ObjectChange: the actor and the object are kept as
links *and* as name copies (the entry still reads right after either is renamed or deleted), the
values before and after are JSON, and the request id ties the entry to the request that made it.
"""
from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from .context import request_id_var
from .generations import access_changed
from .models import AuditEntry, Organization

Event = AuditEntry.Event


def _jsonable(value: Any) -> Any:
    """Values as JSON: model instances by pk, sets sorted, dates as ISO text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=str)
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return value.pk
    if isinstance(value, (datetime.date, datetime.datetime, decimal.Decimal, uuid.UUID)):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def changed(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs, before and after (so an entry shows what changed)."""
    old, new = _jsonable(old or {}), _jsonable(new or {})
    keys = [k for k in {**old, **new} if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys if k in old}, {k: new.get(k) for k in keys if k in new}


def object_type_of(obj: Any) -> str:
    """`app.model` of a model instance, e.g. `access.sharingrule`."""
    return obj._meta.label_lower


def record(org: Organization | int, event: str, *, actor: Any, obj: Any = None, object_type: str = "",
           object_id: Any = "", object_name: str = "", old: dict[str, Any] | None = None,
           new: dict[str, Any] | None = None, only_changes: bool = True) -> AuditEntry | None:
    """Append one audit entry. `obj` (a model instance) gives the object's type, id and name unless
    they are given. With both `old` and `new`, only the changed keys are kept, and nothing is written
    when nothing changed (saving a form unchanged is no configuration change).

    Every configuration change passes here, so this is also where the org's cached access
    settings (`access.generations`) are marked stale."""
    if obj is not None:
        object_type = object_type or object_type_of(obj)
        object_id = object_id or obj.pk
        object_name = object_name or str(obj)
    if old is not None and new is not None and only_changes:
        old, new = changed(old, new)
        if not old and not new:
            return None
    else:
        old = _jsonable(old) if old is not None else None
        new = _jsonable(new) if new is not None else None
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    access_changed(getattr(org, "pk", org))
    return AuditEntry.objects.create(
        org_id=getattr(org, "pk", org), event=event,
        actor=actor if is_user else None, actor_name=str(actor)[:200] if is_user else "",
        object_type=object_type[:60], object_id=str(object_id if object_id is not None else "")[:100],
        object_name=str(object_name)[:200], old_value=old, new_value=new, request_id=request_id_var.get()[:64])

"""Manual shares, read side: per-record grants stored as django-guardian object permissions.

Each shareable record model has two direct foreign-key permission models (guardian's
`UserObjectPermissionBase` / `GroupObjectPermissionBase`, defined next to the record models):
a read-only share is a `view_<model>` permission, a read/write share adds `change_<model>`.
Group shares name the hidden auth group of one of our groups (`Group.auth_group`).

`access` knows no record models: it finds the permission models through guardian's own lookup.
Only `access.share_actions` writes these rows; `access.visibility` reads them as `pk IN (...)`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import Permission
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from guardian.models import GroupObjectPermissionBase
from guardian.utils import get_direct_obj_perms_models, get_group_obj_perms_model, get_user_obj_perms_model

from .models import Group, SharingRule, User

READ, READ_WRITE = "read", "read_write"
# Which guardian permissions a share level holds, and which one an action needs.
LEVEL_PERMISSIONS = {READ: ("view",), READ_WRITE: ("view", "change")}
ACTION_PERMISSION = {"view": "view", "export": "view", "edit": "change"}


@functools.cache
def share_models(model: type) -> tuple[type, type] | None:
    """The (user, group) permission models of a record model, or None if it cannot be shared."""
    user_model, group_model = get_user_obj_perms_model(model), get_group_obj_perms_model(model)
    if user_model.objects.is_generic() or group_model.objects.is_generic():
        return None
    return user_model, group_model


# Permission ids by (model label, verb). They change only when permissions are re-created,
# which happens in `migrate` or `flush`, and both send post_migrate, which empties this.
_permission_ids: dict[tuple[str, str], int] = {}


@receiver(post_migrate)
def _forget_permission_ids(**kwargs: Any) -> None:
    _permission_ids.clear()


def permission_id(model: type, verb: str) -> int | None:
    """The id of the `<verb>_<model>` permission (one query per process, then remembered)."""
    meta = model._meta
    key = (meta.label_lower, verb)
    if key not in _permission_ids:
        found = (Permission.objects.filter(content_type__app_label=meta.app_label,
                                           content_type__model=meta.model_name,
                                           codename=f"{verb}_{meta.model_name}")
                 .values_list("pk", flat=True).first())
        if found is None:  # not created yet: ask again next time
            return None
        _permission_ids[key] = found
    return _permission_ids[key]


@dataclass(frozen=True)
class ManualShare:
    """One share of one record with a user or a group, as people see it (one or two rows)."""

    record: Any
    user: User | None
    group: Group | None
    access: str
    granted_by: User | None
    granted_at: datetime | None

    @property
    def key(self) -> str:
        """How forms name the share: "user:<id>" or "group:<id>"."""
        return f"user:{self.user.pk}" if self.user is not None else f"group:{self.group.pk}"

    @property
    def target(self) -> User | Group:
        return self.user if self.user is not None else self.group

    def get_access_display(self) -> str:
        return str(SharingRule.Access(self.access).label)


def _collect(record: Any, rows: list, target_of) -> dict[Any, ManualShare]:
    """Fold permission rows (oldest first) into one share per user or group."""
    found: dict[Any, ManualShare] = {}
    for row in rows:
        target = target_of(row)
        if target is None:
            continue
        known = found.get(target.pk)
        writes = row.permission.codename.startswith("change_") or (known is not None and known.access == READ_WRITE)
        found[target.pk] = ManualShare(
            record=record, user=target if isinstance(target, User) else None,
            group=target if isinstance(target, Group) else None, access=READ_WRITE if writes else READ,
            granted_by=row.granted_by, granted_at=row.granted_at)
    return found


def record_shares(record: Any) -> list[ManualShare]:
    """Who the record is shared with by hand, oldest first (two queries, however many shares)."""
    models_ = share_models(type(record))
    if models_ is None or record.pk is None:
        return []
    user_model, group_model = models_
    scope = {"org_id": record.org_id, "content_object_id": record.pk}
    by_user = _collect(record, list(user_model.objects.filter(**scope).select_related(
        "user", "granted_by", "permission").order_by("granted_at", "pk")), lambda row: row.user)
    by_group = _collect(record, list(group_model.objects.filter(**scope).select_related(
        "group__org_group", "granted_by", "permission").order_by("granted_at", "pk")),
        lambda row: getattr(row.group, "org_group", None))
    shares = list(by_user.values()) + list(by_group.values())
    return sorted(shares, key=lambda share: (share.granted_at or datetime.min, share.key))


def find_share(record: Any, key: str) -> ManualShare | None:
    """The share a form names ("user:<id>" / "group:<id>"), or None."""
    return next((share for share in record_shares(record) if share.key == key), None)


def group_share_count(group: Group) -> int:
    """How many records are shared by hand with the group, over every shareable module."""
    return sum(model.objects.filter(group_id=group.auth_group_id).values("content_object_id").distinct().count()
               for model in get_direct_obj_perms_models(GroupObjectPermissionBase, get_group_obj_perms_model()))

"""Writes around one record's access: manual shares, and the access log of exports.

Manual shares are django-guardian object permissions (see `access.shares`), read by the
visibility predicate; these actions are the only code that writes them. `access` knows no
module schemas, so callers pass the module key and the record itself (crm's views fetch it
through `get_record` first).
"""
from __future__ import annotations

from typing import Any, Callable

from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .generations import shares_changed
from .models import AccessLog, Group, Membership, Organization, SharingRule, User
from .shares import LEVEL_PERMISSIONS, ManualShare, permission_id, share_models
from .visibility import current_membership


# --- who may share -------------------------------------------------------------------------

def owner_role_path(org: Organization, owner_id: int | None) -> str | None:
    """The owner's place in the org chart ("/3/7/"), or None (one query)."""
    if owner_id is None:
        return None
    return (Membership.objects.filter(org=org, user_id=owner_id, org_role__isnull=False)
            .values_list("org_role__path", flat=True).first())


def may_manage_shares(actor: User, org: Organization, record: Any, *, owner_path: str | None = None) -> bool:
    """The record's owner, a user above the owner in the role hierarchy, or an org administrator.

    "Above" is the same test the visibility predicate uses: the owner's role path starts with the
    actor's, and it is not the actor's own role. `owner_path` saves the query when known."""
    membership = current_membership(actor)
    if membership is None or getattr(actor, "org", None) is None or actor.org.pk != org.pk:
        return False
    if getattr(record, "org_id", None) != org.pk:
        return False
    if membership.is_admin:
        return True
    owner_id = getattr(record, "owner_id", None)
    if owner_id is not None and owner_id == actor.pk:
        return True
    role = membership.org_role
    if role is None or owner_id is None:
        return False
    if owner_path is None:
        owner_path = owner_role_path(org, owner_id)
    return bool(owner_path) and owner_path.startswith(role.path) and owner_path != role.path


def _refuse() -> PermissionDenied:
    return PermissionDenied(_("Only the record's owner, someone above the owner in the role hierarchy or an "
                              "administrator may change who it is shared with."))


def _check_record(org: Organization, module_key: str, record: Any) -> None:
    # A share names a record by module and id: a record filed under the wrong module key would
    # open another module's record with the same id.
    declared = getattr(record, "MODULE_KEY", None)
    if getattr(record, "pk", None) is None or getattr(record, "org_id", None) != org.pk or (
            isinstance(declared, str) and declared and declared != module_key):
        raise PermissionDenied(_("Record not found."))


def _lock_record_shares(org: Organization, module_key: str, record_id: int) -> None:
    """One share change per record at a time (no duplicate share for the same target)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                       [f"record-share:{org.pk}:{module_key}:{record_id}"])


# --- listeners -------------------------------------------------------------------------------

# Called inside the share action's transaction as listener(kind, record, actor, details), kind
# "shared" or "unshared", details {"user"|"group": name, "access": level}. crm registers the
# writer of the record's timeline entry (access knows no timeline).
ShareListener = Callable[[str, Any, User, dict[str, Any]], None]
_share_listeners: list[ShareListener] = []


def register_share_listener(listener: ShareListener) -> None:
    if listener not in _share_listeners:
        _share_listeners.append(listener)


def _tell(kind: str, record: Any, actor: User, *, user: User | None, group: Group | None, access: str) -> None:
    details: dict[str, Any] = {"access": access}
    if user is not None:
        details["user"] = {"id": user.pk, "name": str(user)}
    else:
        details["group"] = {"id": group.pk, "name": group.name}
    for listener in _share_listeners:
        listener(kind, record, actor, details)


# --- actions ---------------------------------------------------------------------------------

@transaction.atomic
def do_share_record(org: Organization, module_key: str, record: Any, *, user: User | None = None,
                    group: Group | None = None, access: str, actor: User) -> ManualShare:
    """Share one record with an active member or a group of its org, read only or read/write.

    Allowed to the owner, users above the owner in the role hierarchy and administrators.
    Sharing again with the same user or group changes the access of the existing share."""
    _check_record(org, module_key, record)
    if not may_manage_shares(actor, org, record):
        raise _refuse()
    models_ = share_models(type(record))
    if models_ is None:
        raise ValidationError({"target": [_("Records of this module cannot be shared one by one.")]})
    if (user is None) == (group is None):
        raise ValidationError({"target": [_("Share with either a user or a group.")]})
    if access not in SharingRule.Access.values:
        raise ValidationError({"access": [_("Choose read only or read/write.")]})
    if user is not None:
        if not Membership.objects.filter(org=org, user_id=user.pk, is_active=True, user__is_active=True).exists():
            raise ValidationError({"user": [_("Choose an active user of this organisation.")]})
        if user.pk == getattr(record, "owner_id", None):
            raise ValidationError({"user": [_("The owner already has full access to this record.")]})
    elif group.org_id != org.pk:
        raise ValidationError({"group": [_("Choose a group of this organisation.")]})
    _lock_record_shares(org, module_key, record.pk)
    shares_changed(org.pk, type(record))
    rows, target = _rows_of(models_, record, user=user, group=group)
    rows.delete()  # sharing again replaces the access
    permissions = [permission_id(type(record), verb) for verb in LEVEL_PERMISSIONS[access]]
    if None in permissions:
        raise ImproperlyConfigured(f"permissions of {type(record).__name__} are missing: run migrate")
    made = rows.model.objects.bulk_create([
        rows.model(org=org, content_object=record, permission_id=pk, granted_by=actor, **target)
        for pk in permissions])
    _tell("shared", record, actor, user=user, group=group, access=access)
    return ManualShare(record=record, user=user, group=group, access=access, granted_by=actor,
                       granted_at=made[0].granted_at if made else timezone.now())


def _rows_of(models_: tuple[type, type], record: Any, *, user: User | None, group: Group | None):
    """The permission rows of one share, and the target columns they carry."""
    user_model, group_model = models_
    if user is not None:
        target = {"user_id": user.pk}
        return user_model.objects.filter(org_id=record.org_id, content_object_id=record.pk, **target), target
    target = {"group_id": group.auth_group_id}
    return group_model.objects.filter(org_id=record.org_id, content_object_id=record.pk, **target), target


@transaction.atomic
def do_revoke_share(share: ManualShare, *, actor: User) -> None:
    """Remove a manual share. Allowed to those who may share the record."""
    org = getattr(actor, "org", None)
    record = share.record
    models_ = share_models(type(record))
    if org is None or models_ is None or getattr(record, "org_id", None) != org.pk:
        raise PermissionDenied(_("Share not found."))
    if not may_manage_shares(actor, org, record):
        raise _refuse()
    rows, _target = _rows_of(models_, record, user=share.user, group=share.group)
    shares_changed(org.pk, type(record))
    if not rows.delete()[0]:
        raise PermissionDenied(_("Share not found."))
    _tell("unshared", record, actor, user=share.user, group=share.group, access=share.access)


def do_log_access(org: Organization, module_key: str, *, count: int, filters: dict | None = None,
                  action: str = "export", actor: User) -> AccessLog:
    """Record an export or bulk download: who, which module, how many rows, with which filters."""
    if current_membership(actor) is None or getattr(actor, "org", None) is None or actor.org.pk != org.pk:
        raise PermissionDenied(_("You are not an active member of this organisation."))
    return AccessLog.objects.create(org=org, user=actor, user_name=str(actor)[:200], action=action[:40],
                                    module=module_key[:100], count=max(int(count), 0), filters=filters or {})

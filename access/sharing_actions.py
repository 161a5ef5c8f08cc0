"""Writes of the sharing model: profiles, the role hierarchy (org chart), groups, sharing rules
and who holds which profile and role. Administrators only.

`access` knows no module schemas, so callers pass what is needed to validate against them:
the module keys (`known_modules`), a module's field keys (`known_field_keys`) and, for a
sharing rule's criteria, a `validate_criteria` callable (crm's `criteria.validate` bound to the
module's schema). Every refusal is a ValidationError keyed by the field it is about, raised
before anything is written.
"""
from __future__ import annotations

import copy
import uuid
from typing import Any, Callable, Collection, Iterable

from django.contrib.auth.models import Group as AuthGroup
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext as _

from . import audit
from .models import (
    PERMISSIONS, Group, Membership, Organization, OrgRole, Profile, SharingRule, User,
)
from .shares import group_share_count
from .visibility import is_org_admin

DEFAULT_SCOPE = "*"
FIELD_LEVELS = ("hidden", "read_only", "read_write")
NAME_MAX = 100


# --- checks ----------------------------------------------------------------------------------

def _require_admin_of(actor: User, org_id: int) -> None:
    """Only an administrator of the org the object belongs to; anyone else is refused alike."""
    if not is_org_admin(actor):
        raise PermissionDenied(_("Only an organisation administrator may do this."))
    if getattr(actor, "org", None) is None or actor.org.pk != org_id:
        raise PermissionDenied


def _clean_name(value: Any, field: str = "name") -> str:
    name = str(value or "").strip()
    if not name:
        raise ValidationError({field: [_("This field is required.")]})
    if len(name) > NAME_MAX:
        raise ValidationError({field: [_("Use at most %(max)d characters.") % {"max": NAME_MAX}]})
    return name


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


# --- profiles --------------------------------------------------------------------------------

def _profile_name_taken(org_id: int, name: str, exclude_pk: int | None = None) -> bool:
    return Profile.objects.filter(org_id=org_id, name__iexact=name).exclude(pk=exclude_pk).exists()


@transaction.atomic
def do_clone_profile(profile: Profile, name: str, *, actor: User) -> Profile:
    """A new, editable profile with the permissions and field levels of `profile`."""
    _require_admin_of(actor, profile.org_id)
    name = _clean_name(name)
    if _profile_name_taken(profile.org_id, name):
        raise ValidationError({"name": [_("A profile with this name already exists.")]})
    clone = Profile.objects.create(org_id=profile.org_id, name=name, description=profile.description,
                                   permissions=copy.deepcopy(profile.permissions),
                                   field_levels=copy.deepcopy(profile.field_levels), is_system=False)
    audit.record(profile.org_id, audit.Event.PROFILE_CREATED, actor=actor, obj=clone,
                 new={"cloned_from": profile.name, "permissions": clone.permissions,
                      "field_levels": clone.field_levels})
    return clone


@transaction.atomic
def do_update_profile(profile: Profile, *, name: str, description: str = "", actor: User) -> Profile:
    """Rename a profile and change its description. Shipped profiles keep their names: new
    users are given them by name."""
    _require_admin_of(actor, profile.org_id)
    name = _clean_name(name)
    description = str(description or "").strip()
    errors: dict[str, list[str]] = {}
    if profile.is_system and name != profile.name:
        errors["name"] = [_("A shipped profile keeps its name; clone it to make one with another name.")]
    elif _profile_name_taken(profile.org_id, name, exclude_pk=profile.pk):
        errors["name"] = [_("A profile with this name already exists.")]
    if len(description) > 255:
        errors["description"] = [_("Use at most %(max)d characters.") % {"max": 255}]
    _raise(errors)
    old = {"name": profile.name, "description": profile.description}
    profile.name, profile.description = name, description
    profile.save(update_fields=["name", "description"])
    audit.record(profile.org_id, audit.Event.PROFILE_CHANGED, actor=actor, obj=profile,
                 old=old, new={"name": name, "description": description})
    return profile


@transaction.atomic
def do_set_profile_permissions(profile: Profile, grid: dict[str, dict[str, bool]], *, actor: User,
                               known_modules: Collection[str]) -> Profile:
    """Set the per-module switches from a full grid: a "*" row (the default) and one row per
    module, each with every permission. A module row stores only where it differs from the
    default row, so it keeps following the default elsewhere. Stored rows of modules not in
    `known_modules` (not shown in the grid) are kept."""
    _require_admin_of(actor, profile.org_id)
    problems: list[str] = []
    if DEFAULT_SCOPE not in grid:
        problems.append(_("The default row (“*”) is required."))
    unknown = sorted(set(grid) - set(known_modules) - {DEFAULT_SCOPE})
    if unknown:
        problems.append(_("Unknown modules: %(keys)s.") % {"keys": ", ".join(unknown)})
    for scope, row in grid.items():
        if not isinstance(row, dict) or set(row) != set(PERMISSIONS) or not all(
                isinstance(v, bool) for v in row.values()):
            problems.append(_("The row “%(scope)s” must give every permission (%(names)s) as true or false.")
                            % {"scope": scope, "names": ", ".join(PERMISSIONS)})
    _raise({"permissions": problems} if problems else {})
    default = {p: grid[DEFAULT_SCOPE][p] for p in PERMISSIONS}
    permissions = {scope: row for scope, row in profile.permissions.items()
                   if scope != DEFAULT_SCOPE and scope not in known_modules}
    permissions[DEFAULT_SCOPE] = default
    for scope, row in grid.items():
        if scope == DEFAULT_SCOPE:
            continue
        differs = {p: row[p] for p in PERMISSIONS if row[p] != default[p]}
        if differs:
            permissions[scope] = differs
    old = profile.permissions
    profile.permissions = permissions
    profile.save(update_fields=["permissions"])
    audit.record(profile.org_id, audit.Event.PROFILE_PERMISSIONS_CHANGED, actor=actor, obj=profile,
                 old=old, new=permissions)
    return profile


@transaction.atomic
def do_set_profile_field_levels(profile: Profile, module_key: str, levels: dict[str, str], *, actor: User,
                                known_modules: Collection[str], known_field_keys: Collection[str]) -> Profile:
    """Set hidden / read_only / read_write per field of one module (read_write is not stored).
    Fields not named keep their level."""
    _require_admin_of(actor, profile.org_id)
    if module_key not in known_modules:
        raise ValidationError({"module": [_("Unknown module.")]})
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(levels) - set(known_field_keys))
    if unknown:
        errors["fields"] = [_("Unknown fields: %(keys)s.") % {"keys": ", ".join(unknown)}]
    for key, level in levels.items():
        if key in known_field_keys and level not in FIELD_LEVELS:
            errors[key] = [_("Choose hidden, read-only or read/write.")]
    _raise(errors)
    module_levels = dict((profile.field_levels or {}).get(module_key) or {})
    for key, level in levels.items():
        if level == "read_write":
            module_levels.pop(key, None)
        else:
            module_levels[key] = level
    field_levels = dict(profile.field_levels or {})
    if module_levels:
        field_levels[module_key] = module_levels
    else:
        field_levels.pop(module_key, None)
    old = (profile.field_levels or {}).get(module_key) or {}
    profile.field_levels = field_levels
    profile.save(update_fields=["field_levels"])
    # Keyed by field: the entry shows which fields changed level (missing: read/write).
    audit.record(profile.org_id, audit.Event.PROFILE_FIELD_LEVELS_CHANGED, actor=actor, obj=profile,
                 old={"module": module_key, **old}, new={"module": module_key, **module_levels})
    return profile


@transaction.atomic
def do_delete_profile(profile: Profile, *, actor: User) -> None:
    """Delete a profile of the org's own making that nobody holds."""
    _require_admin_of(actor, profile.org_id)
    if profile.is_system:
        raise ValidationError({"profile": [_("“%(name)s” is a shipped profile and cannot be deleted.")
                                           % {"name": profile.name}]})
    holders = Membership.objects.filter(profile=profile).count()
    if holders:
        raise ValidationError({"profile": [_("“%(name)s” is held by %(count)d users; give them another "
                                             "profile first.") % {"name": profile.name, "count": holders}]})
    audit.record(profile.org_id, audit.Event.PROFILE_DELETED, actor=actor, obj=profile,
                 old={"name": profile.name, "permissions": profile.permissions,
                      "field_levels": profile.field_levels}, only_changes=False)
    profile.delete()


@transaction.atomic
def do_set_user_profile(membership: Membership, profile: Profile, *, actor: User) -> Membership:
    """Give a member a profile; their next request uses it. Administrators keep full access
    whatever their profile."""
    _require_admin_of(actor, membership.org_id)
    if profile is None or profile.org_id != membership.org_id:
        raise ValidationError({"profile": [_("Choose a profile of this organisation.")]})
    old = Profile.objects.filter(pk=membership.profile_id).values_list("name", flat=True).first()
    membership.profile = profile
    membership.save(update_fields=["profile"])
    audit.record(membership.org_id, audit.Event.USER_PROFILE_CHANGED, actor=actor, obj=membership.user,
                 old={"profile": old}, new={"profile": profile.name})
    return membership


# --- roles (the org chart) -----------------------------------------------------------------

def _lock_org_roles(org_id: int) -> None:
    """Moves and additions read the tree, then write it: one org's chart at a time (the rows
    are locked in pk order, like every lock, to avoid deadlocks)."""
    list(OrgRole.objects.filter(org_id=org_id).order_by("pk").select_for_update().values_list("pk", flat=True))


def _check_parent(org_id: int, parent: OrgRole | None) -> OrgRole | None:
    if parent is None:
        return None
    if parent.org_id != org_id:
        raise ValidationError({"parent": [_("Choose a role of this organisation.")]})
    return OrgRole.objects.get(pk=parent.pk)  # its path as it is now, under the lock


@transaction.atomic
def do_create_role(org: Organization, *, name: str, parent: OrgRole | None = None, actor: User) -> OrgRole:
    """Add a role to the org chart, under `parent` (None: at the top)."""
    _require_admin_of(actor, org.pk)
    name = _clean_name(name)
    _lock_org_roles(org.pk)
    parent = _check_parent(org.pk, parent)
    prefix = parent.path if parent is not None else "/"
    role = OrgRole.objects.create(org=org, name=name, parent=parent, path="")
    role.path = f"{prefix}{role.pk}/"
    if len(role.path) > OrgRole._meta.get_field("path").max_length:
        raise ValidationError({"parent": [_("The org chart is too deep under this role.")]})
    role.save(update_fields=["path"])
    audit.record(org, audit.Event.ROLE_CREATED, actor=actor, obj=role,
                 new={"name": name, "parent": parent.name if parent else None})
    return role


@transaction.atomic
def do_rename_role(role: OrgRole, name: str, *, actor: User) -> OrgRole:
    _require_admin_of(actor, role.org_id)
    old = role.name
    role.name = _clean_name(name)
    role.save(update_fields=["name"])
    audit.record(role.org_id, audit.Event.ROLE_RENAMED, actor=actor, obj=role, old={"name": old},
                 new={"name": role.name})
    return role


@transaction.atomic
def do_move_role(role: OrgRole, parent: OrgRole | None, *, actor: User) -> OrgRole:
    """Move a role (with everything below it) under another parent (None: to the top). The
    paths of the whole subtree change in one statement, in this transaction."""
    _require_admin_of(actor, role.org_id)
    _lock_org_roles(role.org_id)
    role = OrgRole.objects.get(pk=role.pk)
    parent = _check_parent(role.org_id, parent)
    if parent is not None and parent.path.startswith(role.path):
        raise ValidationError({"parent": [
            _("“%(role)s” cannot be moved under itself or under one of its subordinates (“%(parent)s”).")
            % {"role": role.name, "parent": parent.name}]})
    if (parent.pk if parent else None) == role.parent_id:
        return role
    old_path = role.path
    new_path = f"{parent.path if parent is not None else '/'}{role.pk}/"
    subtree = OrgRole.objects.filter(org_id=role.org_id, path__startswith=old_path)
    deepest = max(len(p) for p in subtree.values_list("path", flat=True))
    if deepest - len(old_path) + len(new_path) > OrgRole._meta.get_field("path").max_length:
        raise ValidationError({"parent": [_("The org chart is too deep under this role.")]})
    subtree.update(path=Concat(Value(new_path), Substr("path", len(old_path) + 1)))
    old_parent = OrgRole.objects.filter(pk=role.parent_id).values_list("name", flat=True).first()
    OrgRole.objects.filter(pk=role.pk).update(parent=parent)
    role.refresh_from_db()
    audit.record(role.org_id, audit.Event.ROLE_MOVED, actor=actor, obj=role, old={"parent": old_parent},
                 new={"parent": parent.name if parent else None})
    return role


@transaction.atomic
def do_delete_role(role: OrgRole, *, actor: User) -> None:
    """Delete a role with no roles below it, no members and no sharing rule naming it."""
    _require_admin_of(actor, role.org_id)
    _lock_org_roles(role.org_id)
    if OrgRole.objects.filter(parent_id=role.pk).exists():
        raise ValidationError({"role": [_("“%(name)s” has roles below it; move or delete them first.")
                                        % {"name": role.name}]})
    members = Membership.objects.filter(org_role_id=role.pk).count()
    if members:
        raise ValidationError({"role": [_("“%(name)s” has %(count)d members; give them another role first.")
                                        % {"name": role.name, "count": members}]})
    rules = list(SharingRule.objects.filter(Q(owner_role_id=role.pk) | Q(target_role_id=role.pk))
                 .values_list("name", flat=True))
    if rules:
        raise ValidationError({"role": [_("“%(name)s” is used by sharing rules: %(rules)s. Delete them first.")
                                        % {"name": role.name, "rules": ", ".join(rules)}]})
    audit.record(role.org_id, audit.Event.ROLE_DELETED, actor=actor, obj=role, old={"name": role.name},
                 only_changes=False)
    role.delete()


@transaction.atomic
def do_set_user_role(membership: Membership, role: OrgRole | None, *, actor: User) -> Membership:
    """Place a member in the org chart (None: no role). Effective at once: visibility reads the
    membership's role on every request."""
    _require_admin_of(actor, membership.org_id)
    if role is not None and role.org_id != membership.org_id:
        raise ValidationError({"org_role": [_("Choose a role of this organisation.")]})
    old = OrgRole.objects.filter(pk=membership.org_role_id).values_list("name", flat=True).first()
    membership.org_role = role
    membership.save(update_fields=["org_role"])
    audit.record(membership.org_id, audit.Event.USER_ORG_ROLE_CHANGED, actor=actor, obj=membership.user,
                 old={"role": old}, new={"role": role.name if role else None})
    return membership


# --- groups ------------------------------------------------------------------------------------

def _check_members(org_id: int, user_ids: Iterable[int], role_ids: Iterable[int]) -> tuple[set[int], set[int]]:
    user_ids, role_ids = set(map(int, user_ids)), set(map(int, role_ids))
    errors: dict[str, list[str]] = {}
    members = set(Membership.objects.filter(org_id=org_id, user_id__in=user_ids).values_list("user_id", flat=True))
    if user_ids - members:
        errors["users"] = [_("Choose users of this organisation.")]
    roles = set(OrgRole.objects.filter(org_id=org_id, pk__in=role_ids).values_list("pk", flat=True))
    if role_ids - roles:
        errors["roles"] = [_("Choose roles of this organisation.")]
    _raise(errors)
    return user_ids, role_ids


def _group_name(org_id: int, name: str, exclude_pk: int | None = None) -> str:
    name = _clean_name(name)
    if Group.objects.filter(org_id=org_id, name__iexact=name).exclude(pk=exclude_pk).exists():
        raise ValidationError({"name": [_("A group with this name already exists.")]})
    return name


@transaction.atomic
def do_create_group(org: Organization, *, name: str, user_ids: Iterable[int] = (), role_ids: Iterable[int] = (),
                    actor: User) -> Group:
    """A named set of users and roles (a role brings everyone who holds it)."""
    _require_admin_of(actor, org.pk)
    name = _group_name(org.pk, name)
    user_ids, role_ids = _check_members(org.pk, user_ids, role_ids)
    # guardian's group permissions (manual shares) name an auth group: a hidden twin per group.
    twin = AuthGroup.objects.create(name=f"org-{org.pk}-group-{uuid.uuid4().hex}")
    group = Group.objects.create(org=org, name=name, auth_group=twin)
    group.users.set(user_ids)
    group.roles.set(role_ids)
    audit.record(org, audit.Event.GROUP_CREATED, actor=actor, obj=group,
                 new={"name": name, "users": user_ids, "roles": role_ids})
    return group


@transaction.atomic
def do_update_group(group: Group, *, name: str, user_ids: Iterable[int], role_ids: Iterable[int],
                    actor: User) -> Group:
    _require_admin_of(actor, group.org_id)
    name = _group_name(group.org_id, name, exclude_pk=group.pk)
    user_ids, role_ids = _check_members(group.org_id, user_ids, role_ids)
    old = {"name": group.name, "users": set(group.users.values_list("pk", flat=True)),
           "roles": set(group.roles.values_list("pk", flat=True))}
    group.name = name
    group.save(update_fields=["name"])
    group.users.set(user_ids)
    group.roles.set(role_ids)
    audit.record(group.org_id, audit.Event.GROUP_CHANGED, actor=actor, obj=group, old=old,
                 new={"name": name, "users": user_ids, "roles": role_ids})
    return group


@transaction.atomic
def do_delete_group(group: Group, *, actor: User) -> None:
    """Delete a group no sharing rule and no manual share names (deleting those silently would
    take access away)."""
    _require_admin_of(actor, group.org_id)
    rules = list(SharingRule.objects.filter(Q(owner_group_id=group.pk) | Q(target_group_id=group.pk))
                 .values_list("name", flat=True))
    if rules:
        raise ValidationError({"group": [_("“%(name)s” is used by sharing rules: %(rules)s. Delete them first.")
                                         % {"name": group.name, "rules": ", ".join(rules)}]})
    shares = group_share_count(group)
    if shares:
        raise ValidationError({"group": [_("“%(name)s” holds %(count)d manual record shares; remove them first.")
                                         % {"name": group.name, "count": shares}]})
    audit.record(group.org_id, audit.Event.GROUP_DELETED, actor=actor, obj=group,
                 old={"name": group.name, "users": set(group.users.values_list("pk", flat=True)),
                      "roles": set(group.roles.values_list("pk", flat=True))}, only_changes=False)
    group.auth_group.delete()  # takes the group with it


# --- sharing rules ---------------------------------------------------------------------------

ROLE_KINDS = (SharingRule.Subject.ROLE, SharingRule.Subject.ROLE_AND_BELOW)


def _subject(org_id: int, prefix: str, kind: str, role: OrgRole | None, group: Group | None,
             errors: dict[str, list[str]]) -> tuple[OrgRole | None, Group | None]:
    """Check one subject (owner_* or target_*); return the role and group to store."""
    if kind not in SharingRule.Subject.values:
        errors[f"{prefix}_kind"] = [_("Choose a role, a role and its subordinates, or a group.")]
        return None, None
    if kind in ROLE_KINDS:
        if role is None:
            errors[f"{prefix}_role"] = [_("Choose a role.")]
        elif role.org_id != org_id:
            errors[f"{prefix}_role"] = [_("Choose a role of this organisation.")]
        return role, None
    if group is None:
        errors[f"{prefix}_group"] = [_("Choose a group.")]
    elif group.org_id != org_id:
        errors[f"{prefix}_group"] = [_("Choose a group of this organisation.")]
    return None, group


@transaction.atomic
def do_create_sharing_rule(org: Organization, module_key: str, *, name: str, target_kind: str,
                           target_role: OrgRole | None = None, target_group: Group | None = None,
                           owner_kind: str = "", owner_role: OrgRole | None = None,
                           owner_group: Group | None = None, criteria: dict | None = None,
                           access: str = SharingRule.Access.READ, actor: User,
                           known_modules: Collection[str],
                           validate_criteria: Callable[[dict], dict] | None = None) -> SharingRule:
    """Share a module's records with a role, a role and its subordinates, or a group: either the
    records owned by members of a role/group (`owner_*`) or those matching `criteria` (exactly
    one of the two). `validate_criteria` checks criteria against the module's schema and returns
    them cleaned (crm's `criteria.validate`); it is required when criteria are given."""
    _require_admin_of(actor, org.pk)
    if module_key not in known_modules:
        raise ValidationError({"module": [_("Unknown module.")]})
    errors: dict[str, list[str]] = {}
    try:
        name = _clean_name(name)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    has_owner, has_criteria = bool(owner_kind), criteria not in (None, {}, "")
    if has_owner and has_criteria:
        errors["criteria"] = [_("Share either the records owned by a role or group, or the records matching "
                                "criteria, not both.")]
    elif not has_owner and not has_criteria:
        errors["owner_kind"] = [_("Choose whose records to share, or give criteria.")]
    elif has_owner:
        owner_role, owner_group = _subject(org.pk, "owner", owner_kind, owner_role, owner_group, errors)
    else:
        owner_kind, owner_role, owner_group = "", None, None
        if validate_criteria is None:
            raise TypeError("validate_criteria is required with criteria")
        try:
            criteria = validate_criteria(criteria)
        except ValidationError as exc:
            errors["criteria"] = list(exc.messages)
        else:
            if not next(iter(criteria.values())):
                errors["criteria"] = [_("Give at least one condition.")]
    target_role, target_group = _subject(org.pk, "target", target_kind, target_role, target_group, errors)
    if access not in SharingRule.Access.values:
        errors["access"] = [_("Choose read only or read/write.")]
    _raise(errors)
    rule = SharingRule.objects.create(
        org=org, module=module_key, name=name, owner_kind=owner_kind if has_owner else "",
        owner_role=owner_role if has_owner else None, owner_group=owner_group if has_owner else None,
        criteria=None if has_owner else criteria, target_kind=target_kind, target_role=target_role,
        target_group=target_group, access=access)
    audit.record(org, audit.Event.SHARING_RULE_CREATED, actor=actor, obj=rule, object_name=rule.name,
                 new=_rule_values(rule))
    return rule


def _rule_values(rule: SharingRule) -> dict[str, Any]:
    """A sharing rule as the audit log keeps it: names, not only ids."""
    def subject(kind: str, role: OrgRole | None, group: Group | None) -> str | None:
        return (role.name if role else group.name if group else None) if kind else None

    return {"module": rule.module, "name": rule.name, "owner_kind": rule.owner_kind or None,
            "owner": subject(rule.owner_kind, rule.owner_role, rule.owner_group), "criteria": rule.criteria,
            "target_kind": rule.target_kind, "target": subject(rule.target_kind, rule.target_role, rule.target_group),
            "access": rule.access}


@transaction.atomic
def do_delete_sharing_rule(rule: SharingRule, *, actor: User) -> None:
    _require_admin_of(actor, rule.org_id)
    audit.record(rule.org_id, audit.Event.SHARING_RULE_DELETED, actor=actor, obj=rule, object_name=rule.name,
                 old=_rule_values(rule),
                 only_changes=False)
    rule.delete()

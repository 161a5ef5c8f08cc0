"""Writes of team spaces, their members, team modules and requests."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from access import audit
from access.models import Membership, User
from access.visibility import is_org_admin
from crm import actions as crm_actions
from crm.actions import RecordValidationError

from . import roles
from .models import Requester, TeamMember, TeamModule, TeamSpace
from .schema import schema_for

ICONS = ("kanban", "megaphone", "briefcase", "file-earmark-text", "life-preserver", "clipboard-check",
         "lightbulb", "people", "trophy", "journal-text")


def _require_admin(actor: User) -> None:
    if not is_org_admin(actor):
        raise PermissionDenied(_("Only an organisation administrator may do this."))


def _require_manager(actor: User, space: TeamSpace) -> None:
    if space.org_id != actor.org.pk or not roles.is_manager(actor, space.pk):
        raise PermissionDenied(_("Only a manager of this team space may do this."))


def _active_user(org: Any, user_id: Any) -> User:
    membership = Membership.objects.select_related("user").filter(org=org, user_id=user_id, is_active=True).first()
    if membership is None:
        raise RecordValidationError({"user": [_("Choose an active user of this organisation.")]})
    return membership.user


# --- spaces and members -----------------------------------------------------------

@transaction.atomic
def do_create_space(org: Any, *, name_en: str, name_zh: str = "", description: str = "",
                    manager_ids: list[int] = (), actor: User) -> TeamSpace:
    """An org administrator creates a team space and names its managers."""
    _require_admin(actor)
    if not (name_en or "").strip():
        raise RecordValidationError({"name_en": [_("This field is required.")]})
    too_long = crm_actions.column_length_errors(TeamSpace, {"name_en": name_en.strip(),
                                                            "name_zh": (name_zh or "").strip()})
    if too_long:
        raise RecordValidationError(too_long)
    space = TeamSpace.objects.create(org=org, name_en=name_en.strip(), name_zh=(name_zh or "").strip(),
                                     description=description)
    for user_id in manager_ids:
        TeamMember.objects.create(org=org, space=space, user=_active_user(org, user_id),
                                  role=TeamMember.Role.MANAGER)
    audit.record(org, audit.Event.TEAM_SPACE_CREATED, actor=actor, obj=space,
                 new={"name_en": space.name_en, "name_zh": space.name_zh, "managers": set(map(int, manager_ids))})
    roles.forget(actor)
    return space


@transaction.atomic
def do_set_team_member(space: TeamSpace, user_id: int, role: str, *, actor: User) -> TeamMember:
    """Add a user to a space or change their team role. Only administrators name managers."""
    _require_manager(actor, space)
    if role not in TeamMember.Role.values:
        raise RecordValidationError({"role": [_("Choose a team role.")]})
    user = _active_user(space.org_id, user_id)
    existing = TeamMember.objects.filter(space=space, user=user).first()
    touches_manager = role == TeamMember.Role.MANAGER or (existing and existing.role == TeamMember.Role.MANAGER)
    if touches_manager and not is_org_admin(actor):
        raise PermissionDenied(_("Only an organisation administrator names or removes managers."))
    member, _created = TeamMember.objects.update_or_create(space=space, user=user,
                                                           defaults={"org_id": space.org_id, "role": role})
    # The audit entry also marks the org's cached access settings stale (access.generations):
    # team roles, and the customer pools a team space is a member of (pool.selectors.pool_facts).
    audit.record(space.org_id, audit.Event.TEAM_MEMBER_SET, actor=actor, obj=space,
                 old={"user": str(user), "role": existing.role if existing else None},
                 new={"user": str(user), "role": role}, only_changes=False)
    roles.forget(actor)
    return member


@transaction.atomic
def do_remove_team_member(space: TeamSpace, user_id: int, *, actor: User) -> None:
    _require_manager(actor, space)
    member = TeamMember.objects.filter(space=space, user_id=user_id).first()
    if member is None:
        return
    if member.role == TeamMember.Role.MANAGER and not is_org_admin(actor):
        raise PermissionDenied(_("Only an organisation administrator names or removes managers."))
    # Marks the cached access settings stale too (see do_set_team_member).
    audit.record(space.org_id, audit.Event.TEAM_MEMBER_REMOVED, actor=actor, obj=space,
                 old={"user": str(member.user), "role": member.role})
    member.delete()
    roles.forget(actor)


# --- team modules ------------------------------------------------------------------

def clean_statuses(statuses: Any) -> list[dict]:
    cleaned = crm_actions.clean_options("picklist", statuses)
    return cleaned


@transaction.atomic
def do_create_team_module(space: TeamSpace, *, name_en: str, name_zh: str = "", icon: str = "kanban",
                          statuses: list[dict], manager_only_statuses: list[str] = (),
                          done_statuses: list[str] = (), name_singular_en: str = "", name_singular_zh: str = "",
                          actor: User) -> TeamModule:
    """A team manager (or org administrator) creates a record type for their space. `name_en`/`name_zh`
    name the module (plural); the singular names default to them."""
    _require_manager(actor, space)
    module = TeamModule(org_id=space.org_id, space=space)
    _apply_module_settings(module, name_en, name_zh, icon, statuses, manager_only_statuses, done_statuses)
    _apply_names(module, name_singular_en, name_singular_zh)
    _save_module(module)
    audit.record(space.org_id, audit.Event.TEAM_MODULE_CREATED, actor=actor, obj=module, new=_module_values(module))
    return module


@transaction.atomic
def do_update_team_module(module: TeamModule, *, name_en: str, name_zh: str = "", icon: str = "kanban",
                          statuses: list[dict], manager_only_statuses: list[str] = (),
                          done_statuses: list[str] = (), due_field_id: int | None = None,
                          name_singular_en: str | None = None, name_singular_zh: str | None = None,
                          actor: User) -> TeamModule:
    """Change a module's names, icon and statuses (singular names left as None are kept)."""
    _require_manager(actor, module.space)
    before = _module_values(module)
    in_use = set(module.records.filter(deleted_at__isnull=True).values_list("status", flat=True).distinct())
    _apply_module_settings(module, name_en, name_zh, icon, statuses, manager_only_statuses, done_statuses)
    _apply_names(module,
                 module.name_singular_en if name_singular_en is None else name_singular_en,
                 module.name_singular_zh if name_singular_zh is None else name_singular_zh)
    dropped = in_use - {s["value"] for s in module.statuses}
    if dropped:
        raise RecordValidationError({"statuses": [
            _("Records still use these statuses: %(values)s. Move them first.") % {"values": ", ".join(sorted(dropped))}]})
    if due_field_id:
        definition = schema_for(module).definitions(module.org).filter(pk=due_field_id, field_type="date").first()
        if definition is None:
            raise RecordValidationError({"due_field": [_("Choose a date field of this module.")]})
        module.due_field = definition
    else:
        module.due_field = None
    _save_module(module)
    audit.record(module.org_id, audit.Event.TEAM_MODULE_CHANGED, actor=actor, obj=module, old=before,
                 new=_module_values(module))
    return module


def _module_values(module: TeamModule) -> dict[str, Any]:
    """A team module's settings as the audit log keeps them."""
    return {"space": str(module.space), "name_en": module.name_en, "name_zh": module.name_zh,
            "name_singular_en": module.name_singular_en, "name_singular_zh": module.name_singular_zh,
            "icon": module.icon, "statuses": module.statuses, "manager_only_statuses": module.manager_only_statuses,
            "done_statuses": module.done_statuses, "due_field": module.due_field_id}


def _apply_names(module: TeamModule, singular_en: str, singular_zh: str) -> None:
    """Singular names default to the module's name; names are unique within the space (any case)."""
    module.name_singular_en = (singular_en or "").strip()[:100] or module.name_en
    module.name_singular_zh = (singular_zh or "").strip()[:100] or module.name_zh
    others = TeamModule.objects.filter(org_id=module.org_id, space_id=module.space_id).exclude(pk=module.pk)
    errors = {}
    if others.filter(name_en__iexact=module.name_en).exists():
        errors["name_en"] = [_("This team space already has a module named “%(name)s”.") % {"name": module.name_en}]
    if module.name_zh and others.filter(name_zh__iexact=module.name_zh).exists():
        errors["name_zh"] = [_("This team space already has a module named “%(name)s”.") % {"name": module.name_zh}]
    if errors:
        raise RecordValidationError(errors)


def _save_module(module: TeamModule) -> None:
    """Save; a module of the same name created at the same moment is refused like one seen earlier."""
    try:
        with transaction.atomic():
            module.save()
    except IntegrityError as exc:
        if "uniq_teammodule_space_name" not in str(exc):
            raise
        raise RecordValidationError({"name_en": [_("This team space already has a module of this name.")]}) from exc


def _apply_module_settings(module, name_en, name_zh, icon, statuses, manager_only, done) -> None:
    errors = crm_actions.column_length_errors(TeamModule, {"name_en": (name_en or "").strip(),
                                                           "name_zh": (name_zh or "").strip()})
    if not (name_en or "").strip():
        errors["name_en"] = [_("This field is required.")]
    try:
        module.statuses = clean_statuses(statuses)
    except RecordValidationError as exc:
        errors["statuses"] = exc.message_dict.get("options", [_("Add at least one status.")])
    if errors:
        raise RecordValidationError(errors)
    values = {s["value"] for s in module.statuses}
    module.name_en = name_en.strip()
    module.name_zh = (name_zh or "").strip()
    module.icon = icon if icon in ICONS else "kanban"
    module.manager_only_statuses = [v for v in manager_only if v in values]
    module.done_statuses = [v for v in done if v in values]


@transaction.atomic
def do_set_team_module_retired(module: TeamModule, retired: bool, *, actor: User) -> TeamModule:
    """Retiring hides a module and keeps its records."""
    _require_manager(actor, module.space)
    was = module.retired
    module.retired = retired
    module.save(update_fields=["retired"])
    if was != retired:
        audit.record(module.org_id, audit.Event.TEAM_MODULE_RETIRED if retired else audit.Event.TEAM_MODULE_RESTORED,
                     actor=actor, obj=module, old={"retired": was}, new={"retired": retired})
    return module


@transaction.atomic
def do_set_requesters(module: TeamModule, user_ids: list[int], *, actor: User) -> None:
    """Choose the users of other teams who may submit requests to this module."""
    _require_manager(actor, module.space)
    users = {_active_user(module.org_id, user_id).pk for user_id in user_ids}
    audit.record(module.org_id, audit.Event.REQUESTERS_CHANGED, actor=actor, obj=module,
                 old={"users": set(module.requesters.values_list("user_id", flat=True))}, new={"users": users})
    module.requesters.exclude(user_id__in=users).delete()
    existing = set(module.requesters.values_list("user_id", flat=True))
    Requester.objects.bulk_create([Requester(org_id=module.org_id, module=module, user_id=user_id)
                                   for user_id in users - existing])


# --- requests and assignment ---------------------------------------------------------

REQUEST_PATH = "request"  # the write's path from the Requests tab (review processes may list it)


def do_submit_request(module: TeamModule, data: dict[str, Any], *, actor: User, path: str = REQUEST_PATH) -> Any:
    """A requester submits a request; it starts in the module's first status. Fields the
    manager did not show to requesters are refused by the team guard."""
    schema = schema_for(module).bind(actor.org)
    data = dict(data)
    if module.first_status:
        data["status"] = module.first_status
    return crm_actions.do_create_record(schema, data, actor=actor, path=path, fixed={"requested_by_id": actor.pk})


def do_update_request(record: Any, changes: dict[str, Any], *, version: int, actor: User,
                      path: str = REQUEST_PATH) -> Any:
    """A requester changes their request from the Requests tab (while it is in the first status:
    the team rules decide); a request a review rejected is resubmitted so."""
    return crm_actions.do_update_record(record, changes, version=version, actor=actor, path=path)


def do_assign(record: Any, assignee_id: int | None, *, version: int, actor: User, path: str = "page"):
    """Assign a team record (managers only, enforced by the team guard)."""
    return crm_actions.do_update_record(record, {"assignee": assignee_id}, version=version, actor=actor, path=path)

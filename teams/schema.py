"""Team modules described by the same module schema as org modules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.schema import OWNER_FIELD, Choice, FieldSpec, ModuleSchema

from . import roles
from .models import TeamMember, TeamModule, TeamRecord


@dataclass
class TeamModuleSchema(ModuleSchema):
    team_module: Any = None

    @property
    def label(self) -> str:
        return self.team_module.label_singular

    @property
    def label_plural(self) -> str:
        return self.team_module.label_plural

    def base_queryset(self, org):
        return TeamRecord.objects.filter(org=org, module_id=self.team_module.pk)

    def new_record(self, org, **values: Any) -> TeamRecord:
        return TeamRecord(org=org, module_id=self.team_module.pk, space_id=self.team_module.space_id, **values)

    def can_create(self, user) -> bool:
        module = self.team_module
        return (roles.role_in(user, module.space_id) is not None or roles.is_manager(user, module.space_id)
                or module.pk in roles.requested_modules(user))

    def can_open(self, user) -> bool:
        """Team members, this module's requesters, team-modules admins and org admins."""
        module = self.team_module
        return (roles.role_in(user, module.space_id) is not None or roles.is_team_modules_admin(user)
                or module.pk in roles.requested_modules(user))

    def can_configure(self, user) -> bool:
        return roles.is_manager(user, self.team_module.space_id)

    def role(self, user) -> str | None:
        if roles.is_manager(user, self.team_module.space_id):
            return TeamMember.Role.MANAGER
        return roles.role_in(user, self.team_module.space_id)

    def is_requester_only(self, user) -> bool:
        return self.role(user) is None and self.team_module.pk in roles.requested_modules(user)

    def requester_field_keys(self, org) -> set[str]:
        cached = getattr(self, "_requester_keys", None)
        if cached is None:
            cached = {"title"} | {d.key for d in self.definitions(org) if d.shown_to_requesters and not d.retired}
            self._requester_keys = cached
        return cached

    def field_allowed(self, spec, user) -> bool:
        if not super().field_allowed(spec, user):
            return False
        if not self.is_requester_only(user):
            return True
        return not spec.is_custom or spec.key in self.requester_field_keys(self.team_module.org)

    def notes_for(self, notes, user):
        """Requesters read only the comments addressed to them (or written by them)."""
        if self.is_requester_only(user):
            return notes.filter(Q(author=user) | Q(mentions=user)).distinct()
        return notes

    def attachments_for(self, attachments, user):
        if self.is_requester_only(user):
            return attachments.filter(deliverable=True)
        return attachments

    def reads_all_notes(self, user) -> bool:
        return not self.is_requester_only(user)

    def sees_all_attachments(self, user) -> bool:
        return not self.is_requester_only(user)


def schema_for(module: TeamModule) -> TeamModuleSchema:
    statuses = tuple(Choice(s["value"], s.get("label_en") or s["value"], s.get("label_zh", ""), s.get("color", ""))
                     for s in module.statuses or [])
    return TeamModuleSchema(
        key=module.key, model=TeamRecord, label_en=module.name_singular_en or module.name_en, label_plural_en=module.name_en,
        icon=module.icon or "kanban", title_field="title", default_access="none", kind="team",
        access_user_fields=("owner", "assignee"), select_related=("owner", "assignee", "requested_by"),
        team_module=module,
        core_fields=(
            FieldSpec("title", pgettext_lazy("a record's name", "Title"), "text", required=True, in_list=True, searchable=True),
            FieldSpec("status", _("Status"), "picklist", options=statuses, required=bool(statuses),
                      default=module.first_status or None, in_list=True),
            FieldSpec("assignee", _("Assignee"), "user", in_list=True),
            FieldSpec("requested_by", _("Requested by"), "user", editable=False, in_list=True),
            OWNER_FIELD,
        ),
    )


def resolve(key: str, org) -> TeamModuleSchema | None:
    if not key.startswith("team-") or org is None:
        return None
    try:
        pk = int(key.removeprefix("team-"))
    except ValueError:
        return None
    module = TeamModule.objects.filter(org=org, pk=pk, retired=False).select_related("space").first()
    return schema_for(module) if module is not None else None


def modules_of(org) -> list[TeamModuleSchema]:
    """The org's team modules in use (for org-wide pages such as the recycle bin)."""
    modules = TeamModule.objects.filter(org=org, retired=False).select_related("space")
    return [schema_for(module) for module in modules.order_by("space__name_en", "name_en", "pk")]

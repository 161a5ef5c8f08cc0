"""The team part of the visibility predicate, registered with `access` at start-up.

manager: every record of the space's modules; member: views all, edits and deletes own or
assigned; participant: views and edits own or assigned; requester: own requests only,
editable while in the module's first status. The team-modules admin views everything.
"""
from __future__ import annotations

from typing import Any

from django.db.models import Q

from . import roles
from .models import TeamMember

NOTHING = None


def team_grants(user: Any, membership: Any, module: Any, action: str) -> Q | None:
    team_module = getattr(module, "team_module", None)
    if team_module is None:
        return NOTHING
    role = roles.role_in(user, team_module.space_id)
    if role == TeamMember.Role.MANAGER:
        return Q()
    if membership.team_modules_admin and action in ("view", "export"):
        return Q()
    own = Q(owner_id=user.pk) | Q(assignee_id=user.pk)
    grant: Q | None = None
    if role == TeamMember.Role.MEMBER:
        grant = Q() if action in ("view", "export") else own
    elif role == TeamMember.Role.PARTICIPANT:
        grant = own if action in ("view", "export", "edit") else NOTHING
    if grant is not None and not grant:
        return grant
    if team_module.pk in roles.requested_modules(user):
        mine = Q(requested_by_id=user.pk)
        request_grant = {"view": mine, "export": mine,
                         "edit": mine & Q(status=team_module.first_status)}.get(action)
        if request_grant is not None:
            grant = request_grant if grant is None else grant | request_grant
    return grant


def explain_team_refusal(user: Any, schema: Any, record: Any, action: str) -> str | None:
    """Which team rule keeps the user from `action` on a record they can see (for `access.decide`)."""
    from django.utils.translation import gettext as _

    team_module = getattr(schema, "team_module", None)
    if team_module is None:
        return None
    role = roles.role_in(user, team_module.space_id)
    mine = user.pk in (record.owner_id, getattr(record, "assignee_id", None))
    if role == TeamMember.Role.MEMBER and not mine:
        return _("Members of this team may change only their own records and those assigned to them.")
    if role == TeamMember.Role.PARTICIPANT:
        if action == "delete":
            return _("Participants may not delete records.")
        if not mine:
            return _("Participants may change only their own records and those assigned to them.")
    if role is None and record.requested_by_id == user.pk:
        if action == "delete":
            return _("Requesters cannot delete their requests.")
        first = next((s for s in team_module.statuses or [] if s["value"] == team_module.first_status), None)
        from crm.schema import pick_label

        label = pick_label((first or {}).get("label_en") or team_module.first_status or "",
                           (first or {}).get("label_zh", ""))
        return _("Requesters may change a request only while it is “%(status)s”.") % {"status": label}
    return None

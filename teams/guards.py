"""Team rules every record write must pass, whatever path it comes by."""
from __future__ import annotations

from django.utils.translation import gettext as _

from access.decisions import Decision, GuardRefusal, WriteContext, refuse
from access.generations import remember
from crm.schema import pick_label

from . import roles
from .models import TeamMember

REQUESTER_ACTIONS = {"create", "update", "add_note", "update_note", "delete_note"}


def team_guard(context: WriteContext) -> None:
    team_module = getattr(context.module, "team_module", None)
    if team_module is None:
        return
    actor, changes = context.actor, context.changes
    manager = roles.is_manager(actor, team_module.space_id)
    status = changes.get("status")
    if status and status in (team_module.manager_only_statuses or []) and not manager:
        label = next((pick_label(s.get("label_en") or s["value"], s.get("label_zh", ""))
                      for s in team_module.statuses if s["value"] == status), status)
        raise GuardRefusal(_("Only a manager of this team may set the status “%(status)s”.") % {"status": label},
                           guard="team")
    if "assignee" in changes and not manager:
        self_or_nobody = changes["assignee"] in (None, actor.pk)
        if not (context.action == "create" and self_or_nobody):
            raise GuardRefusal(_("Only a manager of this team may assign records."), guard="team")
    if changes.get("assignee") and not remember(
            ("teams:member", team_module.space_id, changes["assignee"]),  # once per batch in a batch action
            lambda: TeamMember.objects.filter(space_id=team_module.space_id, user_id=changes["assignee"]).exists()):
        raise GuardRefusal(_("Assign records to members of this team space."), guard="team")
    if context.module.is_requester_only(actor):
        _check_requester(context, team_module)


def _check_requester(context: WriteContext, team_module) -> None:
    if context.action not in REQUESTER_ACTIONS:
        raise GuardRefusal(_("Requesters can only submit and edit their own requests."), guard="team")
    if context.action == "create" and context.record.requested_by_id != context.actor.pk:
        raise GuardRefusal(_("Submit requests from the Requests tab."), guard="team")
    if context.action in ("create", "update"):
        allowed = requester_writable(context.module)
        extra = {key for key, value in context.changes.items()
                 if key not in allowed and not (key == "status" and value == team_module.first_status)}
        if extra:
            raise GuardRefusal(_("Requesters cannot change these fields: %(fields)s.")
                               % {"fields": ", ".join(sorted(extra))}, guard="team")


def requester_writable(schema) -> set[str]:
    """The fields a requester may fill in: those shown to them, but files. A file field shown to
    requesters is what the team delivers: they download it, the team uploads it."""
    return {key for key in schema.requester_field_keys(schema.org)
            if not (schema.has_field(key) and schema.field(key).type == "file")}


def team_field_rules(user, schema, record) -> dict:
    """The fields the team rules keep from this user (for `access.decide`): shown without an
    inline edit control, or disabled, with the reason. Status is left out: some of its values
    are allowed, and the guard names the refused one."""
    team_module = getattr(schema, "team_module", None)
    if team_module is None or record is None:  # a new record: the guard judges what is typed
        return {}
    read_only = {}
    if not roles.is_manager(user, team_module.space_id):
        read_only["assignee"] = _("Only a manager of this team may assign records.")
    if schema.is_requester_only(user):
        allowed = requester_writable(schema) | {"status"}
        for spec in schema.fields:
            if spec.key not in allowed:
                read_only.setdefault(spec.key, _("Requesters cannot change this field."))
    return {"read_only": read_only}


# Pages of a team module a requester may not use: they reach the module through the Requests tab.
def team_module_rule(user, schema, action: str) -> Decision | None:
    team_module = getattr(schema, "team_module", None)
    if team_module is None:
        return None
    if not schema.can_open(user):
        return refuse(_("You are not a member of this team space."), found=False, quiet=True)
    if schema.is_requester_only(user):
        return refuse(_("Requesters reach this module through the Requests tab."))
    if action == "configure" and not roles.is_manager(user, team_module.space_id):
        return refuse(_("Only a manager of this team may configure its modules."))
    if action in ("bulk_edit", "change_owner") and schema.role(user) == TeamMember.Role.PARTICIPANT:
        return refuse(_("Participants may change only their own records, one at a time."))
    # Importing is the team's work on its module (managers and members): a participant adds their
    # own records one at a time, and a file's rows would be many records at once.
    if action == "import" and schema.role(user) == TeamMember.Role.PARTICIPANT:
        return refuse(_("Participants may add records one at a time, not import them."))
    return None

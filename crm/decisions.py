"""crm's part of the decision point (`access.decide`): the fields a profile hides or keeps read-only, why the org access rules refuse, the profile's module
switches, and the note-author rule. Registered with `access` at start-up."""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from access.decisions import Decision, GuardRefusal, WriteContext, refuse
from access.visibility import field_level, is_org_admin, module_allowed


def profile_field_rules(user: Any, schema: Any, record: Any) -> dict:
    """Fields the user may not see (profile, team requesters) or may only read (profile)."""
    shown = {spec.key for spec in schema.fields_for(user)}
    hidden = {spec.key for spec in schema.fields if spec.key not in shown}
    read_only = {spec.key: _("Read-only for your profile.") for spec in schema.editable_fields
                 if spec.key in shown and field_level(user, schema.key, spec.key) == "read_only"}
    return {"hidden": hidden, "read_only": read_only}


PROFILE_PERMISSION = {"edit": "edit", "change_owner": "edit", "add_attachment": "edit",
                      "delete_attachment": "edit", "delete": "delete", "export": "export"}


def explain_org_refusal(user: Any, schema: Any, record: Any, action: str) -> str | None:
    """The profile switch, when it is what refuses (the record-level reasons stay unspoken: a
    record shared read-only is simply not offered for editing)."""
    if getattr(schema, "team_module", None) is not None:
        return None
    permission = PROFILE_PERMISSION.get(action)
    if permission and not module_allowed(user, schema.key, permission):
        return _("Your profile does not allow this in %(module)s.") % {"module": schema.label_plural}
    return None


# The profile switches a module action needs, all of them: an import creates records, so it
# asks for the "create" switch as well as the "import" one.
MODULE_PERMISSION = {"open": ("view",), "create": ("create",), "import": ("import", "create"),
                     "export": ("export",), "bulk_edit": ("edit",), "change_owner": ("edit",)}


def profile_module_rule(user: Any, schema: Any, action: str) -> Decision | None:
    """Org modules: the profile's switches; configuring is for administrators."""
    if getattr(schema, "team_module", None) is not None:
        return None
    if not module_allowed(user, schema.key, "view"):
        return refuse(_("Your profile does not allow you to open %(module)s.") % {"module": schema.label_plural},
                      found=False, quiet=True)
    if action == "configure":
        return None if is_org_admin(user) else refuse(_("Only an administrator may configure modules."), quiet=True)
    for permission in MODULE_PERMISSION.get(action, ()):
        if permission != "view" and not module_allowed(user, schema.key, permission):
            return refuse(_("Your profile does not allow this in %(module)s.") % {"module": schema.label_plural},
                          quiet=True)
    return None


def note_author_guard(context: WriteContext) -> None:
    """Only its author or an administrator edits or deletes a note."""
    if context.action not in ("update_note", "delete_note"):
        return
    author_id = getattr(context.changes.get("note"), "author_id", None)  # the actions pass the note itself
    if author_id != context.actor.pk and not is_org_admin(context.actor):
        if context.action == "update_note":
            raise GuardRefusal(_("Only the author or an administrator may edit a note."), guard="notes", log=False,
                               quiet=True)
        raise GuardRefusal(_("Only the author or an administrator may delete a note."), guard="notes", log=False,
                               quiet=True)

"""Demo blueprint: the marketing team's Case Study process, built by the team's manager through
the actions (the same ones the editor calls): requested -> in progress (a team member or the
manager starts it) -> review (the assignee submits it) -> done (the manager closes it and must
upload the deliverable, the module's file field) or back to work; a two-day time limit in review
tells the manager."""
from __future__ import annotations

from typing import Any

from blueprints import actions
from blueprints.models import Blueprint
from crm.models import FieldDefinition
from teams.models import TeamMember, TeamModule


def seed_blueprints(org: Any) -> Blueprint | None:
    """Idempotent: nothing is added when the module has a blueprint already."""
    from access.models import Membership
    from access.visibility import bind_org

    module = TeamModule.objects.filter(org=org, name_en="Case Studies").select_related("space").first()
    if module is None or Blueprint.objects.filter(org=org, module=module.key).exists():
        return None
    manager = TeamMember.objects.filter(space=module.space, role=TeamMember.Role.MANAGER).order_by("pk").first()
    if manager is None:
        return None
    membership = Membership.objects.select_related("user", "org").get(org=org, user_id=manager.user_id)
    mark = bind_org(membership.user, org, membership)
    bp = actions.do_create_blueprint(org, module.key, name="Case study", field="status", start_state="requested",
                                     actor=mark)
    actions.do_save_transition(bp, actor=mark, name="Start", from_states=["requested"], to_state="in_progress",
                               owners={"team_roles": ["manager", "member"], "assignee": True})
    actions.do_save_transition(bp, actor=mark, name="Submit for review", from_states=["in_progress"],
                               to_state="review", owners={"assignee": True, "team_roles": ["manager"]},
                               during={"fields": [], "note": True, "attachment": False,
                                       "checklist": ["Customer quote approved", "Figures checked"]})
    # The deliverable is a file field (the requester downloads it); without one, a file is attached.
    deliverable = FieldDefinition.objects.filter(org=org, module=module.key, api_name="deliverable",
                                                 field_type="file").first()
    done = ({"fields": [{"key": deliverable.key, "required": True}]} if deliverable is not None
            else {"attachment": True})
    actions.do_save_transition(bp, actor=mark, name="Done", from_states=["review"], to_state="done",
                               owners={"team_roles": ["manager"]}, during=done,
                               after=[{"type": "notify", "users": [], "roles": [], "owner": False, "manager": False,
                                       "requester": True, "message": "Your case study {{title}} is ready."}])
    actions.do_save_transition(bp, actor=mark, name="Rework", from_states=["review"], to_state="in_progress",
                               owners={"team_roles": ["manager"]}, during={"note": True})
    actions.do_update_blueprint(bp, name=bp.name, start_state="requested", criteria=None, actor=mark,
                                sla={"review": {"amount": 2, "unit": "days", "manager": False, "users": [mark.pk]}})
    return actions.do_publish_blueprint(bp, actor=mark)

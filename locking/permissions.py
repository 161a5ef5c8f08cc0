"""Who may configure locking, lock by hand and override a rule's lock."""
from __future__ import annotations

from typing import Any

from access.visibility import current_membership, is_org_admin

from .rules import Snapshot, matches_subject


def may_configure(user: Any, schema: Any) -> bool:
    """Org administrators; team managers for their team modules (the module's own rule)."""
    return current_membership(user) is not None and schema.can_configure(user)


def may_lock(user: Any, schema: Any, snap: Snapshot) -> bool:
    """Lock and unlock by hand: org administrators always; on team modules the team's managers
    while "manager" is among the locker team roles (the default); and the chosen profiles,
    roles and team roles."""
    if current_membership(user) is None:
        return False
    if is_org_admin(user):
        return True
    team_module = getattr(schema, "team_module", None)
    if team_module is not None and "manager" in snap.locker_team_roles:
        from teams import roles

        if roles.is_manager(user, team_module.space_id):
            return True
    return matches_subject(user, schema, snap.locker_profiles, snap.locker_roles, snap.locker_team_roles)


def may_override(user: Any, schema: Any) -> bool:
    """Lift a rule's lock on one record: whoever may configure the module's locking."""
    return may_configure(user, schema)

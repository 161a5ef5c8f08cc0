"""Who is what in a team space; looked up once per request and cached on the user object."""
from __future__ import annotations

from typing import Any

from access.visibility import current_membership

from .models import Requester, TeamMember


def team_roles(user: Any) -> dict[int, str]:
    """{space id: team role} for the user in their current org (one query, then cached)."""
    org = getattr(user, "org", None)
    cache = getattr(user, "_team_roles", None)
    if cache is None or cache[0] != getattr(org, "pk", None):
        roles = dict(TeamMember.objects.filter(org=org, user=user).values_list("space_id", "role")) if org else {}
        cache = (getattr(org, "pk", None), roles)
        user._team_roles = cache
    return cache[1]


def requested_modules(user: Any) -> set[int]:
    """Ids of team modules the user may submit requests to (one query, then cached)."""
    org = getattr(user, "org", None)
    cache = getattr(user, "_requested_modules", None)
    if cache is None or cache[0] != getattr(org, "pk", None):
        ids = set(Requester.objects.filter(org=org, user=user).values_list("module_id", flat=True)) if org else set()
        cache = (getattr(org, "pk", None), ids)
        user._requested_modules = cache
    return cache[1]


def forget(user: Any) -> None:
    for name in ("_team_roles", "_requested_modules"):
        if hasattr(user, name):
            delattr(user, name)


def role_in(user: Any, space_id: int) -> str | None:
    return team_roles(user).get(space_id)


def is_manager(user: Any, space_id: int) -> bool:
    """Team managers, and org administrators, who may do so in every space."""
    membership = current_membership(user)
    if membership is None:
        return False
    return membership.is_admin or role_in(user, space_id) == TeamMember.Role.MANAGER


def is_team_modules_admin(user: Any) -> bool:
    membership = current_membership(user)
    return bool(membership and (membership.is_admin or membership.team_modules_admin))

"""Whom a rule acts as. A rule's actions run as the person who activated it, through the same
actions and guards as that person's own changes: a rule can never do more than its author may
(a team manager's rule cannot write to another team's module), and locks and validation apply.
The path of every change is "rule:<kind>:<id>", so the timeline names the rule."""
from __future__ import annotations

from django.utils.translation import gettext as _

from access.models import Membership, Organization, User
from access.visibility import bind_org


class RuleActorError(Exception):
    """The rule's author can no longer act in the organisation."""


def rule_actor(org: Organization | int, user_id: int | None) -> User:
    org_id = getattr(org, "pk", org)
    membership = (Membership.objects.select_related("user", "org", "profile", "org_role")
                  .filter(org_id=org_id, user_id=user_id, is_active=True, user__is_active=True).first())
    if membership is None:
        raise RuleActorError(_("The person who activated this rule is no longer an active member; "
                               "an administrator must activate it again."))
    return bind_org(membership.user, membership.org, membership)


def rule_path(kind: str, rule_id: int) -> str:
    return f"rule:{kind}:{rule_id}"

"""The access grant approvals add to the visibility predicate (registered at start-up): whoever an
awaiting approval waits on may view the record while it waits on them, to judge it, even where
the role tree or the sharing settings would not show it (a director outside the rep's branch,
a user chosen by name); the admins of its process too, who may take the step over. View only:
never edit, delete or export. Once the step moves on, the grant is gone.
"""
from __future__ import annotations

from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import F, Q
from django.utils.translation import gettext_lazy

from access.visibility import AnyOf

from . import engine


def approval_grants(user: Any, membership: Any, module: Any, action: str) -> Q | None:
    """One uncorrelated subquery over the waiters' (org, user, module, record) index, only for
    modules that have an approval process; a second one for a user named admin of a process of
    the module. As `pk = ANY(ARRAY(...))`: a user awaits few approvals, and the planner then
    estimates a few rows rather than half the table (see `access.visibility._shared_ids`)."""
    if action != "view":
        return None
    specs = engine.processes(membership.org_id, module.key)
    if not specs:
        return None
    from .models import AWAITING, ApprovalRequest, ApprovalWaiter

    waits = (ApprovalWaiter.objects.filter(org_id=membership.org_id, user_id=user.pk, module=module.key)
             .order_by().values("record_id"))
    grant = Q(AnyOf(F("pk"), ArraySubquery(waits)))
    administered = [spec.id for spec in specs if user.pk in spec.admins]
    if administered:
        pending = (ApprovalRequest.objects.filter(org_id=membership.org_id, module=module.key, status__in=AWAITING,
                                                  process_id__in=administered).order_by().values("record_id"))
        grant |= Q(AnyOf(F("pk"), ArraySubquery(pending)))
    return grant


approval_grants.grant_label = gettext_lazy("Awaiting their approval")  # named on "why can they see this"

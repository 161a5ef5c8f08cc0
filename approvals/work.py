"""My Work: the section "Awaiting my approval", whose rows let the approver approve or reject
(with a comment) right there. Two queries however many requests await the user."""
from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from access.visibility import current_membership
from crm.work import WorkSection

LIMIT = 10
CAP = 99


def _awaiting(user: Any):
    from .models import AWAITING, ApprovalRequest

    return (ApprovalRequest.objects.filter(org=user.org, status__in=AWAITING, waiting_on__contains=[user.pk])
            .select_related("process", "submitter").order_by("submitted_at", "pk"))


def awaiting_count(user: Any) -> int:
    if current_membership(user) is None or getattr(user, "org", None) is None:
        return 0
    return len(_awaiting(user).values_list("pk", flat=True)[:CAP + 1])


def awaiting_my_approval(user: Any):
    if current_membership(user) is None or getattr(user, "org", None) is None:
        return None
    items = list(_awaiting(user)[:LIMIT + 1])
    if not items:
        return None
    count = len(items) if len(items) <= LIMIT else awaiting_count(user)
    return WorkSection(key="approvals", title=_("Awaiting my approval"), items=items[:LIMIT], count=min(count, CAP),
                       template="approvals/includes/work_section.html", capped=count > CAP,
                       more_url=reverse("approvals:awaiting") if count > LIMIT else "")

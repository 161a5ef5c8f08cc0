"""My Work: the section "Awaiting my approval", whose rows let the approver approve or reject
(with a comment) right there, as the decision point allows. A fixed number of queries however
many requests await the user: the requests (through the waiters' index), then per module the
records (through access) and their decisions."""
from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from access.decisions import decide_many
from access.visibility import current_membership, visible
from crm.work import WorkSection

from . import engine

LIMIT = 10
CAP = 99


def _awaiting(user: Any):
    from .models import AWAITING, ApprovalRequest, ApprovalWaiter

    waits = ApprovalWaiter.objects.filter(org=user.org, user=user.pk).values("request_id")
    return (ApprovalRequest.objects.filter(org=user.org, status__in=AWAITING, pk__in=waits)
            .select_related("process", "submitter").order_by("submitted_at", "pk"))


def with_decisions(user: Any, requests: list[Any]) -> list[Any]:
    """Each request with `decision`: whether the user may decide it (`access.decide`, "approve"),
    or None when its record is not there for them."""
    from crm.actions import bound_schema
    from crm.modules import get_module

    by_module: dict[str, list[Any]] = {}
    for request in requests:
        request.decision = None
        by_module.setdefault(request.module, []).append(request)
    for module, waiting in by_module.items():
        try:
            schema = bound_schema(get_module(module, user.org), user.org)
        except Http404:
            continue
        by_record = {request.record_id: request for request in waiting}
        records = list(visible(user, schema, "view", listing=False).filter(pk__in=list(by_record)))
        for record in records:
            record.__dict__[engine.PENDING_ATTR] = by_record[record.pk]  # the record's awaiting request
        decisions = decide_many(user, records, "approve", schema=schema, fields=False)
        for record in records:
            by_record[record.pk].decision = decisions[record.pk]
    return requests


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
    return WorkSection(key="approvals", title=_("Awaiting my approval"), items=with_decisions(user, items[:LIMIT]),
                       count=min(count, CAP), template="approvals/includes/work_section.html", capped=count > CAP,
                       more_url=reverse("approvals:awaiting") if count > LIMIT else "")

"""Recycling on the pages: a "returns to the pool in N days" badge on the owner's list rows and
record page (the page's states read in one query), and the protect control (the decision
point's answer)."""
from __future__ import annotations

import math
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from access.decisions import decide

from .models import PoolState, RecyclePolicy
from .recycle import DAY
from .recycle_actions import REASONS
from .panels import _no_pools


def _days_left(due_at) -> int:
    return max(0, math.ceil((due_at - timezone.now()) / DAY))


def _title(days: int) -> str:
    if days <= 0:
        return _("Returns to the pool today")
    if days == 1:
        return _("Returns to the pool tomorrow")
    return _("Returns to the pool in %(days)d days") % {"days": days}


def _soon(org_id: int, module: str, ids: list[int]) -> dict[int, int]:
    """{record id: days left} of those due within their pool's warning days (one query)."""
    now = timezone.now()
    found = {}
    for state in (PoolState.objects.filter(org_id=org_id, module=module, record_id__in=ids, in_pool=False,
                                           due_at__isnull=False, due_rule__in=list(REASONS),
                                           pool__recycle__enabled=True)
                  .values("record_id", "due_at", "pool__recycle__warn_days")):
        if state["due_at"] <= now + state["pool__recycle__warn_days"] * DAY:
            found[state["record_id"]] = _days_left(state["due_at"])
    return found


def due_marks(user: Any, schema: Any, records: list[Any]) -> dict[int, list[dict[str, str]]]:
    """The badge on the owner's rows (others see no countdown of someone else's customers)."""
    mine = [r.pk for r in records if getattr(r, "owner_id", None) == user.pk]
    if not mine or _no_pools(user, schema):
        return {}
    return {pk: [{"icon": "hourglass-split", "title": _title(days), "kind": "pool-due"}]
            for pk, days in _soon(user.org.pk, schema.key, mine).items()}


def header_panel(user: Any, schema: Any, record: Any) -> list[dict]:
    if getattr(record, "owner_id", None) is None or not getattr(record, "pool_id", None) or _no_pools(user, schema):
        return []
    if not RecyclePolicy.objects.filter(org_id=record.org_id, pool_id=record.pool_id, enabled=True).exists():
        return []
    state = PoolState.objects.filter(org_id=record.org_id, module=schema.key, record_id=record.pk,
                                     in_pool=False).first()
    if state is None:
        return []
    soon = _soon(record.org_id, schema.key, [record.pk]).get(record.pk)
    protect = decide(user, record, "protect", schema=schema, changes={"protected": not state.protected})
    if soon is None and not protect.offered and not state.protected:
        return []
    return [{"template": "pool/includes/recycle_panel.html", "state": state, "record": record,
             "module_key": schema.key, "due_title": _title(soon) if soon is not None else "", "protect": protect}]

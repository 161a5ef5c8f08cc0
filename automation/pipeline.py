"""What happens after a record is saved, in one documented order.

Validation rules run inside the save (a guard: a refused save writes nothing). Everything else
runs in Celery after the commit, from the event outbox, in this order for every event:

    assignment rules -> workflow rules -> notifications

Each stage is idempotent per event id (it keys what it writes by it), so a retried or
re-queued event does nothing twice. Rule actions run inside `crm.events.caused_by`, so the
events they emit carry the rule and their depth; a chain deeper than MAX_CHAIN_DEPTH stops.
"""
from __future__ import annotations

import logging
from typing import Callable

from crm.events import RecordEvent

logger = logging.getLogger(__name__)

ORDER = ("assignment", "workflow", "notifications")
MAX_CHAIN_DEPTH = 5  # rule actions causing rule actions: deeper than this is a cycle

Stage = Callable[[RecordEvent], None]
_stages: dict[str, Stage] = {}


def register_stage(name: str, stage: Stage) -> None:
    if name not in ORDER:
        raise ValueError(f"unknown stage {name!r}; the order is {ORDER}")
    _stages[name] = stage


# Stages that skip a record a process holds for "automation" (automation.holds): a review
# holds a record until it is approved, then emits its "created" event again.
HELD_STAGES = ("assignment", "workflow")


def run_stages(event: RecordEvent) -> None:
    held: str | None = None
    asked = False
    for name in ORDER:
        stage = _stages.get(name)
        if stage is None:
            continue
        if name in HELD_STAGES:
            if not asked:
                held, asked = held_for_automation(event), True
            if held:
                logger.info("%s stage skipped %s %s: %s", name, event.module, event.record_id, held)
                continue
        stage(event)


def held_for_automation(event: RecordEvent) -> str | None:
    """Why a process holds the event's record back from automation, or None (also when it is gone)."""
    from .delivery import _target
    from .holds import AUTOMATION, _providers, hold_reason

    if not _providers:
        return None
    target = _target(event.org_id, event.module, event.record_id)
    if target is None:
        return None
    _org, schema, record = target
    return hold_reason(schema, record, AUTOMATION)


def too_deep(event: RecordEvent) -> bool:
    """A rule action caused by a chain this long is refused (and logged by the caller)."""
    return event.depth >= MAX_CHAIN_DEPTH

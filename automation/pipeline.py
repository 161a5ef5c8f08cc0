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


def run_stages(event: RecordEvent) -> None:
    for name in ORDER:
        stage = _stages.get(name)
        if stage is not None:
            stage(event)


def too_deep(event: RecordEvent) -> bool:
    """A rule action caused by a chain this long is refused (and logged by the caller)."""
    return event.depth >= MAX_CHAIN_DEPTH

"""Records a process holds back. A review holds a record it is reviewing: no workflow or
assignment rule runs on it and it enters no approval or blueprint until the review ends; a
record awaiting approval enters no other process. Those apps register a provider here at
start-up; automation and the other processes ask `hold_reason` before they act on a record.

provider(schema, record, scope) -> the reason the record is held for that scope, or None.
Scopes: "automation" (workflow and assignment rules), "processes" (entering a blueprint, an
approval or a review).
"""
from __future__ import annotations

from typing import Any, Callable

AUTOMATION, PROCESSES = "automation", "processes"

HoldProvider = Callable[[Any, Any, str], "str | None"]
_providers: list[HoldProvider] = []


def register_hold(provider: HoldProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def unregister_hold(provider: HoldProvider) -> None:
    if provider in _providers:
        _providers.remove(provider)


def hold_reason(schema: Any, record: Any, scope: str) -> str | None:
    """Why the record is held back from `scope`, in the reader's language; None when it is not."""
    for provider in list(_providers):
        reason = provider(schema, record, scope)
        if reason:
            return reason
    return None

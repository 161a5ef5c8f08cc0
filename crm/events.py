"""Record events: emitted by actions, delivered to listeners after the transaction
commits (never inside it), so automation sees only what really happened."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from django.db import transaction


@dataclass(frozen=True)
class RecordEvent:
    kind: str  # created, updated, deleted, restored, owner_changed, note_added, ...
    module: str
    org_id: int
    record_id: int
    actor_id: int | None
    path: str
    changes: dict[str, list[Any]] = field(default_factory=dict)  # field key -> [old, new] (JSON forms)


Listener = Callable[[RecordEvent], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def emit(event: RecordEvent) -> None:
    for listener in list(_listeners):
        transaction.on_commit(lambda listener=listener: listener(event))

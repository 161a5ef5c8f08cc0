"""Record events: emitted by actions. Ordinary listeners hear them after the transaction commits
(never inside it), so automation sees only what really happened. A durable listener hears them
inside the transaction, so it can write them down with the change itself (an outbox) and none is
lost when the process dies between the commit and the queueing of its work.

Automation acting on an event runs its actions inside `caused_by(...)`: the events those
actions emit carry the rule that caused them and their depth in the chain, so a rule does not
re-trigger itself and a cycle between rules stops at a depth limit."""
from __future__ import annotations

import contextlib
import contextvars
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

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
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cause: str = ""  # the rule whose action emitted it ("workflow:12"), empty for people
    depth: int = 0  # how many rule actions led to it: 0 for a person's change

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "module": self.module, "org_id": self.org_id, "record_id": self.record_id,
                "actor_id": self.actor_id, "path": self.path, "changes": self.changes, "id": self.id,
                "cause": self.cause, "depth": self.depth}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RecordEvent":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def event_ids(count: int) -> list[str]:
    """`count` new event ids (random, as uuid4's hex) from one read of the system's randomness:
    a batch action's thousands of events would otherwise read it once each."""
    raw = os.urandom(16 * count).hex()
    return [raw[i:i + 32] for i in range(0, 32 * count, 32)]


Listener = Callable[[RecordEvent], None]
DurableListener = Callable[[list[RecordEvent]], None]  # given a batch, so it writes them at once
_listeners: list[Listener] = []
_durable: list[DurableListener] = []
_cause: contextvars.ContextVar[tuple[str, int]] = contextvars.ContextVar("event_cause", default=("", 0))


def subscribe(listener: Listener | DurableListener, *, durable: bool = False) -> None:
    registry = _durable if durable else _listeners
    if listener not in registry:
        registry.append(listener)


def unsubscribe(listener: Listener | DurableListener) -> None:
    for registry in (_listeners, _durable):
        if listener in registry:
            registry.remove(listener)


@contextlib.contextmanager
def caused_by(cause: str, depth: int) -> Iterator[None]:
    """Events emitted inside carry `cause` and `depth`."""
    token = _cause.set((cause, depth))
    try:
        yield
    finally:
        _cause.reset(token)


def emit(event: RecordEvent) -> None:
    emit_many([event])


def emit_many(events: list[RecordEvent]) -> None:
    """Emit a batch (a bulk action's events): durable listeners get it whole, in one call."""
    cause, depth = _cause.get()
    if cause:
        events = [RecordEvent(**{**event.__dict__, "cause": cause, "depth": depth}) for event in events]
    if not events:
        return
    for durable in list(_durable):
        durable(events)
    for listener in list(_listeners):
        for event in events:
            transaction.on_commit(lambda listener=listener, event=event: listener(event))

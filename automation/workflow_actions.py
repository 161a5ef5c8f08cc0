"""The kinds of action a workflow rule can take, registered by type. Each kind cleans its
settings for the rule form, describes what it would do to one record (the dry run), and does it.

Within one rule, actions run by `stage`: field updates (0), then notifications, e-mails, tasks,
new records and assignment (1), then webhooks (2); in their listed order inside a stage."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

FIELD_UPDATES, MESSAGES_AND_RECORDS, WEBHOOKS = 0, 1, 2


class ActionError(Exception):
    """The action could not be done; the message says why (shown in the run log)."""


@dataclass
class ActionContext:
    """What an action needs: the rule, the module's schema in the org, the record as it is now,
    the user the rule acts as, the path its changes carry ("rule:workflow:<id>"), the run being
    logged, and the event that triggered it (None for date-based and scheduled runs)."""

    rule: Any
    schema: Any
    record: Any
    actor: Any
    path: str
    run: Any
    event: Any = None
    key: str = ""  # unique per run and action: what a retried action keys its side effects by
    extra: dict[str, Any] = field(default_factory=dict)


class ActionKind(Protocol):
    type: str
    stage: int

    def label(self) -> str:
        """The kind's name in the reader's language."""

    def clean(self, config: dict[str, Any], schema: Any, org: Any) -> dict[str, Any]:
        """The settings, checked against the module; raises ValidationError naming the setting."""

    def describe(self, config: dict[str, Any], context: ActionContext) -> str:
        """What it would do to this record, without doing it (the dry run)."""

    def run(self, config: dict[str, Any], context: ActionContext) -> str:
        """Do it (idempotently, keyed by context.key); return what was done, or raise ActionError."""


_kinds: dict[str, ActionKind] = {}


def register_action(kind: ActionKind) -> None:
    _kinds[kind.type] = kind


def action_kind(type_: str) -> ActionKind | None:
    return _kinds.get(type_)


def action_kinds() -> list[ActionKind]:
    return sorted(_kinds.values(), key=lambda kind: (kind.stage, kind.type))


def in_stage_order(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rule's actions ({"type": ..., ...}) in execution order: by stage, then as listed."""
    def stage(action: dict[str, Any]) -> int:
        kind = _kinds.get(action.get("type", ""))
        return kind.stage if kind is not None else WEBHOOKS + 1
    return sorted(actions, key=stage)

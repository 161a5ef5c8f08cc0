"""Guards: checks every record write passes before it happens (locks, approvals,
blueprints, validation rules plug in here). A guard refuses by raising GuardRefusal
with a clear, translatable reason."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from django.core.exceptions import PermissionDenied


class GuardRefusal(PermissionDenied):
    def __init__(self, reason: str, *, guard: str = "", log: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.guard = guard
        self.log = log  # written to the record's timeline as a refused attempt
        self.context: "WriteContext | None" = None

    def __str__(self) -> str:
        return str(self.reason)


@dataclass
class WriteContext:
    action: str  # create, update, delete, restore, change_owner, add_note, delete_note, add_attachment, ...
    module: Any  # BoundSchema
    record: Any  # the record as stored (for create: the unsaved new record)
    actor: Any
    path: str
    changes: dict[str, Any] = field(default_factory=dict)  # field key -> new Python value


Guard = Callable[[WriteContext], None]
_guards: list[Guard] = []


def register_guard(guard: Guard) -> None:
    if guard not in _guards:
        _guards.append(guard)


def unregister_guard(guard: Guard) -> None:
    if guard in _guards:
        _guards.remove(guard)


def run_guards(context: WriteContext) -> None:
    for guard in list(_guards):
        try:
            guard(context)
        except GuardRefusal as refusal:
            refusal.context = context
            raise


# After-write hooks run inside the action's transaction, after the row and its timeline entry are
# saved (e.g. locking keeps each record's rule locks in step with its new values, and its "locked"
# entry follows the change that caused it).
AfterWrite = Callable[[WriteContext, Any], None]
_after_write: list[AfterWrite] = []


def register_after_write(hook: AfterWrite) -> None:
    if hook not in _after_write:
        _after_write.append(hook)


def unregister_after_write(hook: AfterWrite) -> None:
    if hook in _after_write:
        _after_write.remove(hook)


def run_after_write(context: WriteContext, record: Any) -> None:
    for hook in list(_after_write):
        hook(context, record)


def field_permission_guard(context: WriteContext) -> None:
    """Hidden and read-only fields (profile field permissions) cannot be changed by any path."""
    from access.visibility import field_level
    from django.utils.translation import gettext as _

    if context.action not in ("create", "update"):
        return
    for key, value in context.changes.items():
        if field_level(context.actor, context.module.key, key) != "read_write":
            spec = context.module.field(key) if context.module.has_field(key) else None
            if context.action == "create" and (value in (None, "", []) or _is_default(spec, value)):
                continue
            label = spec.label if spec is not None else key
            raise GuardRefusal(_("You may not change the field “%(field)s”.") % {"field": label},
                               guard="field_permissions")


def _is_default(spec, value) -> bool:
    if spec is None or spec.default in (None, ""):
        return False
    return spec.field_type.clean(spec.default, spec) == value

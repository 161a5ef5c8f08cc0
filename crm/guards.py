"""The write pipeline's hooks in crm: the after-write hooks, and crm's own guard (profile field
permissions). The guard registry itself is the decision point's (`access.decisions`), so that
`decide` runs exactly the guards every action runs; its names are re-exported here."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from access.decisions import GuardRefusal, WriteContext, register_guard, run_guards, unregister_guard

__all__ = ["GuardRefusal", "WriteContext", "register_guard", "run_guards", "unregister_guard",
           "register_after_write", "unregister_after_write", "run_after_write", "run_after_write_many", "field_permission_guard"]


# After-write hooks run inside the action's transaction, after the row and its timeline entry are
# saved (e.g. locking keeps each record's rule locks in step with its new values, and its "locked"
# entry follows the change that caused it).
AfterWrite = Callable[[WriteContext, Any], None]
# A hook's batch form, for batch actions (an import's creates): given the batch's contexts and
# records, it does what the hook does for each, reading what they share once.
AfterWriteMany = Callable[[list[WriteContext], list[Any]], None]
_after_write: list[AfterWrite] = []
_after_write_many: dict[AfterWrite, AfterWriteMany] = {}


def register_after_write(hook: AfterWrite, many: AfterWriteMany | None = None) -> None:
    if hook not in _after_write:
        _after_write.append(hook)
    if many is not None:
        _after_write_many[hook] = many


def unregister_after_write(hook: AfterWrite) -> None:
    if hook in _after_write:
        _after_write.remove(hook)
    _after_write_many.pop(hook, None)


def run_after_write(context: WriteContext, record: Any) -> None:
    for hook in list(_after_write):
        hook(context, record)


def run_after_write_many(contexts: list[WriteContext], records: list[Any]) -> None:
    """The hooks for a batch: each hook in its registered order sees every record of the batch
    (its batch form when it has one, else once per record), so each record still meets the hooks
    in the order a single write does."""
    for hook in list(_after_write):
        many = _after_write_many.get(hook)
        if many is not None:
            many(contexts, records)
        else:
            for context, record in zip(contexts, records):
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

"""The blueprint guard: while a record is in a blueprint, its state field changes only through a
transition. It is run by every record action (crm's write pipeline), so the edit page, inline
edit, bulk edit, kanban, import, the API and rules are all refused alike, whatever their path.
A transition lets its own change through by a context variable `do_transition` sets around its
write (a path string alone could be typed by any caller).

It also answers the decision point's "transition" action: whether the user may perform this
transition on this record now (owners, state, conditions), with the reason."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

from django.utils.translation import gettext as _

from access.decisions import GuardRefusal, WriteContext

from . import selectors

# (module key, record pk, new state) while a transition writes its record.
_moving: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("blueprint_moving", default=None)


@contextlib.contextmanager
def moving(module_key: str, record_id: int, state: str | None) -> Iterator[None]:
    token = _moving.set((module_key, record_id, state))
    try:
        yield
    finally:
        _moving.reset(token)


def only_through_transitions(schema: Any, blueprint: Any) -> str:
    label = schema.field(blueprint.field).label if schema.has_field(blueprint.field) else blueprint.field
    return _("“%(field)s” moves only through the blueprint's transitions (“%(blueprint)s”).") % {
        "field": label, "blueprint": blueprint.name}


def blueprint_guard(context: WriteContext) -> None:
    schema, record = context.module, context.record
    if context.action == "transition":
        _check_transition(context)
        return
    if context.action == "create":
        _check_create(context)
        return
    if context.action != "update" or not context.changes:
        return
    if not any(schema.has_field(key) and schema.field(key).type == "picklist" for key in context.changes):
        return  # only a picklist can be a state field: most writes read nothing here
    governed = selectors.governing(schema, record, memo=context.dry)
    if governed is None or governed.blueprint.field not in context.changes:
        return
    if _moving.get() == (schema.key, record.pk, context.changes[governed.blueprint.field]):
        return
    raise GuardRefusal(only_through_transitions(schema, governed.blueprint), guard="blueprint",
                       field=governed.blueprint.field)


def _check_create(context: WriteContext) -> None:
    """A new record a blueprint will govern starts in its start state."""
    schema, record = context.module, context.record
    if not selectors.active(schema.org.pk, schema.key):
        return
    blueprint = selectors.entering(schema, record, selectors.published(schema.org.pk, schema.key))
    if blueprint is None:
        return
    value = selectors.state_of(schema, record, blueprint)
    if value != blueprint.start_state:
        label = schema.field(blueprint.field).label
        raise GuardRefusal(_("A new record starts in “%(state)s”: “%(field)s” then moves only through the "
                             "blueprint's transitions (“%(blueprint)s”).") % {
            "state": selectors.state_label(schema, blueprint.field, blueprint.start_state), "field": label,
            "blueprint": blueprint.name}, guard="blueprint", field=blueprint.field, log=False)


def _check_transition(context: WriteContext) -> None:
    transition = context.changes.get("transition")
    if transition is None:
        return
    schema, record = context.module, context.record
    governed = selectors.governing(schema, record, memo=context.dry)
    reason = selectors.refusal(governed, transition, context.actor, schema, record,
                               system=bool(context.changes.get("system")))
    if reason:
        raise GuardRefusal(reason, guard="blueprint", quiet=True, log=not context.dry)


def blueprint_field_rules(user: Any, schema: Any, record: Any) -> dict:
    """The state field of a record in a blueprint is read-only everywhere but its transitions."""
    if record is None:
        return {}
    governed = selectors.governing(schema, record)
    if governed is None:
        return {}
    return {"read_only": {governed.blueprint.field: only_through_transitions(schema, governed.blueprint)}}

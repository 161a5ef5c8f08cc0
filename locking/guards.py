"""The locking guard: run by every record action (crm.guards), so locks hold on every path.

It refuses a restricted action on a record locked for the actor (rule or manual lock), unless
the write only changes fields left editable while locked; and it refuses changes to fields a
field lock makes read-only for the actor. The refusal names the lock and changes nothing; the
record action writes it to the timeline as a refused attempt.
"""
from __future__ import annotations

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from access.decisions import GuardRefusal, WriteContext

from . import rules
from .models import EDIT_FAMILY
from .state import (
    SNAP_ATTR, STATE_ATTR, Lock, RecordState, blocking_lock, could_refuse, field_lock_for, record_state, restricted_action,
)


def _what(restricted: str) -> str:
    return {
        "edit": _("you may not edit this record"),
        "bulk_edit": _("you may not change this record by bulk edit"),
        "import_update": _("you may not update this record by import"),
        "delete": _("you may not delete this record"),
        "change_owner": _("you may not change the owner of this record"),
        "add_note": _("you may not add notes to this record"),
        "edit_note": _("you may not edit the notes of this record"),
        "delete_note": _("you may not delete the notes of this record"),
        "add_attachment": _("you may not attach files to this record"),
        "delete_attachment": _("you may not remove files from this record"),
    }.get(restricted, _("you may not change this record"))


def refusal_message(lock: Lock, restricted: str, schema) -> str:
    if lock.kind == "rule":
        message = _("Locked by rule “%(rule)s”: %(what)s.") % {"rule": lock.name, "what": _what(restricted)}
    else:
        when = date_format(timezone.localtime(lock.locked_at), "SHORT_DATETIME_FORMAT") if lock.locked_at else ""
        message = _("Locked by %(who)s on %(when)s: %(what)s.") % {
            "who": lock.locked_by_name or _("someone"), "when": when, "what": _what(restricted)}
        if lock.reason:
            message += " " + _("Reason: %(reason)s") % {"reason": lock.reason}
    if restricted in EDIT_FAMILY and lock.editable:
        labels = [schema.field(key).label for key in lock.editable if schema.has_field(key)]
        if labels:
            message += " " + _("You may still change: %(fields)s.") % {"fields": ", ".join(sorted(labels))}
    return message


def _still_editable(state: RecordState, actor, schema, restricted: str) -> set[str]:
    """The fields every lock in force on the record leaves editable for this action (one of them
    is enough for the edit form to be useful)."""
    state.load()
    editable: set[str] | None = None
    for lock in state.locks():
        if restricted in lock.restricted and lock.scope.applies_to(actor, schema):
            editable = set(lock.editable) if editable is None else editable & set(lock.editable)
    return set(sorted(editable)[:1]) if editable else set()


def locking_guard(context: WriteContext) -> None:
    schema, record = context.module, context.record
    # A dry run over a page of records reads the configuration once (see state.preload_rows).
    snap = (record.__dict__.get(SNAP_ATTR) if context.dry else None) or rules.snapshot(schema.org.pk, schema.key)
    if context.action == "create" or not snap.enabled:
        # Nothing stored to lock yet (or locking off): keep the configuration for the after-write hook.
        record.__dict__[STATE_ATTR] = RecordState(snap, {}, None, record=record, module=schema.key)
        return
    state = record_state(schema, record, snap, load=False)
    restricted = restricted_action(context.action, context.path)
    if restricted is None or not snap.active:
        return
    changed = set(context.changes) if restricted in EDIT_FAMILY else set()
    if context.dry and not changed and restricted in EDIT_FAMILY:
        # Asked whether the user may edit at all: yes while some field stays editable under every lock.
        changed = _still_editable(state, context.actor, schema, restricted)
    if could_refuse(state, context.actor, schema, restricted, changed):
        state.load()
        lock = blocking_lock(state.locks(), context.actor, schema, restricted, changed)
        if lock is not None:
            raise GuardRefusal(refusal_message(lock, restricted, schema), guard="locking")
    for key in sorted(changed):
        field_lock = field_lock_for(snap, schema, record, context.actor, key)
        if field_lock is not None:
            label = schema.field(key).label if schema.has_field(key) else key
            raise GuardRefusal(_("The field “%(field)s” is locked by “%(lock)s”: you may not change it.")
                               % {"field": label, "lock": field_lock.name}, guard="locking")

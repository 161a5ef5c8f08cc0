"""What locking adds to record pages and kanban cards, through crm's extension points
(crm never imports locking). Imported once at start-up, which registers the providers."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from crm.modules import register_card_mark_provider, register_detail_context_provider

from . import rules
from .guards import refusal_message
from .models import EDIT, RecordLock
from .state import RecordState, blocking_lock, lock_state

# Restricted actions that have a control on the record page (bulk edit and import live elsewhere).
PAGE_CONTROLS = ("edit", "delete", "change_owner", "add_note", "delete_note", "add_attachment", "delete_attachment")


def record_page_state(user: Any, schema: Any, record: Any) -> dict[str, Any]:
    """The lock badges and buttons, and the controls a lock forbids this user (with the guard's
    reason). Costs what `lock_state` costs: nothing more per rule or lock."""
    state = lock_state(record, schema, user)
    if not (state.locks or state.can_lock or state.overridden_rules):
        return {}
    blocked = {}
    for restricted in PAGE_CONTROLS:
        if restricted not in state.restricted_actions:
            continue
        if restricted == EDIT and state.editable_fields:
            continue  # some fields stay editable: the edit form is still useful
        lock = blocking_lock(state.locks, user, schema, restricted, set())
        if lock is not None:
            blocked[restricted] = refusal_message(lock, restricted, schema)
    panel = {"template": "locking/includes/record_locks.html", "lock_state": state,
             "editable_labels": [schema.field(k).label for k in state.editable_fields]
             if "edit" in state.restricted_actions else []}
    return {"blocked": blocked, "header_panels": [panel]}


def kanban_card_marks(user: Any, schema: Any, records: list[Any]) -> dict[int, list[dict[str, str]]]:
    """A lock icon on the cards this user may not edit: one query for the lock rows of all cards."""
    snap = rules.snapshot(schema.org.pk, schema.key)
    if not snap.enabled or not records:
        return {}
    rows: dict[int, list[RecordLock]] = defaultdict(list)
    for row in RecordLock.objects.filter(org_id=schema.org.pk, module=schema.key,
                                         record_id__in=[r.pk for r in records]).order_by("pk"):
        rows[row.record_id].append(row)
    marks = {}
    for record in records:
        if record.pk not in rows:
            continue
        matches = {rule.id: rules.matches(rule.criteria, schema, record) for rule in snap.rules}
        lock = blocking_lock(RecordState(snap, matches, rows[record.pk]).locks(), user, schema, EDIT, set())
        if lock is not None:
            marks[record.pk] = [{"icon": "lock-fill", "title": refusal_message(lock, EDIT, schema)}]
    return marks


register_detail_context_provider(record_page_state)
register_card_mark_provider(kanban_card_marks)

"""What locking adds to record pages and kanban cards, through crm's extension points
(crm never imports locking). Imported once at start-up, which registers the providers."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from crm.modules import register_card_mark_provider, register_header_panel_provider, register_module_link_provider

from . import rules
from .guards import refusal_message
from .models import EDIT, RecordLock
from .rules import FieldLockSpec
from .state import Lock, RecordState, blocking_lock, lock_state


def read_only_reason(cause: Lock | FieldLockSpec) -> str:
    """Why a lock keeps a field read-only, short enough for a tooltip or a form's help text."""
    if isinstance(cause, FieldLockSpec):
        return _("Locked by field lock: %(name)s") % {"name": cause.name}
    if cause.kind == "rule":
        return _("Locked by rule: %(name)s") % {"name": cause.name}
    when = date_format(timezone.localtime(cause.locked_at), "SHORT_DATETIME_FORMAT") if cause.locked_at else ""
    return _("Locked by %(who)s on %(when)s") % {"who": cause.locked_by_name or _("someone"), "when": when}


def lock_field_rules(user: Any, schema: Any, record: Any) -> dict[str, Any]:
    """The fields a lock keeps read-only for this user on this record (for `access.decide`),
    with a short reason. Costs what `lock_state` costs: nothing more per rule, lock or field."""
    if record is None:
        return {}
    state = _lock_state(record, schema, user)
    return {"read_only": {key: read_only_reason(cause) for key, cause in state.read_only_causes.items()}}


def record_locks_panel(user: Any, schema: Any, record: Any) -> list[dict[str, Any]]:
    """The lock badges and the lock, unlock and override buttons under a record's title. What a
    lock forbids is the decision point's to say (the locking guard, run dry)."""
    state = _lock_state(record, schema, user)
    if not (state.locks or state.can_lock or state.overridden_rules):
        return []
    return [{"template": "locking/includes/record_locks.html", "lock_state": state,
             "editable_labels": [schema.field(k).label for k in state.editable_fields]
             if "edit" in state.restricted_actions else []}]


def _lock_state(record: Any, schema: Any, user: Any):
    """`lock_state`, once per record and user within a request (the page and its decisions share it)."""
    memo = record.__dict__.setdefault("_lock_state_by_user", {})
    if user.pk not in memo:
        memo[user.pk] = lock_state(record, schema, user)
    return memo[user.pk]


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


def module_settings_links(user: Any, module: Any) -> list[dict]:
    """The module's record-locking page, linked from crm's module and field settings pages."""
    return [{"label": _("Record locking"), "url": reverse("locking:module", args=[module.key]), "icon": "lock"}]


register_header_panel_provider(record_locks_panel)
register_card_mark_provider(kanban_card_marks)
register_module_link_provider(module_settings_links)

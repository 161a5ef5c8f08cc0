"""Which locks are in force on a record, and what they mean for one user.

A rule lock is in force while its RecordLock row exists AND the record's stored values still
match the rule (checked in memory), so a lock whose rule changed or stopped matching never
refuses anything, even before a save or the apply job removes its row. A manual lock is in
force while its row exists and manual locking is on. Nothing is in force while the module's
locking is off.

The guard and `lock_state` (for pages) share this code, so what a page shows is what the guard
enforces.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from . import rules as rules_
from .models import EDIT, EDIT_FAMILY, RecordLock
from .rules import Scope, Snapshot


@dataclass(frozen=True)
class Lock:
    kind: str  # "rule" or "manual"
    scope: Scope
    restricted: frozenset
    editable: frozenset
    rule_id: int | None = None
    name: str = ""  # the rule's name
    locked_by_id: int | None = None
    locked_by_name: str = ""
    locked_at: dt.datetime | None = None
    reason: str = ""


@dataclass
class RecordState:
    """What the guard learnt about one stored record; kept on the record for the after-write hook
    of the same action, so the save reads nothing twice."""

    snap: Snapshot
    matches: dict[int, bool | None]  # rule id -> the stored values match (None: criteria broken)
    rows: list[RecordLock] | None  # None: not read (nothing could be locked, or nothing could refuse)
    record: Any = None
    module: str = ""

    def load(self) -> list[RecordLock]:
        if self.rows is None:
            self.rows = load_rows(self.record.org_id, self.module, self.record.pk) if self.record.pk else []
        return self.rows

    def could_lock(self) -> bool:
        """Whether any lock can be in force: a rule matches (or its criteria broke), or manual locking is on."""
        return self.snap.enabled and (self.snap.manual_enabled or any(ok is not False for ok in self.matches.values()))

    def locks(self) -> list[Lock]:
        if not self.snap.enabled or not self.rows:
            return []
        found = []
        by_id = {rule.id: rule for rule in self.snap.rules}
        for row in self.rows:
            if row.kind == RecordLock.Kind.RULE and row.rule_id in by_id and self.matches.get(row.rule_id) is not False:
                rule = by_id[row.rule_id]
                found.append(Lock("rule", rule.scope, rule.restricted, rule.editable, rule_id=rule.id, name=rule.name,
                                  locked_at=row.locked_at))
            elif row.kind == RecordLock.Kind.MANUAL and self.snap.manual_enabled:
                snap = self.snap
                found.append(Lock("manual", snap.manual_scope, snap.manual_restricted, snap.manual_editable,
                                  locked_by_id=row.locked_by_id, locked_by_name=row.locked_by_name,
                                  locked_at=row.locked_at, reason=row.reason))
        order = {rule.id: n for n, rule in enumerate(self.snap.rules)}
        return sorted(found, key=lambda lock: (lock.kind != "rule", order.get(lock.rule_id, 0)))

    def overrides(self) -> list[RecordLock]:
        return [row for row in self.rows or [] if row.kind == RecordLock.Kind.OVERRIDE]


STATE_ATTR = "_locking_state"
# Lock rows fetched for a whole page of records at once (by `preload_rows`), read instead of
# one query per record when the decision point asks about records shown on a page.
ROWS_ATTR = "_locking_rows"
SNAP_ATTR = "_locking_snap"  # ... and the configuration they were judged under


def load_rows(org_id: int, module: str, record_id: int) -> list[RecordLock]:
    return list(RecordLock.objects.filter(org_id=org_id, module=module, record_id=record_id).order_by("pk"))


def preload_rows(user: Any, schema: Any, records: list[Any]) -> None:
    """The lock rows of many records in one query, kept on each record (see ROWS_ATTR)."""
    snap = rules_.snapshot(schema.org.pk, schema.key)
    for record in records:
        record.__dict__[SNAP_ATTR] = snap
    todo = [record for record in records if record.pk and ROWS_ATTR not in record.__dict__]
    if not snap.enabled or not todo:
        return
    rows: dict[int, list[RecordLock]] = {record.pk: [] for record in todo}
    for row in RecordLock.objects.filter(org_id=schema.org.pk, module=schema.key,
                                         record_id__in=list(rows)).order_by("pk"):
        rows[row.record_id].append(row)
    for record in todo:
        record.__dict__[ROWS_ATTR] = rows[record.pk]


def record_state(schema: Any, record: Any, snap: Snapshot | None = None, *, load: bool = True) -> RecordState:
    """The rules a stored record matches (in memory) and, with `load`, its lock rows: no query
    when nothing can be locked, else one. Kept on the record for the action's after-write hook."""
    if snap is None:
        snap = rules_.snapshot(schema.org.pk, schema.key)
    matches = {rule.id: rules_.matches(rule.criteria, schema, record) for rule in snap.rules} if snap.enabled else {}
    state = RecordState(snap, matches, record.__dict__.get(ROWS_ATTR), record=record, module=schema.key)
    if load and state.could_lock():
        state.load()
    record.__dict__[STATE_ATTR] = state
    return state


def could_refuse(state: RecordState, user: Any, schema: Any, restricted: str, changed: set[str]) -> bool:
    """Whether a lock could refuse this write, judged without the lock rows: a matching rule (or
    manual locking) that restricts the action for this user. Exempt users then cost no query."""
    snap = state.snap
    candidates = [(rule.restricted, rule.editable, rule.scope) for rule in snap.rules
                  if state.matches.get(rule.id) is not False]
    if snap.manual_enabled:
        candidates.append((snap.manual_restricted, snap.manual_editable, snap.manual_scope))
    for restricts, editable, scope in candidates:
        if restricted not in restricts or (restricted in EDIT_FAMILY and changed and changed <= editable):
            continue
        if scope.applies_to(user, schema):
            return True
    return False


def restricted_action(action: str, path: str) -> str | None:
    """The restricted action a write is, or None when locks never stop it."""
    if action in ("create", "restore"):
        return None
    if action == "update":  # bulk edit and import update are record updates by their own paths;
        # every other path (page, inline, api, kanban, rule:<id>, approval:<id>) is an edit
        if path == "import" or path.startswith("import:"):
            return "import_update"
        if path == "bulk" or path.startswith("bulk:"):
            return "bulk_edit"
        return EDIT
    named = {"delete", "change_owner", "add_note", "edit_note", "delete_note", "add_attachment", "delete_attachment"}
    if action == "update_note":
        return "edit_note"
    return action if action in named else EDIT  # any other write changes the record: an edit


def blocking_lock(locks: list[Lock], user: Any, schema: Any, restricted: str, changed: set[str]) -> Lock | None:
    """The first lock that forbids this user this action (editable fields let an edit through)."""
    for lock in locks:
        if restricted not in lock.restricted or not lock.scope.applies_to(user, schema):
            continue
        if restricted in EDIT_FAMILY and changed and changed <= lock.editable:
            continue
        return lock
    return None


def field_lock_for(snap: Snapshot, schema: Any, record: Any, user: Any, field_key: str):
    """The field lock that makes this field read-only for the user on this stored record."""
    for lock in snap.field_locks:
        if field_key not in lock.fields or not lock.scope.applies_to(user, schema):
            continue
        if lock.criteria is None or rules_.matches(lock.criteria, schema, record) is not False:
            return lock  # broken criteria keep the field locked
    return None


# --- for pages -----------------------------------------------------------------------------

@dataclass
class LockState:
    """A record's locks as one user sees them (see `lock_state`)."""

    locks: list[Lock] = field(default_factory=list)  # in force, rules first
    restricted_actions: set[str] = field(default_factory=set)  # what this user may not do here
    editable_fields: list[str] = field(default_factory=list)  # field keys this user may still change
    read_only_fields: list[str] = field(default_factory=list)  # editable fields that a lock keeps from this user
    read_only_causes: dict[str, Any] = field(default_factory=dict)  # field key -> the Lock or field lock
    overridden_rules: list[str] = field(default_factory=list)  # names of rules an admin lifted here
    can_lock: bool = False  # manual locking on, not locked by hand yet, user may lock
    can_unlock: bool = False  # locked by hand and user may unlock
    can_override: list[int] = field(default_factory=list)  # rule ids whose lock this user may override

    @property
    def locked(self) -> bool:
        return bool(self.locks)

    @property
    def rule_locks(self) -> list[Lock]:
        return [lock for lock in self.locks if lock.kind == "rule"]

    @property
    def manual_lock(self) -> Lock | None:
        return next((lock for lock in self.locks if lock.kind == "manual"), None)


def lock_state(record: Any, schema: Any, user: Any) -> LockState:
    """Locks on a stored record and what they mean for `user`, for the detail page and forms.

    Costs no query when locking is off or the configuration is cached and nothing can be locked
    (else one for the record's lock rows; a cold cache adds one to three)."""
    from .permissions import may_lock, may_override

    state = record_state(schema, record)
    snap = state.snap
    result = LockState()
    if not snap.enabled:
        result.editable_fields = [spec.key for spec in schema.editable_fields]
        return result
    result.locks = state.locks()
    names = {rule.id: rule.name for rule in snap.rules}
    result.overridden_rules = [names[row.rule_id] for row in state.overrides() if row.rule_id in names]
    for restricted in ("edit", "bulk_edit", "import_update", "delete", "change_owner", "add_note", "edit_note",
                       "delete_note", "add_attachment", "delete_attachment"):
        if any(restricted in lock.restricted and lock.scope.applies_to(user, schema) for lock in result.locks):
            result.restricted_actions.add(restricted)
    editing_locks = [lock for lock in result.locks if EDIT in lock.restricted and lock.scope.applies_to(user, schema)]
    for spec in schema.editable_fields:
        cause = next((lock for lock in editing_locks if spec.key not in lock.editable), None)
        if cause is None:
            cause = field_lock_for(snap, schema, record, user, spec.key)
        if cause is not None:
            result.read_only_fields.append(spec.key)
            result.read_only_causes[spec.key] = cause
        else:
            result.editable_fields.append(spec.key)
    manual = result.manual_lock
    lockable = snap.manual_enabled and may_lock(user, schema, snap)
    result.can_lock = lockable and not any(row.kind == "manual" for row in state.rows or [])
    result.can_unlock = lockable and manual is not None
    if may_override(user, schema):
        result.can_override = [lock.rule_id for lock in result.rule_locks]
    return result

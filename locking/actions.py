"""Writes of record locking: module configuration, lock rules, field locks, manual locks,
overrides, applying a rule to existing records, and keeping rule locks in step with each save.

Configuration is changed by org administrators, and by team managers for their team modules.
Every change of a module's configuration marks its cached snapshot stale (locking.rules).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext as _

from access import audit
from access.models import OrgRole, Profile, User
from access.visibility import visible
from crm import timeline
from crm.actions import RecordValidationError, bound_schema
from crm.criteria import CriteriaError, to_q, validate
from crm.events import RecordEvent, emit_many
from crm.guards import WriteContext
from crm.schema import BoundSchema

from . import rules
from .models import (
    DEFAULT_RESTRICTED, MAX_RULES_PER_MODULE, RESTRICTED_ACTIONS, TEAM_ROLES, FieldLock, LockConfig, LockJob,
    LockRule, RecordLock,
)
from .permissions import may_configure, may_lock, may_override
from .state import STATE_ATTR, load_rows

BATCH = 500


# --- validation helpers ------------------------------------------------------------------

def _config_schema(org: Any, module_key: str, actor: User) -> BoundSchema:
    """The module's schema in the actor's org, if the actor may configure its locking."""
    if getattr(actor, "org", None) is None or actor.org.pk != org.pk:
        raise PermissionDenied(_("Module not found."))
    schema = bound_schema(module_key, org)
    if not may_configure(actor, schema):
        raise PermissionDenied(_("You may not change the locking of this module."))
    return schema


def _own(row: Any, actor: User) -> None:
    """Configuration rows are looked up by org and id: another org's row is not found."""
    if getattr(actor, "org", None) is None or row.org_id != actor.org.pk:
        raise PermissionDenied(_("Not found."))


def _ids(values: Iterable[Any], model: Any, org: Any, key: str, errors: dict) -> list[int]:
    try:
        ids = sorted({int(v) for v in values or []})
    except (TypeError, ValueError):
        errors[key] = [_("Choose from the list.")]
        return []
    if ids and model.objects.filter(org=org, pk__in=ids).count() != len(ids):
        errors[key] = [_("Choose from the list.")]
    return ids


def _scope(org: Any, schema: BoundSchema, errors: dict, *, locked_for: str, profiles: Iterable[Any],
           roles: Iterable[Any], team_roles: Iterable[str], prefix: str = "") -> dict[str, Any]:
    """Who a lock applies to, checked against the org (and the module kind, for team roles)."""
    if locked_for not in ("all", "selected"):
        errors[prefix + "locked_for"] = [_("Choose who the lock applies to.")]
    cleaned = {
        prefix + "profiles": _ids(profiles, Profile, org, prefix + "profiles", errors),
        prefix + "roles": _ids(roles, OrgRole, org, prefix + "roles", errors),
        prefix + "team_roles": sorted(set(team_roles or [])),
    }
    team_roles_ = cleaned[prefix + "team_roles"]
    if team_roles_ and (getattr(schema, "team_module", None) is None or not set(team_roles_) <= set(TEAM_ROLES)):
        errors[prefix + "team_roles"] = [_("Team roles apply to team modules only: choose from the list.")]
    if locked_for == "selected" and not any(cleaned.values()) and prefix + "locked_for" not in errors:
        errors[prefix + "locked_for"] = [_("Choose at least one profile, role or team role.")]
    if prefix == "":
        cleaned["locked_for"] = locked_for
    return cleaned


def _restricted(values: Iterable[str] | None, errors: dict) -> list[str]:
    chosen = list(DEFAULT_RESTRICTED if values is None else values)
    if not chosen:
        errors["restricted_actions"] = [_("Choose at least one action to restrict.")]
    elif not set(chosen) <= set(RESTRICTED_ACTIONS):
        errors["restricted_actions"] = [_("Choose actions from the list.")]
    return [action for action in RESTRICTED_ACTIONS if action in chosen]  # a stable order


def _field_keys(schema: BoundSchema, keys: Iterable[str], errors: dict, error_key: str, *,
                required: bool = False) -> list[str]:
    cleaned = []
    for key in keys or []:
        if not schema.has_field(key) or not schema.field(key).editable:
            errors[error_key] = [_("Unknown field “%(field)s”.") % {"field": key}]
            return []
        cleaned.append(schema.field(key).key)
    if required and not cleaned:
        errors[error_key] = [_("Choose at least one field.")]
    return sorted(set(cleaned))


def _criteria(schema: BoundSchema, criteria: Any, errors: dict) -> Any:
    if criteria is None:
        return None
    try:
        return validate(criteria, schema)
    except CriteriaError as exc:
        errors["criteria"] = exc.messages
        return None


def _name(value: Any, errors: dict) -> str:
    name = str(value or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 100:
        errors["name"] = [_("Use at most %(limit)d characters (this has %(length)d).")
                          % {"limit": 100, "length": len(name)}]
    return name


def _raise(errors: dict) -> None:
    if errors:
        raise RecordValidationError(errors)


def _config_row(org: Any, module_key: str) -> LockConfig:
    """The module's config row, locked: serialises configuration changes of one module."""
    LockConfig.objects.get_or_create(org=org, module=module_key)
    return LockConfig.objects.select_for_update().get(org=org, module=module_key)


def _values(row: Any) -> dict[str, Any]:
    """A lock configuration, rule or field lock as the audit log keeps it."""
    return model_to_dict(row, exclude=["id", "org"])


# --- module configuration ----------------------------------------------------------------------

@transaction.atomic
def do_save_lock_config(org: Any, module_key: str, *, enabled: bool, manual_enabled: bool = False,
                        locker_profiles: Iterable[int] = (), locker_roles: Iterable[int] = (),
                        locker_team_roles: Iterable[str] | None = None, locked_for: str = "all",
                        profiles: Iterable[int] = (), roles: Iterable[int] = (), team_roles: Iterable[str] = (),
                        restricted_actions: Iterable[str] | None = None, editable_fields: Iterable[str] = (),
                        actor: User) -> LockConfig:
    """Turn locking and manual locking on or off for a module, choose who may lock by hand
    (org administrators always may; on team modules the managers by default), and what a
    manual lock restricts for whom."""
    schema = _config_schema(org, module_key, actor)
    errors: dict[str, list[str]] = {}
    if locker_team_roles is None:
        locker_team_roles = ["manager"] if getattr(schema, "team_module", None) is not None else []
    scope = _scope(org, schema, errors, locked_for=locked_for, profiles=profiles, roles=roles, team_roles=team_roles)
    lockers = _scope(org, schema, errors, locked_for="all", profiles=locker_profiles, roles=locker_roles,
                     team_roles=locker_team_roles, prefix="locker_")
    restricted = _restricted(restricted_actions, errors)
    editable = _field_keys(schema, editable_fields, errors, "editable_fields")
    _raise(errors)
    config = _config_row(org, schema.key)
    before = _values(config)
    config.enabled = bool(enabled)
    config.manual_enabled = bool(manual_enabled)
    for key, value in {**scope, **lockers}.items():
        setattr(config, key, value)
    config.restricted_actions = restricted
    config.editable_fields = editable
    config.save()
    audit.record(org, audit.Event.LOCK_SETTINGS_CHANGED, actor=actor, obj=config, object_name=str(schema.label_plural),
                 old=before, new=_values(config))
    rules.mark_changed(org.pk, schema.key)
    return config


# --- lock rules ----------------------------------------------------------------------------------

def _rule_values(org: Any, schema: BoundSchema, *, name: Any, criteria: Any, locked_for: str, profiles: Any,
                 roles: Any, team_roles: Any, restricted_actions: Any, editable_fields: Any,
                 on_approval: bool, exclude_pk: int | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values = {"name": _name(name, errors)}
    taken = LockRule.objects.filter(org=org, module=schema.key, name__iexact=values["name"])
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if values["name"] and taken.exists():
        errors["name"] = [_("Another lock rule of this module has this name.")]
    values["criteria"] = _criteria(schema, criteria if criteria is not None else {"all": []}, errors)
    values.update(_scope(org, schema, errors, locked_for=locked_for, profiles=profiles, roles=roles,
                         team_roles=team_roles))
    values["restricted_actions"] = _restricted(restricted_actions, errors)
    values["editable_fields"] = _field_keys(schema, editable_fields, errors, "editable_fields")
    values["on_approval"] = bool(on_approval)
    _raise(errors)
    return values


@transaction.atomic
def do_create_lock_rule(org: Any, module_key: str, *, name: str, criteria: dict | None, actor: User,
                        locked_for: str = "all", profiles: Iterable[int] = (), roles: Iterable[int] = (),
                        team_roles: Iterable[str] = (), restricted_actions: Iterable[str] | None = None,
                        editable_fields: Iterable[str] = (), on_approval: bool = False) -> LockRule:
    """Add a lock rule (at most five per module). Records already stored are not touched: offer
    `do_start_apply_job` to lock them now. Records created, or saved into matching, later are
    locked by their save."""
    schema = _config_schema(org, module_key, actor)
    _config_row(org, schema.key)  # serialises the count below
    if LockRule.objects.filter(org=org, module=schema.key).count() >= MAX_RULES_PER_MODULE:
        raise RecordValidationError({"__all__": [
            _("A module can have at most %(max)d lock rules. Delete or change one of its rules instead.")
            % {"max": MAX_RULES_PER_MODULE}]})
    values = _rule_values(org, schema, name=name, criteria=criteria, locked_for=locked_for, profiles=profiles,
                          roles=roles, team_roles=team_roles, restricted_actions=restricted_actions,
                          editable_fields=editable_fields, on_approval=on_approval)
    last = LockRule.objects.filter(org=org, module=schema.key).aggregate(last=Max("position"))["last"]
    rule = LockRule.objects.create(org=org, module=schema.key, position=(last or 0) + 1, **values)
    audit.record(org, audit.Event.LOCK_RULE_CREATED, actor=actor, obj=rule, new=_values(rule))
    rules.mark_changed(org.pk, schema.key)
    return rule


@transaction.atomic
def do_update_lock_rule(rule: LockRule, *, name: str, criteria: dict | None, actor: User, locked_for: str = "all",
                        profiles: Iterable[int] = (), roles: Iterable[int] = (), team_roles: Iterable[str] = (),
                        restricted_actions: Iterable[str] | None = None, editable_fields: Iterable[str] = (),
                        on_approval: bool = False) -> LockRule:
    """Change a rule. Its locks on records that no longer match stop at once (a lock is in force
    only while the record matches); apply the rule to existing records to lock the records that
    match now and remove the rows of those that no longer do."""
    _own(rule, actor)
    schema = _config_schema(rule.org, rule.module, actor)
    _config_row(rule.org, rule.module)
    values = _rule_values(rule.org, schema, name=name, criteria=criteria, locked_for=locked_for, profiles=profiles,
                          roles=roles, team_roles=team_roles, restricted_actions=restricted_actions,
                          editable_fields=editable_fields, on_approval=on_approval, exclude_pk=rule.pk)
    before = _values(rule)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.save()
    audit.record(rule.org_id, audit.Event.LOCK_RULE_CHANGED, actor=actor, obj=rule, old=before, new=_values(rule))
    rules.mark_changed(rule.org_id, rule.module)
    return rule


@transaction.atomic
def do_delete_lock_rule(rule: LockRule, *, actor: User, path: str = "page") -> int:
    """Delete a rule; the records it locked are unlocked (a timeline entry each). Returns how many."""
    _own(rule, actor)
    schema = _config_schema(rule.org, rule.module, actor)
    _config_row(rule.org, rule.module)
    locked_ids = list(RecordLock.objects.filter(org=rule.org, rule=rule, kind=RecordLock.Kind.RULE)
                      .values_list("record_id", flat=True))
    _write_unlocked(schema, locked_ids, rule, actor=actor, path=path, reason=_("The lock rule was deleted."))
    RecordLock.objects.filter(org=rule.org, rule=rule).delete()
    audit.record(rule.org_id, audit.Event.LOCK_RULE_DELETED, actor=actor, obj=rule,
                 old={**_values(rule), "records_unlocked": len(locked_ids)}, only_changes=False)
    rule.delete()
    rules.mark_changed(schema.org.pk, schema.key)
    return len(locked_ids)


def _rule_json(rule: Any) -> dict:
    return {"id": rule.id if hasattr(rule, "id") else rule.pk, "name": rule.name}


def _log(module_key: str, entries: Iterable[Any]) -> None:
    """Lock changes go on the records' timelines and out as record events ("locked", "unlocked",
    "lock_overridden"), delivered after commit like every record event, for automation."""
    entries = list(entries)
    timeline.write_many(entries)
    emit_many([RecordEvent(kind=item.kind, module=module_key, org_id=item.org_id, record_id=item.record_id,
                           actor_id=item.actor_id, path=item.path, changes=item.changes) for item in entries])


def _write_unlocked(schema: BoundSchema, record_ids: list[int], rule: Any, *, actor: Any, path: str,
                    reason: str) -> None:
    for start in range(0, len(record_ids), BATCH):
        records = schema.base_queryset(schema.org).filter(pk__in=record_ids[start:start + BATCH])
        _log(schema.key, (timeline.entry(record, kind="unlocked", actor=actor, path=path, changes={
            "rule": [_rule_json(rule), None], "reason": [None, reason]}) for record in records))


# --- field locks ---------------------------------------------------------------------------------

@transaction.atomic
def do_save_field_lock(org: Any, module_key: str, *, name: str, fields: Iterable[str], actor: User,
                       locked_for: str = "selected", profiles: Iterable[int] = (), roles: Iterable[int] = (),
                       team_roles: Iterable[str] = (), criteria: dict | None = None,
                       field_lock: FieldLock | None = None) -> FieldLock:
    """Create (or, given `field_lock`, change) a field lock: `fields` are read-only for the chosen
    users from the record's creation on, or, with `criteria`, while the record matches them."""
    if field_lock is not None:
        _own(field_lock, actor)
        if field_lock.module != module_key:
            raise PermissionDenied(_("Not found."))
    schema = _config_schema(org, module_key, actor)
    _config_row(org, schema.key)
    errors: dict[str, list[str]] = {}
    values = {"name": _name(name, errors), "fields": _field_keys(schema, fields, errors, "fields", required=True)}
    values.update(_scope(org, schema, errors, locked_for=locked_for, profiles=profiles, roles=roles,
                         team_roles=team_roles))
    values["criteria"] = _criteria(schema, criteria, errors)
    _raise(errors)
    before = _values(field_lock) if field_lock is not None else None
    if field_lock is None:
        field_lock = FieldLock(org=org, module=schema.key)
    for key, value in values.items():
        setattr(field_lock, key, value)
    field_lock.save()
    audit.record(org, audit.Event.FIELD_LOCK_SAVED, actor=actor, obj=field_lock, old=before, new=_values(field_lock))
    rules.mark_changed(org.pk, schema.key)
    return field_lock


@transaction.atomic
def do_delete_field_lock(field_lock: FieldLock, *, actor: User) -> None:
    _own(field_lock, actor)
    schema = _config_schema(field_lock.org, field_lock.module, actor)
    audit.record(field_lock.org_id, audit.Event.FIELD_LOCK_DELETED, actor=actor, obj=field_lock,
                 old=_values(field_lock), only_changes=False)
    field_lock.delete()
    rules.mark_changed(schema.org.pk, schema.key)


# --- manual locks and overrides ------------------------------------------------------------------

def _record_locked(record: Any, actor: User) -> tuple[BoundSchema, Any]:
    """The stored record, row-locked (so lock changes and saves of it take turns), if visible."""
    schema = bound_schema(record, actor.org)
    current = visible(actor, schema, "view", listing=False).select_for_update(of=("self",)).filter(pk=record.pk).first()
    if current is None:
        raise PermissionDenied(_("Record not found."))
    return schema, current


@transaction.atomic
def do_lock_record(record: Any, reason: str = "", *, actor: User, path: str = "page") -> RecordLock:
    """Lock a record by hand (manual locking must be on, and the actor allowed to lock)."""
    schema, current = _record_locked(record, actor)
    snap = rules.snapshot(schema.org.pk, schema.key)
    if not (snap.enabled and snap.manual_enabled):
        raise PermissionDenied(_("Manual locking is off for this module."))
    if not may_lock(actor, schema, snap):
        raise PermissionDenied(_("You may not lock records of this module."))
    reason = (reason or "").strip()
    if len(reason) > 1000:
        raise RecordValidationError({"reason": [_("Use at most %(limit)d characters (this has %(length)d).")
                                                % {"limit": 1000, "length": len(reason)}]})
    if RecordLock.objects.filter(org=current.org_id, module=schema.key, record_id=current.pk,
                                 kind=RecordLock.Kind.MANUAL).exists():
        raise RecordValidationError({"__all__": [_("This record is already locked by hand.")]})
    lock = RecordLock.objects.create(org_id=current.org_id, module=schema.key, record_id=current.pk,
                                     kind=RecordLock.Kind.MANUAL, locked_by=actor,
                                     locked_by_name=timeline.actor_name(actor), reason=reason)
    _log(schema.key, [timeline.entry(current, kind="locked", actor=actor, path=path,
                                     changes={"reason": [None, reason]} if reason else {})])
    return lock


@transaction.atomic
def do_unlock_record(record: Any, *, actor: User, path: str = "page", reason: str = "") -> None:
    """Lift a manual lock (whoever may lock records of the module may unlock them)."""
    schema, current = _record_locked(record, actor)
    snap = rules.snapshot(schema.org.pk, schema.key)
    if not may_lock(actor, schema, snap):
        raise PermissionDenied(_("You may not unlock records of this module."))
    deleted, _rows = RecordLock.objects.filter(org=current.org_id, module=schema.key, record_id=current.pk,
                                               kind=RecordLock.Kind.MANUAL).delete()
    if not deleted:
        raise RecordValidationError({"__all__": [_("This record is not locked by hand.")]})
    reason = (reason or "").strip()
    _log(schema.key, [timeline.entry(current, kind="unlocked", actor=actor, path=path,
                                     changes={"reason": [None, reason]} if reason else {})])


@transaction.atomic
def do_override_unlock(record: Any, rule: LockRule, reason: str, *, actor: User, path: str = "page") -> RecordLock:
    """An administrator (or a team module's manager) lifts a rule's lock on one record, with a
    reason kept on the timeline. The lock stays lifted while the record keeps matching the rule;
    once a save makes it stop matching, the override ends, and a later match locks it again."""
    _own(rule, actor)
    schema, current = _record_locked(record, actor)
    if rule.module != schema.key:
        raise PermissionDenied(_("Not found."))
    if not may_override(actor, schema):
        raise PermissionDenied(_("Only an administrator may override a lock rule."))
    reason = (reason or "").strip()
    if not reason:
        raise RecordValidationError({"reason": [_("Say why the lock is lifted.")]})
    lock = RecordLock.objects.filter(org=current.org_id, module=schema.key, record_id=current.pk, rule=rule,
                                     kind=RecordLock.Kind.RULE).first()
    if lock is None:
        raise RecordValidationError({"__all__": [_("This record is not locked by this rule.")]})
    lock.kind = RecordLock.Kind.OVERRIDE
    lock.locked_by = actor
    lock.locked_by_name = timeline.actor_name(actor)
    lock.reason = reason
    lock.locked_at = timezone.now()
    lock.save()
    _log(schema.key, [timeline.entry(current, kind="lock_overridden", actor=actor, path=path,
                                     changes={"rule": [_rule_json(rule), None], "reason": [None, reason]})])
    return lock


@transaction.atomic
def do_lock_after_approval(record: Any, *, actor: User, path: str) -> list[RecordLock]:
    """Entry point for an approval process that approved `record` (path "approval:<id>"): lock it
    by each of its module's "lock after approval" rules whose criteria it matches."""
    schema, current = _record_locked(record, actor)
    snap = rules.snapshot(schema.org.pk, schema.key)
    wanted = [rule for rule in snap.rules if rule.on_approval and rules.matches(rule.criteria, schema, current)]
    have = set(RecordLock.objects.filter(org=current.org_id, module=schema.key, record_id=current.pk,
                                         rule_id__in=[r.id for r in wanted]).values_list("rule_id", flat=True))
    created = [_lock_by_rule(schema, current, rule, actor=actor, path=path) for rule in wanted if rule.id not in have]
    return created


def _lock_by_rule(schema: BoundSchema, record: Any, rule: Any, *, actor: Any, path: str) -> RecordLock:
    lock = RecordLock.objects.create(org_id=record.org_id, module=schema.key, record_id=record.pk,
                                     kind=RecordLock.Kind.RULE, rule_id=rule.id)
    _log(schema.key, [timeline.entry(record, kind="locked", actor=actor, path=path,
                                     changes={"rule": [None, _rule_json(rule)]})])
    return lock


# --- keeping rule locks in step with each save (an after-write hook) -----------------------------

def sync_rule_locks(context: WriteContext, record: Any) -> None:
    """Runs inside every record action after the row is saved. A record that comes to match a
    rule is locked by it; one that stops matching is unlocked (and an override of that rule
    ends). Criteria are evaluated in memory, on the values before (from the guard) and after;
    the record's lock rows are read only when that changed something. A record that already
    matched when its rule was saved is left as it is, unless the rule is applied to existing
    records (do_apply_rule_to_existing). Creating and restoring bring every rule in step.
    A "lock after approval" rule never locks here: only `do_lock_after_approval` does, when an
    approval of the record completes; a save that stops matching it still unlocks."""
    schema = context.module
    state = record.__dict__.pop(STATE_ATTR, None)
    snap = state.snap if state is not None else rules.snapshot(schema.org.pk, schema.key)
    if not snap.enabled or not snap.rules:
        return
    now = {rule.id: rules.matches(rule.criteria, schema, record) for rule in snap.rules}
    if context.action == "create":
        targets, rows = list(snap.rules), []
    elif state is not None and context.action != "restore":
        before = state.matches
        targets = [rule for rule in snap.rules if now[rule.id] is not None and before.get(rule.id) is not None
                   and bool(now[rule.id]) != bool(before[rule.id])]
        if not targets:
            return
        rows = state.load()
    else:
        targets, rows = list(snap.rules), load_rows(record.org_id, schema.key, record.pk)
    by_rule = {row.rule_id: row for row in rows if row.kind != RecordLock.Kind.MANUAL}
    entries, lifted = [], []
    for rule in targets:
        ok, row = now[rule.id], by_rule.get(rule.id)
        if ok and row is None and not rule.on_approval:  # those lock when an approval completes
            RecordLock.objects.create(org_id=record.org_id, module=schema.key, record_id=record.pk,
                                      kind=RecordLock.Kind.RULE, rule_id=rule.id)
            entries.append(timeline.entry(record, kind="locked", actor=context.actor, path=context.path,
                                          changes={"rule": [None, _rule_json(rule)]}))
        elif ok is False and row is not None:
            lifted.append(row.pk)
            if row.kind == RecordLock.Kind.RULE:
                entries.append(timeline.entry(record, kind="unlocked", actor=context.actor, path=context.path,
                                              changes={"rule": [_rule_json(rule), None],
                                                       "reason": [None, _("The record no longer matches the rule.")]}))
    if lifted:
        RecordLock.objects.filter(pk__in=lifted).delete()
    if entries:
        _log(schema.key, entries)


# --- applying a rule to the records already stored -----------------------------------------------

# What queues a job: `locking.tasks` registers its Celery task's `delay` when imported (at start-up,
# from LockingConfig.ready), so the tasks import the actions and not the other way round.
_job_runners: list[Callable[[int], Any]] = []


def register_job_runner(run: Callable[[int], Any]) -> None:
    if run not in _job_runners:
        _job_runners.append(run)


@transaction.atomic
def do_start_apply_job(rule: LockRule, *, actor: User) -> LockJob:
    """Queue "apply this rule to existing records" (a Celery job with progress, see tasks)."""
    _own(rule, actor)
    _config_schema(rule.org, rule.module, actor)
    job = LockJob.objects.create(org_id=rule.org_id, module=rule.module, rule=rule, rule_name=rule.name,
                                 created_by=actor)
    transaction.on_commit(lambda: [run(job.pk) for run in _job_runners])
    return job


def do_apply_rule_to_existing(rule: LockRule, *, actor: User | None, path: str = "system",
                              job: LockJob | None = None, batch_size: int = BATCH) -> dict[str, int]:
    """Lock every live record of the module the rule matches (unless an override lifted it there)
    and unlock those it no longer matches. Set-based: candidates are found with the criteria's SQL
    form, then written in batches, each batch its own transaction (re-checked under row locks,
    so saves running meanwhile are respected). Safe to run twice. Returns {"locked", "unlocked"}."""
    if actor is not None:
        _own(rule, actor)
        _config_schema(rule.org, rule.module, actor)
    schema = bound_schema(rule.module, rule.org)
    try:
        matching_q = to_q(rule.criteria, schema)
    except CriteriaError as exc:
        raise RecordValidationError({"criteria": exc.messages})
    live = schema.base_queryset(schema.org).filter(deleted_at__isnull=True)
    matching = live.filter(matching_q)
    rule_rows = RecordLock.objects.filter(org=schema.org, module=schema.key, rule=rule)
    # A "lock after approval" rule locks a record only when its approval completes: applied
    # here, it only unlocks the records that no longer match.
    to_lock = [] if rule.on_approval else list(matching.exclude(pk__in=rule_rows.values("record_id"))
                                               .order_by("pk").values_list("pk", flat=True))
    to_unlock = list(rule_rows.filter(record_id__in=live.values("pk")).exclude(record_id__in=matching.values("pk"))
                     .order_by("pk").values_list("pk", flat=True))
    counts = {"locked": 0, "unlocked": 0}
    _job_progress(job, status=LockJob.Status.RUNNING, total=len(to_lock) + len(to_unlock))
    for start in range(0, len(to_lock), batch_size):
        chunk = to_lock[start:start + batch_size]
        with transaction.atomic():
            records = list(matching.filter(pk__in=chunk).exclude(pk__in=rule_rows.values("record_id"))
                           .select_for_update(of=("self",)).order_by("pk"))
            RecordLock.objects.bulk_create([
                RecordLock(org_id=r.org_id, module=schema.key, record_id=r.pk, kind=RecordLock.Kind.RULE, rule=rule)
                for r in records])
            _log(schema.key, (timeline.entry(r, kind="locked", actor=actor, path=path,
                                             changes={"rule": [None, _rule_json(rule)]}) for r in records))
            counts["locked"] += len(records)
            _job_progress(job, processed=start + len(chunk), locked=counts["locked"])
    for start in range(0, len(to_unlock), batch_size):
        chunk = to_unlock[start:start + batch_size]
        with transaction.atomic():
            rows = list(rule_rows.filter(pk__in=chunk).exclude(record_id__in=matching.values("pk"))
                        .select_for_update().order_by("pk"))
            unlocked = [row.record_id for row in rows if row.kind == RecordLock.Kind.RULE]
            _write_unlocked(schema, unlocked, rule, actor=actor, path=path,
                            reason=_("The record no longer matches the rule."))
            RecordLock.objects.filter(pk__in=[row.pk for row in rows]).delete()
            counts["unlocked"] += len(unlocked)
            _job_progress(job, processed=len(to_lock) + start + len(chunk), unlocked=counts["unlocked"])
    _job_progress(job, status=LockJob.Status.DONE, finished_at=timezone.now())
    return counts


def _job_progress(job: LockJob | None, **values: Any) -> None:
    if job is None:
        return
    for key, value in values.items():
        setattr(job, key, value)
    job.save(update_fields=list(values))


def do_fail_apply_job(job: LockJob, error: str) -> None:
    """A job that could not finish says why (the rule was deleted, its criteria broke...)."""
    _job_progress(job, status=LockJob.Status.FAILED, error=error[:2000], finished_at=timezone.now())


def purge_record_locks(records: list[Any]) -> None:
    """Remove the lock rows of records being purged from the recycle bin (crm calls this through
    its purge hook, inside the purge's transaction), so no lock outlives its record."""
    by_module: dict[tuple[int, str], list[int]] = {}
    for record in records:
        by_module.setdefault((record.org_id, record.MODULE_KEY), []).append(record.pk)
    for (org_id, module_key), ids in by_module.items():
        RecordLock.objects.filter(org_id=org_id, module=module_key, record_id__in=ids).delete()

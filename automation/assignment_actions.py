"""The only writers of assignment rules, their entries, their jobs and their runs.

Configuration actions are for whoever may configure the module (org administrators; team
managers for their team modules); a bad value is refused naming its field, and nothing is
written. `do_assign_by_rule` is the assignment itself (see `automation.assignment`)."""
from __future__ import annotations

from typing import Any, Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Group, OrgRole, User
from access.visibility import can, visible
from crm import actions as crm_actions
from crm.actions import ConflictError, RecordValidationError, column_length_errors
from crm.criteria import CriteriaError, validate
from crm.events import caused_by
from crm.guards import GuardRefusal
from crm.modules import get_module

from . import assignment_choice as assignment
from . import runs
from .configure import configurable_schema
from .assignment_models import AssignmentEntry, AssignmentJob, AssignmentRule
from .run_models import RuleRun
from .runas import RuleActorError, rule_actor

MAX_ENTRIES = 50
MAX_POOL = 500
MAX_CAP = 1_000_000


# --- permission and checks ------------------------------------------------------------------------

def _check_user(org_id: int, user_id: Any, schema: Any, field: str, errors: dict[str, list[str]]) -> int | None:
    if user_id in (None, ""):
        return None
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        errors.setdefault(field, []).append(_("Choose an active user of this organisation."))
        return None
    if not assignment.active_users(org_id, [user_id], schema):
        errors.setdefault(field, []).append(
            _("Choose an active member of this team space.") if assignment.is_team(schema)
            else _("Choose an active user of this organisation."))
    return user_id


def _clean_rule(org_id: int, schema: Any, *, name: str, fallback_user_id: Any, status_field: str,
                closed_values: Iterable[str], rule_id: int | None = None) -> dict[str, Any]:
    name = (name or "").strip()
    errors = column_length_errors(AssignmentRule, {"name": name})
    if not name:
        errors["name"] = [_("This field is required.")]
    elif (AssignmentRule.objects.filter(org_id=org_id, module=schema.key, name__iexact=name)
          .exclude(pk=rule_id).exists()):
        errors["name"] = [_("This module already has an assignment rule named “%(name)s”.") % {"name": name}]
    fallback = _check_user(org_id, fallback_user_id, schema, "fallback_user", errors)
    status_field, closed = (status_field or "").strip(), [str(v) for v in closed_values or []]
    if assignment.is_team(schema):
        status_field, closed = "", []  # team modules: their done statuses say what is closed
    elif status_field:
        spec = schema.field(status_field) if schema.has_field(status_field) else None
        if spec is None or spec.type != "picklist":
            errors["status_field"] = [_("Choose a picklist field of this module.")]
        else:
            values = {option.value for option in spec.options}
            unknown = [v for v in closed if v not in values]
            if unknown:
                errors["closed_values"] = [_("Unknown values: %(values)s.") % {"values": ", ".join(unknown)}]
    elif closed:
        errors["status_field"] = [_("Choose the field whose values say a record is closed.")]
    if errors:
        raise RecordValidationError(errors)
    return {"name": name, "fallback_user_id": fallback, "status_field": status_field, "closed_values": closed}


def _clean_entry(rule: AssignmentRule, schema: Any, *, criteria: Any, method: str, user_id: Any = None,
                 pool: str = "users", pool_users: Iterable[Any] = (), pool_role_id: Any = None,
                 pool_group_id: Any = None, pool_space_id: Any = None, cap: Any = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    org_id = rule.org_id
    if criteria in ({}, None) or (isinstance(criteria, dict) and not next(iter(criteria.values()), None)):
        criteria = None
    if criteria is not None:
        try:
            criteria = validate(criteria, schema)
        except CriteriaError as exc:
            errors["criteria"] = exc.messages
    values: dict[str, Any] = {"criteria": criteria, "method": method, "user_id": None, "pool": "users",
                              "pool_users": [], "pool_role_id": None, "pool_group_id": None, "pool_space_id": None,
                              "cap": None}
    Method, Pool = AssignmentEntry.Method, AssignmentEntry.Pool
    if method not in Method.values:
        errors["method"] = [_("Choose how to assign.")]
    elif method == Method.USER:
        values["user_id"] = _check_user(org_id, user_id, schema, "user", errors)
        if values["user_id"] is None and "user" not in errors:
            errors["user"] = [_("Choose the user who gets the records.")]
    else:
        values["pool"] = pool
        if pool not in Pool.values:
            errors["pool"] = [_("Choose whom to distribute among.")]
        elif pool == Pool.USERS:
            ids = []
            for raw in pool_users or []:
                user = _check_user(org_id, raw, schema, "pool_users", errors)
                if user is not None and user not in ids:
                    ids.append(user)
            if not ids and "pool_users" not in errors:
                errors["pool_users"] = [_("Choose at least one user.")]
            elif len(ids) > MAX_POOL:
                errors["pool_users"] = [_("Choose at most %(count)d users.") % {"count": MAX_POOL}]
            values["pool_users"] = sorted(ids)
        elif pool == Pool.ROLE:
            if not OrgRole.objects.filter(org_id=org_id, pk=_int(pool_role_id)).exists():
                errors["pool_role"] = [_("Choose a role of this organisation.")]
            values["pool_role_id"] = _int(pool_role_id)
        elif pool == Pool.GROUP:
            if not Group.objects.filter(org_id=org_id, pk=_int(pool_group_id)).exists():
                errors["pool_group"] = [_("Choose a group of this organisation.")]
            values["pool_group_id"] = _int(pool_group_id)
        elif pool == Pool.TEAM:
            from teams.models import TeamSpace

            space_id = _int(pool_space_id)
            if assignment.is_team(schema) and space_id != schema.team_module.space_id:
                errors["pool_space"] = [_("A team module's records go to members of its own team space.")]
            elif not TeamSpace.objects.filter(org_id=org_id, pk=space_id).exists():
                errors["pool_space"] = [_("Choose a team space of this organisation.")]
            values["pool_space_id"] = space_id
        if cap not in (None, ""):
            number = _int(cap)
            if number is None or not 1 <= number <= MAX_CAP:
                errors["cap"] = [_("Enter a whole number from 1 to %(max)d.") % {"max": MAX_CAP}]
            values["cap"] = number
    if errors:
        raise RecordValidationError(errors)
    return values


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- rules ---------------------------------------------------------------------------------------

@transaction.atomic
def do_create_assignment_rule(org: Any, module: str, *, name: str, fallback_user_id: Any = None,
                              status_field: str = "", closed_values: Iterable[str] = (),
                              actor: User) -> AssignmentRule:
    """A new rule, inactive until activated (after a dry run, typically)."""
    schema = configurable_schema(org, module, actor)
    values = _clean_rule(schema.org.pk, schema, name=name, fallback_user_id=fallback_user_id,
                         status_field=status_field, closed_values=closed_values)
    return AssignmentRule.objects.create(org_id=schema.org.pk, module=schema.key, created_by=actor, **values)


@transaction.atomic
def do_update_assignment_rule(rule: AssignmentRule, *, name: str, fallback_user_id: Any = None,
                              status_field: str = "", closed_values: Iterable[str] = (),
                              actor: User) -> AssignmentRule:
    schema = configurable_schema(rule.org_id, rule.module, actor)
    values = _clean_rule(rule.org_id, schema, name=name, fallback_user_id=fallback_user_id,
                         status_field=status_field, closed_values=closed_values, rule_id=rule.pk)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.save()
    return rule


@transaction.atomic
def do_delete_assignment_rule(rule: AssignmentRule, *, actor: User) -> None:
    """Its runs stay in the log (the timeline then says "by a rule (since deleted)")."""
    configurable_schema(rule.org_id, rule.module, actor)
    rule.delete()


@transaction.atomic
def do_activate_assignment_rule(rule: AssignmentRule, *, actor: User) -> AssignmentRule:
    """From now on the rule assigns the module's new records, acting as `actor`. A module has
    one active rule at a time."""
    schema = configurable_schema(rule.org_id, rule.module, actor)
    rule = AssignmentRule.objects.select_for_update().get(pk=rule.pk, org_id=rule.org_id)
    other = (AssignmentRule.objects.filter(org_id=rule.org_id, module=rule.module, active=True)
             .exclude(pk=rule.pk).first())
    if other is not None:
        raise RecordValidationError({"__all__": [
            _("“%(name)s” is already active for this module; deactivate it first.") % {"name": other.name}]})
    entries = list(rule.entries.all())
    if not entries and rule.fallback_user_id is None:
        raise RecordValidationError({"__all__": [_("Add an entry or a fallback owner before activating.")]})
    for number, entry in enumerate(entries, start=1):
        if entry.criteria:
            try:
                validate(entry.criteria, schema)
            except CriteriaError as exc:
                raise RecordValidationError({"__all__": [
                    _("Entry %(number)d: %(error)s") % {"number": number, "error": " ".join(exc.messages)}]})
    rule.active, rule.run_as = True, actor
    rule.save(update_fields=["active", "run_as", "modified_at"])
    return rule


@transaction.atomic
def do_deactivate_assignment_rule(rule: AssignmentRule, *, actor: User) -> AssignmentRule:
    configurable_schema(rule.org_id, rule.module, actor)
    rule.active = False
    rule.save(update_fields=["active", "modified_at"])
    return rule


# --- entries --------------------------------------------------------------------------------------

@transaction.atomic
def do_add_assignment_entry(rule: AssignmentRule, *, actor: User, **values: Any) -> AssignmentEntry:
    """A new entry at the end of the rule: criteria (None: every record) -> a user or a pool."""
    schema = configurable_schema(rule.org_id, rule.module, actor)
    AssignmentRule.objects.select_for_update().filter(pk=rule.pk).first()  # one writer of the order at a time
    cleaned = _clean_entry(rule, schema, **values)
    if rule.entries.count() >= MAX_ENTRIES:
        raise RecordValidationError({"__all__": [_("A rule can have at most %(count)d entries.")
                                                 % {"count": MAX_ENTRIES}]})
    last = rule.entries.aggregate(last=Max("order"))["last"]
    return AssignmentEntry.objects.create(org_id=rule.org_id, rule=rule, order=(last or 0) + 1, **cleaned)


@transaction.atomic
def do_update_assignment_entry(entry: AssignmentEntry, *, actor: User, **values: Any) -> AssignmentEntry:
    schema = configurable_schema(entry.org_id, entry.rule.module, actor)
    cleaned = _clean_entry(entry.rule, schema, **values)
    changed_pool = any(getattr(entry, key) != value for key, value in cleaned.items() if key.startswith("pool"))
    for key, value in cleaned.items():
        setattr(entry, key, value)
    if changed_pool:
        entry.last_user_id = None  # a new pool starts its turns afresh
    entry.save()
    return entry


@transaction.atomic
def do_delete_assignment_entry(entry: AssignmentEntry, *, actor: User) -> None:
    configurable_schema(entry.org_id, entry.rule.module, actor)
    entry.delete()


@transaction.atomic
def do_move_assignment_entry(entry: AssignmentEntry, step: int, *, actor: User) -> None:
    """Move an entry one place up (-1) or down (+1); entries are tried in this order."""
    configurable_schema(entry.org_id, entry.rule.module, actor)
    entries = list(AssignmentEntry.objects.select_for_update().filter(rule_id=entry.rule_id).order_by("order", "pk"))
    index = next(i for i, e in enumerate(entries) if e.pk == entry.pk)
    target = index + (1 if step > 0 else -1)
    if 0 <= target < len(entries):
        entries[index], entries[target] = entries[target], entries[index]
    for order, row in enumerate(entries, start=1):
        if row.order != order:
            row.order = order
            row.save(update_fields=["order"])


# --- assigning -------------------------------------------------------------------------------------

# Refusals a retry would not cure: logged as a failed run, not retried.
REFUSALS = (PermissionDenied, ValidationError, ConflictError, GuardRefusal, RuleActorError, Http404)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc.args[0]) if exc.args else exc.__class__.__name__


def _lock_entry(entry: AssignmentEntry) -> AssignmentEntry:
    """The entry's turn, locked until the assignment commits: workers take turns one by one."""
    return AssignmentEntry.objects.select_for_update().get(pk=entry.pk)


def do_assign_by_rule(rule: AssignmentRule, record_id: int, *, trigger: str, key: str,
                      depth: int = 0) -> str:
    """Assign one record by the rule, once per key: see `automation.assignment.assign_record`."""
    return assign_with_status(rule, record_id, trigger=trigger, key=key, depth=depth)[1]


def assign_with_status(rule: AssignmentRule, record_id: int, *, trigger: str, key: str,
                       depth: int = 0) -> tuple[str, str]:
    """(the run's status, what was done). A repeat of a finished key returns that run's status."""
    unexpected: Exception | None = None
    with transaction.atomic():
        run = runs.claim(org_id=rule.org_id, rule_kind=assignment.KIND, rule_id=rule.pk, key=key, module=rule.module,
                         record_id=record_id, trigger=trigger)
        if run is None:
            status = (RuleRun.objects.filter(org_id=rule.org_id, rule_kind=assignment.KIND, rule_id=rule.pk, key=key)
                      .values_list("status", flat=True).first())
            return status or RuleRun.Status.DONE, _("Already done.")
        try:
            with transaction.atomic():  # the work, undone alone when it fails, so the run records why
                status, actions, text = _assign(rule, record_id, depth)
        except REFUSALS as exc:
            status, actions, text = RuleRun.Status.FAILED, [], _reason(exc)
            runs.finish(run, status, actions, error=text)
            return status, text
        except CriteriaError as exc:
            status, text = RuleRun.Status.FAILED, " ".join(exc.messages)
            runs.finish(run, status, [], error=text)
            return status, text
        except Exception as exc:  # noqa: BLE001 - logged here, raised below so the task retries
            unexpected = exc
            runs.finish(run, RuleRun.Status.FAILED, [], error=repr(exc))
        else:
            runs.finish(run, status, actions)
    if unexpected is not None:
        raise unexpected
    return status, text


def _assign(rule: AssignmentRule, record_id: int, depth: int) -> tuple[str, list[dict], str]:
    actor = rule_actor(rule.org_id, rule.run_as_id)
    schema = get_module(rule.module, actor.org).bind(actor.org)
    # The record, locked first (then the entry's turn): every assignment takes its locks in this order.
    record = (visible(actor, schema, "edit").select_for_update(of=("self",)).filter(pk=record_id)
              .select_related(*schema.select_related).first())
    if record is None:
        why = (_("The rule's author may not change this record.") if can(actor, schema, record_id, "view")
               else _("The record is gone."))
        return RuleRun.Status.SKIPPED, [], why
    entries = list(rule.entries.all())
    tests = assignment.matchers(rule, entries, schema)
    state = assignment.LiveState(rule, schema, actor, record, _lock_entry)
    choice = assignment.choose(rule, entries, tests, schema, record, state)
    name = assignment.target_field(schema)
    if choice.user_id is None:
        return RuleRun.Status.SKIPPED, [{"action": "assign", **choice.as_json()}], _(
            "Nobody to assign to: no entry had an active user free and there is no active fallback owner.")
    current = getattr(record, f"{name}_id")
    if current != choice.user_id:
        with caused_by(assignment.path_of(rule), depth + 1):
            if name == "assignee":
                from teams.actions import do_assign

                do_assign(record, choice.user_id, version=record.version, actor=actor, path=assignment.path_of(rule))
            else:
                crm_actions.do_change_owner(record, choice.user_id, version=record.version, actor=actor,
                                            path=assignment.path_of(rule))
    if state.locked is not None:
        state.locked.last_user_id = choice.user_id
        state.locked.save(update_fields=["last_user_id"])
    who = str(User.objects.filter(pk=choice.user_id).first() or choice.user_id)
    logged = {"action": "assign", "field": name, "user": who, "changed": current != choice.user_id,
              **choice.as_json()}
    return RuleRun.Status.DONE, [logged], _("Assigned to %(user)s.") % {"user": who}


def do_log_too_deep(rule: AssignmentRule, record_id: int, *, key: str) -> None:
    """A chain of rules too deep to go on: logged as a failed run of the rule, nothing assigned."""
    with transaction.atomic():
        run = runs.claim(org_id=rule.org_id, rule_kind=assignment.KIND, rule_id=rule.pk, key=key, module=rule.module,
                         record_id=record_id, trigger="created")
        if run is not None:
            runs.finish(run, RuleRun.Status.FAILED, [], error=_(
                "Not run: this change came from a chain of rules too long (a loop between rules?)."))


# --- jobs: selected records, a whole filtered list --------------------------------------------------

def _no_runner(job_id: int) -> None:
    raise RuntimeError("automation.assignment_tasks is not loaded")


_job_runner = _no_runner


def register_job_runner(runner: Any) -> None:
    """The task module hands in how a job is queued (it imports these actions, not the reverse)."""
    global _job_runner
    _job_runner = runner


def do_start_assignment_job(rule: AssignmentRule, *, trigger: str, actor: User, record_ids: Iterable[int] = (),
                            filters: dict[str, list[str]] | None = None, total: int = 0,
                            total_capped: bool = False) -> AssignmentJob:
    """Queue a run of `rule` over the chosen records ("selected") or the records a list page's
    filters match ("list"), as `actor` sees them; the job is processed in batches by Celery."""
    configurable_schema(rule.org_id, rule.module, actor)
    if trigger not in ("selected", "list"):
        raise RecordValidationError({"trigger": [_("Unknown kind of run.")]})
    ids = sorted({int(pk) for pk in record_ids})
    if trigger == "selected":
        if not ids:
            raise RecordValidationError({"ids": [_("Choose at least one record.")]})
        total, total_capped = len(ids), False
    with transaction.atomic():
        job = AssignmentJob.objects.create(org_id=rule.org_id, rule=rule, module=rule.module, trigger=trigger,
                                           record_ids=ids, filters=filters or {}, total=total,
                                           total_capped=total_capped, created_by=actor)
        transaction.on_commit(lambda: _job_runner(job.pk))
    return job


def do_record_job_progress(job: AssignmentJob, *, cursor: int, processed: int = 0, assigned: int = 0,
                           failed: int = 0, finished: bool = False, error: str = "") -> AssignmentJob | None:
    """One batch done: the cursor moves past it and the counts grow. None when that batch was
    recorded already (a repeated task), so only one task goes on to the next batch."""
    with transaction.atomic():
        row = AssignmentJob.objects.select_for_update().get(pk=job.pk)
        if row.cursor >= cursor and not finished and not error:
            return None  # a repeated batch: counted already
        row.cursor = max(row.cursor, cursor)
        row.processed += processed
        row.assigned += assigned
        row.failed += failed
        if error:
            row.status, row.error, row.finished_at = AssignmentJob.Status.FAILED, error[:4000], timezone.now()
        elif finished:
            row.status, row.finished_at = AssignmentJob.Status.DONE, timezone.now()
            row.total = max(row.total, row.processed) if not row.total_capped else row.processed
        else:
            row.status = AssignmentJob.Status.RUNNING
        row.save()
        return row

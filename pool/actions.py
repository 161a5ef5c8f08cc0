"""The pools' writes: settings (pools), and the moves of records (claim, assign, release,
move, release on deactivation). Each move, in one transaction: the rows locked in a fixed
order (the rep's counter row, then the records by pk), the decision point's guards run for
real, then the record, its pool state, a pool history row and a timeline entry written."""
from __future__ import annotations

from typing import Any, Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from access import generations
from access.decisions import WriteContext, run_guards
from access.models import Membership, User
from access.visibility import current_membership, is_org_admin, visible
from crm import timeline
from crm.actions import RecordValidationError, bound_schema
from crm.events import RecordEvent, emit_many

from .models import Dedupe, Pool, PoolCounter, PoolMove, PoolState
from .rules import MASKABLE_TYPES, POOL_MODULES, preload_states
from .selectors import claims_today, held, module_facts, pool_scope

MAX_BATCH = 500
MAX_REASON = 1000


# --- pools (settings) -----------------------------------------------------------------------------

def _require_admin(actor: User) -> None:
    if not is_org_admin(actor):
        raise PermissionDenied(_("Only an administrator may configure customer pools."))


def _pools_changed(org_id: int) -> None:
    generations.mark_changed(pool_scope(org_id))


@transaction.atomic
def do_save_pool(org: Any, *, actor: User, pool: Pool | None = None, name: str, module: str,
                 masked_fields: Iterable[str] = (), members: dict[str, Iterable[Any]] | None = None,
                 admins: Iterable[Any] = (), **limits: Any) -> Pool:
    """Create or change a pool: its name, module, members (users, roles, groups, team spaces),
    administrators, masked fields, limits and what its door does with duplicates (`dedupe`, a
    `Dedupe` value). A bad value is an error naming its field."""
    _require_admin(actor)
    if pool is not None and pool.org_id != org.pk:
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Give the pool a name.")]
    elif Pool.objects.filter(org=org, name__iexact=name).exclude(pk=getattr(pool, "pk", None)).exists():
        errors["name"] = [_("Another pool is already called “%(name)s”.") % {"name": name}]
    if module not in POOL_MODULES:
        errors["module"] = [_("Pools hold leads or accounts.")]
    elif pool is not None and module != pool.module and PoolState.objects.filter(org=org, pool=pool).exists():
        errors["module"] = [_("The pool has held records: its module cannot change.")]
    masked = list(dict.fromkeys(masked_fields or ()))
    if module in POOL_MODULES:
        from crm.modules import get_module

        schema = get_module(module, org).bind(org)
        maskable = {spec.key for spec in schema.fields if spec.type in MASKABLE_TYPES}
        wrong = [key for key in masked if key not in maskable]
        if wrong:
            errors["masked_fields"] = [_("These fields cannot be masked: %(keys)s.") % {"keys": ", ".join(wrong)}]
    for key in ("capacity", "daily_claims", "cooldown_days", "embargo_hours"):
        value = limits.get(key)
        if value in ("", None):
            limits[key] = None if key in ("capacity", "daily_claims") else 0
            continue
        try:
            limits[key] = int(value)
        except (TypeError, ValueError):
            errors[key] = [_("Enter a whole number.")]
            continue
        if limits[key] < 0 or limits[key] > 1_000_000:
            errors[key] = [_("Enter a number from 0 to 1,000,000.")]
    dedupe = limits.get("dedupe") or (pool.dedupe if pool is not None else Dedupe.REFUSE)
    if dedupe not in Dedupe.values:  # what the door does with duplicates (pool.door)
        errors["dedupe"] = [_("Choose what happens to a duplicate.")]
    if errors:
        raise ValidationError(errors)
    old = None if pool is None else {"name": pool.name, "module": pool.module}
    pool = pool or Pool(org=org)
    pool.name, pool.module, pool.masked_fields, pool.dedupe = name, module, masked, dedupe
    for key in ("capacity", "daily_claims", "cooldown_days", "embargo_hours"):
        setattr(pool, key, limits[key])
    for key in ("capacity_counts_won", "release_on_deactivation"):
        if key in limits:
            setattr(pool, key, bool(limits[key]))
    pool.save()
    members = members or {}
    pool.member_users.set(_org_users(org, members.get("users", ())))
    pool.member_roles.set([r for r in members.get("roles", ()) if r.org_id == org.pk])
    pool.member_groups.set([g for g in members.get("groups", ()) if g.org_id == org.pk])
    pool.member_spaces.set([s for s in members.get("spaces", ()) if s.org_id == org.pk])
    pool.admins.set(_org_users(org, admins))
    _pools_changed(org.pk)
    return pool


def _org_users(org: Any, users: Iterable[Any]) -> list[int]:
    ids = [getattr(u, "pk", u) for u in users]
    return list(Membership.objects.filter(org=org, user_id__in=ids).values_list("user_id", flat=True))


@transaction.atomic
def do_delete_pool(pool: Pool, *, actor: User) -> None:
    """Delete a pool that holds no waiting record (they would be left without an owner)."""
    _require_admin(actor)
    if pool.org_id != actor.org.pk:
        raise PermissionDenied
    if PoolState.objects.filter(org=pool.org_id, pool=pool, in_pool=True).exists():
        raise ValidationError(_("Records are waiting in the pool “%(pool)s”: assign or move them first.")
                              % {"pool": pool.name})
    pool.delete()
    _pools_changed(actor.org.pk)


# --- moves ---------------------------------------------------------------------------------------

def clean_ids(ids: Iterable[Any]) -> list[int]:
    """The chosen record ids, or an error naming the bad one (no 500 for a typed id)."""
    found = []
    for value in ids:
        try:
            pk = int(str(value).split(":")[0])  # list pages post "pk:version"
        except (TypeError, ValueError):
            raise ValidationError(_("“%(value)s” is not a record id.") % {"value": str(value)[:40]})
        if pk <= 0 or pk > 2**62:
            raise ValidationError(_("“%(value)s” is not a record id.") % {"value": str(value)[:40]})
        found.append(pk)
    found = sorted(set(found))
    if not found:
        raise ValidationError(_("Choose at least one record."))
    if len(found) > MAX_BATCH:
        raise ValidationError(_("Choose at most %(count)d records at once.") % {"count": MAX_BATCH})
    return found


def clean_reason(reason: Any, *, required: bool) -> str:
    reason = str(reason or "").strip()
    if required and not reason:
        raise ValidationError({"reason": [_("Give a reason.")]})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": [_("Keep the reason under %(count)d characters.") % {"count": MAX_REASON}]})
    return reason


def _schema(module: Any, actor: User):
    if current_membership(actor) is None:
        raise PermissionDenied(_("You are not an active member of this organisation."))
    schema = bound_schema(module, actor.org)
    if schema.org.pk != actor.org.pk:  # another org's module or records: nothing there for the actor
        raise PermissionDenied(_("You are not an active member of this organisation."))
    if schema.key not in POOL_MODULES:
        raise PermissionDenied(_("This module has no customer pools."))
    return schema


def _lock_counter(org: Any, user_id: int) -> None:
    """Lock the rep's counter row: their claims and assignments run one at a time."""
    PoolCounter.objects.bulk_create([PoolCounter(org=org, user_id=user_id)], ignore_conflicts=True)
    PoolCounter.objects.select_for_update().get(org=org, user_id=user_id)


def _locked_rows(schema: Any, ids: list[int]) -> list[Any]:
    """The records, locked in pk order, read raw (not through the masking door: they are written)."""
    return list(schema.model._base_manager.select_for_update(of=("self",)).select_related("owner")
                .filter(org=schema.org, pk__in=ids, deleted_at__isnull=True).order_by("pk"))


def _reachable(actor: User, schema: Any, rows: list[Any], action: str) -> None:
    """Every chosen record must be one the actor may reach: visible for the action, or (so the
    loser of a race hears who won) in one of the actor's pools."""
    ids = [row.pk for row in rows]
    seen = set(visible(actor, schema, action, listing=False).filter(pk__in=ids).values_list("pk", flat=True))
    facts = module_facts(actor, schema.key)
    mine = set(facts["member"]) | set(facts["admin"])
    missing = [row.pk for row in rows if row.pk not in seen and not (row.pool_id in mine or is_org_admin(actor))]
    if missing:
        raise PermissionDenied(_("Record #%(id)d was not found.") % {"id": missing[0]})


def _not_found(ids: list[int], rows: list[Any]) -> None:
    missing = sorted(set(ids) - {row.pk for row in rows})
    if missing:
        raise PermissionDenied(_("Record #%(id)d was not found.") % {"id": missing[0]})


def _write_moves(schema: Any, rows: list[Any], *, kind: str, actor: User, path: str, reason: str,
                 new_owner: User | None, pool_of_row: dict[int, Pool], overridden: bool = False) -> None:
    """Write the records (owner, pool), their pool states, history rows, timeline entries and
    owner events."""
    now = timezone.now()
    states = {s.record_id: s for s in PoolState.objects.select_for_update().filter(
        org=schema.org, module=schema.key, record_id__in=[r.pk for r in rows])}
    moves, entries, events, new_states, changed_states = [], [], [], [], []
    for row in rows:
        pool = pool_of_row[row.pk]
        old_owner = row.owner
        state = states.get(row.pk)
        if new_owner is None:  # into the pool
            row.owner, row.pool_id = None, pool.pk
            fields = {"org": schema.org, "module": schema.key, "record_id": row.pk, "pool": pool, "in_pool": True,
                      "entered_at": now, "entered_how": kind, "entry_reason": reason,
                      # an importer never held the records it brings in: no cool-down for them
                      "former_owner": None if kind == PoolMove.Kind.IMPORTED
                      else old_owner or (state.former_owner if state else None)}
            if state is None:
                new_states.append(PoolState(**fields))
            else:
                for key, value in fields.items():
                    setattr(state, key, value)
                changed_states.append(state)
        else:  # out of the pool
            row.owner = new_owner
            if state is None:
                state = PoolState(org=schema.org, module=schema.key, record_id=row.pk, pool=pool, entered_at=now)
                new_states.append(state)
            else:
                changed_states.append(state)
            state.in_pool, state.holder, state.claimed_at = False, new_owner, now
        row.version += 1
        row.modified_by, row.modified_at = actor, now
        moves.append(PoolMove(org=schema.org, pool=pool, module=schema.key, record_id=row.pk, kind=kind,
                              from_user=old_owner, to_user=new_owner, actor=actor, reason=reason,
                              overridden=overridden, path=path, at=now))
        owner_change = [timeline_owner(old_owner), timeline_owner(new_owner)]
        changes = {"owner": owner_change, "pool": [None, pool.name]}
        if reason:
            changes["reason"] = [None, reason]
        entries.append(timeline.entry(row, kind=f"pool_{kind}", actor=actor, path=path, changes=changes))
        events.append(RecordEvent(kind="owner_changed", module=schema.key, org_id=row.org_id, record_id=row.pk,
                                  actor_id=actor.pk, path=path,
                                  changes={"owner": [c and c["id"] for c in owner_change]}))
    if schema.key == "accounts":
        follow_accounts(schema.org, [(row, move.from_user) for row, move in zip(rows, moves)], new_owner=new_owner,
                        kind=kind, actor=actor, path=path, reason=reason, pool_of_row=pool_of_row, now=now)
    schema.model._base_manager.bulk_update(rows, ["owner", "pool_id", "version", "modified_by", "modified_at"])
    PoolState.objects.bulk_create(new_states)
    if changed_states:
        PoolState.objects.bulk_update(changed_states, ["pool", "in_pool", "entered_at", "entered_how", "entry_reason",
                                                       "former_owner", "holder", "claimed_at"])
    PoolMove.objects.bulk_create(moves)
    timeline.write_many(entries)
    emit_many(events)


def follow_accounts(org: Any, moved: list[tuple[Any, User | None]], *, new_owner: User | None, kind: str,
                    actor: User | None, path: str, pool_of_row: dict[int, Pool], now: Any, reason: Any = "",
                    reasons: dict[int, Any] | None = None) -> int:
    """An account's contacts go with it. Into a pool (`new_owner` None): those its former owner
    owns lose their owner (others' contacts stay with them); out of it: its ownerless contacts get
    the account's new owner. Each contact moved gets a timeline entry like its account's and an
    owner event. `moved`: (account, its owner before the move); `reason`: the move's, or
    `reasons` one per account id (recycling's). Runs inside the account's move, after the accounts are locked (contacts are locked
    next, by pk). Contacts count towards no pool limit. Returns how many changed owner."""
    from crm.models import Contact

    former = {account.pk: owner.pk if owner is not None else None for account, owner in moved}
    if not former:
        return 0
    if new_owner is None:  # into a pool: the former owner's contacts (a waiting account's: its ownerless ones)
        taken = Q(owner__isnull=True) | Q(owner_id__in={pk for pk in former.values() if pk is not None})
    else:
        taken = Q(owner__isnull=True)
    contacts = [contact for contact in Contact._base_manager.select_for_update(of=("self",))
                .select_related("owner").filter(taken, org=org, account_id__in=list(former), deleted_at__isnull=True)
                .order_by("pk") if contact.owner_id == (None if new_owner is not None else former[contact.account_id])]
    if not contacts:
        return 0
    entries, events, changed = [], [], []
    for contact in contacts:
        pool = pool_of_row[contact.account_id]
        old_owner = contact.owner
        changes: dict[str, Any] = {"pool": [None, pool.name]}
        if old_owner is not None or new_owner is not None:  # not a waiting account moved between pools
            owner_change = [timeline_owner(old_owner), timeline_owner(new_owner)]
            changes["owner"] = owner_change
            contact.owner = new_owner
            contact.version += 1
            contact.modified_by, contact.modified_at = actor, now
            changed.append(contact)
            events.append(RecordEvent(kind="owner_changed", module="contacts", org_id=contact.org_id,
                                      record_id=contact.pk, actor_id=getattr(actor, "pk", None), path=path,
                                      changes={"owner": [c and c["id"] for c in owner_change]}))
        why = reasons.get(contact.account_id) if reasons is not None else reason
        if why:
            changes["reason"] = [None, why]
        entries.append(timeline.entry(contact, kind="owner_changed" if kind == PoolMove.Kind.OWNER_CHANGED
                                      else f"pool_{kind}", actor=actor, path=path, changes=changes))
    if changed:
        Contact._base_manager.bulk_update(changed, ["owner", "version", "modified_by", "modified_at"])
    timeline.write_many(entries)
    emit_many(events)
    return len(changed)


def timeline_owner(user: User | None) -> dict | None:
    return None if user is None else {"id": user.pk, "name": str(user)}


def _pools_by_row(actor: User, rows: list[Any]) -> dict[int, Pool]:
    pools = {p.pk: p for p in Pool.objects.filter(org=actor.org, pk__in={r.pool_id for r in rows if r.pool_id})}
    return {row.pk: pools[row.pool_id] for row in rows if row.pool_id in pools}


def _guarded(action: str, schema: Any, rows: list[Any], actor: User, path: str, changes_for) -> None:
    preload_states(actor, schema, rows)
    for row in rows:
        run_guards(WriteContext(action, schema, row, actor, path, changes_for(row)))


def _usage(schema: Any, pools: dict[int, Pool], user_id: int) -> dict[int, tuple[int, int]]:
    """Per pool: (records the rep holds, their claims from it today), counted under the lock."""
    return {pk: (held(schema, pool, user_id) if pool.capacity else 0,
                 claims_today(pool.org_id, pool, user_id) if pool.daily_claims else 0)
            for pk, pool in pools.items()}


@transaction.atomic
def do_claim_records(module: Any, ids: Iterable[Any], *, actor: User, path: str = "page") -> list[Any]:
    """Claim records waiting in the actor's pools: all or none. Two reps claiming the same
    record at once cannot both win (the rows are locked; the loser hears "already claimed by")
    and the limits are counted under a lock on the rep's counter row."""
    schema = _schema(module, actor)
    ids = clean_ids(ids)
    _lock_counter(actor.org, actor.pk)
    rows = _locked_rows(schema, ids)
    _not_found(ids, rows)
    _reachable(actor, schema, rows, "view")
    pools = {row.pool_id: None for row in rows if row.pool_id}
    pool_objects = {p.pk: p for p in Pool.objects.filter(org=actor.org, pk__in=list(pools))}
    usage = _usage(schema, pool_objects, actor.pk)
    count = len(rows)
    _guarded("claim", schema, rows, actor, path,
             lambda row: {"count": count, **({"usage": usage[row.pool_id]} if row.pool_id in usage else {})})
    _write_moves(schema, rows, kind=PoolMove.Kind.CLAIMED, actor=actor, path=path, reason="", new_owner=actor,
                 pool_of_row=_pools_by_row(actor, rows))
    return rows


@transaction.atomic
def do_assign_records(module: Any, ids: Iterable[Any], user_id: Any, *, actor: User, reason: str = "",
                      override: bool = False, path: str = "page") -> list[Any]:
    """A pool administrator hands waiting records to a rep. The rep's limits apply unless
    overridden, which needs a reason."""
    schema = _schema(module, actor)
    ids = clean_ids(ids)
    reason = clean_reason(reason, required=override)
    try:
        user_pk = int(user_id)
    except (TypeError, ValueError):
        raise ValidationError({"user": [_("Choose an active user of this organisation.")]})
    member = Membership.objects.select_related("user").filter(org=actor.org, user_id=user_pk, is_active=True).first()
    if member is None or not member.user.is_active:
        raise ValidationError({"user": [_("Choose an active user of this organisation.")]})
    target = member.user
    _lock_counter(actor.org, target.pk)
    rows = _locked_rows(schema, ids)
    _not_found(ids, rows)
    _reachable(actor, schema, rows, "view")
    pool_objects = {p.pk: p for p in Pool.objects.filter(org=actor.org, pk__in={r.pool_id for r in rows if r.pool_id})}
    usage = _usage(schema, pool_objects, target.pk)
    count = len(rows)
    _guarded("assign", schema, rows, actor, path,
             lambda row: {"user": target, "override": override, "count": count,
                          **({"usage": usage[row.pool_id]} if row.pool_id in usage else {})})
    _write_moves(schema, rows, kind=PoolMove.Kind.ASSIGNED, actor=actor, path=path, reason=reason, new_owner=target,
                 pool_of_row=_pools_by_row(actor, rows), overridden=override)
    return rows


@transaction.atomic
def do_release_records(module: Any, ids: Iterable[Any], pool_id: Any, *, actor: User, reason: str,
                       path: str = "page", kind: str = PoolMove.Kind.RELEASED) -> list[Any]:
    """The owner (or an administrator) puts records into a pool, with a reason; an
    administrator may also move records waiting in one pool to another."""
    schema = _schema(module, actor)
    ids = clean_ids(ids)
    reason = clean_reason(reason, required=True)
    rows = _locked_rows(schema, ids)
    _not_found(ids, rows)
    try:
        pool = Pool.objects.filter(org=actor.org, module=schema.key, pk=int(pool_id)).first()
    except (TypeError, ValueError):
        pool = None
    if pool is None:
        raise ValidationError({"pool": [_("Choose a pool for %(module)s.") % {"module": schema.label_plural}]})
    waiting = [row for row in rows if row.owner_id is None]
    if waiting:  # moving between pools: administrators only
        if not is_org_admin(actor):
            raise PermissionDenied(_("Only an administrator moves records between pools."))
        kind = PoolMove.Kind.MOVED
    else:
        _reachable(actor, schema, rows, "edit")
        _guarded("release", schema, rows, actor, path, lambda row: {"pool": pool})
    from .door_actions import admit, record_links  # dedupe at the door: no record doubled in the pool

    entering, links = admit(schema, rows, pool, actor, path=path)  # a merged record does not enter
    if kind == PoolMove.Kind.RELEASED and is_org_admin(actor) and any(r.owner_id != actor.pk for r in entering):
        kind = PoolMove.Kind.MOVED
    if entering:
        _write_moves(schema, entering, kind=kind, actor=actor, path=path, reason=reason, new_owner=None,
                     pool_of_row={row.pk: pool for row in entering})
    record_links(schema, pool, links, actor=actor, path=path)
    return rows


def enter_new_records(schema: Any, records: list[Any], pool: Pool, *, actor: User, path: str) -> None:
    """Records just created by `actor` (an import into the pool) enter it: no owner, their pool
    state, an "imported" move and timeline entry each. The caller has passed them through the
    door and holds the transaction."""
    for record in records:
        if record.owner_id == actor.pk:
            record.owner = actor  # the history names the former owner without a query per record
    _write_moves(schema, records, kind=PoolMove.Kind.IMPORTED, actor=actor, path=path, reason="", new_owner=None,
                 pool_of_row={record.pk: pool for record in records})


@transaction.atomic
def do_release_on_deactivation(org: Any, user: User, *, actor: User) -> dict[str, int]:
    """A deactivated owner's leads and accounts enter the module's pool that asks for it
    (the first by name), in batches; other modules' records stay (reassign them)."""
    moved: dict[str, int] = {}
    from crm.modules import get_module

    for key in POOL_MODULES:
        pool = Pool.objects.filter(org=org, module=key, release_on_deactivation=True).order_by("name", "pk").first()
        if pool is None:
            continue
        schema = get_module(key, org).bind(org)
        ids = list(schema.model._base_manager.filter(org=org, owner=user, deleted_at__isnull=True)
                   .order_by("pk").values_list("pk", flat=True))
        from .door_actions import admit, record_links

        for start in range(0, len(ids), MAX_BATCH):
            rows = _locked_rows(schema, ids[start:start + MAX_BATCH])
            rows, links = admit(schema, rows, pool, actor, automatic=True, path="system")  # linked, never refused
            _write_moves(schema, rows, kind=PoolMove.Kind.DEACTIVATED, actor=actor, path="system",
                         reason=_("%(user)s was deactivated.") % {"user": user}, new_owner=None,
                         pool_of_row={row.pk: pool for row in rows})
            record_links(schema, pool, links, actor=actor, path="system")
        moved[key] = len(ids)
    return moved


def note_owner_change(context: WriteContext, record: Any) -> None:
    """After an owner change through crm (an administrator's "Change owner"): a record that was
    waiting in a pool has left it; its pool state and history say so."""
    if context.action != "change_owner" or context.module.key not in POOL_MODULES:
        return
    state = PoolState.objects.select_for_update().filter(org=record.org_id, module=context.module.key,
                                                         record_id=record.pk, in_pool=True).first()
    if state is None:
        return
    now = timezone.now()
    state.in_pool, state.holder, state.claimed_at = False, record.owner, now
    state.save(update_fields=["in_pool", "holder", "claimed_at"])
    PoolMove.objects.create(org_id=record.org_id, pool_id=state.pool_id, module=context.module.key,
                            record_id=record.pk, kind=PoolMove.Kind.OWNER_CHANGED, to_user=record.owner,
                            actor=context.actor, path=context.path, at=now)
    if context.module.key == "accounts":  # its waiting contacts leave the pool with it
        follow_accounts(record.org_id, [(record, None)], new_owner=record.owner, kind=PoolMove.Kind.OWNER_CHANGED,
                        actor=context.actor, path=context.path, reason="", pool_of_row={record.pk: state.pool},
                        now=now)


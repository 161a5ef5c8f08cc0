"""Recycling's writes: a pool's rules (settings), protecting a customer, returning due records
to their pool, and the job that does it (daily by beat, or "run now" by a pool administrator).

The job is idempotent: a record is returned under row locks taken with SKIP LOCKED (a second
run at the same moment passes over it) after its state is read again under the lock (a record
already back in the pool, re-owned or followed up since is left alone); warnings are keyed by
owner, pool and day and marked on the states, so a restarted run sends none twice."""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from access.decisions import WriteContext, run_guards
from access.models import Membership, User
from access.visibility import is_org_admin
from crm import timeline
from crm.events import RecordEvent, emit_many

from .models import Pool, PoolMove, PoolState, RecyclePolicy
from .reasons import RULE_CODES, coded
from .recycle import DAY, RULE_KEYS, record_model, refresh, reset_pool
from .selectors import is_pool_admin

logger = logging.getLogger(__name__)
BATCH = 200
MAX_DAYS = 3650
MAX_LEVELS = 20
# The rules that return a record (n, m, w) -> the code of the reason stored (pool.reasons).
REASONS = RULE_CODES


def policy_of(pool: Pool) -> RecyclePolicy:
    return RecyclePolicy.objects.filter(pool=pool).first() or RecyclePolicy(org_id=pool.org_id, pool=pool)


def _require_pool_admin(actor: User, pool: Pool) -> None:
    if pool.org_id != actor.org.pk or not (is_org_admin(actor) or is_pool_admin(actor, pool)):
        raise PermissionDenied(_("Only the pool's administrators may do this."))


# --- settings ------------------------------------------------------------------------------------

def _days(value: Any, field: str, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError):
        errors[field] = [_("Enter a whole number of days.")]
        return None
    if days < 1 or days > MAX_DAYS:
        errors[field] = [_("Enter a number of days from 1 to %(max)d.") % {"max": MAX_DAYS}]
        return None
    return days


@transaction.atomic
def do_save_recycle_policy(pool: Pool, *, actor: User, enabled: bool, level_field: str = "",
                           rules: dict[str, dict[str, Any]] | None = None, warn_days: Any = 2,
                           protect_quota: Any = 0, open_deal_amount: Any = None) -> RecyclePolicy:
    """Set a pool's recycling rules (organisation administrators). `rules`: {level: {"n", "m",
    "w": days}}, level "*" for any other. Switching on, or changing the rules, counts every claimed
    record's due date afresh from that moment at the earliest."""
    if not is_org_admin(actor):
        raise PermissionDenied(_("Only an administrator may configure customer pools."))
    if pool.org_id != actor.org.pk:
        raise PermissionDenied
    from crm.modules import get_module

    errors: dict[str, list[str]] = {}
    schema = get_module(pool.module, actor.org).bind(actor.org)
    levels: list[str] = []
    if level_field:
        spec = schema.field(level_field) if schema.has_field(level_field) else None
        if spec is None or spec.type != "picklist":
            errors["level_field"] = [_("Choose a picklist field of the module.")]
        else:
            levels = [str(o.value) for o in spec.options]
    cleaned: dict[str, dict[str, int]] = {}
    for level, days in (rules or {}).items():
        level = str(level)
        if level != "*" and level not in levels:
            errors.setdefault("rules", []).append(_("“%(level)s” is not a value of the level field.") % {"level": level})
            continue
        picked = {k: _days(days.get(k), f"{k}_{level}", errors) for k in RULE_KEYS}
        picked = {k: v for k, v in picked.items() if v}
        if picked:
            cleaned[level] = picked
    if len(cleaned) > MAX_LEVELS:
        errors["rules"] = [_("At most %(count)d levels.") % {"count": MAX_LEVELS}]
    if enabled and not cleaned:
        errors["rules"] = [_("Give at least one number of days to recycle after.")]
    numbers = {}
    for key, value, high in (("warn_days", warn_days, 365), ("protect_quota", protect_quota, 100_000)):
        try:
            numbers[key] = int(value or 0)
        except (TypeError, ValueError):
            errors[key] = [_("Enter a whole number.")]
            continue
        if not 0 <= numbers[key] <= high:
            errors[key] = [_("Enter a number from 0 to %(max)d.") % {"max": high}]
    amount = None
    if open_deal_amount not in (None, ""):
        try:
            amount = Decimal(str(open_deal_amount))
            if amount < 0 or amount >= Decimal("1e14"):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors["open_deal_amount"] = [_("Enter an amount of 0 or more.")]
    if errors:
        raise ValidationError(errors)
    policy = policy_of(pool)
    before = (policy.enabled, policy.level_field, policy.rules, policy.open_deal_amount)
    switched_on = enabled and not policy.enabled
    policy.enabled, policy.level_field, policy.rules = bool(enabled), level_field, cleaned
    policy.warn_days, policy.protect_quota, policy.open_deal_amount = numbers["warn_days"], numbers["protect_quota"], amount
    if switched_on:
        policy.enabled_at = timezone.now()
    policy.save()
    if before != (policy.enabled, policy.level_field, policy.rules, policy.open_deal_amount):
        reset_pool(policy)
        if policy.enabled:  # the records soon due get their exact dates now (badges, warnings)
            sweep(policy, timezone.now(), act=False)
    return policy


# --- protecting ------------------------------------------------------------------------------------

def protect_guard(context: WriteContext) -> None:
    """Only a claimed record's owner protects it from recycling, within the pool's quota."""
    from access.decisions import GuardRefusal

    record, actor = context.record, context.actor
    state = PoolState.objects.filter(org_id=record.org_id, module=context.module.key, record_id=record.pk,
                                     in_pool=False).select_related("pool").first()
    policy = RecyclePolicy.objects.filter(pool_id=state.pool_id, enabled=True).first() if state else None
    if state is None or policy is None or record.owner_id is None:
        raise GuardRefusal(_("This record is not subject to a pool's recycling."), guard="pool", log=False, quiet=True)
    if record.owner_id != actor.pk:
        raise GuardRefusal(_("Only the record's owner protects it from recycling."), guard="pool", log=False,
                           quiet=True)
    if context.changes.get("protected", True) and not state.protected:
        used = PoolState.objects.filter(org_id=record.org_id, pool_id=state.pool_id, in_pool=False,
                                        holder_id=actor.pk, protected=True).count()
        if used >= policy.protect_quota:
            raise GuardRefusal(_("You protect %(used)d customers; the pool “%(pool)s” allows %(quota)d.")
                               % {"used": used, "pool": state.pool.name, "quota": policy.protect_quota},
                               guard="pool_protect_quota", log=False)


@transaction.atomic
def do_protect_record(module: Any, record_id: Any, protected: bool, *, actor: User, path: str = "page") -> PoolState:
    """The owner marks a claimed record protected (it is not recycled) or lifts the mark."""
    from .actions import _locked_rows, _schema, clean_ids

    schema = _schema(module, actor)
    ids = clean_ids([record_id])
    rows = _locked_rows(schema, ids)
    if not rows:
        raise PermissionDenied(_("Record #%(id)d was not found.") % {"id": ids[0]})
    row = rows[0]
    run_guards(WriteContext("protect", schema, row, actor, path, {"protected": bool(protected)}))
    state = PoolState.objects.select_for_update().get(org=actor.org, module=schema.key, record_id=row.pk)
    state.protected = bool(protected)
    state.save(update_fields=["protected"])
    refresh([state], rows={row.pk: row})
    timeline.write(row, kind="pool_protected" if protected else "pool_unprotected", actor=actor, path=path)
    return state


# --- returning records -----------------------------------------------------------------------------

def _reason(policy: RecyclePolicy, state: PoolState, record: Any) -> dict[str, Any]:
    """Why the record returns, language-neutral (its code and days): shown in each reader's
    language (pool.reasons)."""
    from .recycle import level_rules

    days = level_rules(policy, record).get(state.due_rule, 0)
    return coded(REASONS[state.due_rule], days=days)


@transaction.atomic
def do_recycle_records(policy: RecyclePolicy, state_ids: list[int], *, now: dt.datetime,
                       actor: User | None = None, path: str = "system") -> int:
    """Return due records to their pool: owner cleared, former owner kept, a history row
    ("recycled"), a timeline entry with the reason. Rows another run holds are skipped; each
    record's due date is re-computed under the lock, so only records still due go."""
    pool = policy.pool
    model = record_model(pool.module)
    record_ids = list(PoolState.objects.filter(pk__in=state_ids, pool=pool).values_list("record_id", flat=True))
    rows = {r.pk: r for r in model._base_manager.select_for_update(of=("self",), skip_locked=True)
            .select_related("owner").filter(org_id=pool.org_id, pk__in=record_ids, deleted_at__isnull=True,
                                            owner__isnull=False).order_by("pk")}
    states = list(PoolState.objects.select_for_update(skip_locked=True)
                  .filter(org_id=pool.org_id, pool=pool, module=pool.module, record_id__in=list(rows), in_pool=False)
                  .order_by("pk"))
    refresh(states, now, rows=rows)
    due = [s for s in states if s.due_at is not None and s.due_at <= now and s.due_rule in REASONS]
    moves, entries, events, changed, followed = [], [], [], [], []
    for state in due:
        row = rows[state.record_id]
        old_owner = row.owner
        reason = _reason(policy, state, row)
        followed.append((row, old_owner, reason))
        row.owner, row.pool_id = None, pool.pk
        row.version += 1
        row.modified_by, row.modified_at = actor, now
        # The reason, language-neutral, is on the history row and the timeline entry.
        state.in_pool, state.entered_at, state.entered_how, state.entry_reason = True, now, "recycled", ""
        state.former_owner, state.due_at, state.due_rule, state.warned_for = old_owner, None, "", None
        state.protected = False
        changed.append(state)
        moves.append(PoolMove(org_id=pool.org_id, pool=pool, module=pool.module, record_id=row.pk,
                              kind=PoolMove.Kind.RECYCLED, from_user=old_owner, actor=actor, coded_reason=reason,
                              path=path, at=now))
        entries.append(timeline.entry(row, kind="pool_recycled", actor=actor, path=path, changes={
            "owner": [{"id": old_owner.pk, "name": str(old_owner)}, None], "pool": [None, pool.name],
            "reason": [None, reason]}))
        events.append(RecordEvent(kind="owner_changed", module=pool.module, org_id=pool.org_id, record_id=row.pk,
                                  actor_id=getattr(actor, "pk", None), path=path,
                                  changes={"owner": [old_owner.pk, None]}))
    if not changed:
        return 0
    from crm.modules import get_module

    from .door_actions import admit, record_links

    schema = get_module(pool.module, pool.org).bind(pool.org)
    _entering, links = admit(schema, [rows[s.record_id] for s in changed], pool, actor, automatic=True, path=path)
    if pool.module == "accounts":  # the former owner's contacts of the account go with it
        from .actions import follow_accounts

        follow_accounts(pool.org_id, [(row, owner) for row, owner, _r in followed], new_owner=None,
                        kind=PoolMove.Kind.RECYCLED, actor=actor, path=path,
                        reasons={row.pk: why for row, _o, why in followed},
                        pool_of_row={row.pk: pool for row, _o, _r in followed}, now=now)
    model._base_manager.bulk_update([rows[s.record_id] for s in changed],
                                    ["owner", "pool_id", "version", "modified_by", "modified_at"])
    PoolState.objects.bulk_update(changed, ["in_pool", "entered_at", "entered_how", "entry_reason", "former_owner",
                                            "due_at", "due_rule", "warned_for", "protected"])
    PoolMove.objects.bulk_create(moves)
    timeline.write_many(entries)
    record_links(schema, pool, links, actor=actor, path=path)  # look-alikes let in: linked, never refused
    emit_many(events)
    return len(changed)


# --- warnings --------------------------------------------------------------------------------------

def _managers(org_id: int, user_id: int) -> list[int]:
    """The members of the parent role of the user's role (as workflow notifications do)."""
    parent = (Membership.objects.filter(org_id=org_id, user_id=user_id)
              .values_list("org_role__parent_id", flat=True).first())
    if not parent:
        return []
    return list(Membership.objects.filter(org_id=org_id, org_role_id=parent, is_active=True)
                .values_list("user_id", flat=True))


def _warn(policy: RecyclePolicy, states: list[PoolState], now: dt.datetime) -> int:
    """One notification per owner (and their manager) listing their records about to go."""
    from automation.delivery import notify_users
    from automation.messages import RULE_NOTICE

    pool = policy.pool
    by_owner: dict[int, list[PoolState]] = {}
    for state in states:
        by_owner.setdefault(state.holder_id, []).append(state)
    names = {r.pk: str(r) for r in record_model(pool.module)._base_manager.filter(
        org_id=pool.org_id, pk__in=[s.record_id for s in states])}
    sent = 0
    for owner_id, mine in sorted(by_owner.items()):
        mine.sort(key=lambda s: (s.due_at, s.pk))
        listed = ", ".join(names.get(s.record_id, f"#{s.record_id}") for s in mine[:10])
        more = len(mine) - 10
        days = max(1, int((mine[0].due_at - now) / DAY + 0.999))
        en = f"{len(mine)} record(s) return to the pool in {days} day(s) or less unless followed up: {listed}"
        zh = f"{len(mine)} 条记录将在 {days} 天内退回公海（除非跟进）：{listed}"
        if more > 0:
            en, zh = en + f" and {more} more", zh + f" 等另外 {more} 条"
        sent += notify_users(pool.org_id, [owner_id, *_managers(pool.org_id, owner_id)], RULE_NOTICE, pool.module,
                             mine[0].record_id, f"pool-warn:{pool.pk}:{owner_id}:{now.date().isoformat()}",
                             params={"rule": pool.name, "message_en": en, "message_zh": zh})
    PoolState.objects.filter(pk__in=[s.pk for s in states]).update(warned_for=F("due_at"))
    return sent


# --- the job ---------------------------------------------------------------------------------------

def sweep(policy: RecyclePolicy, now: dt.datetime, *, act: bool = True, actor: User | None = None,
          path: str = "system") -> dict[str, int]:
    """One pool: read its `due_at <= now + warning days` index range a batch at a time (keyset),
    re-compute those dates exactly, return the due records and warn about the soon due."""
    done = {"recycled": 0, "warned": 0}
    window = now + policy.warn_days * DAY
    after: tuple[dt.datetime, int] | None = None
    while True:
        rows = PoolState.objects.filter(org_id=policy.org_id, pool_id=policy.pool_id, in_pool=False,
                                        due_at__isnull=False, due_at__lte=window)
        if after is not None:
            rows = rows.filter(due_at__gte=after[0]).exclude(due_at=after[0], pk__lte=after[1])
        batch = list(rows.order_by("due_at", "pk")[:BATCH])
        if not batch:
            break
        after = (batch[-1].due_at, batch[-1].pk)
        refresh(batch, now)
        if not act:
            continue
        due = [s.pk for s in batch if s.due_at and s.due_at <= now and s.due_rule in REASONS]
        if due:
            done["recycled"] += do_recycle_records(policy, due, now=now, actor=actor, path=path)
        soon = [s for s in batch if s.due_at and now < s.due_at <= window and s.due_rule in REASONS
                and s.warned_for != s.due_at and s.holder_id]
        if soon and policy.warn_days:
            done["warned"] += _warn(policy, soon, now)
    return done


def run_recycling(now: dt.datetime | None = None) -> dict[str, int]:
    """Every pool with recycling on (the beat job)."""
    now = now or timezone.now()
    total = {"recycled": 0, "warned": 0}
    for policy in RecyclePolicy.objects.select_related("pool").filter(enabled=True).order_by("pk"):
        try:
            found = sweep(policy, now)
        except Exception:  # one pool's trouble does not stop the others; the next run retries
            logger.exception("Recycling pool %s failed", policy.pool_id)
            continue
        for key in total:
            total[key] += found[key]
    return total


def do_run_recycling_now(pool: Pool, *, actor: User) -> dict[str, int]:
    """A pool administrator runs the pool's recycling now."""
    _require_pool_admin(actor, pool)
    policy = RecyclePolicy.objects.filter(pool=pool, enabled=True).select_related("pool").first()
    if policy is None:
        raise ValidationError(_("Recycling is off for the pool “%(pool)s”.") % {"pool": pool.name})
    return sweep(policy, timezone.now(), actor=actor, path="page")

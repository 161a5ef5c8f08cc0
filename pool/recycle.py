"""Recycling: when a claimed record is due back in its pool.

Each claimed record's `PoolState.due_at` is the earliest of: N days after the later of its
claim and its last follow-up, M days after the claim without a deal (accounts), W days after the
claim without a win; N, M and W per customer level (a picklist field chosen per pool). Due dates
count from the claim, or from the moment recycling was switched on if later.

`due_at` is kept by events (a claim, an owner change, a note, a lead's status change, a deal of
the account created or moved, a related task completed: `on_events`) and re-computed exactly,
from the data, by the job for the records its index range returns (`refresh`): the job never
scans all records, only a pool's `due_at <= now + warning days` range of the `poolstate_due`
index. A rule change or switching recycling on resets a pool's due dates in one UPDATE to a
lower bound (its start plus the shortest rule), which the job then refines."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Iterable

from django.contrib.contenttypes.models import ContentType
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from .models import PoolState, RecyclePolicy

DAY = dt.timedelta(days=1)
RECHECK = dt.timedelta(days=7)  # an excluded record (won, a big open deal) is looked at again then
RULE_KEYS = ("n", "m", "w")
# Timeline kinds on the record itself that count as a follow-up.
FOLLOW_UP_KINDS = ("note_added", "email_sent", "transition")
WON_STAGE, CLOSED_STAGES = "won", ("won", "lost")


def level_rules(policy: RecyclePolicy, record: Any) -> dict[str, int]:
    """The days of the record's customer level, or of any other level ("*")."""
    rules = policy.rules or {}
    level = ""
    if policy.level_field:
        key = policy.level_field
        level = (record.custom or {}).get(key) if key.startswith("f_") else getattr(record, key, "")
    picked = rules.get(str(level or "")) or rules.get("*") or {}
    return {k: int(v) for k, v in picked.items() if k in RULE_KEYS and v not in (None, "", 0)}


def shortest(policy: RecyclePolicy) -> int | None:
    days = [int(v) for rule in (policy.rules or {}).values() for k, v in rule.items() if k in RULE_KEYS and v]
    return min(days) if days else None


def _facts(org_id: int, module: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per record: its last follow-up, and (accounts) its first deal's creation, whether won and
    its largest open deal. A fixed number of grouped queries for the batch."""
    from crm.models import Account, Deal, Lead, Task, TimelineEntry

    model = Account if module == "accounts" else Lead
    ct = ContentType.objects.get_for_model(model)
    facts: dict[int, dict[str, Any]] = {pk: {"follow": None, "deal_at": None, "won": False, "open": Decimal(0)}
                                        for pk in ids}

    def later(pk: int, at: dt.datetime | None) -> None:
        if at and (facts[pk]["follow"] is None or at > facts[pk]["follow"]):
            facts[pk]["follow"] = at

    entries = (TimelineEntry.objects.filter(org_id=org_id, record_type=ct, record_id__in=ids)
               .filter(Q(kind__in=FOLLOW_UP_KINDS) | Q(kind="updated", changes__has_key="status"))
               .values("record_id").annotate(last=Max("at")))
    for row in entries:
        later(row["record_id"], row["last"])
    tasks = (Task.objects.filter(org_id=org_id, related_type=ct, related_id__in=ids, status="completed",
                                 deleted_at__isnull=True).values("related_id").annotate(last=Max("modified_at")))
    for row in tasks:
        later(row["related_id"], row["last"])
    if module == "accounts":
        deal_ct = ContentType.objects.get_for_model(Deal)
        deals = list(Deal.objects.filter(org_id=org_id, account_id__in=ids, deleted_at__isnull=True)
                     .values_list("pk", "account_id", "created_at", "stage", "amount"))
        owner_of = {}
        for pk, account_id, created, stage, amount in deals:
            owner_of[pk] = account_id
            fact = facts[account_id]
            if fact["deal_at"] is None or created > fact["deal_at"]:
                fact["deal_at"] = created
            fact["won"] = fact["won"] or stage == WON_STAGE
            if stage not in CLOSED_STAGES and amount is not None and amount > fact["open"]:
                fact["open"] = amount
            later(account_id, created)
        if owner_of:
            moved = (TimelineEntry.objects.filter(org_id=org_id, record_type=deal_ct, record_id__in=list(owner_of),
                                                  kind__in=("updated", "transition"))
                     .filter(Q(kind="transition") | Q(changes__has_key="stage"))
                     .values("record_id").annotate(last=Max("at")))
            for row in moved:
                later(owner_of[row["record_id"]], row["last"])
    else:
        for pk, status in Lead._base_manager.filter(org_id=org_id, pk__in=ids).values_list("pk", "status"):
            facts[pk]["won"] = status == "qualified"
    return facts


def due_for(policy: RecyclePolicy, state: PoolState, record: Any, fact: dict[str, Any],
            now: dt.datetime) -> tuple[dt.datetime | None, str]:
    """(due_at, rule) of one claimed record; (None, "") when it does not recycle."""
    if not policy.enabled or state.protected or state.claimed_at is None or record.owner_id is None:
        return None, ""
    rules = level_rules(policy, record)
    if not rules:
        return None, ""
    if fact["won"] or (policy.open_deal_amount is not None and fact["open"] >= policy.open_deal_amount
                       and fact["open"] > 0):
        return now + RECHECK, "x"
    start = max(state.claimed_at, policy.enabled_at or state.claimed_at)
    follow = max(x for x in (start, fact["follow"], state.followed_up_at) if x is not None)
    candidates = []
    if "n" in rules:
        candidates.append((follow + rules["n"] * DAY, "n"))
    if "m" in rules and state.module == "accounts" and not (fact["deal_at"] and fact["deal_at"] >= state.claimed_at):
        candidates.append((start + rules["m"] * DAY, "m"))
    if "w" in rules:
        candidates.append((start + rules["w"] * DAY, "w"))
    return min(candidates) if candidates else (None, "")


def refresh(states: list[PoolState], now: dt.datetime | None = None, *, rows: dict[int, Any] | None = None) -> None:
    """Re-compute the exact due dates of claimed records' states (of one org and module), from
    the data, and store them. `rows`: the records, if the caller has them (locked)."""
    states = [s for s in states if not s.in_pool]
    if not states:
        return
    now = now or timezone.now()
    org_id, module = states[0].org_id, states[0].module
    policies = {p.pool_id: p for p in RecyclePolicy.objects.filter(org_id=org_id,
                                                                   pool_id__in={s.pool_id for s in states})}
    ids = [s.record_id for s in states]
    if rows is None:
        model = record_model(module)
        rows = {r.pk: r for r in model._base_manager.filter(org_id=org_id, pk__in=ids, deleted_at__isnull=True)}
    facts = _facts(org_id, module, ids)
    changed = []
    for state in states:
        policy, record = policies.get(state.pool_id), rows.get(state.record_id)
        due, rule = (None, "") if policy is None or record is None else due_for(policy, state, record,
                                                                                facts[state.record_id], now)
        if (due, rule) != (state.due_at, state.due_rule):
            state.due_at, state.due_rule = due, rule
            changed.append(state)
    if changed:
        PoolState.objects.bulk_update(changed, ["due_at", "due_rule"])


def reset_pool(policy: RecyclePolicy) -> int:
    """After a rule change or switching recycling on or off: every claimed record's due date of
    the pool set, in one UPDATE, to its start plus the shortest rule (a lower bound the job
    refines), or cleared when recycling is off."""
    claimed = PoolState.objects.filter(org_id=policy.org_id, pool_id=policy.pool_id, in_pool=False,
                                       claimed_at__isnull=False)
    days = shortest(policy)
    if not policy.enabled or days is None:
        return claimed.update(due_at=None, due_rule="", warned_for=None)
    start = Greatest(F("claimed_at"), Value(policy.enabled_at)) if policy.enabled_at else F("claimed_at")
    return claimed.filter(protected=False).update(due_at=start + days * DAY, due_rule="", warned_for=None)


# --- events --------------------------------------------------------------------------------------

FOLLOW_EVENTS = ("note_added", "email_sent", "transition")


def _touched(events: Iterable[Any]) -> dict[tuple[int, str], dict[int, str]]:
    """(org, module) -> {record id: what happened} for the events that bear on recycling."""
    from crm.models import Deal, Task

    found: dict[tuple[int, str], dict[int, str]] = {}
    deals, tasks = [], []
    for event in events:
        changes = event.changes or {}
        if event.module in ("leads", "accounts"):
            if event.kind == "owner_changed":
                what = "owner"
            elif event.kind in FOLLOW_EVENTS or (event.kind == "updated" and "status" in changes):
                what = "follow"
            else:
                continue
            found.setdefault((event.org_id, event.module), {})[event.record_id] = what
        elif event.module == "deals" and (event.kind == "created" or "stage" in changes or event.kind == "transition"):
            deals.append((event.org_id, event.record_id))
        elif event.module == "tasks" and event.kind == "updated" and "status" in changes:
            tasks.append((event.org_id, event.record_id))
    for org_id, account_id in ((o, a) for o, pk in deals for a in
                               Deal._base_manager.filter(org_id=o, pk=pk, account_id__isnull=False)
                               .values_list("account_id", flat=True)):
        found.setdefault((org_id, "accounts"), {})[account_id] = "follow"
    if tasks:
        cts = {ct.pk: key for key, ct in ContentType.objects.get_for_models(*_pool_models()).items()}
        for org_id, pk in tasks:
            task = Task._base_manager.filter(org_id=org_id, pk=pk, status="completed").values(
                "related_type_id", "related_id").first()
            if task and task["related_type_id"] in cts and task["related_id"]:
                found.setdefault((org_id, cts[task["related_type_id"]]), {})[task["related_id"]] = "follow"
    return found


def record_model(module: str):
    """The model of a pool module's records, from the module registry."""
    from crm.modules import get_module

    return get_module(module).model


def _pool_models() -> list:
    from .rules import POOL_MODULES

    return [record_model(key) for key in POOL_MODULES]


def _bears(event: Any) -> bool:
    """Whether the event may move a due date (decided without a query)."""
    changes = event.changes or {}
    if event.module in ("leads", "accounts"):
        return event.kind in ("owner_changed", *FOLLOW_EVENTS) or (event.kind == "updated" and "status" in changes)
    if event.module == "deals":
        return event.kind in ("created", "transition") or "stage" in changes
    return event.module == "tasks" and event.kind == "updated" and "status" in changes


def on_events(events: list[Any]) -> None:
    """A durable listener (inside the writing transaction): follow-ups push the due date back,
    an owner change by anyone but the pool's own moves restarts the clock."""
    relevant = [e for e in events if _bears(e)]
    if not relevant:
        return
    orgs = {e.org_id for e in relevant}
    enabled = set(RecyclePolicy.objects.filter(org_id__in=orgs, enabled=True).values_list("org_id", flat=True))
    if not enabled:
        return
    now = timezone.now()
    for (org_id, module), records in _touched([e for e in relevant if e.org_id in enabled]).items():
        states = list(PoolState.objects.filter(org_id=org_id, module=module, record_id__in=list(records)))
        owners = {}
        if any(what == "owner" for what in records.values()):
            owners = dict(record_model(module)._base_manager.filter(org_id=org_id, pk__in=list(records)).values_list("pk", "owner_id"))
        for state in states:
            what = records[state.record_id]
            if what == "follow":
                state.followed_up_at = now
            elif owners.get(state.record_id) and (state.in_pool or state.holder_id != owners[state.record_id]):
                # A new owner (an administrator's change, an assignment rule): the clock restarts.
                state.holder_id, state.claimed_at, state.warned_for = owners[state.record_id], now, None
                state.in_pool = False  # as pool.actions.note_owner_change is about to store
        PoolState.objects.bulk_update(states, ["followed_up_at", "holder", "claimed_at", "warned_for"])
        refresh(states, now)

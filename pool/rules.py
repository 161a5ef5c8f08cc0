"""The pools' part of the access layer: the members' grant (they see the records waiting in
their pools), the masks (masked fields of a pool's records for everyone but its administrators),
and the guards of "claim", "release" and "assign" (the decision point's record actions) plus the
one that keeps a waiting record from being edited before someone claims it."""
from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.decisions import GuardRefusal, WriteContext
from access.masking import Mask, masked_text
from access.visibility import is_org_admin

from .models import Pool, PoolState
from .selectors import claims_today, held, module_facts, pools_of_accounts, waiting_accounts

POOL_MODULES = ("leads", "accounts")
MASKABLE_TYPES = ("text", "phone", "email", "url")
# An account's contacts go into a pool with it (their owner cleared) and come out with it: an
# ownerless contact is where its account waits, seen, masked and held like it.
CONTACTS = "contacts"


def in_pool(record: Any) -> bool:
    return getattr(record, "owner_id", 1) is None and getattr(record, "pool_id", None) is not None


# --- visibility -----------------------------------------------------------------------------------

def pool_grants(user: Any, membership: Any, module: Any, action: str) -> Q | None:
    """Members and administrators of a pool see (and export) the records waiting in it, and the
    ownerless contacts of the accounts waiting in it (an uncorrelated subquery of those accounts)."""
    if action not in ("view", "export"):
        return None
    if module.key == CONTACTS:
        facts = module_facts(user, "accounts")
        ids = sorted(set(facts["member"]) | set(facts["admin"]))
        return Q(owner__isnull=True, account_id__in=waiting_accounts(user.org.pk, ids)) if ids else None
    if module.key not in POOL_MODULES:
        return None
    facts = module_facts(user, module.key)
    ids = sorted(set(facts["member"]) | set(facts["admin"]))
    return Q(owner__isnull=True, pool_id__in=ids) if ids else None


pool_grants.grant_label = gettext_lazy("Customer pool")


def _style(module: Any, key: str) -> str:
    fields = getattr(module, "fields", None) or module.core_fields
    spec = next((spec for spec in fields if spec.key == key), None)
    return {"phone": "phone", "email": "email"}.get(getattr(spec, "type", ""), "text")


def _conceal(record: Any, key: str, style: str) -> None:
    if key.startswith("f_"):
        data = dict(record.custom or {})
        if data.get(key) not in (None, ""):
            data[key] = masked_text(style, data[key])
        record.custom = data
    elif hasattr(record, key):
        setattr(record, key, masked_text(style, getattr(record, key)))


def _account_pools(org_id: int, records: list) -> None:
    """The pool each ownerless contact's account waits in, for a batch of contacts (one query)."""
    pending = [r for r in records if "_account_pool" not in r.__dict__]
    found = pools_of_accounts(org_id, {r.account_id for r in pending if r.owner_id is None and r.account_id})
    for record in pending:
        record.__dict__["_account_pool"] = found.get(record.account_id) if record.owner_id is None else None


def contact_masks(user: Any, module: Any) -> list[Mask]:
    """A contact waiting with its account: an accounts pool that masks a phone (or an e-mail)
    field masks the contact's fields of that kind (phone and mobile, e-mail), for all but the
    pool's administrators."""
    facts = module_facts(user, "accounts")
    kinds = {pool_id: wanted for pool_id, wanted in (facts.get("kinds") or {}).items()
             if wanted and pool_id not in facts["admin"]}
    if not kinds:
        return []
    org_id = user.org.pk
    if not hasattr(module, "custom_fields"):  # an unbound schema: its custom fields (a mobile) count too
        module = module.bind(user.org)
    fields = module.fields
    prepare = partial(_account_pools, org_id)  # one object: the masks of every pool share the load
    masks = []
    for pool_id, wanted in sorted(kinds.items()):
        shown = {spec.key: spec.type for spec in fields if spec.type in wanted}
        if not shown:
            continue
        masks.append(Mask(
            fields=shown, where=Q(owner__isnull=True, account_id__in=waiting_accounts(org_id, [pool_id])),
            columns=("owner_id", "account_id"),
            applies=lambda record, pool_id=pool_id: (record.owner_id is None
                                                     and record.__dict__.get("_account_pool") == pool_id),
            conceal=_conceal, prepare=prepare))
    return masks


def pool_masks(user: Any, module: Any) -> list[Mask]:
    """A pool's masked fields, on its waiting records, for all but its administrators."""
    if is_org_admin(user):
        return []
    if module.key == CONTACTS:
        return contact_masks(user, module)
    if module.key not in POOL_MODULES:
        return []
    facts = module_facts(user, module.key)
    masks = []
    for pool_id, keys in sorted(facts["masked"].items()):
        if pool_id in facts["admin"]:
            continue
        # The masked values' columns too: a list page that deferred them (a masked field that is
        # not one of its columns) gets them in the masking's one query, not one query per row.
        loads = sorted({"custom" if key.startswith("f_") else key for key in keys})
        masks.append(Mask(
            fields={key: _style(module, key) for key in keys},
            where=Q(owner__isnull=True, pool_id=pool_id), columns=("owner_id", "pool_id", *loads),
            applies=lambda record, pool_id=pool_id: record.owner_id is None and record.pool_id == pool_id,
            conceal=_conceal))
    return masks


# --- guards ---------------------------------------------------------------------------------------

def _memo(actor: Any) -> dict:
    return actor.__dict__.setdefault("_pool_memo", {})


def pool_of(actor: Any, pool_id: int) -> Pool | None:
    memo = _memo(actor)
    key = ("pool", pool_id)
    if key not in memo:
        memo[key] = Pool.objects.filter(org=actor.org, pk=pool_id).first()
    return memo[key]


def preload_states(user: Any, schema: Any, records: list) -> None:
    """The pool rows of a page of records, at once (the guards read them per record); for
    contacts, the pools their accounts wait in."""
    if schema.key == CONTACTS and records:
        _account_pools(user.org.pk, records)
        return
    if schema.key not in POOL_MODULES or not records:
        return
    found = {s.record_id: s for s in PoolState.objects.filter(org=user.org, module=schema.key,
                                                              record_id__in=[r.pk for r in records])}
    for record in records:
        record._pool_state = found.get(record.pk)


def state_for(record: Any, module_key: str) -> PoolState | None:
    if not hasattr(record, "_pool_state"):
        record._pool_state = PoolState.objects.filter(org=record.org_id, module=module_key,
                                                      record_id=record.pk).first()
    return record._pool_state


def when(moment: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _usage(context: WriteContext, pool: Pool, user_id: int) -> tuple[int, int]:
    """(records held, claims today) of the rep: given by the action after it locked the rep's
    counter row, else counted once per page."""
    if "usage" in context.changes:
        return context.changes["usage"]
    memo = _memo(context.actor)
    key = ("usage", pool.pk, user_id)
    if key not in memo:
        memo[key] = (held(context.module, pool, user_id) if pool.capacity else 0,
                     claims_today(pool.org_id, pool, user_id) if pool.daily_claims else 0)
    return memo[key]


def _check_limits(context: WriteContext, pool: Pool, user_id: int, *, daily: bool, mine: bool) -> None:
    count = int(context.changes.get("count", 1))
    holding, today = _usage(context, pool, user_id)
    if pool.capacity and holding + count > pool.capacity:
        raise GuardRefusal((_("You hold %(held)d records; the pool “%(pool)s” lets a rep hold %(limit)d at once. "
                              "Release some to claim more.") if mine else
                            _("They hold %(held)d records; the pool “%(pool)s” lets a rep hold %(limit)d at once."))
                           % {"held": holding, "pool": pool.name, "limit": pool.capacity}, guard="pool_capacity",
                           log=False)
    if daily and pool.daily_claims and today + count > pool.daily_claims:
        left = max(pool.daily_claims - today, 0)
        if count > 1:
            reason = _("This claims %(count)d records but only %(left)d of today's %(limit)d claims from the pool "
                       "“%(pool)s” are left; the limit resets at midnight.")
        else:
            reason = _("You have claimed %(today)d records today, the daily limit of the pool “%(pool)s” "
                       "(%(limit)d); it resets at midnight.")
        raise GuardRefusal(reason % {"count": count, "left": left, "limit": pool.daily_claims, "today": today,
                                     "pool": pool.name}, guard="pool_daily", log=False)


def _check_cooldown(context: WriteContext, pool: Pool, state: PoolState | None, user_id: int, mine: bool) -> None:
    if not (pool.cooldown_days and state is not None and state.former_owner_id == user_id):
        return
    lifts = state.entered_at + dt.timedelta(days=pool.cooldown_days)
    if timezone.now() < lifts:
        raise GuardRefusal((_("You gave this record up to the pool; its cool-down of %(days)d days lets you "
                              "claim it again from %(when)s.") if mine else
                            _("They gave this record up to the pool; its cool-down of %(days)d days ends "
                              "%(when)s.")) % {"days": pool.cooldown_days, "when": when(lifts)},
                           guard="pool_cooldown", log=False)


def _waiting(context: WriteContext) -> tuple[Pool, PoolState | None]:
    record = context.record
    if record.owner_id is not None:
        raise GuardRefusal(_("Already claimed by %(owner)s.") % {"owner": record.owner}, guard="pool_claimed",
                           log=False)
    pool = pool_of(context.actor, record.pool_id) if record.pool_id else None
    if pool is None:
        raise GuardRefusal(_("This record is not in a pool."), guard="pool", log=False, quiet=True)
    return pool, state_for(record, context.module.key)


def pool_guard(context: WriteContext) -> None:
    """Who may claim, release and assign, and the pool's limits (a refusal names the limit and
    when it lifts)."""
    if context.module.key not in POOL_MODULES:
        raise GuardRefusal(_("This module has no customer pools."), guard="pool", log=False, quiet=True)
    actor = context.actor
    facts = module_facts(actor, context.module.key)
    if context.action == "release":
        record = context.record
        if in_pool(record):  # an administrator moves it to another pool; nobody else
            if is_org_admin(actor):
                return
            raise GuardRefusal(_("This record is already in a pool."), guard="pool", log=False, quiet=True)
        if record.owner_id != actor.pk and not is_org_admin(actor):
            raise GuardRefusal(_("Only its owner or an administrator may release a record to a pool."),
                               guard="pool", log=False, quiet=True)
        if not Pool.objects.filter(org=actor.org, module=context.module.key).exists():
            raise GuardRefusal(_("There is no pool for %(module)s yet.") % {"module": context.module.label_plural},
                               guard="pool", log=False, quiet=True)
        return
    pool, state = _waiting(context)
    pool_admin = is_org_admin(actor) or pool.pk in facts["admin"]
    if context.action == "assign":
        if not pool_admin:
            raise GuardRefusal(_("Only the pool's administrators assign its records."), guard="pool", log=False,
                               quiet=True)
        target = context.changes.get("user")
        if target is not None and not context.changes.get("override"):
            _check_cooldown(context, pool, state, target.pk, mine=False)
            _check_limits(context, pool, target.pk, daily=False, mine=False)
        return
    # claim
    if not pool_admin and pool.pk not in facts["member"]:
        raise GuardRefusal(_("You are not a member of the pool “%(pool)s”.") % {"pool": pool.name}, guard="pool",
                           log=False, quiet=True)
    if not pool_admin and pool.embargo_hours and state is not None:
        lifts = state.entered_at + dt.timedelta(hours=pool.embargo_hours)
        if timezone.now() < lifts:
            raise GuardRefusal(_("New in the pool: only its administrators may claim it until %(when)s.")
                               % {"when": when(lifts)}, guard="pool_embargo", log=False)
    _check_cooldown(context, pool, state, actor.pk, mine=True)
    _check_limits(context, pool, actor.pk, daily=True, mine=True)


# Writes a waiting record takes only from its pool's administrators (the pool's own moves are
# decision-only actions and do not pass here).
HELD_WRITES = ("update", "delete", "add_note", "update_note", "delete_note", "add_attachment",
               "delete_attachment", "transition")


def waiting_record_guard(context: WriteContext) -> None:
    """A record waiting in a pool is claimed before it is worked on."""
    if context.module.key == CONTACTS:
        return waiting_contact_guard(context)
    if context.action not in HELD_WRITES or context.module.key not in POOL_MODULES:
        return
    record = context.record
    if getattr(record, "pk", None) is None or not in_pool(record):
        return
    if is_org_admin(context.actor) or record.pool_id in module_facts(context.actor, context.module.key)["admin"]:
        return
    raise GuardRefusal(_("This record is waiting in a customer pool: claim it first."), guard="pool_waiting",
                       log=False)


def waiting_contact_guard(context: WriteContext) -> None:
    """A contact waiting with its account is worked on (or given an owner) once someone claims the
    account; until then only the administrators of the org or of the account's pool touch it."""
    record = context.record
    if (context.action not in (*HELD_WRITES, "change_owner") or getattr(record, "pk", None) is None
            or record.owner_id is not None or not record.account_id or is_org_admin(context.actor)):
        return
    if "_account_pool" not in record.__dict__:  # not preloaded with its page
        _account_pools(record.org_id, [record])
    pool_id = record.__dict__["_account_pool"]
    if pool_id is None or pool_id in module_facts(context.actor, "accounts")["admin"]:
        return
    raise GuardRefusal(_("This contact waits in a customer pool with its account: claim the account first."),
                       guard="pool_waiting", log=False)


def pooled_hold(schema: Any, record: Any, scope: str) -> str | None:
    """Assignment and workflow rules leave a record waiting in a pool alone: it is claimed or
    assigned from the pool, under the pool's limits."""
    from automation.holds import AUTOMATION

    if scope != AUTOMATION or schema.key not in POOL_MODULES:
        return None
    if getattr(record, "owner_id", 1) is None and getattr(record, "pool_id", None):
        return _("It is waiting in a customer pool: claim or assign it from the pool.")
    return None


def waiting_contact_hold(schema: Any, record: Any, scope: str) -> str | None:
    """Assignment and workflow rules leave a contact waiting with its account alone: it gets an
    owner when the account is claimed or assigned from the pool."""
    from automation.holds import AUTOMATION

    if (scope != AUTOMATION or schema.key != CONTACTS or getattr(record, "owner_id", 1) is not None
            or not getattr(record, "account_id", None)):
        return None
    if "_account_pool" not in record.__dict__:
        _account_pools(record.org_id, [record])
    if record.__dict__["_account_pool"] is None:
        return None
    return _("It waits in a customer pool with its account: claim or assign the account from the pool.")


def pool_field_rules(user: Any, schema: Any, record: Any) -> dict:
    """A masked field is shown masked and is not editable there."""
    hidden = getattr(record, "_masked_fields", None) if record is not None else None
    return {"read_only": {key: _("Masked until the record is claimed.") for key in hidden or ()}}

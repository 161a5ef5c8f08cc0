"""Read helpers of the customer pools: which pools a user belongs to, a rep's usage of the
limits, the pool list's pages and a record's pool history."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.utils import timezone

from access import generations
from access.visibility import _remembered, _user_groups, current_membership, is_org_admin

from .models import Pool, PoolMove, PoolState


def pool_scope(org_id: int) -> str:
    """The org's pools (their members, admins and masked fields): bumped by every pool setting."""
    return f"pool:gen:{org_id}"


def pool_facts(user: Any) -> dict[str, dict[str, Any]]:
    """{module: {"member": pool ids, "admin": pool ids, "masked": {pool id: field keys}}} for the
    user in their current org; cached until the org's pools or access settings change.

    Membership comes through users, roles, groups and team spaces, so the cache is read under the
    org's access generation as well as the pools' own: adding or removing a team-space member, a
    group's users or roles, or a user's role is an access setting, whose action records an audit
    entry (`access.audit.record`), which bumps that generation. The next request reads the
    membership afresh (tests/pool/test_cache_membership.py). The user's role is in the key too."""
    membership = current_membership(user)
    if membership is None:
        return {}
    org_id = membership.org_id

    def load() -> dict[str, dict[str, Any]]:
        teams = user.team_memberships.filter(org=org_id).values("space_id")
        mine = (Q(member_users=user.pk) | Q(member_groups__in=_user_groups(user, membership))
                | Q(member_spaces__in=teams))
        if membership.org_role_id:
            mine |= Q(member_roles=membership.org_role_id)
        pools = Pool.objects.filter(org=org_id)
        facts: dict[str, dict[str, Any]] = {}
        found = list(pools.values_list("pk", "module", "masked_fields"))
        if not found:  # most orgs: one query, then cached
            return facts
        for pk, module, masked in found:
            entry = facts.setdefault(module, {"member": [], "admin": [], "masked": {}})
            if masked:
                entry["masked"][pk] = list(masked)
        if "accounts" in facts:
            facts["accounts"]["kinds"] = masked_kinds(org_id, facts["accounts"]["masked"])
        for pk, module in pools.filter(mine).distinct().values_list("pk", "module"):
            facts[module]["member"].append(pk)
        for pk, module in pools.filter(admins=user.pk).values_list("pk", "module"):
            facts[module]["admin"].append(pk)
        return facts

    key = f"pool:facts:{org_id}:{user.pk}:{membership.org_role_id}"
    return _remembered(user, key, [generations.org_scope(org_id), pool_scope(org_id)], load)


# The kinds of an account's masked field that mask the same kind of field on its contacts.
CONTACT_MASK_KINDS = ("phone", "email")


def masked_kinds(org_id: int, masked: dict[int, list[str]]) -> dict[int, list[str]]:
    """{pool id: the kinds (phone, e-mail) among the accounts pool's masked fields}: a waiting
    account's contacts have their fields of those kinds masked (one query, for custom fields)."""
    from crm.models import FieldDefinition
    from crm.modules import get_module

    types = {spec.key: spec.type for spec in get_module("accounts").core_fields}
    custom = {int(key[2:]) for keys in masked.values() for key in keys if key.startswith("f_") and key[2:].isdigit()}
    if custom:
        types.update((f"f_{pk}", kind) for pk, kind in FieldDefinition.objects.filter(
            org_id=org_id, module="accounts", pk__in=custom).values_list("pk", "field_type"))
    return {pool_id: sorted({types.get(key) for key in keys} & set(CONTACT_MASK_KINDS))
            for pool_id, keys in masked.items()}


def module_facts(user: Any, module_key: str) -> dict[str, Any]:
    return pool_facts(user).get(module_key) or {"member": [], "admin": [], "masked": {}}


def is_pool_admin(user: Any, pool: Pool) -> bool:
    return is_org_admin(user) or pool.pk in module_facts(user, pool.module)["admin"]


def is_pool_member(user: Any, pool: Pool) -> bool:
    facts = module_facts(user, pool.module)
    return is_org_admin(user) or pool.pk in facts["member"] or pool.pk in facts["admin"]


def pools_for(user: Any, module_key: str | None = None) -> list[Pool]:
    """The pools the user may open (member, pool admin; org administrators: all)."""
    org = user.org
    pools = Pool.objects.filter(org=org)
    if module_key:
        pools = pools.filter(module=module_key)
    if not is_org_admin(user):
        ids = [pk for facts in pool_facts(user).values() for pk in facts["member"] + facts["admin"]]
        if not ids:
            return []
        pools = pools.filter(pk__in=ids)
    return list(pools.order_by("module", "name", "pk"))


def day_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight of the current calendar day, in the site's time zone."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def claims_today(org_id: int, pool: Pool, user_id: int) -> int:
    """The rep's claims from the pool since midnight (the daily limit counts these)."""
    return PoolMove.objects.filter(org=org_id, pool=pool, to_user=user_id, kind=PoolMove.Kind.CLAIMED,
                                   at__gte=day_start()).count()


def held(schema: Any, pool: Pool, user_id: int) -> int:
    """How many live records of the pool's module the rep holds, counted up to the capacity + 1
    (an index range, however many they own); won customers left out unless the pool counts them."""
    rows = schema.model.objects.filter(org=schema.org, owner=user_id, deleted_at__isnull=True)
    if not pool.capacity_counts_won:
        rows = rows.exclude(won_customers(schema))
    limit = (pool.capacity or 0) + 1
    return len(rows.order_by().values_list("pk", flat=True)[:limit])


def won_customers(schema: Any) -> Q:
    """A won customer: an account with a won deal; a lead once qualified."""
    if schema.key == "accounts":
        from crm.models import Deal

        return Q(pk__in=Deal.objects.filter(org=schema.org, stage="won", deleted_at__isnull=True,
                                            account__isnull=False).values("account_id"))
    return Q(status="qualified")


def waiting_accounts(org_id: int, pool_ids: list[int]) -> Any:
    """The ids of the accounts waiting in these pools, as an uncorrelated subquery (the pools'
    grant and masks on contacts: an ownerless contact goes where its account waits)."""
    from crm.models import Account

    return Account._base_manager.filter(org_id=org_id, owner__isnull=True, pool_id__in=pool_ids,
                                        deleted_at__isnull=True).values("pk")


def pools_of_accounts(org_id: int, account_ids: set[int]) -> dict[int, int]:
    """{account id: pool id} of those accounts that wait in a pool (one query)."""
    from crm.models import Account

    if not account_ids:
        return {}
    return dict(Account._base_manager.filter(org_id=org_id, pk__in=account_ids, owner__isnull=True,
                                             pool_id__isnull=False, deleted_at__isnull=True)
                .values_list("pk", "pool_id"))


def state_of(org_id: int, module_key: str, record_id: int) -> PoolState | None:
    return (PoolState.objects.select_related("pool", "former_owner").filter(
        org=org_id, module=module_key, record_id=record_id).first())


def history(org_id: int, module_key: str, record_id: int, limit: int = 50) -> list[PoolMove]:
    return list(PoolMove.objects.filter(org=org_id, module=module_key, record_id=record_id)
                .select_related("pool", "from_user", "to_user", "actor").order_by("-at", "-pk")[:limit])


def pool_page(pool: Pool, after: tuple[dt.datetime, int] | None, size: int) -> list[PoolState]:
    """One page of the pool's records, newest entries first: a keyset read of the
    (org, pool, entered_at, record_id) index, the same cost on page 1 and page 10,000."""
    states = PoolState.objects.filter(org=pool.org_id, pool=pool, in_pool=True)
    if after is not None:
        at, record_id = after
        # `entered_at <= at` is the index range's start (the OR alone is only a filter: the scan
        # would read every entry before the cursor); the OR then drops the ties already shown.
        states = states.filter(Q(entered_at__lt=at) | Q(entered_at=at, record_id__lt=record_id), entered_at__lte=at)
    return list(states.order_by("-entered_at", "-record_id")[:size + 1])

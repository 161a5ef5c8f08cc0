"""The records a user opened lately, per org: the last RECENT_MAX record pages they were shown,
newest first. Kept in the shared cache (Redis), not in a table: a record page costs one cache
write and no query. Read back through `access.visible`, so a record the user may no longer
open (or one deleted since) simply drops out."""
from __future__ import annotations

from typing import Any

from django.core.cache import cache

RECENT_MAX = 20  # remembered per user and org
KEEP_SECONDS = 60 * 60 * 24 * 30  # forgotten after a month without opening a record


def _key(org_id: int, user_id: int) -> str:
    return f"crm:recent:{org_id}:{user_id}"


def remember(user: Any, module_key: str, record_id: int) -> None:
    """Note that `user` opened a record page (in their current org). A lost race between two
    tabs loses one entry, which is harmless."""
    org = getattr(user, "org", None)
    if org is None:
        return
    key = _key(org.pk, user.pk)
    entry = [module_key, int(record_id)]
    entries = [item for item in (cache.get(key) or []) if item != entry]
    cache.set(key, [entry, *entries][:RECENT_MAX], KEEP_SECONDS)


def recent(user: Any) -> list[tuple[str, int]]:
    """(module key, record id) pairs, newest first, of the user's current org only."""
    org = getattr(user, "org", None)
    if org is None:
        return []
    return [(str(module), int(pk)) for module, pk in (cache.get(_key(org.pk, user.pk)) or [])]


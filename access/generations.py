"""Shared caches (Redis, seen by every process) that never outlive a change: a generation per scope.

A scope names what cached values depend on ("access:<org>" for an org's access settings,
"shares:<org>:<module>" for a module's manual shares, "locking:gen:<org>:<module>" ...). A value
is stored with the generations it was read under and used only while they are all current.
The actions that change a scope call `mark_changed` inside their transaction: readers see a new
generation at once, and again once the change commits, so a late fill from a reader that read
the old rows lands under an old generation and is never used. A transaction that changed a scope
does not fill caches of it (its rows may still roll back).

`epoch()` counts the changes made by this process: per-request memos (the visibility predicate
on the bound user object) are dropped when it moves, so a page drawn after a change in the same
request or test sees it.
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Any, Callable, Hashable, Iterable, Iterator

from django.core.cache import cache
from django.db import connection, transaction

TTL = 24 * 3600
_epoch = [0]


def epoch() -> int:
    return _epoch[0]


def _start(gen_key: str) -> int:
    cache.add(gen_key, time.time_ns(), timeout=None)  # a lost key restarts from a fresh, larger number
    return cache.get(gen_key)


def generation(scope: str) -> int:
    return cache.get(scope) or _start(scope)


# --- a batch's memo -------------------------------------------------------------------------------
# While a batch action runs (`batch_scope()`), configuration that does not change within the batch
# (a module's lock rules, blueprints, approval processes ...) is read once for the batch instead of
# once per row. Outside a batch scope `remember` just loads, so single writes behave as before.
# Values are keyed by the epoch too: a change made by this process inside the batch loads again.
_batch: contextvars.ContextVar[dict | None] = contextvars.ContextVar("batch_memo", default=None)


@contextlib.contextmanager
def batch_scope() -> Iterator[None]:
    """Reads through `remember` (and `cached`) inside are made once; a nested scope shares the outer one."""
    if _batch.get() is not None:
        yield
        return
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


def remember(key: Hashable, load: Callable[[], Any]) -> Any:
    memo = _batch.get()
    if memo is None:
        return load()
    full = (_epoch[0], key)
    if full not in memo:
        memo[full] = load()
    return memo[full]


def changed_here() -> set[str]:
    """Scopes changed by this connection's open transaction (emptied once it is over: on commit,
    or found over after a rollback)."""
    here = connection.__dict__.setdefault("_generations_changed", set())
    if here and not connection.in_atomic_block:
        here.clear()
    return here


def cached(key: str, scopes: Iterable[str], load: Callable[[], Any], timeout: int = TTL) -> Any:
    """The value under `key`, read under the current generations of `scopes` (one cache round
    trip when cached, none inside a batch that read it already), else `load()`ed and stored."""
    scopes = tuple(scopes)
    return remember(("generations", key, scopes), lambda: _cached(key, scopes, load, timeout))


def _cached(key: str, scopes: tuple[str, ...], load: Callable[[], Any], timeout: int) -> Any:
    found = cache.get_many([key, *scopes])
    gens = tuple(found.get(scope) or _start(scope) for scope in scopes)
    hit = found.get(key)
    if isinstance(hit, tuple) and len(hit) == 2 and hit[0] == gens:  # else a miss (or an older format)
        return hit[1]
    value = load()
    if not changed_here().intersection(scopes):
        cache.set(key, (gens, value), timeout=timeout)
    return value


def _bump(scope: str) -> None:
    _epoch[0] += 1
    try:
        cache.incr(scope)
    except ValueError:
        cache.set(scope, time.time_ns(), timeout=None)


def mark_changed(*scopes: str) -> None:
    """Called by actions inside their transaction: readers see new generations now, and again
    once the change commits."""
    here = changed_here()
    for scope in scopes:
        here.add(scope)
        _bump(scope)

    def committed() -> None:
        for scope in scopes:
            here.discard(scope)
            _bump(scope)

    transaction.on_commit(committed)


# --- the scopes of access ------------------------------------------------------------------------

def org_scope(org_id: int) -> str:
    """An org's access settings: defaults, profiles, roles, groups, sharing rules, memberships."""
    return f"access:gen:{org_id}"


def shares_scope(org_id: int, model: type) -> str:
    """The manual shares of one record model (a module's share tables) of an org."""
    return f"shares:gen:{org_id}:{model._meta.label_lower}"


def access_changed(org_id: int) -> None:
    mark_changed(org_scope(org_id))


def shares_changed(org_id: int, model: type) -> None:
    mark_changed(shares_scope(org_id, model))

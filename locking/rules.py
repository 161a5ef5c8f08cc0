"""A module's lock configuration as plain, cached data, and the checks made on it in memory.

Every record write reads its module's configuration (the guard, then the after-write hook).
It is kept in the shared cache (Redis) as a picklable `Snapshot`, so a save costs no query
for it, under a generation number per (org, module) that the configuration actions bump
(`mark_changed`; the mechanism is `access.generations`, shared with the access caches).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from access import generations
from access.visibility import current_membership

SNAPSHOT_TTL = 24 * 3600


@dataclass(frozen=True)
class Scope:
    """Who a lock applies to: everyone, or the selected profiles, roles (with subordinates) and
    team roles. Everyone else is exempt."""

    locked_for: str = "all"
    profiles: frozenset = frozenset()
    roles: frozenset = frozenset()
    team_roles: frozenset = frozenset()

    def applies_to(self, user: Any, schema: Any) -> bool:
        if self.locked_for == "all":
            return True
        return matches_subject(user, schema, self.profiles, self.roles, self.team_roles)


def matches_subject(user: Any, schema: Any, profiles: frozenset, roles: frozenset, team_roles: frozenset) -> bool:
    """Whether the user has one of the profiles, roles (or a role below one) or team roles."""
    membership = current_membership(user)
    if membership is None:
        return False
    if membership.profile_id is not None and membership.profile_id in profiles:
        return True
    if roles and membership.org_role_id is not None:
        path = membership.org_role.path  # "/1/4/9/": the role and its ancestors
        if any(f"/{role_id}/" in path for role_id in roles):
            return True
    if team_roles and getattr(schema, "team_module", None) is not None:
        return bool(team_roles & user_team_roles(user, schema))
    return False


def user_team_roles(user: Any, schema: Any) -> set[str]:
    """The user's own team role in the module's space (not an admin's implied manager role),
    plus "requester" when they may submit requests to it."""
    from teams import roles

    found = set()
    role = roles.role_in(user, schema.team_module.space_id)
    if role:
        found.add(str(role))
    if schema.team_module.pk in roles.requested_modules(user):
        found.add("requester")
    return found


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    criteria: dict
    scope: Scope
    restricted: frozenset
    editable: frozenset
    on_approval: bool = False


@dataclass(frozen=True)
class FieldLockSpec:
    id: int
    name: str
    fields: frozenset
    scope: Scope
    criteria: dict | None = None


@dataclass(frozen=True)
class Snapshot:
    enabled: bool = False
    manual_enabled: bool = False
    manual_scope: Scope = Scope()
    manual_restricted: frozenset = frozenset()
    manual_editable: frozenset = frozenset()
    locker_profiles: frozenset = frozenset()
    locker_roles: frozenset = frozenset()
    locker_team_roles: frozenset = frozenset()
    rules: tuple[RuleSpec, ...] = ()
    field_locks: tuple[FieldLockSpec, ...] = ()

    @property
    def active(self) -> bool:
        """Whether anything here can refuse a write or lock a record."""
        return self.enabled and bool(self.manual_enabled or self.rules or self.field_locks)


DISABLED = Snapshot()


# --- loading and caching -----------------------------------------------------------------

def _gen_key(org_id: int, module: str) -> str:
    return f"locking:gen:{org_id}:{module}"


def _snap_key(org_id: int, module: str) -> str:
    return f"locking:snapshot:{org_id}:{module}"


def load(org_id: int, module: str) -> Snapshot:
    """Read the configuration from the database: one query when locking is off, three when on."""
    from .models import FieldLock, LockConfig, LockRule

    config = LockConfig.objects.filter(org_id=org_id, module=module).first()
    if config is None or not config.enabled:
        return DISABLED
    rules = tuple(
        RuleSpec(id=r.pk, name=r.name, criteria=r.criteria, scope=_scope(r), restricted=frozenset(r.restricted_actions),
                 editable=frozenset(r.editable_fields), on_approval=r.on_approval)
        for r in LockRule.objects.filter(org_id=org_id, module=module).order_by("position", "pk"))
    field_locks = tuple(
        FieldLockSpec(id=f.pk, name=f.name, fields=frozenset(f.fields), scope=_scope(f), criteria=f.criteria)
        for f in FieldLock.objects.filter(org_id=org_id, module=module).order_by("pk"))
    return Snapshot(
        enabled=True, manual_enabled=config.manual_enabled, manual_scope=_scope(config),
        manual_restricted=frozenset(config.restricted_actions), manual_editable=frozenset(config.editable_fields),
        locker_profiles=frozenset(config.locker_profiles), locker_roles=frozenset(config.locker_roles),
        locker_team_roles=frozenset(config.locker_team_roles), rules=rules, field_locks=field_locks)


def _scope(row: Any) -> Scope:
    return Scope(row.locked_for, frozenset(row.profiles), frozenset(row.roles), frozenset(row.team_roles))


def _generation(org_id: int, module: str) -> int:
    return generations.generation(_gen_key(org_id, module))


def snapshot(org_id: int, module: str) -> Snapshot:
    """The module's configuration: one cache round trip when cached, else a load."""
    return generations.cached(_snap_key(org_id, module), [_gen_key(org_id, module)],
                              lambda: load(org_id, module), timeout=SNAPSHOT_TTL)


def mark_changed(org_id: int, module: str) -> None:
    """Called by the configuration actions inside their transaction: readers see a new
    generation now, and again once the change commits."""
    generations.mark_changed(_gen_key(org_id, module))


# --- compiled predicates -----------------------------------------------------------------

# Compiled predicates, shared by the process: a save binds a new schema each time, and
# validating five rules' criteria again on every save would cost more than evaluating them.
# The key holds what compilation depends on: the module's fields (key, type, options).
_compiled: dict[tuple, Callable[[Any], bool] | None] = {}
_COMPILED_MAX = 2048


def _fingerprint(schema: Any) -> tuple:
    found = schema.__dict__.get("_locking_fingerprint")
    if found is None:  # once per bound schema (one save, or one page)
        found = (schema.org.pk, schema.key, tuple((f.key, f.type, f.json_column, tuple(c.value for c in f.options))
                                                 for f in schema.fields))
        schema.__dict__["_locking_fingerprint"] = found
    return found


def predicate(criteria: dict | None, schema: Any) -> Callable[[Any], bool] | None:
    """The in-memory predicate of a rule's criteria on this schema, or None when the criteria no
    longer fit the schema (a field was retired): such a rule keeps its locks but adds none."""
    from crm.criteria import CriteriaError, to_predicate

    key = (_fingerprint(schema), repr(criteria))
    if key not in _compiled:
        if len(_compiled) >= _COMPILED_MAX:
            _compiled.clear()
        try:
            _compiled[key] = to_predicate(criteria or {"all": []}, schema)
        except CriteriaError:
            _compiled[key] = None
    return _compiled[key]


def matches(criteria: dict | None, schema: Any, record: Any) -> bool | None:
    test = predicate(criteria, schema)
    return None if test is None else bool(test(record))

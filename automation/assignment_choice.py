"""Which user an assignment rule gives a record to (reads only; the writing is
`assignment_actions.do_assign_by_rule`, the stage and `assign_record` are in `assignment`).

Choosing reads only: the entries' criteria are tried in order against the record, the matching
entry's pool is resolved to active users (of the team space, for team modules), users at their
cap of open records are skipped, and round robin takes the next user id after the one who got
the last record (load balancing the one with the fewest open records, ties by the same turn).
The same choice runs for real (`assign_record`, under a row lock on the entry's turn) and for
the dry run (`dry_run`, with the turns and loads simulated in memory)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from django.db.models import Count, Q

from access.models import Group, Membership, User
from access.visibility import visible
from crm.criteria import CriteriaError, to_predicate, to_q

from .assignment_models import AssignmentEntry, AssignmentRule
from .runas import rule_path

logger = logging.getLogger(__name__)

KIND = "assignment"
PREFIX = f"rule:{KIND}:"
DRY_RUN_LIMIT = 50  # records shown by a dry run: the first matching, newest first; never a count


def is_team(schema: Any) -> bool:
    return getattr(schema, "team_module", None) is not None


def target_field(schema: Any) -> str:
    """What a rule sets: the assignee of a team record, the owner of an org record."""
    return "assignee" if is_team(schema) else "owner"


def active_rule(org_id: int, module: str) -> AssignmentRule | None:
    return AssignmentRule.objects.filter(org_id=org_id, module=module, active=True).first()


# --- who is in a pool ------------------------------------------------------------------------------

def active_users(org_id: int, user_ids: Iterable[int], schema: Any) -> list[int]:
    """The given users who are active members of the org (and of the team space, for a team
    module: only its members may be assigned), by id."""
    rows = Membership.objects.filter(org_id=org_id, user_id__in=list(user_ids), is_active=True, user__is_active=True)
    if is_team(schema):
        rows = rows.filter(user__team_memberships__space_id=schema.team_module.space_id)
    return sorted(set(rows.values_list("user_id", flat=True)))


def pool_ids(entry: AssignmentEntry) -> list[int]:
    """Everyone the entry names, active or not."""
    Pool, Method = AssignmentEntry.Pool, AssignmentEntry.Method
    if entry.method == Method.USER:
        return [entry.user_id] if entry.user_id else []
    if entry.pool == Pool.USERS:
        return [int(pk) for pk in entry.pool_users or []]
    if entry.pool == Pool.ROLE:
        if entry.pool_role_id is None:
            return []
        return list(Membership.objects.filter(org_id=entry.org_id, org_role_id=entry.pool_role_id)
                    .values_list("user_id", flat=True))
    if entry.pool == Pool.GROUP:
        group = Group.objects.filter(org_id=entry.org_id, pk=entry.pool_group_id).first()
        if group is None:
            return []
        roles = list(group.roles.values_list("pk", flat=True))
        by_role = Membership.objects.filter(org_id=entry.org_id, org_role_id__in=roles).values_list("user_id", flat=True)
        return list(group.users.values_list("pk", flat=True)) + list(by_role)
    if entry.pool == Pool.TEAM:
        from teams.models import TeamMember

        return list(TeamMember.objects.filter(org_id=entry.org_id, space_id=entry.pool_space_id)
                    .values_list("user_id", flat=True))
    return []


# --- open records ------------------------------------------------------------------------------

def open_q(rule: AssignmentRule, schema: Any) -> Q | None:
    """Records still open: for team modules, not in a done status; for org modules, the rule's
    status picklist not at a closed value (an empty status counts as open). None: all are open."""
    if is_team(schema):
        key, closed = "status", list(schema.team_module.done_statuses or [])
    else:
        key, closed = rule.status_field, list(rule.closed_values or [])
    if not key or not closed or not schema.has_field(key):
        return None
    return to_q({"all": [{"field": key, "op": "not_in", "value": closed}]}, schema)


def open_counts(rule: AssignmentRule, schema: Any, actor: Any, user_ids: list[int],
                exclude_pk: int | None = None) -> dict[int, int]:
    """Open records held by each user (one grouped query over the records the rule's actor sees)."""
    name = target_field(schema)
    rows = visible(actor, schema, "view").filter(**{f"{name}_id__in": user_ids})
    still_open = open_q(rule, schema)
    if still_open is not None:
        rows = rows.filter(still_open)
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    counts = dict(rows.order_by().values_list(f"{name}_id").annotate(n=Count("pk")).values_list(f"{name}_id", "n"))
    return {pk: counts.get(pk, 0) for pk in user_ids}


# --- choosing ------------------------------------------------------------------------------------

@dataclass
class Choice:
    user_id: int | None
    entry: AssignmentEntry | None = None  # the matching entry (None: the fallback or nobody)
    number: int | None = None  # the entry's place in the rule, from 1
    via: str = "nobody"  # entry, fallback, nobody
    skipped: list[int] = field(default_factory=list)  # users passed over (at their cap)

    def as_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "entry": self.number, "via": self.via,
                "method": self.entry.method if self.entry is not None else ""}


class State:
    """Where the turns and loads come from: the database under a lock (a real run) or an
    in-memory copy that each simulated assignment moves on (the dry run)."""

    def last_user(self, entry: AssignmentEntry) -> int | None:
        raise NotImplementedError

    def loads(self, entry: AssignmentEntry, user_ids: list[int]) -> dict[int, int]:
        raise NotImplementedError

    def took(self, choice: Choice) -> None:
        pass


def rotation(user_ids: list[int], last: int | None) -> list[int]:
    """The users in turn order: the ids after `last` first, then from the start."""
    after = [pk for pk in user_ids if last is not None and pk > last]
    return after + [pk for pk in user_ids if pk not in after]


def matchers(rule: AssignmentRule, entries: list[AssignmentEntry], schema: Any) -> list[Callable[[Any], bool]]:
    """Each entry's criteria as a predicate (no criteria: every record). Raises CriteriaError
    when an entry's criteria no longer fit the module (a field was removed)."""
    return [to_predicate(entry.criteria, schema) if entry.criteria else (lambda record: True) for entry in entries]


def choose(rule: AssignmentRule, entries: list[AssignmentEntry], tests: list[Callable[[Any], bool]],
           schema: Any, record: Any, state: State) -> Choice:
    """The user the rule gives `record` to: the first matching entry's pick, else the fallback."""
    for number, (entry, test) in enumerate(zip(entries, tests), start=1):
        if not test(record):
            continue
        users = active_users(rule.org_id, pool_ids(entry), schema)
        skipped: list[int] = []
        if entry.method == AssignmentEntry.Method.USER:
            if users:
                return Choice(users[0], entry, number, "entry")
            break
        last = state.last_user(entry)
        order = rotation(users, last)
        loads = state.loads(entry, users) if (entry.cap or entry.method == AssignmentEntry.Method.LOAD_BALANCE) else {}
        if entry.cap:
            skipped = [pk for pk in order if loads.get(pk, 0) >= entry.cap]
            order = [pk for pk in order if pk not in skipped]
        if order:
            if entry.method == AssignmentEntry.Method.LOAD_BALANCE:
                pick = min(order, key=lambda pk: (loads.get(pk, 0), order.index(pk)))
            else:
                pick = order[0]
            return Choice(pick, entry, number, "entry", skipped)
        break  # the matching entry has nobody free: the fallback takes it
    fallback = active_users(rule.org_id, [rule.fallback_user_id] if rule.fallback_user_id else [], schema)
    if fallback:
        return Choice(fallback[0], via="fallback")
    return Choice(None)


class LiveState(State):
    """A real run: the entry's turn is read under a row lock held to the end of the transaction
    (so concurrent workers take turns one after another); loads are counted after the lock."""

    def __init__(self, rule: AssignmentRule, schema: Any, actor: Any, record: Any,
                 lock: Callable[[AssignmentEntry], AssignmentEntry]) -> None:
        self.rule, self.schema, self.actor, self.record, self.lock = rule, schema, actor, record, lock
        self.locked: AssignmentEntry | None = None

    def last_user(self, entry: AssignmentEntry) -> int | None:
        self.locked = self.lock(entry)
        return self.locked.last_user_id

    def loads(self, entry: AssignmentEntry, user_ids: list[int]) -> dict[int, int]:
        return open_counts(self.rule, self.schema, self.actor, user_ids, exclude_pk=self.record.pk)


class DryState(State):
    """The dry run: turns start where the rule's entries stand and move in memory; each user's
    open records are counted once, then each simulated assignment adds one."""

    def __init__(self, rule: AssignmentRule, schema: Any, actor: Any) -> None:
        self.rule, self.schema, self.actor = rule, schema, actor
        self.turns: dict[int, int | None] = {}
        self.counts: dict[int, int] = {}

    def last_user(self, entry: AssignmentEntry) -> int | None:
        return self.turns.setdefault(entry.pk, entry.last_user_id)

    def loads(self, entry: AssignmentEntry, user_ids: list[int]) -> dict[int, int]:
        missing = [pk for pk in user_ids if pk not in self.counts]
        if missing:
            self.counts.update(open_counts(self.rule, self.schema, self.actor, missing))
        return {pk: self.counts[pk] for pk in user_ids}

    def took(self, choice: Choice) -> None:
        if choice.entry is not None and choice.entry.method != AssignmentEntry.Method.USER:
            self.turns[choice.entry.pk] = choice.user_id
        if choice.user_id is not None and choice.user_id in self.counts:
            self.counts[choice.user_id] += 1


# --- the dry run ------------------------------------------------------------------------------

@dataclass
class DryRow:
    record: Any
    choice: Choice


def dry_run(rule: AssignmentRule, schema: Any, viewer: Any, limit: int = DRY_RUN_LIMIT) -> dict[str, Any]:
    """What the rule would do now to the records `viewer` can see: the first `limit` records
    (newest first) that some entry matches, or any record when the fallback catches the rest,
    each with the entry that matches it and who would get it, turns and loads simulated in
    order. Reads only; writes nothing, not even a turn."""
    entries = list(rule.entries.all())
    try:
        tests = matchers(rule, entries, schema)
        wanted = Q()
        catch_all = rule.fallback_user_id is not None or any(not e.criteria for e in entries)
        if not catch_all:
            for entry in entries:
                wanted |= to_q(entry.criteria, schema)
    except CriteriaError as exc:
        return {"rows": [], "error": " ".join(exc.messages), "limit": limit}
    records = visible(viewer, schema, "view")
    if not catch_all:
        if not entries:
            return {"rows": [], "error": "", "limit": limit}
        records = records.filter(wanted)
    records = records.select_related(*schema.select_related).order_by("-pk")[:limit]  # newest first, on the pk index
    state = DryState(rule, schema, viewer)
    rows = []
    for record in records:
        choice = choose(rule, entries, tests, schema, record, state)
        state.took(choice)
        rows.append(DryRow(record, choice))
    users = user_names({row.choice.user_id for row in rows})
    for row in rows:
        row.user_name = users.get(row.choice.user_id, "")
        row.current = getattr(row.record, f"{target_field(schema)}_id")
        row.unchanged = row.current == row.choice.user_id
    return {"rows": rows, "error": "", "limit": limit, "full": len(rows) >= limit}


def user_names(user_ids: Iterable[int | None]) -> dict[int, str]:
    return {user.pk: str(user) for user in User.objects.filter(pk__in=[pk for pk in user_ids if pk])}


def path_of(rule: AssignmentRule) -> str:
    return rule_path(KIND, rule.pk)

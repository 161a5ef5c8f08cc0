"""Reading blueprints: which version governs a record, its state, who owns a transition, which
transitions are offered, and the SLA of a stay. Schema-driven: org modules and team modules alike.

A record is governed by the version it is inside (a BlueprintRecord row), while that version is
published or superseded; a record with no row is governed by the first published blueprint of its
module whose entry criteria it matches, unless a process holds it back (`automation.holds`): the
row is written at its next save, or when publishing enrols the module's records."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.criteria import CriteriaError, to_predicate

from .models import Blueprint, BlueprintRecord, Transition

MEMO = "_blueprint_governed"  # on a record object: what a dry decision already read


@dataclass
class Governed:
    blueprint: Blueprint  # the version the record is held to
    member: BlueprintRecord | None  # None: not entered yet (governed by the published version)
    state: str  # the record's current value of the state field
    _transitions: list[Transition] | None = field(default=None, repr=False)

    @property
    def transitions(self) -> list[Transition]:
        if self._transitions is None:
            self._transitions = list(self.blueprint.transitions.order_by("position", "pk"))
        return self._transitions

    @property
    def signoffs(self) -> set[str]:
        return set(self.member.signoffs or []) if self.member is not None else set()


ACTIVE_TTL = 60  # seconds: bounds how long a page may miss a blueprint published meanwhile


def _active_key(org_id: int, module_key: str) -> str:
    return f"blueprints:active:{org_id}:{module_key}"


def active(org_id: int, module_key: str) -> bool:
    """Whether any version governs records of the module (cached): most modules have no blueprint,
    and their writes and pages then read nothing of blueprints."""
    from access.generations import remember

    return remember(("blueprints:active", org_id, module_key), lambda: _active(org_id, module_key))


def _active(org_id: int, module_key: str) -> bool:
    from django.core.cache import cache

    key = _active_key(org_id, module_key)
    found = cache.get(key)
    if found is None:
        found = Blueprint.objects.filter(org_id=org_id, module=module_key, status__in=[
            Blueprint.Status.PUBLISHED, Blueprint.Status.SUPERSEDED]).exists()
        cache.set(key, found, ACTIVE_TTL)
    return found


def forget_active(org_id: int, module_key: str) -> None:
    from django.core.cache import cache

    cache.delete(_active_key(org_id, module_key))


def published(org_id: int, module_key: str) -> list[Blueprint]:
    """The module's published blueprints (read once per batch inside a batch action)."""
    from access.generations import remember

    return remember(("blueprints:published", org_id, module_key), lambda: _published(org_id, module_key))


def _published(org_id: int, module_key: str) -> list[Blueprint]:
    return list(Blueprint.objects.filter(org_id=org_id, module=module_key, status=Blueprint.Status.PUBLISHED)
                .order_by("pk"))


def criteria_hold(criteria: dict | None, schema: Any, record: Any) -> bool:
    if not criteria or not next(iter(criteria.values()), None):
        return True
    try:
        return bool(to_predicate(criteria, schema)(record))
    except (CriteriaError, KeyError, TypeError, ValueError):
        return False  # criteria broken by a field's removal govern nothing


def held(schema: Any, record: Any) -> str | None:
    from automation.holds import PROCESSES, hold_reason

    return hold_reason(schema, record, PROCESSES)


def entering(schema: Any, record: Any, candidates: list[Blueprint]) -> Blueprint | None:
    """The published blueprint a record outside any would enter now, if any."""
    for blueprint in candidates:
        if blueprint.field and schema.has_field(blueprint.field) and criteria_hold(blueprint.criteria, schema, record):
            return None if held(schema, record) else blueprint
    return None


def state_of(schema: Any, record: Any, blueprint: Blueprint) -> str:
    value = schema.field(blueprint.field).get_value(record)
    return "" if value is None else str(value)


def _resolve(schema: Any, record: Any, member: BlueprintRecord | None, candidates: list[Blueprint]) -> Governed | None:
    if member is not None:
        if not member.blueprint.governs:
            return None
        return Governed(member.blueprint, member, state_of(schema, record, member.blueprint))
    blueprint = entering(schema, record, candidates)
    return Governed(blueprint, None, state_of(schema, record, blueprint)) if blueprint is not None else None


def governing(schema: Any, record: Any, *, memo: bool = True) -> Governed | None:
    """The version that holds this record, or None. `memo`: reuse what this record object already
    read (pages and dry decisions); actions ask anew."""
    if getattr(record, "pk", None) is None:
        return None
    if memo and MEMO in record.__dict__:
        return record.__dict__[MEMO]
    if not active(schema.org.pk, schema.key):
        return None
    member = (BlueprintRecord.objects.select_related("blueprint")
              .filter(org_id=schema.org.pk, module=schema.key, record_id=record.pk).first())
    found = _resolve(schema, record, member, [] if member is not None else published(schema.org.pk, schema.key))
    if memo:
        record.__dict__[MEMO] = found
    return found


def preload(user: Any, schema: Any, records: list[Any]) -> None:
    """What the guard reads per record, for a page of records at once (two queries at most)."""
    records = [r for r in records if MEMO not in r.__dict__ and getattr(r, "pk", None) is not None]
    if not records:
        return
    if not active(schema.org.pk, schema.key):
        for record in records:
            record.__dict__[MEMO] = None
        return
    members = {m.record_id: m for m in BlueprintRecord.objects.select_related("blueprint").filter(
        org_id=schema.org.pk, module=schema.key, record_id__in=[r.pk for r in records])}
    candidates = published(schema.org.pk, schema.key) if len(members) < len(records) else []
    for record in records:
        record.__dict__[MEMO] = _resolve(schema, record, members.get(record.pk), candidates)


def forget(record: Any) -> None:
    record.__dict__.pop(MEMO, None)


# --- owners ------------------------------------------------------------------------------------

def _group_ids(user: Any) -> set[int]:
    from access.models import Group

    cached = getattr(user, "_blueprint_groups", None)
    if cached is None:
        membership = getattr(user, "membership", None)
        role_id = getattr(membership, "org_role_id", None)
        query = Q(users=user) | (Q(roles=role_id) if role_id else Q(pk__in=[]))
        cached = set(Group.objects.filter(org=user.org).filter(query).values_list("pk", flat=True))
        user._blueprint_groups = cached
    return cached


def owns(user: Any, transition: Transition, schema: Any, record: Any) -> bool:
    """Whether the user is one of the transition's owners on this record. No owners named: anyone
    who may edit the record."""
    owners = transition.owners or {}
    if not any(owners.get(k) for k in ("users", "roles", "groups", "team_roles", "owner", "assignee")):
        return True
    if user.pk in (owners.get("users") or []):
        return True
    if owners.get("owner") and getattr(record, "owner_id", None) == user.pk:
        return True
    if owners.get("assignee") and getattr(record, "assignee_id", None) == user.pk:
        return True
    membership = getattr(user, "membership", None)
    if owners.get("roles") and getattr(membership, "org_role_id", None) in owners["roles"]:
        return True
    team_module = getattr(schema, "team_module", None)
    if owners.get("team_roles") and team_module is not None:
        from teams.roles import role_in

        if role_in(user, team_module.space_id) in owners["team_roles"]:
            return True
    if owners.get("groups") and _group_ids(user) & set(owners["groups"]):
        return True
    return False


def siblings(governed: Governed, transition: Transition) -> list[Transition]:
    """The sign-offs of a parallel transition (itself included) from the record's state."""
    if not transition.parallel:
        return [transition]
    return [t for t in governed.transitions if t.parallel == transition.parallel
            and t.to_state == transition.to_state and t.leaves(governed.state)]


def refusal(governed: Governed | None, transition: Transition, user: Any, schema: Any, record: Any, *,
            system: bool = False) -> str | None:
    """Why the transition cannot be done on the record by the user now (None: it can)."""
    if governed is None:
        return _("This record is not in a blueprint.")
    if transition.blueprint_id != governed.blueprint.pk:
        return _("This transition is not part of the blueprint version the record is in.")
    if not transition.leaves(governed.state):
        return _("This transition does not start from the record's current state.")
    if transition.parallel and transition.key in governed.signoffs:
        return _("This sign-off has been given already.")
    if not system and not owns(user, transition, schema, record):
        return _("You are not an owner of the transition “%(name)s”.") % {"name": transition.name}
    if not criteria_hold(transition.before, schema, record):
        return _("The record does not meet the conditions of the transition “%(name)s”.") % {"name": transition.name}
    return None


def candidates(governed: Governed | None) -> list[Transition]:
    """Transitions leaving the record's state (not yet signed off), before owners and conditions."""
    if governed is None:
        return []
    done = governed.signoffs
    return [t for t in governed.transitions if t.leaves(governed.state) and not (t.parallel and t.key in done)]


# --- states, labels, SLA -------------------------------------------------------------------------

def state_choices(schema: Any, field_key: str) -> list[tuple[str, str]]:
    if not field_key or not schema.has_field(field_key):
        return []
    spec = schema.field(field_key)
    return [(str(choice.value), str(choice.label)) for choice in spec.options]


def state_label(schema: Any, field_key: str, value: str) -> str:
    return dict(state_choices(schema, field_key)).get(value, value)


def picklist_fields(schema: Any) -> list[Any]:
    return [spec for spec in schema.fields if spec.type == "picklist" and spec.editable]


def sla_limit(blueprint: Blueprint, state: str) -> dt.timedelta | None:
    rule = (blueprint.sla or {}).get(state) or {}
    amount = int(rule.get("amount") or 0)
    if amount <= 0:
        return None
    return dt.timedelta(hours=amount) if rule.get("unit") == "hours" else dt.timedelta(days=amount)


def sla_text(blueprint: Blueprint, state: str) -> str:
    rule = (blueprint.sla or {}).get(state) or {}
    amount = int(rule.get("amount") or 0)
    if not amount:
        return ""
    return (_("%(n)d hours") if rule.get("unit") == "hours" else _("%(n)d days")) % {"n": amount}


def overdue(member: BlueprintRecord, now: dt.datetime | None = None) -> bool:
    limit = sla_limit(member.blueprint, member.state)
    return limit is not None and member.entered_at + limit < (now or timezone.now())


def overdue_members(org_id: int, module_key: str, record_ids: Iterable[int]) -> dict[int, BlueprintRecord]:
    """The records of the list that stay longer in their state than its SLA allows (one query)."""
    now = timezone.now()
    rows = (BlueprintRecord.objects.select_related("blueprint")
            .filter(org_id=org_id, module=module_key, record_id__in=list(record_ids),
                    blueprint__status__in=[Blueprint.Status.PUBLISHED, Blueprint.Status.SUPERSEDED]))
    return {row.record_id: row for row in rows if overdue(row, now)}


def overdue_title(schema: Any, member: BlueprintRecord) -> str:
    return _("Overdue: in “%(state)s” for more than %(limit)s") % {
        "state": state_label(schema, member.blueprint.field, member.state),
        "limit": sla_text(member.blueprint, member.state)}

"""What blueprints add to other pages through their extension points (crm names no blueprint):
the record page's panel (state, the transitions the viewer may perform, the diagram), overdue
marks on kanban cards and list rows, the module settings link, the timeline's path labels and the
My Work section "Transitions I own"."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from access.decisions import decide_each
from crm.criteria import CriteriaError, to_q

from . import selectors
from .diagram import svg
from .models import Blueprint, BlueprintRecord, Transition

WORK_LIMIT = 20


def record_panel(user: Any, schema: Any, record: Any) -> list[dict[str, Any]]:
    """Under the record's title: its blueprint state, a button per transition the viewer may do
    now (the decision point's answer; a transition refused by another rule, such as a lock, is
    shown disabled with the reason), and the blueprint drawn with the state highlighted."""
    governed = selectors.governing(schema, record)
    if governed is None:
        return []
    # Only the transitions the viewer owns from this state (and whose conditions hold) are shown;
    # the decision point then says whether another rule (a lock, a team rule) refuses them.
    offered = [t for t in selectors.candidates(governed)
               if selectors.refusal(governed, t, user, schema, record) is None]
    decisions = decide_each(user, record, {"transition": [{"transition": t} for t in offered]},
                            schema=schema)["transition"] if offered else []
    buttons = [{"transition": t, "decision": d,
                "url": reverse("blueprints:transition", args=[schema.key, record.pk]) + f"?transition={t.pk}"}
               for t, d in zip(offered, decisions) if d.offered]
    choices = selectors.state_choices(schema, governed.blueprint.field)
    member = governed.member
    late = member is not None and selectors.overdue(member)
    return [{"template": "blueprints/includes/record_panel.html", "bp": governed.blueprint,
             "bp_state": selectors.state_label(schema, governed.blueprint.field, governed.state),
             "bp_buttons": buttons, "bp_late": selectors.overdue_title(schema, member) if late else "",
             "bp_signoffs": sorted(t.name for t in governed.transitions if t.key in governed.signoffs),
             "bp_diagram": svg(choices, governed.blueprint.start_state, governed.transitions, governed.state)}]


def overdue_marks(user: Any, schema: Any, records: list[Any]) -> dict[int, list[dict[str, str]]]:
    """An alarm on the cards and rows of records overdue in their blueprint state (one query)."""
    if not records:
        return {}
    late = selectors.overdue_members(schema.org.pk, schema.key, [r.pk for r in records])
    return {pk: [{"icon": "alarm", "title": selectors.overdue_title(schema, member), "kind": "blueprint-overdue"}]
            for pk, member in late.items()}


def module_links(user: Any, module: Any) -> list[dict[str, str]]:
    return [{"label": _("Blueprints"), "url": reverse("blueprints:list", args=[module.key]), "icon": "diagram-3"}]


def path_labels(org_id: int, paths: set[str]) -> dict[str, str]:
    """"blueprint:<transition id>" -> "by transition “name”" (one query for the page)."""
    ids = {int(p.split(":", 1)[1]): p for p in paths if p.split(":", 1)[1].isdigit()}
    labels = {ids[t.pk]: _("by transition “%(name)s” (%(blueprint)s)") % {"name": t.name, "blueprint": t.blueprint.name}
              for t in Transition.objects.filter(org_id=org_id, pk__in=list(ids)).select_related("blueprint")}
    for path in paths:
        labels.setdefault(path, _("by a blueprint transition"))
    return labels


# --- My Work ---------------------------------------------------------------------------------------

COUNT_CAP = 99  # the section's count and the navigation bar's read "99+" above this
OWNER_KINDS = ("users", "roles", "groups", "team_roles", "owner", "assignee")


def _owner_q(user: Any, transition: Transition, team_role: str | None, schema: Any) -> Q | None:
    """The records of the module on which the user owns the transition, as SQL (what
    `selectors.owns` checks on one record): Q() on every one, a condition on the record's owner or
    assignee, or None on none."""
    owners = transition.owners or {}
    if not any(owners.get(k) for k in OWNER_KINDS):
        return Q()
    membership = getattr(user, "membership", None)
    if (user.pk in (owners.get("users") or [])
            or (owners.get("roles") and getattr(membership, "org_role_id", None) in owners["roles"])
            or (team_role and team_role in (owners.get("team_roles") or []))
            or (owners.get("groups") and selectors._group_ids(user) & set(owners["groups"]))):
        return Q()
    found = Q(owner_id=user.pk) if owners.get("owner") else None
    if owners.get("assignee") and schema.has_field("assignee"):
        found = Q(assignee_id=user.pk) if found is None else found | Q(assignee_id=user.pk)
    return found


def _offered_q(user: Any, schema: Any, blueprint: Blueprint, transition: Transition,
               team_role: str | None) -> Q | None:
    """The records inside `blueprint` on which the transition is offered to the user now (its
    states, owners, conditions and sign-offs: what `selectors.refusal` checks), as SQL; None: none."""
    owner = _owner_q(user, transition, team_role, schema)
    if owner is None:
        return None
    try:
        where = owner
        if not transition.any_state:
            where &= to_q({"all": [{"field": blueprint.field, "op": "in", "value": list(transition.from_states)}]},
                          schema)
        if transition.before and next(iter(transition.before.values()), None):
            where &= to_q(transition.before, schema)
    except CriteriaError:  # conditions broken by a field's removal offer nothing
        return None
    if transition.parallel:
        where &= ~Q(pk__in=BlueprintRecord.objects.filter(org_id=schema.org.pk, module=schema.key, blueprint=blueprint,
                                                          signoffs__contains=[transition.key]).values("record_id"))
    return where


def _either(parts: list[Q]) -> Q:
    """OR of conditions, where an empty Q() means "always" (Django would drop it from an OR)."""
    if any(not part for part in parts):
        return Q()
    either = parts[0]
    for part in parts[1:]:
        either |= part
    return either


def _waiting(user: Any) -> list[tuple[Any, Any, list[Blueprint]]]:
    """Per module with a blueprint: (schema, the records the user may edit on which a transition
    they own is offered now, as one queryset, the module's versions). The records are found through
    the blueprint rows' (org, blueprint, state) index, as uncorrelated `pk IN (SELECT ...)`
    subqueries, one per version (most modules have one)."""
    from access.visibility import visible
    from crm.modules import get_module

    org = getattr(user, "org", None)
    if org is None:
        return []
    versions = list(Blueprint.objects.filter(org=org, status__in=[Blueprint.Status.PUBLISHED,
                                                                   Blueprint.Status.SUPERSEDED])
                    .prefetch_related("transitions").order_by("module", "pk"))
    by_module: dict[str, list[Blueprint]] = defaultdict(list)
    for blueprint in versions:
        by_module[blueprint.module].append(blueprint)
    found = []
    for module_key, blueprints in sorted(by_module.items()):
        try:
            schema = get_module(module_key, org).bind(org)
        except Exception:  # a retired team module
            continue
        team_module = getattr(schema, "team_module", None)
        team_role = None
        if team_module is not None:
            from teams.roles import role_in

            team_role = role_in(user, team_module.space_id)
        inside = []
        for blueprint in blueprints:
            if not schema.has_field(blueprint.field):
                continue
            offered = [(t, q) for t, q in ((t, _offered_q(user, schema, blueprint, t, team_role))
                                           for t in blueprint.transitions.all()) if q is not None]
            if offered:
                members = BlueprintRecord.objects.filter(org_id=org.pk, module=module_key, blueprint=blueprint)
                if not any(t.any_state for t, _q in offered):  # the index's (org, blueprint, state) prefix
                    members = members.filter(state__in=sorted({s for t, _q in offered for s in t.from_states}))
                inside.append(Q(pk__in=members.values("record_id")) & _either([q for _t, q in offered]))
        if inside:
            where = inside[0]
            for more in inside[1:]:
                where |= more
            found.append((schema, visible(user, schema, "edit").filter(where), blueprints))
    return found


def transitions_waiting(user: Any) -> int:
    """For the navigation bar: the records on which the user owns a transition offered now, exact
    up to COUNT_CAP (one bounded query over the modules with a blueprint, reading at most
    COUNT_CAP + 1 rows of each)."""
    from crm.selectors import bounded_counts

    waiting = _waiting(user)
    if not waiting:
        return 0
    counts = bounded_counts({schema.key: records for schema, records, _versions in waiting}, COUNT_CAP)
    return min(sum(counts.values()), COUNT_CAP + 1)


def transitions_i_own(user: Any) -> Any:
    """Records in blueprints where the user owns a transition offered now, most recently changed
    first: a few queries per module with a blueprint, however many records."""
    from crm.selectors import bounded_counts
    from crm.work import WorkSection

    waiting = _waiting(user)
    if not waiting:
        return None
    counts = bounded_counts({schema.key: records for schema, records, _versions in waiting}, COUNT_CAP)
    total = sum(counts.values())
    if not total:
        return None
    items: list[dict[str, Any]] = []
    for schema, records, versions in waiting:
        if not counts[schema.key] or len(items) >= WORK_LIMIT:
            continue
        rows = list(records.order_by("-modified_at", "-pk")[:WORK_LIMIT - len(items)])
        members = {m.record_id: m for m in BlueprintRecord.objects.filter(
            org_id=schema.org.pk, module=schema.key, record_id__in=[r.pk for r in rows])}
        blueprints = {b.pk: b for b in versions}
        for record in rows:
            member = members.get(record.pk)
            if member is None or member.blueprint_id not in blueprints:
                continue
            member.blueprint = blueprints[member.blueprint_id]
            governed = selectors.Governed(member.blueprint, member,
                                          selectors.state_of(schema, record, member.blueprint),
                                          sorted(member.blueprint.transitions.all(), key=lambda t: (t.position, t.pk)))
            mine = [t for t in selectors.candidates(governed)
                    if selectors.refusal(governed, t, user, schema, record) is None]
            if mine:
                items.append({"record": record, "module": schema, "url": record.get_absolute_url(),
                              "state": selectors.state_label(schema, member.blueprint.field, governed.state),
                              "transitions": mine, "late": selectors.overdue(member)})
    if not items:
        return None
    return WorkSection(key="blueprint-transitions", title=_("Transitions I own"), items=items,
                       count=min(total, COUNT_CAP), template="blueprints/includes/work_section.html",
                       capped=total > COUNT_CAP)

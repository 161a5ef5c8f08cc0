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


# --- My Work -----------------------------------------------------------------------------------------

def _might_own(user: Any, transition: Transition, team_role: str | None) -> bool:
    owners = transition.owners or {}
    if not any(owners.get(k) for k in ("users", "roles", "groups", "team_roles", "owner", "assignee")):
        return True
    membership = getattr(user, "membership", None)
    return bool(user.pk in (owners.get("users") or []) or owners.get("owner") or owners.get("assignee")
                or (owners.get("roles") and getattr(membership, "org_role_id", None) in owners["roles"])
                or (team_role and team_role in (owners.get("team_roles") or []))
                or (owners.get("groups") and selectors._group_ids(user) & set(owners["groups"])))


def transitions_i_own(user: Any) -> Any:
    """Records in blueprints where the user owns a transition offered now: a few queries per module
    with a blueprint, however many records."""
    from access.visibility import visible
    from crm.modules import get_module
    from crm.work import WorkSection

    org = getattr(user, "org", None)
    if org is None:
        return None
    versions = list(Blueprint.objects.filter(org=org, status__in=[Blueprint.Status.PUBLISHED,
                                                                   Blueprint.Status.SUPERSEDED])
                    .prefetch_related("transitions"))
    by_module: dict[str, list[tuple[Blueprint, Transition]]] = defaultdict(list)
    for blueprint in versions:
        for transition in blueprint.transitions.all():
            by_module[blueprint.module].append((blueprint, transition))
    items: list[dict[str, Any]] = []
    for module_key, pairs in sorted(by_module.items()):
        try:
            schema = get_module(module_key, org).bind(org)
        except Exception:  # a retired team module
            continue
        team_module = getattr(schema, "team_module", None)
        team_role = None
        if team_module is not None:
            from teams.roles import role_in

            team_role = role_in(user, team_module.space_id)
        pairs = [(b, t) for b, t in pairs if _might_own(user, t, team_role)]
        if not pairs:
            continue
        where = Q(pk__in=[])
        for blueprint, transition in pairs:
            where |= Q(blueprint=blueprint) if transition.any_state else Q(blueprint=blueprint,
                                                                            state__in=transition.from_states)
        inside = BlueprintRecord.objects.filter(org=org, module=module_key).filter(where)
        records = list(visible(user, schema, "edit").filter(pk__in=inside.values("record_id"))
                       .order_by("-modified_at", "-pk")[:WORK_LIMIT * 2])
        members = {m.record_id: m for m in BlueprintRecord.objects.filter(
            org=org, module=module_key, record_id__in=[r.pk for r in records])}
        transitions_of = {b.pk: list(b.transitions.all()) for b in versions}
        blueprints = {b.pk: b for b in versions}
        for record in records:
            member = members.get(record.pk)
            if member is None or member.blueprint_id not in blueprints:
                continue
            member.blueprint = blueprints[member.blueprint_id]
            governed = selectors.Governed(member.blueprint, member,
                                          selectors.state_of(schema, record, member.blueprint),
                                          sorted(transitions_of[member.blueprint_id], key=lambda t: (t.position, t.pk)))
            mine = [t for t in selectors.candidates(governed)
                    if selectors.refusal(governed, t, user, schema, record) is None]
            if mine:
                items.append({"record": record, "module": schema, "url": record.get_absolute_url(),
                              "state": selectors.state_label(schema, member.blueprint.field, governed.state),
                              "transitions": mine, "late": selectors.overdue(member)})
    if not items:
        return None
    return WorkSection(key="blueprint-transitions", title=_("Transitions I own"), items=items[:WORK_LIMIT],
                       count=len(items), template="blueprints/includes/work_section.html",
                       capped=len(items) > WORK_LIMIT)

"""What approval processes know without writing: a module's processes as cached data, whether a
record awaits approval (one query, or none for a page of records that were preloaded), who the
approvers of a level are, and the facts the decision guard weighs (whether a step waits on a
user, whether they are an admin of its process).

Who may decide or recall is answered by the decision point (`access.decide`, actions "approve"
and "recall"), from the guard this app registers (`guards.decision_guard`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from access import generations
from access.models import Group, Membership, OrgRole
from access.visibility import current_membership, is_org_admin

PENDING_ATTR = "_approval_pending"  # the record's awaiting request (or None), once read
SNAPSHOT_TTL = 24 * 3600


@dataclass(frozen=True)
class ProcessSpec:
    id: int
    name: str
    trigger: str
    criteria: dict
    active: bool
    admins: tuple
    editable: frozenset


def _gen_key(org_id: int, module: str) -> str:
    return f"approvals:gen:{org_id}:{module}"


def load(org_id: int, module: str) -> tuple[ProcessSpec, ...]:
    from .models import ApprovalProcess

    return tuple(ProcessSpec(p.pk, p.name, p.trigger, p.criteria or {}, p.active, tuple(p.admins or ()),
                             frozenset(p.editable_fields or ()))
                 for p in ApprovalProcess.objects.filter(org_id=org_id, module=module).order_by("position", "pk"))


def processes(org_id: int, module: str) -> tuple[ProcessSpec, ...]:
    """The module's processes (active or not): one cache round trip when cached."""
    return generations.cached(f"approvals:snapshot:{org_id}:{module}", [_gen_key(org_id, module)],
                              lambda: load(org_id, module), timeout=SNAPSHOT_TTL)


def mark_changed(org_id: int, module: str) -> None:
    generations.mark_changed(_gen_key(org_id, module))


def process_spec(org_id: int, module: str, process_id: int) -> ProcessSpec | None:
    return next((p for p in processes(org_id, module) if p.id == process_id), None)


# --- whether a record awaits approval ----------------------------------------------------------

def pending_request(schema: Any, record: Any) -> Any:
    """The record's awaiting request, or None: no query when the module has no process."""
    if record is None or not getattr(record, "pk", None):
        return None
    if PENDING_ATTR in record.__dict__:
        return record.__dict__[PENDING_ATTR]
    found = None
    if processes(schema.org.pk, schema.key):
        from .models import AWAITING, ApprovalRequest

        found = (ApprovalRequest.objects.select_related("process")
                 .filter(org_id=schema.org.pk, module=schema.key, record_id=record.pk, status__in=AWAITING).first())
    record.__dict__[PENDING_ATTR] = found
    return found


def forget(record: Any) -> None:
    record.__dict__.pop(PENDING_ATTR, None)


def preload_pending(user: Any, schema: Any, records: list[Any]) -> None:
    """The awaiting requests of a page of records in one query (none without a process)."""
    todo = [r for r in records if r.pk and PENDING_ATTR not in r.__dict__]
    if not todo:
        return
    found: dict[int, Any] = {}
    if processes(schema.org.pk, schema.key):
        from .models import AWAITING, ApprovalRequest

        for request in (ApprovalRequest.objects.select_related("process")
                        .filter(org_id=schema.org.pk, module=schema.key, record_id__in=[r.pk for r in todo],
                                status__in=AWAITING)):
            found[request.record_id] = request
    for record in todo:
        record.__dict__[PENDING_ATTR] = found.get(record.pk)


def waiting_names(request: Any) -> str:
    names = [slot_label(slot) for slot in request.slots or [] if not slot.get("done")]
    return ", ".join(n for n in names if n) or _("the process admins")


def pending_message(request: Any) -> str:
    when = date_format(timezone.localtime(request.level_opened_at or request.submitted_at), "SHORT_DATETIME_FORMAT")
    return _("Awaiting approval by %(who)s since %(when)s (“%(process)s”, level %(level)d).") % {
        "who": waiting_names(request), "when": when, "process": request.process.name, "level": request.level}


# --- who is an admin of a process ----------------------------------------------------------------

def is_process_admin(user: Any, admins: Iterable[int]) -> bool:
    """Org administrators, and the users the process names as its admins."""
    if current_membership(user) is None:
        return False
    return is_org_admin(user) or user.pk in set(admins or ())


# --- approvers of a level --------------------------------------------------------------------------

def _active(org: Any, user_ids: Iterable[int]) -> list[int]:
    return sorted(set(Membership.objects.filter(org=org, user_id__in=list(user_ids), is_active=True,
                                                user__is_active=True).values_list("user_id", flat=True)))


def _names(org: Any, ids: Iterable[int]) -> dict[int, str]:
    return {m.user_id: str(m.user) for m in Membership.objects.filter(org=org, user_id__in=list(ids))
            .select_related("user")}


def _role_members(org: Any, role_ids: Iterable[int]) -> list[int]:
    return list(Membership.objects.filter(org=org, org_role_id__in=list(role_ids), is_active=True,
                                          user__is_active=True).order_by("user_id").values_list("user_id", flat=True))


def owner_role(org: Any, owner_id: int | None) -> OrgRole | None:
    if not owner_id:
        return None
    membership = Membership.objects.filter(org=org, user_id=owner_id).select_related("org_role").first()
    return membership.org_role if membership is not None else None


def superior_roles(org: Any, owner_id: int | None, count: int) -> list[OrgRole]:
    """The owner's `count` nearest superior roles, nearest first."""
    role = owner_role(org, owner_id)
    if role is None:
        return []
    ids = [int(part) for part in role.path.strip("/").split("/") if part.isdigit()][:-1]
    ids = list(reversed(ids))[:count]
    by_id = {r.pk: r for r in OrgRole.objects.filter(org=org, pk__in=ids)}
    return [by_id[i] for i in ids if i in by_id]


def slot_label(slot: dict) -> str:
    """Who a slot waits for, in the language of the reader: a slot keeps what it is (its kind and
    the name of its role, group or person), not words of the language it was made in. Slots
    stored before they kept their kind give their stored label."""
    kind, name = slot.get("kind"), slot.get("name", "")
    if kind is None:
        return slot.get("label", "")
    label = {
        "user": lambda: name,
        "role": lambda: _("role %(role)s") % {"role": name},
        "group": lambda: _("group %(group)s") % {"group": name},
        "manager": lambda: _("the owner's manager"),
        "team_manager": lambda: _("the team's manager"),
        "admins": lambda: _("the process admins"),
    }.get(kind, lambda: "")()
    person = slot.get("person")
    return f"{label} ({person})" if person else label


def resolve_slots(org: Any, approvers: dict, record: Any, admins: Iterable[int]) -> list[dict]:
    """The level's approvers as slots ({"users", "kind", "name", "person", "label", "done"}; see
    `slot_label`): each user named is a slot; a role, a group, the owner's manager, the team's
    managers are one slot each (any member of it decides for it); "superiors: N" is one slot per
    superior role. A slot nobody active can take goes to the process admins (the org
    administrators when the process names none)."""
    raw: list[tuple[list[int], str, str]] = []
    user_ids = [int(u) for u in approvers.get("users") or []]
    names = _names(org, user_ids)
    for uid in user_ids:
        raw.append(([uid], "user", names.get(uid, f"#{uid}")))
    for role in OrgRole.objects.filter(org=org, pk__in=approvers.get("roles") or []).order_by("pk"):
        raw.append((_role_members(org, [role.pk]), "role", str(role)))
    for group in Group.objects.filter(org=org, pk__in=approvers.get("groups") or []).order_by("pk"):
        members = set(group.users.values_list("pk", flat=True)) | set(_role_members(org, group.roles.values_list("pk", flat=True)))
        raw.append((sorted(members), "group", str(group)))
    owner_id = getattr(record, "owner_id", None)
    if approvers.get("manager"):
        role = owner_role(org, owner_id)
        members = _role_members(org, [role.parent_id]) if role is not None and role.parent_id else []
        raw.append((members, "manager", ""))
    if approvers.get("team_manager") and getattr(record, "space_id", None):
        from teams.models import TeamMember

        members = list(TeamMember.objects.filter(org=org, space_id=record.space_id, role="manager")
                       .order_by("user_id").values_list("user_id", flat=True))
        raw.append((members, "team_manager", ""))
    for role in superior_roles(org, owner_id, int(approvers.get("superiors") or 0)):
        raw.append((_role_members(org, [role.pk]), "role", str(role)))
    if not raw:
        raw.append(([], "", ""))
    fallback = None
    slots = []
    for users, kind, name in raw:
        active = _active(org, users)
        if not active:
            if fallback is None:
                fallback = _active(org, admins or ()) or list(
                    Membership.objects.filter(org=org, role="admin", is_active=True, user__is_active=True)
                    .order_by("user_id").values_list("user_id", flat=True))
            active, kind, name = fallback, "admins", ""
        slot = {"users": active, "kind": kind, "name": name, "done": False}
        if len(active) == 1 and kind != "user":  # a role or manager: name the one person
            slot["person"] = _names(org, active).get(active[0], "")
        slot["label"] = slot_label(slot)
        slots.append(slot)
    return slots


def waiting_on(slots: list[dict]) -> list[int]:
    return sorted({uid for slot in slots if not slot.get("done") for uid in slot["users"]})


def level_complete(slots: list[dict], rule: str) -> bool:
    done = [slot.get("done") for slot in slots]
    return any(done) if rule == "any" else all(done)


# --- who may decide (the facts the decision guard weighs: `guards.decision_guard`) ----------------

def is_approver(user: Any, request: Any) -> bool:
    """Whether the request's current step waits on the user."""
    return user.pk in waiting_on(request.slots or [])


def is_admin_of(user: Any, request: Any) -> bool:
    """Whether the user is an admin of the request's process (org administrators always are)."""
    spec = process_spec(request.org_id, request.module, request.process_id)
    return is_process_admin(user, spec.admins if spec else ())


def takes_over(user: Any, request: Any) -> bool:
    """A process admin deciding a step that does not wait on them takes it over (logged so)."""
    return not is_approver(user, request)

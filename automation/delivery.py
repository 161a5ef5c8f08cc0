"""Who is told about a record event: read the record as it is now, check that each recipient
may open it, and write through `do_notify`."""
from __future__ import annotations

from typing import Any

from django.http import Http404

from access.models import Membership, Organization, User
from access.visibility import bind_org, can
from config.params import optional_id
from crm.modules import get_module

from . import messages
from .actions import do_notify

WATCHED = ("owner", "assignee", "status")


def _user_id(value: Any) -> int | None:
    """The user id of a change's new value (an id, or the {"id": ...} form)."""
    return optional_id(value.get("id") if isinstance(value, dict) else value)


def deliver(event_id: str, module: str, org_id: int, record_id: int, actor_id: int | None,
            changes: dict[str, list]) -> int:
    """Write the event's notifications; returns how many were new."""
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return 0
    try:
        schema = get_module(module, org)
    except Http404:  # the module is gone since: nothing to point at
        return 0
    record = schema.base_queryset(org).filter(pk=record_id).first()
    if record is None:
        return 0
    wanted: list[tuple[int, str, dict]] = []  # (recipient, kind, params)
    name = str(record)
    if "owner" in changes:
        wanted.append((_user_id(changes["owner"][1]), messages.OWNER, {"record": name}))
    if "assignee" in changes:
        assignee_id = _user_id(changes["assignee"][1])
        wanted.append((assignee_id, messages.ASSIGNED, {"record": name}))
        requester_id = getattr(record, "requested_by_id", None)
        if assignee_id is not None and requester_id:
            assignee = User.objects.filter(pk=assignee_id).first()
            wanted.append((requester_id, messages.REQUEST_ASSIGNED,
                           {"record": name, "assignee": str(assignee) if assignee else ""}))
    if "status" in changes and getattr(record, "requested_by_id", None):
        status = changes["status"][1] or ""
        team_module = record.module
        done = status in (team_module.done_statuses or [])
        # Both names of the status, so each reader sees it in their own language.
        label = next((s for s in team_module.statuses if s.get("value") == status), {})
        wanted.append((record.requested_by_id, messages.REQUEST_DONE if done else messages.REQUEST_STATUS,
                       {"record": name, "status_en": label.get("label_en") or status,
                        "status_zh": label.get("label_zh", "")}))
    written = 0
    for recipient_id, kind, params in wanted:
        if recipient_id is None or recipient_id == actor_id:
            continue
        if not _may_open(recipient_id, org, schema, record_id):
            continue
        row = do_notify(org_id=org_id, recipient_id=recipient_id, kind=kind, module=module,
                        record_id=record_id, actor_id=actor_id, params=params, key=f"{event_id}:{recipient_id}:{kind}")
        written += row is not None
    return written


def _may_open(user_id: int, org, schema, record_id: int) -> bool:
    """Never tell someone about a record they cannot open."""
    membership = Membership.objects.select_related("user", "profile", "org_role").filter(
        org=org, user_id=user_id, is_active=True).first()
    if membership is None or not membership.user.is_active:
        return False
    return can(bind_org(membership.user, org, membership), schema, record_id, "view")

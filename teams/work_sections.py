"""teams' sections of My Work (registered from TeamsConfig.ready): the team records assigned to
the user and their open requests with their status. Every team module's records are read
through `access.visible` and the per-module querysets are ORed into one query, so a section
costs a fixed number of queries however many modules and records there are."""
from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from access.visibility import visible
from crm import selectors
from crm.schema import pick_label
from crm.work import WorkSection

from . import roles
from .schema import modules_of

SHOWN = 10
COUNT_CAP = 99


def _open_records(user: Any, mine: Q, module_ids: set[int] | None = None):
    """(one queryset of the user's open records over the team modules, {module id: schema})."""
    schemas = {schema.team_module.pk: schema for schema in modules_of(user.org)
               if module_ids is None or schema.team_module.pk in module_ids}
    parts = [visible(user, schema, "view").filter(mine).exclude(status__in=schema.team_module.done_statuses or [])
             for schema in schemas.values()]
    if not parts:
        return None, schemas
    return reduce(or_, parts), schemas


def _items(rows: list, schemas: dict[int, Any]) -> list[dict]:
    items = []
    for row in rows:
        module = schemas[row.module_id].team_module
        status = next((s for s in module.statuses or [] if s.get("value") == row.status), {})
        items.append({"title": row.title, "url": reverse("crm:detail", args=[module.key, row.pk]),
                      "module": str(module), "space": str(module.space), "status": row.status,
                      "status_label": pick_label(status.get("label_en") or row.status, status.get("label_zh", "")),
                      "color": status.get("color", "")})
    return items


def _section(user: Any, key: str, title: str, mine: Q, module_ids: set[int] | None, more_url: str,
             template: str) -> WorkSection | None:
    records, schemas = _open_records(user, mine, module_ids)
    if records is None:
        return None
    count = selectors.bounded_count(records, COUNT_CAP)
    if not count:
        return None
    rows = list(records.order_by("-modified_at", "-pk")[:SHOWN])
    return WorkSection(key=key, title=title, items=_items(rows, schemas), count=min(count, COUNT_CAP),
                       capped=count > COUNT_CAP, template=template, more_url=more_url if count > SHOWN else "")


def assigned_to_me(user: Any) -> WorkSection | None:
    """Open records of team modules assigned to the user, latest changed first."""
    return _section(user, "team_assigned", _("Assigned to me in team spaces"), Q(assignee_id=user.pk), None,
                    reverse("teams:spaces"), "teams/work/assigned.html")


def my_requests(user: Any) -> WorkSection | None:
    """The user's requests (Requests tab) that are not done yet, with their status."""
    module_ids = roles.requested_modules(user)
    if not module_ids:
        return None
    return _section(user, "requests", _("My open requests"), Q(requested_by_id=user.pk), module_ids,
                    reverse("teams:requests"), "teams/work/requests.html")


def register() -> None:
    from crm.work import register_work_section

    register_work_section(assigned_to_me, order=50)
    register_work_section(my_requests, order=60)
